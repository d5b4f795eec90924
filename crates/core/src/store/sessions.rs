//! The `sessions` table (and the variant lookup a new session needs).

use crate::timestamp::Timestamp;
use sqlx::Row;

use super::{on_pool, Dialect, Store};
use crate::store::model::Attribution;
use crate::store::model::{SessionMode, SessionRow, SessionStatus};
use crate::{Error, APP_VERSION};

/// A session row as first recorded (status `pending` until its key is issued).
pub struct NewSession<'a> {
    pub session_id: &'a str,
    pub experiment: &'a str,
    pub variant_id: i64,
    pub task_card: &'a str,
    pub harness_profile: &'a str,
    pub mode: SessionMode,
    pub created_at: Timestamp,
    pub operator_label: Option<&'a str>,
    pub repo_root: Option<String>,
    pub git_branch: Option<&'a str>,
    pub git_commit_sha: Option<&'a str>,
    pub git_dirty: Option<bool>,
    pub notes: Option<&'a str>,
    pub litellm_version: Option<&'a str>,
    pub config_commit: Option<&'a str>,
    pub isolated: bool,
    /// The price the session's model has now (recorded with the session).
    pub price: Option<&'a crate::config::Price>,
}

const SELECT: &str = "SELECT s.*, v.name AS variant, v.config_fingerprint,
    (SELECT COUNT(*) FROM requests r WHERE r.session_id = s.session_id) AS request_count,
    (SELECT m.hostname FROM machines m WHERE m.machine_id = s.machine_id) AS hostname
    FROM sessions s JOIN variants v ON v.variant_id = s.variant_id";

/// A session row of either backend (a macro: each backend's row type is its own).
macro_rules! row_to_session {
    ($r:expr) => {{
        let r = $r;
        (|| -> Result<SessionRow, sqlx::Error> {
            Ok(SessionRow {
                session_id: r.try_get("session_id")?,
                experiment: r.try_get("experiment")?,
                variant: r.try_get("variant")?,
                variant_id: r.try_get("variant_id")?,
                config_fingerprint: r.try_get("config_fingerprint")?,
                task_card: r.try_get("task_card")?,
                harness_profile: r.try_get("harness_profile")?,
                // A status or mode this build does not know (a newer database) is an error, not a panic.
                status: r.try_get("status")?,
                mode: r.try_get("mode")?,
                created_at: r.try_get("created_at")?,
                started_at: r.try_get("started_at")?,
                ended_at: r.try_get("ended_at")?,
                operator_label: r.try_get("operator_label")?,
                repo_root: r.try_get("repo_root")?,
                git_branch: r.try_get("git_branch")?,
                git_commit_sha: r.try_get("git_commit_sha")?,
                git_dirty: r.try_get::<Option<i64>, _>("git_dirty")?.map(|d| d != 0),
                proxy_key_alias: r.try_get("proxy_key_alias")?,
                key_expires_at: r.try_get("key_expires_at")?,
                outcome: r.try_get("outcome")?,
                notes: r.try_get("notes")?,
                app_version: r.try_get("app_version")?,
                litellm_version: r.try_get("litellm_version")?,
                config_commit: r.try_get("config_commit")?,
                request_count: r.try_get("request_count")?,
                machine_id: r.try_get("machine_id")?,
                hostname: r.try_get("hostname")?,
                isolated: r.try_get::<i64, _>("isolated")? != 0,
                price: json_column(r.try_get("price")),
                harness_report: json_column(r.try_get("harness_report")),
            })
        })()
        .map(expire)
    }};
}

/// An active session whose key ran out is expired, whatever the row says.
pub(crate) fn expire(mut s: SessionRow) -> SessionRow {
    if s.status == SessionStatus::Active && s.key_expires_at.is_some_and(|t| t < Timestamp::now()) {
        s.status = SessionStatus::Expired;
    }
    s
}

/// A JSON column read into its type; unreadable (a newer database) counts as absent.
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    text: Result<Option<String>, sqlx::Error>,
) -> Option<T> {
    text.ok()
        .flatten()
        .and_then(|s| serde_json::from_str(&s).ok())
}

impl Store {
    /// One session, if it exists.
    pub async fn session(&self, id: &str) -> Result<Option<SessionRow>, Error> {
        let sql = format!("{SELECT} WHERE s.session_id = $1");
        on_pool!(self, |p| {
            let row = sqlx::query(&sql).bind(id).fetch_optional(p).await;
            row.and_then(|r| r.map(|r| row_to_session!(&r)).transpose())
        })
        .map_err(self.db())
    }

