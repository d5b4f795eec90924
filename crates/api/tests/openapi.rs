//! The committed OpenAPI document (docs/openapi.json) is what the types generate: a change to an
//! endpoint or to any type it serves fails here until the document is regenerated with
//! `STACKPERF_WRITE_OPENAPI=1 cargo test -p stackperf-api --test openapi`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn the_committed_openapi_document_matches_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated =
        serde_json::to_string_pretty(&stackperf_api::openapi_document()).unwrap() + "\n";
    if std::env::var_os("STACKPERF_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date with the API's types; regenerate it: STACKPERF_WRITE_OPENAPI=1 cargo test -p stackperf-api --test openapi"
    );
    // Every path the router serves is documented, and every schema reference resolves.
    let doc: serde_json::Value = serde_json::from_str(&committed).unwrap();
    for p in [
        "/api/v1/health",
        "/api/v1/openapi.json",
        "/api/v1/experiments",
        "/api/v1/variants",
        "/api/v1/task-cards",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/comparisons",
        "/api/v1/comparisons/{experiment}",
        "/api/v1/exports/{what}",
    ] {
        assert!(doc["paths"][p]["get"].is_object(), "{p} is not documented");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for r in committed.match_indices("#/components/schemas/") {
        let name: String = committed[r.0 + r.1.len()..]
            .chars()
            .take_while(|c| *c != '"')
            .collect();
        assert!(schemas.contains_key(&name), "dangling reference to {name}");
    }
}
