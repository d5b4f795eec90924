//! The edge spool's event lines in the store: a request's start (kept in `edge_pending` until its
//! record comes), and each edge instance's `up` and `down` (`edge_instances`). A start whose
//! instance is known to be gone — it wrote `down`, or a newer instance came `up` — becomes an
//! `edge_lost` row. Every step is idempotent, so a spool read twice, or lines that arrive in any
//! order across passes and rotations, give the same rows.

use super::on_pool;
use crate::timestamp::Timestamp;
use std::collections::HashMap;

use super::write::conn::{Arg, ToArg, Ty, WriteTx};
use serde::Serialize;

use crate::store::model::EDGE_LOST;
use crate::store::model::{RequestRow, TimedAt};

/// An edge spool line that is not a request's record, ready for the writer.
#[derive(Debug, Clone)]
pub enum EdgeEvent {
    /// A request's start, as the row it becomes if its record never comes.
    Start {
        instance: String,
        lost: Box<RequestRow>,
    },
    /// The instance began serving.
    Up { instance: String, at: Timestamp },
    /// The instance stopped cleanly after its last record.
    Down { instance: String, at: Timestamp },
}

/// A time the edge was not serving: from when an instance was last seen alive (or stopped) to when
/// the next one came up (`None`: not yet).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EdgeOutage {
    pub instance: String,
    /// The instance's clean stop, or the last time it was seen alive before a crash.
    pub from_ms: Timestamp,
    pub until_ms: Option<Timestamp>,
    /// It did not stop cleanly (killed, crashed).
    pub crashed: bool,
}

/// The instance of a row written from an edge record.
fn instance_of(r: &RequestRow) -> Option<&str> {
    (r.timed_at == TimedAt::Edge)
        .then(|| stackperf_contract::record::instance_of(&r.request_id))
        .flatten()
}

/// Apply a batch's edge side to the pending starts and instances; returns the starts that became
/// `edge_lost` rows (removed from `edge_pending`), for the caller to upsert. `rows` are the batch's
/// rows, already written.
pub(crate) async fn apply<T: WriteTx>(
    tx: &mut T,
    rows: &[RequestRow],
    events: &[EdgeEvent],
) -> Result<Vec<RequestRow>, String> {
    let mut seen: HashMap<&str, Timestamp> = HashMap::new();
    for r in rows {
        if let Some(i) = instance_of(r) {
            let sql = "DELETE FROM edge_pending WHERE request_id = ?1";
            tx.exec(sql, &[r.request_id.arg()]).await?;
            let t = seen.entry(i).or_insert(r.request_finished_at);
            *t = t.max(r.request_finished_at);
        }
    }
    for e in events {
        if let EdgeEvent::Start { instance, lost } = e {
            let t = seen.entry(instance).or_insert(lost.request_started_at);
            *t = t.max(lost.request_started_at);
        }
    }
    for (i, t) in seen {
        tx.exec(
            "INSERT INTO edge_instances (instance, last_seen_at) VALUES (?1, ?2)
             ON CONFLICT (instance) DO UPDATE SET last_seen_at = CASE
             WHEN edge_instances.last_seen_at > excluded.last_seen_at THEN edge_instances.last_seen_at
             ELSE excluded.last_seen_at END",
            &[Arg::Text(Some(i)), t.arg()],
        )
        .await?;
    }
    for e in events {
        match e {
            EdgeEvent::Start { instance, lost } => start(tx, instance, lost).await?,
            EdgeEvent::Up { instance, at } => up(tx, instance, *at).await?,
            EdgeEvent::Down { instance, at } => down(tx, instance, *at).await?,
        }
    }
    // Only an event can make a start lost (its instance gone, or a start of a gone instance).
    if events.is_empty() {
        return Ok(Vec::new());
    }
    lost_now(tx).await
}

/// Keep a start until its record comes, unless the record is stored already.
async fn start<T: WriteTx>(tx: &mut T, instance: &str, lost: &RequestRow) -> Result<(), String> {
    let recorded = tx
        .rows(
            "SELECT request_id FROM requests WHERE request_id = ?1 AND timed_at = 'edge'
             AND COALESCE(outcome, '') <> ?2",
            &[lost.request_id.arg(), Arg::Text(Some(EDGE_LOST))],
            &[Ty::Text],
        )
        .await?;
    if !recorded.is_empty() {
        return Ok(());
    }
    let row = serde_json::to_string(lost).map_err(|e| e.to_string())?;
    tx.exec(
        "INSERT INTO edge_pending (request_id, instance, row) VALUES (?1, ?2, ?3)
         ON CONFLICT (request_id) DO NOTHING",
        &[
            lost.request_id.arg(),
            Arg::Text(Some(instance)),
            Arg::Text(Some(&row)),
        ],
    )
    .await?;
    Ok(())
}

