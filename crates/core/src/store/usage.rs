//! Usage keys and the usage rollups (see `crate::usage`).

use super::write::conn::{Arg, ToArg, Ty, WriteTx};
use crate::timestamp::Timestamp;
use sqlx::Row;

use super::{on_pool, Store};
use crate::store::model::{day_of, Hist, KeyState, Rollup, UsageKey, UsageRequest, DAY_MS};
use crate::Error;

/// Recompute the rollups of `groups` (key alias, day) from the usage rows now stored: the ingest
/// calls this inside the transaction that changed those rows.
pub(crate) async fn refresh_rollups<T: WriteTx>(
    tx: &mut T,
    groups: &[(String, i64)],
) -> Result<(), String> {
    use Ty::{Float, Int, Text};
    for (alias, day) in groups {
        let from = *day as f64 * DAY_MS;
        let mut by_model: std::collections::BTreeMap<String, Rollup> = Default::default();
        let rows = tx
            .rows(
                "SELECT model, status, latency_ms, ttft_ms, input_tokens, output_tokens, cached_input_tokens,
                        cache_write_tokens, reasoning_tokens, cost_usd
                 FROM requests WHERE traffic = 'usage' AND key_alias = ?1
                   AND request_started_at >= ?2 AND request_started_at < ?3",
                &[alias.arg(), Arg::Float(Some(from)), Arg::Float(Some(from + DAY_MS))],
                &[Text, Text, Float, Float, Int, Int, Int, Int, Int, Float],
            )
            .await?;
        for r in &rows {
            let req = UsageRequest {
                model: r[0].text().map(str::to_string),
                error: r[1].text() == Some("error"),
                latency_ms: r[2].float(),
                ttft_ms: r[3].float(),
                input_tokens: r[4].int(),
                output_tokens: r[5].int(),
                cached_input_tokens: r[6].int(),
                cache_write_tokens: r[7].int(),
                reasoning_tokens: r[8].int(),
                cost_usd: r[9].float(),
            };
            by_model
                .entry(req.model.clone().unwrap_or_default())
                .or_default()
                .add(&req);
        }
        let sql = "DELETE FROM usage_rollups WHERE key_alias = ?1 AND day = ?2";
        tx.exec(sql, &[alias.arg(), day.arg()]).await?;
        for (model, r) in by_model {
            let i = |v: u64| Arg::Int(Some(i64::try_from(v).unwrap_or(i64::MAX)));
            let (latency, ttft) = (r.latency.encode(), r.ttft.encode());
            tx.exec(
                "INSERT INTO usage_rollups (key_alias, model, day, requests, errors, input_tokens, output_tokens,
                    cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_usd, priced, latency_hist, ttft_hist)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                &[
                    alias.arg(),
                    model.arg(),
                    day.arg(),
                    i(r.requests),
                    i(r.errors),
                    i(r.input_tokens),
                    i(r.output_tokens),
                    i(r.cached_input_tokens),
                    i(r.cache_write_tokens),
                    i(r.reasoning_tokens),
                    r.cost_usd.arg(),
                    i(r.priced),
                    latency.arg(),
                    ttft.arg(),
                ],
            )
            .await?;
        }
    }
    Ok(())
}

/// The (key alias, day) groups a batch of rows touches.
pub(crate) fn usage_groups(rows: &[crate::store::model::RequestRow]) -> Vec<(String, i64)> {
    let mut g: Vec<(String, i64)> = rows
        .iter()
        .filter(|r| r.traffic == crate::store::model::Traffic::Usage)
        .filter_map(|r| {
            let alias = r.key_alias.clone()?;
            Some((alias, day_of(r.request_started_at)))
        })
        .collect();
    g.sort_unstable();
    g.dedup();
    g
}

/// A usage key of either backend's row (a macro: each backend's row type is its own).
macro_rules! key_from {
    ($r:expr, $now:expr) => {{
        let r = $r;
        let models: Option<String> = r.get("models");
        let mut k = UsageKey {
            alias: r.get("alias"),
            owner: r.get("owner"),
            team: r.get("team"),
            purpose: r.get("purpose"),
            models: models.and_then(|m| serde_json::from_str(&m).ok()),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            revoked_at: r.get("revoked_at"),
            state: KeyState::Active,
        };
        k.state = k.state_at($now);
        k
    }};
}

impl Store {
    pub async fn insert_usage_key(&self, k: &UsageKey, key_hash: &str) -> Result<(), Error> {
        on_pool!(self, |p| sqlx::query(
            "INSERT INTO usage_keys (alias, key_hash, owner, team, purpose, models, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&k.alias)
        .bind(key_hash)
        .bind(&k.owner)
        .bind(&k.team)
        .bind(&k.purpose)
        .bind(k.models.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()))
        .bind(k.created_at)
        .bind(k.expires_at)
        .execute(p)
        .await
        .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(())
    }

    /// Every usage key, newest first.
    pub async fn usage_keys(&self) -> Result<Vec<UsageKey>, Error> {
        let now = Timestamp::now();
        let sql = "SELECT * FROM usage_keys ORDER BY created_at DESC, alias";
        on_pool!(self, |p| {
            let rows = sqlx::query(sql).fetch_all(p).await.map_err(self.db())?;
            Ok(rows.iter().map(|r| key_from!(r, now)).collect())
        })
    }

    /// Mark a key revoked; false when it was already revoked or does not exist.
    pub async fn revoke_usage_key(&self, alias: &str, at: Timestamp) -> Result<bool, Error> {
        let sql = "UPDATE usage_keys SET revoked_at = $1 WHERE alias = $2 AND revoked_at IS NULL";
        let done = on_pool!(self, |p| sqlx::query(sql)
            .bind(at)
            .bind(alias)
            .execute(p)
            .await
            .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(done > 0)
    }

    /// The usage rollups of the days `since..=until`.
    pub async fn usage_rollups(&self, since: i64, until: i64) -> Result<Vec<Rollup>, Error> {
        on_pool!(self, |p, Db| {
            let rows = sqlx::query(
            "SELECT key_alias, model, day, requests, errors, input_tokens, output_tokens, cached_input_tokens,
                    cache_write_tokens, reasoning_tokens, cost_usd, priced, latency_hist, ttft_hist
             FROM usage_rollups WHERE day >= $1 AND day <= $2",
        )
        .bind(since)
        .bind(until)
        .fetch_all(p)
        .await
        .map_err(self.db())?;
            let u = |r: &<Db as sqlx::Database>::Row, i: usize| {
                u64::try_from(r.get::<i64, _>(i)).unwrap_or(0)
            };
            Ok(rows
                .iter()
                .map(|r| {
                    let (mut latency, mut ttft) = (Hist::default(), Hist::default());
                    latency.merge_encoded(r.get(12));
                    ttft.merge_encoded(r.get(13));
                    Rollup {
                        key_alias: r.get(0),
                        model: r.get(1),
                        day: r.get(2),
                        requests: u(r, 3),
                        errors: u(r, 4),
                        input_tokens: u(r, 5),
                        output_tokens: u(r, 6),
                        cached_input_tokens: u(r, 7),
                        cache_write_tokens: u(r, 8),
                        reasoning_tokens: u(r, 9),
                        cost_usd: r.get(10),
                        priced: u(r, 11),
                        latency,
                        ttft,
                    }
                })
                .collect())
        })
    }
}
