//! A run's items leased to workers (store/leases.rs), on both backends: each item to one holder
//! at a time, a lease that ran out taken over and the old holder shut out, and workers racing
//! over one run each taking distinct items until none is left.

use stackperf_core::store::model::{ItemState, PlannedItem, RunOrder, RunStatus, TaskOutcome};
use stackperf_core::store::{RunRow, Store, Worker};
use stackperf_core::timestamp::Timestamp;

async fn run_with(store: &Store, run_id: &str, items: usize) {
    let run = RunRow {
        run_id: run_id.into(),
        experiment: "sim-profiles".into(),
        created_at: Timestamp::from_ms(1_000.0),
        finished_at: None,
        status: RunStatus::Running,
        order: RunOrder::Blocks,
        seed: "7".into(),
        repetitions: 1,
        timeout_s: None,
        machine: "test".into(),
        versions: "{}".into(),
        suite: None,
        retry_infra: 1,
        parallel: 1,
    };
    let planned: Vec<PlannedItem> = (0..items)
        .map(|i| PlannedItem {
            variant: format!("v{}", i % 2),
            task_card: "sample-traffic".into(),
            repetition: i as u32,
        })
        .collect();
    store.insert_run(&run, &planned).await.unwrap();
}

fn t(ms: f64) -> Timestamp {
    Timestamp::from_ms(ms)
}

#[tokio::test]
async fn a_lease_holds_an_item_until_it_runs_out_and_then_its_holder_is_shut_out() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "run_leases") {
        let store = Store::open(&db).await.unwrap();
        run_with(&store, "run_a", 3).await;
        crate::common::active_sessions(&store, &["sess_b", "sess_b2", "sess_c"]).await;
        let take = |owner: &'static str, now: f64, until: f64| {
            let store = store.clone();
            async move {
                store
                    .lease_run_item("run_a", owner, t(now), t(until))
                    .await
                    .unwrap()
            }
        };
        let a = take("a", 100.0, 200.0).await.expect("an item for a");
        let b = take("b", 100.0, 150.0).await.expect("an item for b");
        assert_eq!((a.item.index, b.item.index), (0, 1), "{db:?}");
        assert!(store.lease_session(&b.lease, "sess_b").await.unwrap());
        // a's heartbeat keeps its item; b's lease runs out at 150.
        let mut a_lease = a.lease.clone();
        assert!(store.renew_lease(&mut a_lease, t(400.0)).await.unwrap());
        let c = take("c", 300.0, 500.0)
            .await
            .expect("b's item, its lease gone");
        assert_eq!(c.item.index, 1, "{db:?}: the lowest index first");
        assert_eq!(
            c.item.session_id.as_deref(),
            Some("sess_b"),
            "{db:?}: the session b left, to be finalized as aborted"
        );
        let mut b_lease = b.lease.clone();
        assert!(!store.renew_lease(&mut b_lease, t(600.0)).await.unwrap());
        assert!(!store.lease_session(&b.lease, "sess_b2").await.unwrap());
        assert!(
            !store
                .end_lease(&b.lease, ItemState::Done, Some(TaskOutcome::Success))
                .await
                .unwrap(),
            "{db:?}: a lost lease finishes nothing"
        );
        assert!(store.lease_session(&c.lease, "sess_c").await.unwrap());
        assert!(store
            .end_lease(&c.lease, ItemState::Done, Some(TaskOutcome::Success))
            .await
            .unwrap());
        // Finished is finished: not taken again, not ended twice.
        assert!(!store
            .end_lease(&c.lease, ItemState::Done, None)
            .await
            .unwrap());
        let d = take("d", 10_000.0, 10_100.0).await.expect("item 0 ran out");
        assert_eq!(d.item.index, 0, "{db:?}: a's lease (until 400) ran out too");
        assert!(store
            .end_lease(&d.lease, ItemState::Pending, None)
            .await
            .unwrap());
        let items = store.run_items("run_a").await.unwrap();
        assert_eq!(items[1].state, ItemState::Done);
        assert_eq!(items[1].session_id.as_deref(), Some("sess_c"));
        assert_eq!(items[1].attempts, 2, "{db:?}: b's session and c's");
        assert_eq!(items[0].state, ItemState::Pending, "{db:?}: given back");
        // Given back, then 0 and 2 are taken; then nothing is left.
        let e = take("e", 10_000.0, 20_000.0).await.expect("item 0 again");
        let f = take("f", 10_000.0, 20_000.0).await.expect("item 2");
        assert_eq!((e.item.index, f.item.index), (0, 2), "{db:?}");
        assert!(take("g", 10_000.0, 20_000.0).await.is_none(), "{db:?}");
    }
}