/// A new instance serves: every older one still thought alive is gone (it crashed: it wrote no
/// `down`), since its last sign of life.
async fn up<T: WriteTx>(tx: &mut T, instance: &str, at: Timestamp) -> Result<(), String> {
    let args = [Arg::Text(Some(instance)), at.arg()];
    tx.exec(
        "INSERT INTO edge_instances (instance, up_at, last_seen_at) VALUES (?1, ?2, ?2)
         ON CONFLICT (instance) DO UPDATE SET up_at = excluded.up_at, last_seen_at = CASE
         WHEN edge_instances.last_seen_at > excluded.up_at THEN edge_instances.last_seen_at
         ELSE excluded.up_at END",
        &args,
    )
    .await?;
    tx.exec(
        "UPDATE edge_instances SET gone_at = COALESCE(down_at, last_seen_at, up_at, ?2),
         crashed = CASE WHEN down_at IS NULL THEN 1 ELSE 0 END, replaced_by = ?1
         WHERE instance <> ?1 AND gone_at IS NULL AND COALESCE(up_at, last_seen_at, 0) <= ?2",
        &args,
    )
    .await?;
    // Instances that had stopped cleanly: this one ends their outage.
    tx.exec(
        "UPDATE edge_instances SET replaced_by = ?1 WHERE instance <> ?1 AND replaced_by IS NULL
         AND gone_at IS NOT NULL AND gone_at <= ?2",
        &args,
    )
    .await?;
    Ok(())
}

/// A clean stop (also after a newer instance was already up: it was draining, not crashed).
async fn down<T: WriteTx>(tx: &mut T, instance: &str, at: Timestamp) -> Result<(), String> {
    tx.exec(
        "INSERT INTO edge_instances (instance, down_at, gone_at, last_seen_at) VALUES (?1, ?2, ?2, ?2)
         ON CONFLICT (instance) DO UPDATE SET down_at = excluded.down_at,
         gone_at = excluded.down_at, crashed = 0, last_seen_at = CASE
         WHEN edge_instances.last_seen_at > excluded.down_at THEN edge_instances.last_seen_at
         ELSE excluded.down_at END",
        &[Arg::Text(Some(instance)), at.arg()],
    )
    .await?;
    Ok(())
}

/// Take the pending starts of gone instances.
async fn lost_now<T: WriteTx>(tx: &mut T) -> Result<Vec<RequestRow>, String> {
    let taken = tx
        .rows(
            "SELECT p.request_id, p.row FROM edge_pending p
             JOIN edge_instances i ON i.instance = p.instance WHERE i.gone_at IS NOT NULL",
            &[],
            &[Ty::Text, Ty::Text],
        )
        .await?;
    let mut out = Vec::with_capacity(taken.len());
    for t in &taken {
        let (Some(id), Some(row)) = (t[0].text(), t[1].text()) else {
            continue;
        };
        tx.exec(
            "DELETE FROM edge_pending WHERE request_id = ?1",
            &[Arg::Text(Some(id))],
        )
        .await?;
        match serde_json::from_str::<RequestRow>(row) {
            Ok(r) => out.push(r),
            Err(e) => tracing::warn!("edge start {id}: stored row unreadable ({e}); dropped"),
        }
    }
    Ok(out)
}

impl super::Store {
    /// The edge's outages that overlap `[from_ms, until_ms]` (`None`: until now).
    pub async fn edge_outages(
        &self,
        from_ms: Timestamp,
        until_ms: Option<Timestamp>,
    ) -> Result<Vec<EdgeOutage>, crate::Error> {
        let rows: Vec<(String, Timestamp, Option<Timestamp>, i64)> =
            on_pool!(self, |p| sqlx::query_as(
                "SELECT i.instance, i.gone_at, n.up_at, i.crashed FROM edge_instances i
             LEFT JOIN edge_instances n ON n.instance = i.replaced_by
             WHERE i.gone_at IS NOT NULL AND i.gone_at <= $2
             AND (n.up_at IS NULL OR n.up_at >= $1) ORDER BY i.gone_at",
            )
            .bind(from_ms)
            .bind(until_ms.unwrap_or(Timestamp::FAR_FUTURE))
            .fetch_all(p)
            .await)
            .map_err(self.db())?;
        Ok(rows
            .into_iter()
            .map(|(instance, from_ms, until_ms, crashed)| EdgeOutage {
                instance,
                from_ms,
                until_ms,
                crashed: crashed != 0,
            })
            .collect())
    }
}

/// What a session lost to its edge: outages while it ran and the requests they cut.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EdgeHealth {
    pub outages: Vec<EdgeOutage>,
    /// Time the edge was down within the session (open outages count until now), ms.
    pub down_ms: f64,
    /// Requests whose record was lost with the edge (`edge_lost`).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub lost_requests: i64,
    /// Requests only LiteLLM recorded although they came through the edge.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub not_timed_at_edge: i64,
    /// Services `stack up` found down (and restarted) or `stack down` stopped while the session
    /// ran (`stack::journal`).
    pub restarts: Vec<super::model::ServiceEvent>,
    /// The above in one sentence, `None` when nothing was lost.
    pub summary: Option<String>,
}