    /// Sessions, newest first, optionally of one experiment.
    pub async fn sessions(&self, experiment: Option<&str>) -> Result<Vec<SessionRow>, Error> {
        let sql = match experiment {
            Some(_) => format!("{SELECT} WHERE s.experiment = $1 ORDER BY s.created_at DESC"),
            None => format!("{SELECT} ORDER BY s.created_at DESC"),
        };
        on_pool!(self, |p| {
            let mut q = sqlx::query(&sql);
            if let Some(e) = experiment {
                q = q.bind(e);
            }
            let rows = q.fetch_all(p).await;
            rows.and_then(|rows| rows.iter().map(|r| row_to_session!(r)).collect())
        })
        .map_err(self.db())
    }

    /// The stored variant with this name and fingerprint (after `sync_config`).
    pub async fn variant_id(&self, name: &str, fingerprint: &str) -> Result<i64, Error> {
        let sql = "SELECT variant_id FROM variants WHERE name = $1 AND config_fingerprint = $2";
        on_pool!(self, |p| sqlx::query_scalar(sql)
            .bind(name)
            .bind(fingerprint)
            .fetch_one(p)
            .await)
        .map_err(self.db())
    }

    pub async fn insert_session(&self, s: &NewSession<'_>) -> Result<(), Error> {
        on_pool!(self, |p| sqlx::query(
            "INSERT INTO sessions (session_id, experiment, variant_id, task_card, harness_profile, status, mode, created_at,
             operator_label, repo_root, git_branch, git_commit_sha, git_dirty, notes, app_version, litellm_version, config_commit, isolated, price)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(s.session_id)
        .bind(s.experiment)
        .bind(s.variant_id)
        .bind(s.task_card)
        .bind(s.harness_profile)
        .bind(SessionStatus::Pending.as_str())
        .bind(s.mode.as_str())
        .bind(s.created_at)
        .bind(s.operator_label)
        .bind(&s.repo_root)
        .bind(s.git_branch)
        .bind(s.git_commit_sha)
        .bind(s.git_dirty.map(i64::from))
        .bind(s.notes)
        .bind(APP_VERSION)
        .bind(s.litellm_version)
        .bind(s.config_commit)
        .bind(i64::from(s.isolated))
        .bind(s.price.and_then(|p| serde_json::to_string(p).ok()))
        .execute(p)
        .await
        .map(|d| d.rows_affected()))
        .map_err(self.db())?;
        Ok(())
    }

    /// The key could not be issued: the session is invalid from the start.
    pub async fn session_not_issued(&self, id: &str, why: &str) -> Result<(), Error> {
        on_pool!(self, |p| sqlx::query("UPDATE sessions SET status = $1, ended_at = $2, outcome = 'credential not issued', notes = $3 WHERE session_id = $4")
            .bind(SessionStatus::Invalid.as_str())
            .bind(Timestamp::now())
            .bind(why)
            .bind(id)
            .execute(p)
            .await
            .map(|d| d.rows_affected()))
            .map_err(self.db())?;
        Ok(())
    }

    /// The key is issued: the session is active.
    pub async fn session_activated(
        &self,
        id: &str,
        alias: &str,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        on_pool!(self, |p| sqlx::query("UPDATE sessions SET status = $1, started_at = $2, proxy_key_alias = $3, key_expires_at = $4 WHERE session_id = $5")
            .bind(SessionStatus::Active.as_str())
            .bind(Timestamp::now())
            .bind(alias)
            .bind(expires_at)
            .bind(id)
            .execute(p)
            .await
            .map(|d| d.rows_affected()))
            .map_err(self.db())?;
        Ok(())
    }

    pub async fn session_finalized(
        &self,
        id: &str,
        status: SessionStatus,
        outcome: Option<&str>,
        notes: Option<&str>,
    ) -> Result<(), Error> {
        on_pool!(self, |p| sqlx::query("UPDATE sessions SET status = $1, ended_at = $2, outcome = $3, notes = $4 WHERE session_id = $5")
            .bind(status.as_str())
            .bind(Timestamp::now())
            .bind(outcome)
            .bind(notes)
            .bind(id)
            .execute(p)
            .await
            .map(|d| d.rows_affected()))
            .map_err(self.db())?;
        Ok(())
    }

    /// The session a key alias was issued to (request attribution).
    pub async fn key_owner(&self, alias: &str) -> Result<Option<Attribution>, Error> {
        self.attribution("proxy_key_alias", alias).await
    }

