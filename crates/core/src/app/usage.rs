//! Usage mode services: create, list and revoke usage keys; usage reports and exports.

use std::collections::HashMap;

use serde::Serialize;

use super::App;
use crate::credentials::{CredentialIssuer, UsageKeyMeta};
use crate::export::{table_from, Table};
use crate::normalize::model_index;
use crate::secrets::Secret;
use crate::store::{Cell, Kind};
use crate::timestamp::Timestamp;
use crate::usage::{
    self, day_of, KeyState, NewUsageKey, UsageBy, UsageFilter, UsageKey, UsageReport,
};
use crate::Error;

/// The longest owner, team or purpose accepted.
const MAX_LABEL: usize = 200;
/// How many days a report covers when no start is given.
pub const DEFAULT_DAYS: i64 = 30;

/// A key just created: its record and where to point a client (the value is returned apart, once).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CreatedUsageKey {
    pub key: UsageKey,
    /// The proxy's base URL for OpenAI-style clients (`…/v1`).
    pub base_url: String,
    /// The keychain entry holding the value.
    pub keychain_entry: String,
}

fn label(field: &str, v: Option<&str>, required: bool) -> Result<Option<String>, Error> {
    let v = v.map(str::trim).filter(|s| !s.is_empty());
    let bad = |message: String| Error::BadField {
        field: field.into(),
        message,
    };
    match v {
        None if required => Err(bad(format!("give the key's {field} (who uses it)"))),
        None => Ok(None),
        Some(s) if s.chars().count() > MAX_LABEL => {
            Err(bad(format!("at most {MAX_LABEL} characters")))
        }
        Some(s) if s.chars().any(char::is_control) => {
            Err(bad("control characters are not allowed".into()))
        }
        Some(s) => Ok(Some(s.to_string())),
    }
}

/// `stackperf-key-<owner in lowercase letters and digits>-<8 hex>`.
fn new_alias(owner: &str) -> Result<String, Error> {
    let slug: String = owner
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .take(24)
        .collect();
    let tag = Secret::generate("")?;
    let slug = if slug.is_empty() { "key".into() } else { slug };
    Ok(format!(
        "{}{slug}-{}",
        usage::ALIAS_PREFIX,
        &tag.expose()[..8]
    ))
}

