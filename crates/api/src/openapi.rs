//! The API's OpenAPI 3.0 document: the endpoints declared here once, every body's schema
//! generated from the Rust types it is serialized from (schemars), so it cannot drift from them
//! unnoticed (`docs/openapi.json` is committed; a test compares).

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};
use stackperf_core::app::{
    ExperimentChoice, SessionDetail, SessionPage, TaskCardInfo, VariantInfo,
};
use stackperf_core::report::Comparison;
use stackperf_core::store::model::Machine;

use crate::{ApiError, Health, DEFAULT_PAGE, SESSION_PARAMS};

/// One query parameter.
fn param(name: &str, location: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": location, "required": location == "path",
        "schema": schema, "description": description})
}

fn string(name: &str, description: &str) -> Value {
    param(name, "query", json!({"type": "string"}), description)
}

fn ok<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": g.subschema_for::<T>()}}})
}

fn session_params() -> Vec<Value> {
    let described = |n: &str| match n {
        "experiment" => string(n, "sessions of this experiment"),
        "variant" => string(n, "sessions of this variant (by name)"),
        "provider" => string(n, "the variant's provider"),
        "model" => string(n, "the variant's model alias"),
        "harness" => string(n, "the session's harness profile"),
        "task_card" => string(n, "sessions of this task card"),
        "status" => param(
            n,
            "query",
            json!({"type": "string", "enum":
            ["pending", "active", "expired", "completed", "aborted", "invalid"]}),
            "session status",
        ),
        "label" => string(n, "the operator label contains this text"),
        "machine" => string(
            n,
            "sessions that ran on this machine (its id, see /machines)",
        ),
        "since" => string(
            n,
            "created at or after: RFC 3339 or Unix epoch milliseconds",
        ),
        "until" => string(n, "created before: RFC 3339 or Unix epoch milliseconds"),
        "limit" => param(
            n,
            "query",
            json!({"type": "integer", "minimum": 1,
            "maximum": stackperf_core::app::MAX_PAGE, "default": DEFAULT_PAGE}),
            "page size",
        ),
        _ => param(
            n,
            "query",
            json!({"type": "integer", "minimum": 0, "default": 0}),
            "sessions to skip (the previous page's `next_offset`)",
        ),
    };
    SESSION_PARAMS.iter().map(|n| described(n)).collect()
}

/// The document.
pub fn document() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let errors = {
        let e = g.subschema_for::<ApiError>();
        let body = |d: &str| json!({"description": d, "content": {"application/json": {"schema": e.clone()}}});
        json!({
            "400": body("a bad parameter (`field` names it)"),
            "401": body("no or wrong bearer token"),
            "404": body("no such thing"),
            "503": body("the database is unavailable, or the query ran over its time limit"),
        })
    };
    let op = |summary: &str, params: Vec<Value>, ok: Value| {
        let mut responses = errors.clone();
        responses["200"] = ok;
        json!({"get": {"summary": summary, "parameters": params, "responses": responses}})
    };
    let mut paths = Map::new();
    let mut add = |path: &str, v: Value| {
        paths.insert(path.to_string(), v);
    };
    add(
        "/api/v1/health",
        op(
            "The server and its database answer",
            vec![],
            ok::<Health>(&mut g),
        ),
    );
    add(
        "/api/v1/openapi.json",
        op(
            "This document",
            vec![],
            json!({"description": "OK",
        "content": {"application/json": {"schema": {"type": "object"}}}}),
        ),
    );
    add(
        "/api/v1/experiments",
        op(
            "Configured experiments",
            vec![],
            ok::<Vec<ExperimentChoice>>(&mut g),
        ),
    );
    add(
        "/api/v1/variants",
        op(
            "Configured variants",
            vec![string("experiment", "only this experiment's")],
            ok::<Vec<VariantInfo>>(&mut g),
        ),
    );
    add(
        "/api/v1/task-cards",
        op(
            "Configured task cards",
            vec![],
            ok::<Vec<TaskCardInfo>>(&mut g),
        ),
    );
    add(
        "/api/v1/machines",
        op(
            "Machines that wrote to the store, most recently seen first",
            vec![],
            ok::<Vec<Machine>>(&mut g),
        ),
    );
    add(
        "/api/v1/sessions",
        op(
            "Sessions by filter, newest first, one page",
            session_params(),
            ok::<SessionPage>(&mut g),
        ),
    );
    add(
        "/api/v1/sessions/{id}",
        op(
            "One session with its requests",
            vec![param("id", "path", json!({"type": "string"}), "session id")],
            ok::<SessionDetail>(&mut g),
        ),
    );
    add(
        "/api/v1/comparisons/{experiment}",
        op(
            "An experiment's variants compared",
            vec![param(
                "experiment",
                "path",
                json!({"type": "string"}),
                "experiment name",
            )],
            ok::<Comparison>(&mut g),
        ),
    );
    add(
        "/api/v1/comparisons",
        op(
            "Sessions pooled by harness, provider or model across experiments",
            vec![
                param(
                    "by",
                    "query",
                    json!({"type": "string", "enum": ["variant", "harness", "provider", "model"]}),
                    "what the rows are (required)",
                ),
                string(
                    "experiment",
                    "repeatable; none = every experiment with sessions",
                ),
            ],
            ok::<Comparison>(&mut g),
        ),
    );
    add(
        "/api/v1/usage",
        op(
            "Usage keys' traffic grouped by key, owner, team, model or day (never sessions')",
            vec![
                param(
                    "by",
                    "query",
                    json!({"type": "string", "enum": ["key", "owner", "team", "model", "day"]}),
                    "what the rows are (default: owner)",
                ),
                param(
                    "since",
                    "query",
                    json!({"type": "string", "format": "date"}),
                    "first UTC day (default: 29 days before until)",
                ),
                param(
                    "until",
                    "query",
                    json!({"type": "string", "format": "date"}),
                    "last UTC day (default: today)",
                ),
                string("key", "only this key alias"),
                string("owner", "only this owner's keys"),
                string("team", "only this team's keys"),
                string("model", "only this model alias"),
            ],
            ok::<stackperf_core::usage::UsageReport>(&mut g),
        ),
    );
    add(
        "/api/v1/usage/keys",
        op(
            "Usage keys (aliases and labels, never values)",
            vec![],
            ok::<Vec<stackperf_core::usage::UsageKey>>(&mut g),
        ),
    );
    let download = json!({"description": "the file", "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "string"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/svg+xml": {"schema": {"type": "string"}},
        "text/html": {"schema": {"type": "string"}}}});
    add("/api/v1/exports/{what}", op("An export as a download",
        vec![
            param("what", "path", json!({"type": "string", "enum": ["sessions", "requests", "comparison", "chart", "report"]}), "what to export"),
            param("format", "query", json!({"type": "string", "enum": ["csv", "json", "parquet", "png", "svg", "html"]}), "file format (default: the first that fits)"),
            string("experiment", "the experiment (comparison, chart, report; optional filter for sessions and requests)"),
            string("session", "one session's rows (sessions, requests)"),
            string("metric", "chart: the metric (ttft, latency, …)"),
            param("include_internal", "query", json!({"type": "boolean", "default": false}), "requests: also StackPerf's own traffic"),
        ],
        download));
    json!({
        "openapi": "3.0.3",
        "info": {"title": "StackPerf local query API", "version": stackperf_core::APP_VERSION,
            "description": "Read-only, loopback. Every request needs `Authorization: Bearer <token>` (`stackperf api token`). See docs/api.md."},
        "servers": [{"url": "http://127.0.0.1:8719"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": g.take_definitions(true),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}