    /// A session by its id, as request attribution needs it.
    pub async fn session_attribution(&self, id: &str) -> Result<Option<Attribution>, Error> {
        self.attribution("session_id", id).await
    }

    async fn attribution(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<Attribution>, Error> {
        let sql = format!("SELECT session_id, variant_id, experiment, harness_profile FROM sessions WHERE {column} = $1");
        let row: Option<(String, i64, String, String)> = on_pool!(self, |p| sqlx::query_as(&sql)
            .bind(value)
            .fetch_optional(p)
            .await)
        .map_err(self.db())?;
        Ok(row.map(
            |(session_id, variant_id, experiment, harness_profile)| Attribution {
                session_id,
                variant_id,
                experiment,
                harness_profile,
            },
        ))
    }

    /// The LiteLLM versions an experiment's sessions ran under.
    pub async fn litellm_versions(&self, experiment: &str) -> Result<Vec<String>, Error> {
        let sql = "SELECT DISTINCT litellm_version FROM sessions WHERE experiment = $1 AND litellm_version IS NOT NULL";
        on_pool!(self, |p| sqlx::query_scalar(sql)
            .bind(experiment)
            .fetch_all(p)
            .await)
        .map_err(self.db())
    }
}

/// Which sessions a page lists (every filter optional; `label` matches a substring).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    pub experiment: Option<String>,
    pub variant: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub harness: Option<String>,
    pub task_card: Option<String>,
    pub status: Option<SessionStatus>,
    pub label: Option<String>,
    /// The machine it ran on (its id, see `machine::Identity`).
    pub machine: Option<String>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
}

impl Store {
    /// One page of sessions matching `f`, newest first, and how many match in all.
    pub async fn sessions_page(
        &self,
        f: &SessionFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<SessionRow>, u64), Error> {
        let now = Timestamp::now();
        on_pool!(self, |p, Db| {
            let build = |head: &str| {
                let mut q = sqlx::QueryBuilder::<Db>::new(head);
                q.push(" WHERE 1 = 1");
                let eq = [
                    ("s.experiment", &f.experiment),
                    ("v.name", &f.variant),
                    ("v.provider", &f.provider),
                    ("v.model_alias", &f.model),
                    ("s.harness_profile", &f.harness),
                    ("s.task_card", &f.task_card),
                    ("s.machine_id", &f.machine),
                ];
                for (col, v) in eq {
                    if let Some(v) = v {
                        q.push(format!(" AND {col} = ")).push_bind(v.clone());
                    }
                }
                // Expired is an active session whose key ran out (as `row_to_session` reads it).
                match f.status {
                    Some(SessionStatus::Expired) => {
                        q.push(" AND s.status = 'active' AND s.key_expires_at < ")
                            .push_bind(now);
                    }
                    Some(SessionStatus::Active) => {
                        q.push(" AND s.status = 'active' AND (s.key_expires_at IS NULL OR s.key_expires_at >= ")
                        .push_bind(now)
                        .push(")");
                    }
                    Some(st) => {
                        q.push(" AND s.status = ").push_bind(st.as_str());
                    }
                    None => {}
                }
                if let Some(l) = &f.label {
                    q.push(format!(
                        " AND {}(s.operator_label, ",
                        <Db as Dialect>::POSITION
                    ))
                    .push_bind(l.clone())
                    .push(") > 0");
                }
                if let Some(t) = f.since {
                    q.push(" AND s.created_at >= ").push_bind(t);
                }
                if let Some(t) = f.until {
                    q.push(" AND s.created_at < ").push_bind(t);
                }
                q
            };
            let mut count = build(
                "SELECT COUNT(*) FROM sessions s JOIN variants v ON v.variant_id = s.variant_id",
            );
            let total: i64 = count
                .build_query_scalar()
                .fetch_one(p)
                .await
                .map_err(self.db())?;
            let mut page = build(SELECT);
            page.push(" ORDER BY s.created_at DESC, s.session_id LIMIT ")
                .push_bind(i64::from(limit))
                .push(" OFFSET ")
                .push_bind(offset.min(i64::MAX as u64) as i64);
            let rows = page.build().fetch_all(p).await.map_err(self.db())?;
            let sessions = rows
                .iter()
                .map(|r| row_to_session!(r))
                .collect::<Result<_, _>>()
                .map_err(self.db())?;
            Ok((sessions, total.max(0) as u64))
        })
    }
}
