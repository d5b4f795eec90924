//! OTLP export (output/otlp, app/otlp.rs) against a receiver built on the official
//! `opentelemetry-proto` definitions: what it decodes is checked against the store's own rows —
//! live (an ingest's rows, the session's span at finalize), again by a backfill (the same span
//! ids), on both backends; a dead endpoint counts failures, a stuck one drops what does not fit
//! in the queue and holds nothing up.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use stackperf_core::app::StartSession;
use stackperf_core::output::otlp::{spans, Otlp, OtlpConfig, QUEUE_SPANS};
use stackperf_core::session::FinalStatus;

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    Accept,
    /// Takes the request and never answers.
    Stuck,
}

/// What the receiver decoded: each span with its resource's `service.name` and scope's schema,
/// each metric export, and each request's `x-team` header (a backend's credential stand-in).
#[derive(Clone, Default)]
pub(crate) struct Received(
    Arc<Mutex<Vec<(String, String, Span)>>>,
    Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    Arc<Mutex<Vec<Option<String>>>>,
);

impl Received {
    pub(crate) fn spans(&self) -> Vec<(String, String, Span)> {
        self.0.lock().unwrap().clone()
    }

    pub(crate) fn team_headers(&self) -> Vec<Option<String>> {
        self.2.lock().unwrap().clone()
    }

    /// The last export's histogram `name`: (attributes, count, sum) per data point.
    fn histogram(&self, name: &str) -> Vec<(BTreeMap<String, String>, u64, f64)> {
        let all = self.1.lock().unwrap().clone();
        let Some(last) = all.last() else {
            return Vec::new();
        };
        last.resource_metrics
            .iter()
            .flat_map(|r| r.scope_metrics.iter())
            .flat_map(|s| s.metrics.iter())
            .filter(|m| m.name == name)
            .flat_map(|m| match &m.data {
                Some(Data::Histogram(h)) => h.data_points.clone(),
                _ => Vec::new(),
            })
            .map(|p| (attr_map(&p.attributes), p.count, p.sum.unwrap_or(0.0)))
            .collect()
    }
}

/// An OTLP/HTTP receiver on a free loopback port; its traces URL and what it received.
pub(crate) async fn receiver(mode: Mode) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let got = Received::default();
    let store = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let store = store.clone();
                        async move {
                            assert_eq!(req.headers()["content-type"], "application/x-protobuf");
                            store.2.lock().unwrap().push(
                                req.headers()
                                    .get("x-team")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_string),
                            );
                            let path = req.uri().path().to_string();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            if mode == Mode::Stuck {
                                std::future::pending::<()>().await;
                            }
                            if path == "/v1/metrics" {
                                let m = ExportMetricsServiceRequest::decode(body).unwrap();
                                store.1.lock().unwrap().push(m);
                                let ok = hyper::Response::new(Full::new(Bytes::new()));
                                return Ok::<_, Infallible>(ok);
                            }
                            assert_eq!(path, "/v1/traces");
                            let msg = ExportTraceServiceRequest::decode(body).unwrap();
                            for rs in msg.resource_spans {
                                let service = rs
                                    .resource
                                    .iter()
                                    .flat_map(|r| r.attributes.iter())
                                    .find(|kv| kv.key == "service.name")
                                    .and_then(|kv| kv.value.clone()?.value)
                                    .map(|v| match v {
                                        Any::StringValue(s) => s,
                                        _ => String::new(),
                                    })
                                    .unwrap_or_default();
                                for ss in rs.scope_spans {
                                    for s in ss.spans {
                                        store.0.lock().unwrap().push((
                                            service.clone(),
                                            ss.schema_url.clone(),
                                            s,
                                        ));
                                    }
                                }
                            }
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(sock);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (url, got)
}

fn otlp(endpoint: &str) -> Arc<Otlp> {
    Arc::new(
        Otlp::start(OtlpConfig {
            endpoint: endpoint.to_string(),
            metrics_endpoint: stackperf_core::output::otlp::metrics_beside(endpoint),
            headers: Default::default(),
            timeout: Duration::from_secs(3),
        })
        .unwrap(),
    )
}

fn attrs(s: &Span) -> BTreeMap<String, String> {
    attr_map(&s.attributes)
}