#[tokio::test]
async fn resume_takes_back_only_what_its_holder_still_holds_and_workers_read_back() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "run_leases_release") {
        let store = Store::open(&db).await.unwrap();
        run_with(&store, "run_r", 3).await;
        let w = Worker {
            machine_id: "m1".into(),
            hostname: "alpha".into(),
            pid: 42,
            slot: 1,
        };
        assert_eq!(store.next_lease_end("run_r").await.unwrap(), None);
        let owner = w.owner();
        let a = store
            .lease_run_item("run_r", &owner, t(100.0), t(200.0))
            .await
            .unwrap()
            .expect("item 0");
        let b = store
            .lease_run_item("run_r", "other", t(100.0), t(300.0))
            .await
            .unwrap()
            .expect("item 1");
        assert_eq!(
            store.next_lease_end("run_r").await.unwrap(),
            Some(t(200.0)),
            "{db:?}: the first lease to run out"
        );
        let items = store.run_items("run_r").await.unwrap();
        assert_eq!(items[0].worker.as_ref(), Some(&w), "{db:?}");
        assert_eq!(items[0].lease_until, Some(t(200.0)), "{db:?}");
        assert_eq!(items[1].worker, None, "{db:?}: not a worker's owner");
        assert!(!store
            .release_run_item("run_r", 0, Some("someone else"))
            .await
            .unwrap());
        assert!(store
            .release_run_item("run_r", 0, Some(&owner))
            .await
            .unwrap());
        assert_eq!(
            store.run_items("run_r").await.unwrap()[0].state,
            ItemState::Pending
        );
        assert!(
            !store
                .end_lease(&a.lease, ItemState::Done, None)
                .await
                .unwrap(),
            "{db:?}: taken back, its holder finishes nothing"
        );
        assert!(
            !store
                .release_run_item("run_r", 0, Some(&owner))
                .await
                .unwrap(),
            "{db:?}: pending is not taken back again"
        );
        assert!(store
            .end_lease(&b.lease, ItemState::Done, Some(TaskOutcome::Success))
            .await
            .unwrap());
        assert!(
            !store
                .release_run_item("run_r", 1, Some("other"))
                .await
                .unwrap(),
            "{db:?}: done stays done"
        );
        assert_eq!(store.next_lease_end("run_r").await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_racing_over_one_run_take_each_item_exactly_once() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "run_leases_race") {
        let dir = tempfile::tempdir().unwrap();
        let db = if crate::common::is_file(&db) {
            dir.path().join("db.sqlite")
        } else {
            db
        };
        let n = 60usize;
        run_with(&Store::open(&db).await.unwrap(), "run_race", n).await;
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let db = db.clone();
                tokio::spawn(async move {
                    // Each its own store (its own pool), as separate processes would be.
                    let store = Store::open(&db).await.unwrap();
                    let owner = format!("worker-{w}");
                    let mut done = Vec::new();
                    loop {
                        let now = Timestamp::now();
                        let until = Timestamp::from_ms(now.ms() + 60_000.0);
                        let Some(l) = store
                            .lease_run_item("run_race", &owner, now, until)
                            .await
                            .unwrap_or_else(|e| panic!("{db:?} {owner}: {e}"))
                        else {
                            return done;
                        };
                        let ended = store
                            .end_lease(&l.lease, ItemState::Done, Some(TaskOutcome::Success))
                            .await
                            .unwrap();
                        assert!(ended, "{db:?} {owner}: item {} taken from it", l.item.index);
                        done.push(l.item.index);
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(
            all,
            (0..n as u32).collect::<Vec<_>>(),
            "{db:?}: each item once"
        );
        let store = Store::open(&db).await.unwrap();
        assert!(store
            .run_items("run_race")
            .await
            .unwrap()
            .iter()
            .all(|i| i.state == ItemState::Done));
    }
}
