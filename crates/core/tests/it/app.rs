//! The desktop's service object on its own: setup drafts, sessions without a running stack,
//! the live view, exports. (The real window drives the same calls in tests/ui.)

use stackperf_core::app::{ConfigKind, ExportFormat, ExportRequest, ExportWhat, StartSession};
use stackperf_core::config::RenderFormat;
use stackperf_core::session::{FinalStatus, SessionStatus};

use crate::common::{self, app};

#[tokio::test]
async fn a_draft_is_checked_against_the_whole_set_while_typing() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;

    let bad = "name: e\nvariants: [v]\ncolour: blue\n";
    let check = app
        .config_check(ConfigKind::Experiments, "e.yaml", bad)
        .unwrap();
    let p = &check.problems[0];
    assert_eq!((p.line, p.field.as_str()), (Some(3), "colour"), "{p}");
    assert!(check.elsewhere.is_empty());

    // A reference to a variant that does not exist is a problem of the draft too.
    let dangling = app
        .config_check(
            ConfigKind::Experiments,
            "e.yaml",
            "name: e\nvariants: [nope]\n",
        )
        .unwrap();
    assert!(
        dangling.problems.iter().any(|p| p.message.contains("nope")),
        "{:?}",
        dangling.problems
    );

    // Nothing was written by checking; a bad draft is refused, a good one saved.
    let on_disk = std::fs::read_to_string(dir.path().join("configs/experiments/e.yaml")).unwrap();
    assert_eq!(on_disk, common::EXPERIMENT);
    assert!(app
        .config_save(ConfigKind::Experiments, "e.yaml", bad)
        .is_err());
    let good = "name: e2\ndescription: second\nvariants: [v]\n";
    app.config_save(ConfigKind::Experiments, "e2.yaml", good)
        .unwrap();
    let catalog = app.config_catalog();
    let doc = catalog.docs.iter().find(|d| d.file == "e2.yaml").unwrap();
    assert_eq!((doc.name.as_deref(), doc.text.as_str()), (Some("e2"), good));
    assert!(app
        .choices()
        .experiments
        .iter()
        .any(|e| e.name == "e2" && e.variants == ["v"]));
    assert!(app
        .config_check(ConfigKind::Experiments, "../escape.yaml", good)
        .is_err());
}