/// The keychain entry of a usage key's value.
pub fn keychain_entry(alias: &str) -> String {
    let rest = alias.trim_start_matches(usage::ALIAS_PREFIX);
    format!(
        "STACKPERF_USAGE_KEY_{}",
        rest.to_ascii_uppercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}

impl App {
    /// Create a usage key: registered by hash for the edge and LiteLLM, recorded in the database,
    /// its value kept in the keychain and returned once.
    pub async fn usage_key_create(
        &self,
        req: &NewUsageKey,
    ) -> Result<(CreatedUsageKey, Secret), Error> {
        let owner = label("owner", Some(&req.owner), true)?.unwrap_or_default();
        let team = label("team", req.team.as_deref(), false)?;
        let purpose = label("purpose", req.purpose.as_deref(), false)?;
        let models = self.usage_models(req.models.as_deref())?;
        let now = Timestamp::now();
        let expires_at = match req.expires_days {
            None => None,
            Some(d) if d.is_finite() && d > 0.0 && d <= 3650.0 => {
                Some(now.plus_ms(d * usage::DAY_MS))
            }
            Some(_) => {
                return Err(Error::BadField {
                    field: "expires".into(),
                    message: "give a number of days between 0 and 3650 (e.g. 90)".into(),
                })
            }
        };
        let alias = new_alias(&owner)?;
        let store = self.store().await?;
        let (secret, hash) = self.issuer.issue_usage(&UsageKeyMeta {
            alias: alias.clone(),
            owner: owner.clone(),
            models: models.clone(),
            expires_at,
        })?;
        let entry = keychain_entry(&alias);
        let (name, value) = (entry.clone(), secret.clone());
        if let Err(e) = self.keychain(move |s| s.set(&name, value)).await {
            let _ = self.issuer.revoke(&alias);
            return Err(e);
        }
        let key = UsageKey {
            alias: alias.clone(),
            owner,
            team,
            purpose,
            models,
            created_at: now,
            expires_at,
            revoked_at: None,
            state: KeyState::Active,
        };
        if let Err(e) = store.insert_usage_key(&key, &hash).await {
            let _ = self.issuer.revoke(&alias);
            return Err(e);
        }
        Ok((
            CreatedUsageKey {
                key,
                base_url: format!("{}/v1", self.proxy_url().trim_end_matches('/')),
                keychain_entry: entry,
            },
            secret,
        ))
    }

    /// The configured model aliases a key may name; `None` (every model) for none given.
    fn usage_models(&self, wanted: Option<&[String]>) -> Result<Option<Vec<String>>, Error> {
        let wanted: Vec<String> = wanted
            .unwrap_or_default()
            .iter()
            .flat_map(|m| m.split(','))
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        if wanted.is_empty() {
            return Ok(None);
        }
        let known = model_index(&self.registry()?);
        let mut names: Vec<&String> = known.keys().collect();
        names.sort();
        for m in &wanted {
            if !known.contains_key(m) {
                return Err(Error::BadField {
                    field: "models".into(),
                    message: format!(
                        "`{m}` is not a configured model alias. Known: {}",
                        names
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        let mut out = wanted;
        out.sort();
        out.dedup();
        Ok(Some(out))
    }

    /// Every usage key, newest first (never their values).
    pub async fn usage_keys(&self) -> Result<Vec<UsageKey>, Error> {
        self.store().await?.usage_keys().await
    }

    async fn usage_key(&self, alias: &str) -> Result<UsageKey, Error> {
        let keys = self.usage_keys().await?;
        let known = keys
            .iter()
            .map(|k| k.alias.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        keys.iter()
            .find(|k| k.alias == alias)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                kind: "usage key",
                name: alias.into(),
                known: if known.is_empty() {
                    "none (create one with `stackperf key create`)".into()
                } else {
                    known
                },
            })
    }

    /// Revoke a key now (the edge and LiteLLM refuse it from the next request; its value leaves
    /// the keychain). False when it was already revoked.
    pub async fn usage_key_revoke(&self, alias: &str) -> Result<bool, Error> {
        self.usage_key(alias).await?;
        self.issuer.revoke(alias)?;
        let name = keychain_entry(alias);
        let _ = self.keychain(move |s| s.delete(&name)).await;
        self.store()
            .await?
            .revoke_usage_key(alias, Timestamp::now())
            .await
    }

    /// A live key's value, from the keychain (to copy it again).
    pub async fn usage_key_secret(&self, alias: &str) -> Result<Secret, Error> {
        let key = self.usage_key(alias).await?;
        if key.state != KeyState::Active {
            return Err(Error::Invalid(format!(
                "the key {alias} is {}; create a new one",
                key.state.as_str()
            )));
        }
        let name = keychain_entry(alias);
        self.keychain(move |s| s.resolve(&name))
            .await?
            .map(|(v, _)| v)
            .ok_or_else(|| Error::Invalid(format!("the value of {alias} is not in this keychain (it was created on another machine or removed); create a new key")))
    }

    /// The usage report (`filter` days default to the last [`DEFAULT_DAYS`] UTC days).
    pub async fn usage_report(
        &self,
        by: UsageBy,
        filter: &UsageFilter,
    ) -> Result<UsageReport, Error> {
        let until = filter.until_day.unwrap_or_else(|| day_of(Timestamp::now()));
        let since = filter.since_day.unwrap_or(until - (DEFAULT_DAYS - 1));
        if since > until {
            return Err(Error::BadField {
                field: "since".into(),
                message: "the first day is after the last".into(),
            });
        }
        // What the proxy captured since the last pass counts too (usage has no finalize step).
        if let Err(e) = self.ingest_now().await {
            tracing::warn!("usage report: ingest before the report failed: {e}");
        }
        let store = self.store().await?;
        let keys: HashMap<String, UsageKey> = store
            .usage_keys()
            .await?
            .into_iter()
            .map(|k| (k.alias.clone(), k))
            .collect();
        let rollups = store.usage_rollups(since, until).await?;
        Ok(usage::assemble(by, &rollups, &keys, filter, since, until))
    }

    /// The report's chart over time (SVG).
    pub async fn usage_chart_svg(
        &self,
        by: UsageBy,
        filter: &UsageFilter,
        metric: crate::output::timeline::UsageMetric,
    ) -> Result<String, Error> {
        let r = self.usage_report(by, filter).await?;
        crate::output::timeline::usage_svg(&r, metric, (760, 320))
    }

    /// `export OPENAI_BASE_URL=…` and `export OPENAI_API_KEY=…` of a live key (to paste into a
    /// shell).
    pub async fn usage_key_env_text(&self, alias: &str) -> Result<String, Error> {
        let secret = self.usage_key_secret(alias).await?;
        Ok(format!(
            "export OPENAI_BASE_URL='{}/v1'\nexport OPENAI_API_KEY='{}'\n",
            self.proxy_url().trim_end_matches('/'),
            secret.expose()
        ))
    }
}

/// A usage report as a table (one row per group, then the total).
pub fn usage_table(r: &UsageReport) -> Table {
    use Kind::{Float, Int, Text};
    let cols = [
        (r.by.as_str(), Text),
        ("requests", Int),
        ("errors", Int),
        ("error_rate", Float),
        ("input_tokens", Int),
        ("output_tokens", Int),
        ("cached_input_tokens", Int),
        ("cache_write_tokens", Int),
        ("reasoning_tokens", Int),
        ("cost_usd", Float),
        ("unpriced_requests", Int),
        ("latency_p50_ms", Float),
        ("latency_p95_ms", Float),
        ("latency_p99_ms", Float),
        ("ttft_p50_ms", Float),
        ("ttft_p95_ms", Float),
    ];
    let int = |v: u64| Cell::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let float = |v: Option<f64>| v.map_or(Cell::Null, Cell::Float);
    let rows = r
        .rows
        .iter()
        .chain(std::iter::once(&r.total))
        .map(|x| {
            vec![
                Cell::Text(x.group.clone()),
                int(x.requests),
                int(x.errors),
                Cell::Float(x.error_rate),
                int(x.input_tokens),
                int(x.output_tokens),
                int(x.cached_input_tokens),
                int(x.cache_write_tokens),
                int(x.reasoning_tokens),
                float(x.cost_usd),
                int(x.unpriced),
                float(x.latency_p50_ms),
                float(x.latency_p95_ms),
                float(x.latency_p99_ms),
                float(x.ttft_p50_ms),
                float(x.ttft_p95_ms),
            ]
        })
        .collect();
    table_from(&cols, rows)
}
