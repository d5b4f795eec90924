//! The Rust side of the capture contract (docs/capture-contract.md): `normalize` over the spool
//! lines recorded from real LiteLLM runs (`tests/fixtures/capture/litellm.jsonl`, the same
//! fixtures the Python logger is replayed against in `tests/tests/e2e/capture_contract.rs`).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use stackperf_core::config::Registry;
use stackperf_core::normalize::{
    self, model_index, RequestStatus, SPOOL_FIELDS_IGNORED, SPOOL_FIELDS_READ,
};

fn fixtures() -> Vec<Value> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/capture/litellm.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_field_the_logger_writes_is_declared_and_every_field_read_is_written() {
    let mut written = BTreeSet::new();
    for f in fixtures() {
        assert_eq!(f["line"]["v"], 1, "contract version: {}", f["case"]);
        for k in f["line"].as_object().unwrap().keys() {
            written.insert(k.clone());
        }
    }
    let declared: BTreeSet<String> = SPOOL_FIELDS_READ
        .iter()
        .chain(SPOOL_FIELDS_IGNORED)
        .map(|s| s.to_string())
        .collect();
    let undeclared: Vec<&String> = written.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "the logger writes fields Rust does not declare: {undeclared:?}"
    );
    let unwritten: Vec<&&str> = SPOOL_FIELDS_READ
        .iter()
        .filter(|k| !written.contains(**k) && **k != "first_delta")
        .collect();
    assert!(
        unwritten.is_empty(),
        "normalize reads fields the logger never writes: {unwritten:?}"
    );
}

#[test]
fn normalize_turns_every_recorded_case_into_the_row_it_describes() {
    let (reg, problems) =
        Registry::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs"));
    assert!(problems.is_empty(), "{problems:?}");
    let models = model_index(&reg);
    let fx = fixtures();
    let cases: BTreeSet<&str> = fx.iter().map(|f| f["case"].as_str().unwrap()).collect();
    for want in [
        "chat",
        "chat-stream",
        "responses",
        "responses-stream",
        "messages",
        "messages-stream",
        "generate-content",
        "generate-content-stream",
        "chat-upstream-429",
        "messages-upstream-500",
        "chat-stream-disconnect",
        "responses-stream-malformed",
    ] {
        assert!(cases.contains(want), "fixture for {want}");
    }
    for f in &fx {
        let case = f["case"].as_str().unwrap();
        let line = &f["line"];
        let rec = normalize::parse_line(&line.to_string()).unwrap();
        let row = normalize::normalize(&rec, None, &models).unwrap();
        // The edge's correlation id is the row's key.
        assert_eq!(
            Some(row.request_id.as_str()),
            line["edge_id"].as_str(),
            "{case}"
        );
        let failed =
            case.contains("upstream") || case.contains("disconnect") || case.contains("malformed");
        // Through the edge, LiteLLM's line alone is never a success (the edge's record decides
        // how the client fared); LiteLLM's own verdict shows in the HTTP status it reported.
        assert_eq!(row.status, RequestStatus::Error, "{case}");
        assert_eq!(row.outcome.as_deref(), Some("not_timed_at_edge"), "{case}");
        assert_eq!(row.http_status == Some(200), !failed, "{case}");
        assert_eq!(
            row.streamed,
            case.contains("stream") && !case.contains("upstream"),
            "{case}"
        );
        let surface = match case.split('-').next().unwrap() {
            "chat" => "openai_chat",
            "responses" => "openai_responses",
            "messages" => "anthropic_messages",
            _ => "google_generate_content",
        };
        assert_eq!(row.protocol_surface.as_deref(), Some(surface), "{case}");
        assert_eq!(row.model.as_deref(), line["model_group"].as_str(), "{case}");
        if failed {
            assert!(row.error_class.is_some(), "{case}: error class");
        } else {
            let tokens = |k: &str| line[k].as_f64().map(|x| x as i64);
            assert_eq!(row.input_tokens, tokens("prompt_tokens"), "{case}");
            assert_eq!(row.output_tokens, tokens("completion_tokens"), "{case}");
            assert!(
                row.error_code.is_none() && row.error_class.is_none(),
                "{case}"
            );
        }
        if case.contains("429") {
            assert_eq!(row.http_status, Some(429), "{case}");
        }
    }
}
