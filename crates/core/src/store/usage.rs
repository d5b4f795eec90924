//! Usage keys and the usage rollups (see `crate::usage`).

use crate::timestamp::Timestamp;
use rusqlite::params;
use sqlx::Row;

use super::Store;
use crate::store::model::{day_of, Hist, KeyState, Rollup, UsageKey, UsageRequest, DAY_MS};
use crate::Error;

/// Recompute the rollups of `groups` (key alias, day) from the usage rows now stored: the ingest
/// calls this inside the transaction that changed those rows.
pub(crate) fn refresh_rollups(
    tx: &rusqlite::Transaction<'_>,
    groups: &[(String, i64)],
) -> rusqlite::Result<()> {
    let mut read = tx.prepare_cached(
        "SELECT model, status, latency_ms, ttft_ms, input_tokens, output_tokens, cached_input_tokens,
                cache_write_tokens, reasoning_tokens, cost_usd
         FROM requests WHERE traffic = 'usage' AND key_alias = ?1
           AND request_started_at >= ?2 AND request_started_at < ?3",
    )?;
    let mut clear =
        tx.prepare_cached("DELETE FROM usage_rollups WHERE key_alias = ?1 AND day = ?2")?;
    let mut write = tx.prepare_cached(
        "INSERT INTO usage_rollups (key_alias, model, day, requests, errors, input_tokens, output_tokens,
            cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_usd, priced, latency_hist, ttft_hist)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for (alias, day) in groups {
        let from = *day as f64 * DAY_MS;
        let mut by_model: std::collections::BTreeMap<String, Rollup> = Default::default();
        let mut rows = read.query(params![alias, from, from + DAY_MS])?;
        while let Some(r) = rows.next()? {
            let req = UsageRequest {
                model: r.get(0)?,
                error: r.get::<_, String>(1)? == "error",
                latency_ms: r.get(2)?,
                ttft_ms: r.get(3)?,
                input_tokens: r.get(4)?,
                output_tokens: r.get(5)?,
                cached_input_tokens: r.get(6)?,
                cache_write_tokens: r.get(7)?,
                reasoning_tokens: r.get(8)?,
                cost_usd: r.get(9)?,
            };
            by_model
                .entry(req.model.clone().unwrap_or_default())
                .or_default()
                .add(&req);
        }
        clear.execute(params![alias, day])?;
        for (model, r) in by_model {
            let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            write.execute(params![
                alias,
                model,
                day,
                i(r.requests),
                i(r.errors),
                i(r.input_tokens),
                i(r.output_tokens),
                i(r.cached_input_tokens),
                i(r.cache_write_tokens),
                i(r.reasoning_tokens),
                r.cost_usd,
                i(r.priced),
                r.latency.encode(),
                r.ttft.encode(),
            ])?;
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

fn key_from(r: &sqlx::sqlite::SqliteRow, now: Timestamp) -> UsageKey {
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
    k.state = k.state_at(now);
    k
}

impl Store {
    pub async fn insert_usage_key(&self, k: &UsageKey, key_hash: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO usage_keys (alias, key_hash, owner, team, purpose, models, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&k.alias)
        .bind(key_hash)
        .bind(&k.owner)
        .bind(&k.team)
        .bind(&k.purpose)
        .bind(k.models.as_ref().map(|m| serde_json::to_string(m).unwrap_or_default()))
        .bind(k.created_at)
        .bind(k.expires_at)
        .execute(self.pool())
        .await
        .map_err(self.db())?;
        Ok(())
    }

    /// Every usage key, newest first.
    pub async fn usage_keys(&self) -> Result<Vec<UsageKey>, Error> {
        let now = Timestamp::now();
        let rows = sqlx::query("SELECT * FROM usage_keys ORDER BY created_at DESC, alias")
            .fetch_all(self.pool())
            .await
            .map_err(self.db())?;
        Ok(rows.iter().map(|r| key_from(r, now)).collect())
    }

    /// Mark a key revoked; false when it was already revoked or does not exist.
    pub async fn revoke_usage_key(&self, alias: &str, at: Timestamp) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE usage_keys SET revoked_at = ? WHERE alias = ? AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(alias)
        .execute(self.pool())
        .await
        .map_err(self.db())?;
        Ok(done.rows_affected() > 0)
    }

    /// The usage rollups of the days `since..=until`.
    pub async fn usage_rollups(&self, since: i64, until: i64) -> Result<Vec<Rollup>, Error> {
        let rows = sqlx::query(
            "SELECT key_alias, model, day, requests, errors, input_tokens, output_tokens, cached_input_tokens,
                    cache_write_tokens, reasoning_tokens, cost_usd, priced, latency_hist, ttft_hist
             FROM usage_rollups WHERE day >= ? AND day <= ?",
        )
        .bind(since)
        .bind(until)
        .fetch_all(self.pool())
        .await
        .map_err(self.db())?;
        let u =
            |r: &sqlx::sqlite::SqliteRow, i: usize| u64::try_from(r.get::<i64, _>(i)).unwrap_or(0);
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
    }
}
