//! Which machine wrote what (several machines, one store: docs/team.md). Each process registers
//! its machine once ([`Store::machine_key`]); requests carry the small key, sessions the id.
//! Spool cursors are per machine on a server store: two machines' spools may have one path.

use std::borrow::Cow;

use super::model::Machine;
use super::{on_pool, Pool, Store};
use crate::machine::Identity;
use crate::timestamp::Timestamp;
use crate::Error;

/// The machine a store handle writes as (this one, unless told otherwise) and its key.
#[derive(Debug, Default)]
pub(crate) struct ThisMachine {
    identity: Option<Identity>,
    key: tokio::sync::OnceCell<i64>,
}

impl Store {
    /// This handle, writing as another machine (a test's second machine on one host).
    pub fn as_machine(&self, identity: Identity) -> Store {
        let mut s = self.clone();
        s.machine = std::sync::Arc::new(ThisMachine {
            identity: Some(identity),
            key: Default::default(),
        });
        s
    }

    /// The machine this handle writes as.
    pub fn identity(&self) -> Identity {
        self.machine.identity.clone().unwrap_or_else(Identity::this)
    }

    /// This machine's key in `machines`, registered (with its host name) on first use by this
    /// store handle.
    pub async fn machine_key(&self) -> Result<i64, Error> {
        let key = self
            .machine
            .key
            .get_or_try_init(|| async {
                let me = self.identity();
                let sql = "INSERT INTO machines (machine_id, hostname, first_seen, last_seen)
                     VALUES ($1, $2, $3, $3)
                     ON CONFLICT (machine_id) DO UPDATE SET hostname = excluded.hostname
                     RETURNING machine_key";
                on_pool!(self, |p| sqlx::query_scalar::<_, i64>(sql)
                    .bind(&me.machine_id)
                    .bind(&me.hostname)
                    .bind(Timestamp::now())
                    .fetch_one(p)
                    .await)
                .map_err(self.db())
            })
            .await?;
        Ok(*key)
    }

    /// Every machine that wrote to this store, the most recently seen first.
    pub async fn machines(&self) -> Result<Vec<Machine>, Error> {
        let sql = "SELECT m.machine_id, m.hostname, m.first_seen, m.last_seen,
                (SELECT COUNT(*) FROM sessions s WHERE s.machine_id = m.machine_id) AS sessions,
                (SELECT COUNT(*) FROM requests r WHERE r.machine_key = m.machine_key) AS requests
             FROM machines m ORDER BY m.last_seen DESC, m.machine_id";
        type Row = (String, String, Timestamp, Timestamp, i64, i64);
        let rows: Vec<Row> =
            on_pool!(self, |p| sqlx::query_as(sql).fetch_all(p).await).map_err(self.db())?;
        Ok(rows
            .into_iter()
            .map(
                |(machine_id, hostname, first_seen, last_seen, sessions, requests)| Machine {
                    machine_id,
                    hostname,
                    first_seen,
                    last_seen,
                    sessions,
                    requests,
                },
            )
            .collect())
    }

    /// The key a spool's ingest cursor is kept under: its path in a file store (one machine's),
    /// this machine's id and the path in a server store (another machine's spool may have the
    /// same path).
    pub(crate) fn spool_key<'a>(&self, spool: &'a str) -> Cow<'a, str> {
        match self.pool {
            Pool::Sqlite(_) => Cow::Borrowed(spool),
            Pool::Postgres(_) => Cow::Owned(format!("{}:{spool}", self.identity().machine_id)),
        }
    }
}
