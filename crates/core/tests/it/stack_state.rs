//! The native stack's bookkeeping without starting LiteLLM: a state file whose processes are gone
//! is reported as stale and cleaned up, never silently reused.

use std::time::Duration;

use stackperf_core::stack::{NativeStack, Ports, Service, StackOptions};

fn stack(dir: &std::path::Path) -> NativeStack {
    NativeStack::new(StackOptions {
        data_dir: dir.to_path_buf(),
        cache_dir: dir.join("cache"),
        ports: Ports::default(),
        health_timeout: Duration::from_secs(1),
        stackperf_bin: "stackperf".into(),
        scrape_interval_s: 2,
    })
}

#[tokio::test]
async fn a_state_file_of_dead_processes_is_stale_and_down_cleans_it_up() {
    let dir = tempfile::tempdir().unwrap();
    // A PID that certainly ran and exited.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let state = serde_json::json!({
        "runtime": "native", "started_at_ms": 0.0, "ports": {"litellm": 4000, "sim": 8765, "prometheus": 9090},
        "services": [{"name": "litellm", "pid": dead, "port": 4000, "url": "http://127.0.0.1:4000",
            "health_path": "/health/liveliness", "log": "/tmp/x.log", "version": "1.108.7", "marker": "litellm"}],
        "skipped": []
    });
    std::fs::create_dir_all(dir.path().join("stack")).unwrap();
    std::fs::write(dir.path().join("stack/state.json"), state.to_string()).unwrap();
    let s = stack(dir.path());
    let status = s.status().await;
    let litellm = status.iter().find(|x| x.name == Service::Litellm).unwrap();
    assert_eq!(litellm.state, stackperf_core::stack::ServiceState::Stale);
    assert!(!litellm.healthy);
    assert!(litellm.detail.as_deref().unwrap().contains("stack up"));
    assert!(
        status
            .iter()
            .any(|x| x.name == Service::Sim
                && x.state == stackperf_core::stack::ServiceState::Stopped)
    );

    let report = s.down(&|_| {}).await.unwrap();
    assert_eq!(report.already_gone, vec![Service::Litellm]);
    assert!(
        report.stopped.is_empty(),
        "a dead PID must never be signalled"
    );
    assert!(s.state().is_none(), "the stale state file is removed");
    // With nothing recorded, down is a no-op.
    let again = s.down(&|_| {}).await.unwrap();
    assert!(again.stopped.is_empty() && again.already_gone.is_empty());
}
