//! OTLP export set in StackPerf's settings (the desktop's Stack screen) instead of the standard
//! variables: the endpoint saved in the data dir, the backend's headers in the keychain only;
//! what is ingested after saving arrives with the headers; off stops it; a URL with credentials
//! is refused and changes nothing.

use std::time::Duration;

use crate::otlp::{receiver, session_with_requests, Mode};
use stackperf_core::app::OtlpSource;
use stackperf_core::output::otlp::settings;
use stackperf_core::secrets::Secret;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_set_in_the_settings_sends_with_keychain_headers_and_turns_off() {
    assert!(
        !settings::from_environment(),
        "run without OTEL_EXPORTER_OTLP_ENDPOINT: it would win over the settings"
    );
    let dir = tempfile::tempdir().unwrap();
    let (url, got) = receiver(Mode::Accept).await;
    let base = url.trim_end_matches("/v1/traces").to_string();
    let app = crate::common::app(dir.path()).await;
    let off = app.otlp_settings().await;
    assert_eq!(
        (off.endpoint, off.source, off.saved_endpoint),
        (None, None, None)
    );

    // Credentials belong in the headers: a URL carrying them is refused, nothing saved, and the
    // password is not quoted back.
    let e = app
        .otlp_configure(Some("http://team:hunter2@127.0.0.1:4318".into()), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("credentials") && !e.contains("hunter2"), "{e}");
    let e = app
        .otlp_configure(Some(base.clone()), Some(Secret::new("no-equals-sign")))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("entry 1") && !e.contains("no-equals-sign"),
        "{e}"
    );
    assert_eq!(app.otlp_settings().await.saved_endpoint, None);

    let on = app
        .otlp_configure(
            Some(format!("{base}/")),
            Some(Secret::new("x-team=team%201")),
        )
        .await
        .unwrap();
    assert_eq!(on.source, Some(OtlpSource::Settings), "{on:?}");
    assert_eq!(on.endpoint.as_deref(), Some(url.as_str()));
    assert_eq!(on.saved_endpoint.as_deref(), Some(base.as_str()));
    assert!(on.headers_saved && on.error.is_none(), "{on:?}");
    let file = std::fs::read_to_string(dir.path().join("data/otlp.json")).unwrap();
    assert!(
        !file.contains("team"),
        "the headers stay in the keychain: {file}"
    );

    let id = session_with_requests(&app, 2).await;
    let status = app.otlp_flush(Duration::from_secs(20)).await.unwrap();
    assert_eq!(
        (status.sent, status.failed, status.dropped),
        (3, 0, 0),
        "{status:?}"
    );
    let spans = got.spans();
    assert_eq!(spans.len(), 3, "two requests and the session");
    let roots = spans.iter().filter(|(_, _, s)| s.parent_span_id.is_empty());
    assert_eq!(
        roots.count(),
        1,
        "the session's span, parent of its requests'"
    );
    let teams = got.team_headers();
    assert!(
        !teams.is_empty() && teams.iter().all(|t| t.as_deref() == Some("team 1")),
        "every export carried the keychain's header: {teams:?}"
    );
    assert!(
        spans.iter().all(|(_, _, s)| s
            .attributes
            .iter()
            .any(|kv| kv.key == "stackperf.session.id" && format!("{:?}", kv.value).contains(&id))),
        "every span names the session"
    );

    // Off: nothing more is sent; the headers stay saved for next time.
    let off = app.otlp_configure(None, None).await.unwrap();
    assert_eq!(
        (off.endpoint.as_deref(), off.saved_endpoint.as_deref()),
        (None, None)
    );
    assert!(off.headers_saved);
    session_with_requests(&app, 1).await;
    assert_eq!(app.otlp_status(), None);
    assert_eq!(got.spans().len(), 3, "nothing sent after turning it off");
}