#[tokio::test]
async fn a_session_shows_its_env_redacted_copies_it_whole_and_finalizes() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "session") {
        let dir = tempfile::tempdir().unwrap();
        let db = if crate::common::is_file(&db) {
            dir.path().join("data/stackperf.sqlite")
        } else {
            db
        };
        let app = crate::common::app_on(dir.path(), &db).await;
        let (row, env) = app
            .session_start(StartSession {
                experiment: "e".into(),
                variant: "v".into(),
                task_card: "t".into(),
                label: Some("  ".into()),
                exploratory: false,
                isolate: false,
            })
            .await
            .unwrap();
        assert_eq!(row.status, SessionStatus::Active);
        assert_eq!(row.operator_label, None, "a blank label is no label");
        assert!(
            env.text.contains("export KEY='<session key"),
            "{}",
            env.text
        );
        let copied = app
            .session_env_text(&row.session_id, Some(RenderFormat::Dotenv))
            .await
            .unwrap();
        let key = copied
            .lines()
            .find_map(|l| l.strip_prefix("KEY="))
            .unwrap()
            .trim_matches(['"', '\'']);
        assert!(key.len() > 20 && !env.text.contains(key));
        let json = app
            .session_env(&row.session_id, Some(RenderFormat::Json))
            .await
            .unwrap();
        assert!(json.text.contains("\"BASE\"") && !json.text.contains(key));

        let page = app
            .session_requests_since(&row.session_id, None)
            .await
            .unwrap();
        assert!(page.rows.is_empty() && page.cursor.is_none());

        // The live panel's pages: what was stored since the last cursor, nothing twice unless changed.
        let alias = row.proxy_key_alias.clone().unwrap();
        let spool = app.spool_path();
        std::fs::create_dir_all(spool.parent().unwrap()).unwrap();
        let line = |i: usize| {
            format!(
                r#"{{"v":1,"litellm_call_id":"live-{i}","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":false,"start":{s},"end":{e},"model_group":"m","prompt_tokens":3,"completion_tokens":4,"key_alias":"{alias}"}}"#,
                s = 1.7e9 + i as f64,
                e = 1.7e9 + i as f64 + 0.2
            ) + "\n"
        };
        let append = |text: String| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&spool)
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        append(line(0) + &line(1));
        app.ingest_now().await.unwrap();
        let first = app
            .session_requests_since(&row.session_id, None)
            .await
            .unwrap();
        assert_eq!(first.rows.len(), 2);
        append(line(2));
        app.ingest_now().await.unwrap();
        let next = app
            .session_requests_since(&row.session_id, first.cursor)
            .await
            .unwrap();
        let ids: Vec<&str> = next.rows.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids, ["live-2"], "only what changed since the cursor");
        assert!(next.cursor >= first.cursor);

        let done = app
            .session_finalize(
                &row.session_id,
                FinalStatus::Completed,
                Some("ok"),
                Some(""),
            )
            .await
            .unwrap()
            .session;
        assert_eq!(
            (done.status.as_str(), done.outcome.as_deref()),
            ("completed", Some("ok"))
        );
        // A blank note adds nothing to what the session already noted (here: no git repository).
        assert!(
            done.notes.as_deref().is_none_or(|n| !n.ends_with('\n')),
            "{:?}",
            done.notes
        );
        // Once finalized, the environment is gone, with a code the UI can branch on.
        let e = app
            .session_env_text(&row.session_id, None)
            .await
            .unwrap_err();
        assert_eq!(e.code(), stackperf_core::ErrorCode::SessionNotActive, "{e}");
        let e = app
            .session_finalize(&row.session_id, FinalStatus::Aborted, None, None)
            .await
            .unwrap_err();
        assert_eq!(e.code(), stackperf_core::ErrorCode::SessionFinalized, "{e}");
        assert_eq!(app.sessions_list(Some("e")).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn exports_write_where_asked_and_refuse_what_does_not_fit() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "exports") {
        let dir = tempfile::tempdir().unwrap();
        let db = if crate::common::is_file(&db) {
            dir.path().join("data/stackperf.sqlite")
        } else {
            db
        };
        let app = crate::common::app_on(dir.path(), &db).await;
        let out = |name: &str| dir.path().join(name).display().to_string();
        let req = |what, format: ExportFormat, path: String| ExportRequest {
            what,
            format,
            experiment: Some("e".into()),
            session: None,
            metric: None,
            path,
            include_internal: false,
        };
        let html = app
            .export(&req(ExportWhat::Report, ExportFormat::Html, out("r.html")))
            .await
            .unwrap();
        let text = std::fs::read_to_string(&html.path).unwrap();
        assert!(text.starts_with("<!doctype html>") && text.contains("<h2>Variants</h2>"));
        assert!(
            !text.contains("src=\"http")
                && text.matches("<svg").count() == stackperf_core::metrics::chartable().count()
        );

        let csv = app
            .export(&req(ExportWhat::Sessions, ExportFormat::Csv, out("s.csv")))
            .await
            .unwrap();
        assert_eq!(csv.rows, 0);
        assert!(std::fs::read_to_string(&csv.path)
            .unwrap()
            .starts_with("session_id,"));

        let svg = app
            .export(&req(ExportWhat::Chart, ExportFormat::Svg, out("c.svg")))
            .await
            .unwrap();
        assert!(std::fs::read_to_string(&svg.path)
            .unwrap()
            .starts_with("<svg"));

        for bad in [
            req(ExportWhat::Chart, ExportFormat::Csv, out("x.csv")),
            req(ExportWhat::Report, ExportFormat::Png, out("x.png")),
            req(
                ExportWhat::Requests,
                ExportFormat::Csv,
                out("missing-dir/x.csv"),
            ),
            req(ExportWhat::Requests, ExportFormat::Csv, String::new()),
        ] {
            let e = app.export(&bad).await.unwrap_err();
            assert_eq!(e.code(), stackperf_core::ErrorCode::Invalid, "{e}");
        }
        // A terminal gets text exports; binary ones are refused with what to do.
        let text = app
            .export_text(&req(
                ExportWhat::Sessions,
                ExportFormat::Json,
                String::new(),
            ))
            .await
            .unwrap();
        assert!(text.trim_start().starts_with('['), "{text}");
        let e = app
            .export_text(&req(
                ExportWhat::Sessions,
                ExportFormat::Parquet,
                String::new(),
            ))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("--out"), "{e}");
    }
}