fn attr_map(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.clone().and_then(|v| v.value) {
                Some(Any::StringValue(x)) => x,
                Some(Any::IntValue(x)) => x.to_string(),
                Some(Any::DoubleValue(x)) => x.to_string(),
                Some(Any::BoolValue(x)) => x.to_string(),
                _ => String::new(),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

/// One session of the baseline set with `n` requests (prompt tokens 10, 11, …) in the spool,
/// finalized (which ingests); its id.
pub(crate) async fn session_with_requests(app: &stackperf_core::app::App, n: usize) -> String {
    let (row, _) = app
        .session_start(StartSession {
            experiment: "e".into(),
            variant: "v".into(),
            task_card: "t".into(),
            label: None,
            exploratory: false,
            isolate: false,
        })
        .await
        .unwrap();
    let alias = row.proxy_key_alias.clone().unwrap();
    let spool = app.spool_path();
    std::fs::create_dir_all(spool.parent().unwrap()).unwrap();
    let lines: String = (0..n)
        .map(|i| {
            format!(
                r#"{{"v":1,"litellm_call_id":"{id}-{i}","status":"success","call_type":"acompletion","route":"/v1/chat/completions","stream":true,"start":{s},"first_delta":{f},"end":{e},"model_group":"m","prompt_tokens":{p},"completion_tokens":40,"key_alias":"{alias}"}}"#,
                id = row.session_id,
                s = 1.7e9 + i as f64,
                f = 1.7e9 + i as f64 + 0.125,
                e = 1.7e9 + i as f64 + 0.5,
                p = 10 + i,
            ) + "\n"
        })
        .collect();
    std::fs::write(&spool, lines).unwrap();
    app.session_finalize(&row.session_id, FinalStatus::Completed, None, None)
        .await
        .unwrap();
    row.session_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingested_requests_and_their_session_arrive_as_genai_spans_and_a_backfill_resends_them() {
    let top = tempfile::tempdir().unwrap();
    for db in crate::common::backends(top.path(), "otlp") {
        let dir = tempfile::tempdir().unwrap();
        let db = if crate::common::is_file(&db) {
            dir.path().join("data/stackperf.sqlite")
        } else {
            db
        };
        let (url, got) = receiver(Mode::Accept).await;
        let app = crate::common::app_on(dir.path(), &db)
            .await
            .with_otlp(Some(otlp(&url)));
        let session_id = session_with_requests(&app, 2).await;
        let status = app.otlp_flush(Duration::from_secs(20)).await.unwrap();
        assert_eq!(
            (status.sent, status.failed, status.dropped),
            (3, 0, 0),
            "{db:?} {status:?}"
        );

        let live = got.spans();
        assert_eq!(live.len(), 3, "{db:?}: two requests and the session");
        assert!(live
            .iter()
            .all(|(svc, schema, _)| svc == "stackperf" && schema.ends_with(spans::SEMCONV)));
        let session = live
            .iter()
            .map(|x| &x.2)
            .find(|s| s.parent_span_id.is_empty())
            .expect("the session's span");
        let a = attrs(session);
        assert_eq!(a["gen_ai.operation.name"], "invoke_agent");
        assert_eq!(a["gen_ai.agent.name"], "h");
        assert_eq!(a["stackperf.session.id"], session_id);
        assert_eq!(a["stackperf.variant"], "v");
        let stored = app.session_requests(&session_id).await.unwrap();
        assert_eq!(stored.len(), 2);
        for s in live
            .iter()
            .map(|x| &x.2)
            .filter(|s| !s.parent_span_id.is_empty())
        {
            assert_eq!(s.parent_span_id, session.span_id, "{db:?}");
            assert_eq!(s.trace_id, session.trace_id);
            let a = attrs(s);
            let r = stored
                .iter()
                .find(|r| r.request_id == a["stackperf.request.id"])
                .expect("a stored request");
            assert_eq!(a["gen_ai.operation.name"], "chat");
            assert_eq!(
                a["gen_ai.request.model"],
                r.model.clone().unwrap_or_default()
            );
            assert_eq!(a["gen_ai.provider.name"], "p");
            assert_eq!(
                a["gen_ai.usage.input_tokens"],
                r.input_tokens.unwrap().to_string()
            );
            assert_eq!(a["gen_ai.usage.output_tokens"], "40");
            let ttft: f64 = a["gen_ai.response.time_to_first_chunk"].parse().unwrap();
            assert!((ttft - r.ttft_ms.unwrap() / 1000.0).abs() < 1e-9, "{a:?}");
            assert_eq!(
                (s.end_time_unix_nano - s.start_time_unix_nano) / 1_000_000,
                500,
                "{a:?}"
            );
        }

        // The client metrics of the two requests, per variant and harness.
        let dur = got.histogram("gen_ai.client.operation.duration");
        assert_eq!(dur.len(), 1, "{db:?} {dur:?}");
        assert_eq!(
            (dur[0].1, dur[0].2),
            (2, 1.0),
            "{dur:?}: two requests of 0.5 s"
        );
        assert_eq!(dur[0].0["stackperf.variant"], "v");
        assert_eq!(dur[0].0["stackperf.harness"], "h");
        let ttft = got.histogram("gen_ai.client.operation.time_to_first_chunk");
        assert_eq!(ttft.len(), 1, "{ttft:?}");
        let want: f64 = stored.iter().map(|r| r.ttft_ms.unwrap() / 1000.0).sum();
        assert!(
            (ttft[0].2 - want).abs() < 1e-9 && ttft[0].1 == 2,
            "{ttft:?}"
        );
        let mut tokens: Vec<(String, u64, f64)> = got
            .histogram("gen_ai.client.token.usage")
            .into_iter()
            .map(|(a, n, sum)| (a["gen_ai.token.type"].clone(), n, sum))
            .collect();
        tokens.sort_by(|a, b| a.0.cmp(&b.0));
        let input: i64 = stored.iter().map(|r| r.input_tokens.unwrap()).sum();
        assert_eq!(
            tokens,
            vec![
                ("input".into(), 2, input as f64),
                ("output".into(), 2, 80.0)
            ],
            "{db:?}"
        );

        // The backfill sends the same spans (the same ids) again.
        let b = app.export_otlp("e").await.unwrap();
        assert_eq!((b.sessions, b.spans), (1, 3), "{db:?}");
        let all = got.spans();
        assert_eq!(all.len(), 6);
        let ids = |v: &[(String, String, Span)]| {
            let mut ids: Vec<Vec<u8>> = v.iter().map(|x| x.2.span_id.clone()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&all[..3]), ids(&all[3..]), "{db:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_counts_failures_and_a_stuck_one_drops_what_does_not_fit() {
    // Nothing listens: every span fails, none is lost silently.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = otlp(&format!("http://127.0.0.1:{port}/v1/traces"));
    let s = session();
    dead.send(
        (0..7)
            .map(|i| spans::request_span(&request(i), &s))
            .collect(),
    );
    assert!(dead.flush(Duration::from_secs(20)));
    let st = dead.status();
    assert_eq!(
        (st.sent, st.failed, st.dropped, st.queued),
        (0, 7, 0, 0),
        "{st:?}"
    );
    assert!(st.last_error.is_some());

    // Accepts and never answers: the queue fills, the rest is dropped and counted, and
    // sending never waits.
    let (url, _got) = receiver(Mode::Stuck).await;
    let stuck = otlp(&url);
    for chunk in 0..((QUEUE_SPANS + 1_000) / 500) {
        stuck.send(
            (0..500)
                .map(|i| spans::request_span(&request(chunk * 500 + i), &s))
                .collect(),
        );
    }
    let st = stuck.status();
    assert!(st.dropped >= 1_000, "{st:?}");
    assert_eq!(st.sent, 0);
    assert!(st.queued as usize <= QUEUE_SPANS, "{st:?}");
}

fn session() -> stackperf_core::store::spans::SpanSession {
    stackperf_core::store::spans::SpanSession {
        session_id: "sess_x".into(),
        experiment: "e".into(),
        variant: "v".into(),
        harness: "h".into(),
        task_card: "t".into(),
        status: "active".into(),
        outcome: None,
        run_id: None,
        trial: None,
        created_at: stackperf_core::timestamp::Timestamp::from_ms(1.0),
        started_at: None,
        ended_at: None,
    }
}

fn request(i: usize) -> stackperf_core::store::spans::SpanRequest {
    stackperf_core::store::spans::SpanRequest {
        request_id: format!("req_{i}"),
        session_id: Some("sess_x".into()),
        provider: None,
        model: Some("m".into()),
        upstream_model: None,
        protocol_surface: None,
        streamed: false,
        started_at: stackperf_core::timestamp::Timestamp::from_ms(1_000.0),
        finished_at: stackperf_core::timestamp::Timestamp::from_ms(1_100.0),
        ttft_ms: None,
        input_tokens: None,
        output_tokens: None,
        cached_input_tokens: None,
        cache_write_tokens: None,
        reasoning_tokens: None,
        success: true,
        http_status: Some(200),
        error_class: None,
    }
}
