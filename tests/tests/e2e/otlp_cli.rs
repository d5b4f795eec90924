//! OTLP export from the command line (docs/team.md): what to set, what did not arrive.

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// `export otlp` (docs/team.md): off without an endpoint, and the message says which variable to
/// set; an endpoint that is no URL says why the export could not start; with an endpoint nothing answers at, a finalized session's span is said not to have
/// arrived as the command exits, and a backfill exits 1 saying so — the endpoint shown without
/// the credentials in it.
#[test]
fn otlp_export_says_what_to_set_and_what_did_not_arrive() {
    let s = stackperf_e2e::StackEnv::new("otlp-cli");
    let off = s
        .cmd(&["export", "otlp", "--experiment", "sim-profiles"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .output()
        .expect("run");
    assert!(!off.status.success());
    assert!(
        stderr(&off).contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{}",
        stderr(&off)
    );

    // An endpoint the exporter refuses: why, not "off".
    let bad = s
        .cmd(&["export", "otlp", "--experiment", "sim-profiles"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("OTLP export could not start")
            && stderr(&bad).contains("OTLP endpoint")
            && !stderr(&bad).contains("export is off"),
        "{}",
        stderr(&bad)
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let endpoint = format!("http://team:hunter2-secret@127.0.0.1:{port}");
    let id = s.create_session("sim-profiles", "sim-fast-oai", &[]).id;
    let fin = s
        .cmd(&["session", "finalize", &id, "--status", "completed"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .output()
        .expect("finalize");
    assert!(fin.status.success(), "{}", stderr(&fin));
    let err = stderr(&fin);
    assert!(
        err.contains("OTLP: 1 spans did not reach")
            && err.contains(&format!("127.0.0.1:{port}/v1/traces")),
        "{err}"
    );
    let back = s
        .cmd(&["export", "otlp", "--experiment", "sim-profiles"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .output()
        .expect("backfill");
    assert_eq!(back.status.code(), Some(1), "{}", stderr(&back));
    let err = stderr(&back);
    assert!(
        err.contains("1 sessions, 1 spans") && err.contains("did not reach"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2") && !stderr(&fin).contains("hunter2"),
        "{err}"
    );
}