#[tokio::test]
async fn isolation_is_recorded_on_the_session_and_rendered_again_by_env() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let start = |isolate| StartSession {
        experiment: "e".into(),
        variant: "v".into(),
        task_card: "t".into(),
        label: None,
        exploratory: false,
        isolate,
    };
    // The baseline harness has no isolation section: asking for it is refused, with the fix.
    let err = app
        .session_start(start(true))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no `isolation` section"), "{err}");
    assert!(app.choices().isolation.is_empty());

    let with = format!(
        "{}isolation:\n  env:\n    STATE_DIR: \"{{{{ session_dir }}}}/state\"\n  effect: e\n  gives_up: g\n",
        common::HARNESS
    );
    std::fs::write(dir.path().join("configs/harnesses/h.yaml"), with).unwrap();
    assert_eq!(app.choices().isolation[0].variant, "v");
    let (plain, env) = app.session_start(start(false)).await.unwrap();
    assert!(
        !plain.isolated && !env.text.contains("STATE_DIR"),
        "{}",
        env.text
    );
    let (row, env) = app.session_start(start(true)).await.unwrap();
    assert!(row.isolated);
    assert!(
        env.text.contains("STATE_DIR") && env.text.contains(&row.session_id),
        "{}",
        env.text
    );
    let again = app.session_env(&row.session_id, None).await.unwrap();
    assert!(
        again.text.contains("STATE_DIR"),
        "session env renders isolation again"
    );
}

/// A run with no stack up: nothing answers at the proxy, so each attempt is an infrastructure
/// error ("proxy unavailable"), tried again once, never a task failure, counted per variant.
#[tokio::test]
async fn a_run_without_the_proxy_is_an_infrastructure_error_retried_and_never_a_task_failure() {
    use stackperf_core::run::{OutcomeClass, RunOrder, RunRequest};
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "run") {
        let dir = tempfile::tempdir().unwrap();
        let db = if crate::common::is_file(&db) {
            dir.path().join("data/stackperf.sqlite")
        } else {
            db
        };
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(repo.join("README.md"), "x").unwrap();
        let harness = format!("{}headless:\n  argv: [\"true\"]\n", common::HARNESS);
        let task = common::TASK.replace("repo_path: .", &format!("repo_path: {}", repo.display()));
        let app = crate::common::app_on(dir.path(), &db).await;
        common::write_set(
            &dir.path().join("configs"),
            &[("harnesses/h.yaml", &harness), ("task-cards/t.yaml", &task)],
        );
        let (tx, rx) = tokio::sync::watch::channel(false);
        let req = RunRequest {
            experiment: "e".into(),
            task_cards: vec!["t".into()],
            suite: None,
            retry_infra: Some(1),
            parallel: None,
            repeat: 1,
            order: RunOrder::Blocks,
            seed: Some(7),
            timeout_s: Some(30.0),
        };
        let steps = std::sync::Mutex::new(Vec::new());
        let progress =
            |e: stackperf_core::app::RunEvent| steps.lock().unwrap().push(format!("{e:?}"));
        let summary = app
            .run_start(req, &stackperf_core::app::OnRun(progress), rx)
            .await
            .unwrap();
        drop(tx);
        let item = &summary.items[0];
        assert_eq!(
            item.outcome.as_deref(),
            Some("proxy unavailable"),
            "{item:?}"
        );
        assert_eq!(item.outcome_class, Some(OutcomeClass::InfraError));
        assert_eq!(item.attempts, 2, "tried again once");
        assert!(steps
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.contains("trying again")));
        let cmp = summary.comparison.expect("comparison");
        assert_eq!(cmp.variants[0].infra_errors, 2);
        assert_eq!(cmp.variants[0].sessions, 0, "no trial counted");
        assert!(cmp.excluded.iter().all(|s| s
            .excluded
            .as_deref()
            .unwrap_or("")
            .starts_with("infrastructure error")));
        assert_eq!(cmp.excluded.len(), 2);
    }
}