impl EdgeHealth {
    /// One sentence for people, `None` when nothing was lost.
    pub fn sentence(&self) -> Option<String> {
        use super::model::ServiceEventKind;
        let mut parts = Vec::new();
        if !self.outages.is_empty() {
            let crashed = self.outages.iter().filter(|o| o.crashed).count();
            parts.push(format!(
                "the edge was down for {:.1} s during this session ({} outage{}, {crashed} after a crash)",
                self.down_ms / 1000.0,
                self.outages.len(),
                if self.outages.len() == 1 { "" } else { "s" },
            ));
        }
        if self.lost_requests > 0 {
            parts.push(format!(
                "{} request{} lost {} stream with the edge (stored as edge_lost errors)",
                self.lost_requests,
                if self.lost_requests == 1 { "" } else { "s" },
                if self.lost_requests == 1 {
                    "its"
                } else {
                    "their"
                },
            ));
        }
        if self.not_timed_at_edge > 0 {
            parts.push(format!(
                "{} request{} recorded by LiteLLM only (not timed at the edge)",
                self.not_timed_at_edge,
                if self.not_timed_at_edge == 1 { "" } else { "s" },
            ));
        }
        for e in &self.restarts {
            let what = match e.event {
                ServiceEventKind::FoundDown => "was found down by `stack up` and restarted",
                ServiceEventKind::Stopped => "was stopped",
                ServiceEventKind::Started => continue,
            };
            parts.push(format!("{} {what} at {}", e.service, e.at_ms));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

impl super::Store {
    /// The edge's outages during `[from_ms, until_ms]` (`None`: until now) and what the session
    /// `session_id` lost to them.
    pub async fn edge_health(
        &self,
        session_id: &str,
        from_ms: Timestamp,
        until_ms: Option<Timestamp>,
    ) -> Result<EdgeHealth, crate::Error> {
        let outages = self.edge_outages(from_ms, until_ms).await?;
        let now = Timestamp::now();
        let end = until_ms.unwrap_or(now);
        let down_ms = outages
            .iter()
            .map(|o| {
                let until = o.until_ms.unwrap_or(now).min(end);
                until.ms_since(o.from_ms.max(from_ms)).max(0.0)
            })
            .sum();
        let (lost_requests, not_timed_at_edge): (i64, i64) = on_pool!(self, |p| sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN outcome = 'edge_lost' THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN outcome = 'not_timed_at_edge' THEN 1 ELSE 0 END), 0)
             FROM requests WHERE session_id = $1 AND outcome IN ('edge_lost', 'not_timed_at_edge')",
        )
        .bind(session_id)
        .fetch_one(p)
        .await)
        .map_err(self.db())?;
        let mut h = EdgeHealth {
            outages,
            down_ms,
            lost_requests,
            not_timed_at_edge,
            restarts: Vec::new(),
            summary: None,
        };
        h.summary = h.sentence();
        Ok(h)
    }
}

/// What every session lost to the edge, for Compare's exclusion rule.
#[derive(Debug, Clone, Default)]
pub struct LostTelemetry {
    pub outages: Vec<EdgeOutage>,
    /// Per session: requests stored as `edge_lost` or `not_timed_at_edge`.
    pub untimed: HashMap<String, i64>,
}

impl LostTelemetry {
    /// Why a session that ran over `[started, ended]` lost telemetry, if it did.
    pub fn reason(
        &self,
        session_id: &str,
        started: Option<Timestamp>,
        ended: Option<Timestamp>,
    ) -> Option<String> {
        let untimed = self.untimed.get(session_id).copied().unwrap_or(0);
        let down_ms: f64 = match started {
            Some(s) => self
                .outages
                .iter()
                .map(|o| {
                    let until = o.until_ms.or(ended).unwrap_or(o.from_ms);
                    let until = until.min(ended.unwrap_or(Timestamp::FAR_FUTURE));
                    until.ms_since(o.from_ms.max(s)).max(0.0)
                })
                .sum(),
            None => 0.0,
        };
        let overlapped = started.is_some_and(|s| {
            self.outages.iter().any(|o| {
                o.from_ms <= ended.unwrap_or(Timestamp::FAR_FUTURE)
                    && o.until_ms.is_none_or(|u| u >= s)
            })
        });
        (untimed > 0 || overlapped).then(|| {
            format!(
                "lost telemetry: the edge was down for {:.1} s during this session; {untimed} request(s) without the edge's timing",
                down_ms / 1000.0
            )
        })
    }
}

impl super::Store {
    /// Every edge outage, and the sessions with requests the edge did not time.
    pub async fn lost_telemetry(&self) -> Result<LostTelemetry, crate::Error> {
        let outages = self.edge_outages(Timestamp::EPOCH, None).await?;
        let untimed: Vec<(String, i64)> = on_pool!(self, |p| sqlx::query_as(
            "SELECT session_id, COUNT(*) FROM requests
             WHERE outcome IN ('edge_lost', 'not_timed_at_edge') AND session_id IS NOT NULL
             GROUP BY session_id",
        )
        .fetch_all(p)
        .await)
        .map_err(self.db())?;
        Ok(LostTelemetry {
            outages,
            untimed: untimed.into_iter().collect(),
        })
    }
}
