//! A session key reaches only its session: through the edge, every non-inference route is 404,
//! another variant's model is 403, and no / unknown / non-ASCII / megabyte keys are 401 — each in
//! the surface's own error format with a reason a person understands, never a 500. Behind the edge,
//! LiteLLM's own check refuses the same keys (and session keys that bypass the edge) without a 500.

use serde_json::Value;
use stackperf_e2e::{raw_request, RawResponse, StackEnv};

fn call(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> RawResponse {
    raw_request(method, base, path, headers, body.as_bytes())
}

fn json(r: &RawResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// The error message, from whichever surface format the body uses.
fn message(surface: &str, r: &RawResponse) -> String {
    let v = json(r);
    let m = match surface {
        "google" => &v["error"]["message"],
        "messages" => {
            assert_eq!(v["type"], "error", "{}", r.body);
            &v["error"]["message"]
        }
        _ => &v["error"]["message"],
    };
    m.as_str()
        .unwrap_or_else(|| panic!("{surface}: no message: {}", r.body))
        .to_string()
}

/// `(surface, path, body)` of a streaming call to `model` on each surface.
fn surfaces(model: &str) -> Vec<(&'static str, String, String)> {
    vec![
        (
            "chat",
            "/v1/chat/completions".into(),
            format!(
                r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}],"max_tokens":4}}"#
            ),
        ),
        (
            "responses",
            "/v1/responses".into(),
            format!(r#"{{"model":"{model}","input":"hi","max_output_tokens":4}}"#),
        ),
        (
            "messages",
            "/v1/messages?beta=true".into(),
            format!(
                r#"{{"model":"{model}","max_tokens":4,"messages":[{{"role":"user","content":"hi"}}]}}"#
            ),
        ),
        (
            "google",
            format!("/v1beta/models/{model}:generateContent"),
            r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#.into(),
        ),
    ]
}

fn key_header<'a>(surface: &str, key: &'a str, bearer: &'a str) -> (&'static str, &'a str) {
    match surface {
        "messages" => ("x-api-key", key),
        "google" => ("x-goog-api-key", key),
        _ => ("Authorization", bearer),
    }
}

#[test]
fn a_session_key_reaches_only_its_variant_and_bad_keys_get_a_clear_401() {
    let env = StackEnv::new("security");
    env.up_with_master_key();
    let session = env.create_session("sim-profiles", "sim-fast-oai", &[]);
    let (id, key) = (session.id.clone(), session.key().to_string());
    let bearer = format!("Bearer {key}");
    let edge = env.proxy_url();

    // Its own model works on every surface (with the headers and query strings harnesses send).
    for (s, path, body) in surfaces("sim-fast") {
        let h = key_header(s, &key, &bearer);
        let r = call(
            &edge,
            "POST",
            &path,
            &[h, ("anthropic-version", "2023-06-01")],
            &body,
        );
        assert_eq!(r.status, 200, "{s}: {}", r.body);
    }
    let models = call(
        &edge,
        "GET",
        "/v1/models",
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(models.status, 200, "{}", models.body);
    let count = call(
        &edge,
        "POST",
        "/v1/messages/count_tokens?beta=true",
        &[("x-api-key", &key), ("anthropic-version", "2023-06-01")],
        r#"{"model":"sim-fast","messages":[{"role":"user","content":"hi"}]}"#,
    );
    // Forwarded (what LiteLLM answers for a simulated model is its business), not refused.
    assert!(
        !count.body.contains("stackperf:") && ![401, 403].contains(&count.status),
        "count_tokens is an inference route: {}",
        count.body
    );
    let google_query = call(
        &edge,
        "POST",
        &format!("/v1beta/models/sim-fast:streamGenerateContent?alt=sse&key={key}"),
        &[],
        r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#,
    );
    assert_eq!(
        google_query.status, 200,
        "?key= works: {}",
        google_query.body
    );

    // Everything that is not a model call is 404 at the edge, even with a valid key.
    for (method, path) in [
        ("GET", "/health"),
        ("GET", "/health/liveliness"),
        ("GET", "/model/info"),
        ("GET", "/v1/model/info"),
        ("GET", "/routes"),
        ("GET", "/settings"),
        ("GET", "/debug/asyncio-tasks"),
        ("GET", "/metrics/"),
        ("GET", "/ui/"),
        ("POST", "/key/generate"),
        ("GET", "/spend/logs"),
        ("GET", "/"),
    ] {
        let r = call(&edge, method, path, &[("Authorization", &bearer)], "{}");
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        assert!(
            message("chat", &r).contains("not an inference route"),
            "{}",
            r.body
        );
    }

    // Another variant's model: 403 naming the allowed one, in each surface's format.
    for other in ["sim-slow", "openai-gpt-4.1"] {
        for (s, path, body) in surfaces(other) {
            let h = key_header(s, &key, &bearer);
            let r = call(
                &edge,
                "POST",
                &path,
                &[h, ("anthropic-version", "2023-06-01")],
                &body,
            );
            assert_eq!(r.status, 403, "{s} {other}: {}", r.body);
            let m = message(s, &r);
            assert!(m.contains("`sim-fast`") && m.contains(other), "{s}: {m}");
        }
    }

    // Bad keys: 401 with a one-line reason, on every surface.
    let megabyte = "k".repeat(1 << 20);
    let cases: Vec<(&str, Option<&str>)> = vec![
        ("no API key", None),
        ("unknown API key", Some("sk-stackperf-session-0000")),
        ("non-ASCII", Some("sk-st\u{e4}ckperf-\u{1f511}")),
        ("bytes long", Some(&megabyte)),
    ];
    for (s, path, body) in surfaces("sim-fast") {
        for (words, k) in &cases {
            let b = k.map(|k| format!("Bearer {k}")).unwrap_or_default();
            let headers: Vec<(&str, &str)> = match k {
                Some(k) => vec![key_header(s, k, &b)],
                None => vec![],
            };
            let r = call(&edge, "POST", &path, &headers, &body);
            assert_eq!(
                r.status,
                401,
                "{s} {words}: {}",
                &r.body[..r.body.len().min(300)]
            );
            let m = message(s, &r);
            assert!(
                m.contains(words) && !m.contains('\n') && m.len() < 400,
                "{s}: {m}"
            );
        }
    }

    // A key of a kind a newer StackPerf wrote: refused by the edge and by LiteLLM's hook with a
    // reason, and kept by name when this StackPerf rewrites the registry (a new session).
    let newer = "sk-stackperf-newer-kind-0123456789abcdef";
    add_newer_kind_entry(&env, newer);
    let r = call(
        &edge,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {newer}"))],
        r#"{"model":"sim-fast","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(message("chat", &r).contains("kind \"team\""), "{}", r.body);
    let r = call(
        &env.litellm_url(),
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &format!("Bearer {newer}"))],
        r#"{"model":"sim-fast","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 401, "LiteLLM direct: {}", r.body);
    assert!(
        r.body.contains("which this StackPerf does not know") && r.body.contains("team"),
        "LiteLLM direct: {}",
        r.body
    );
    env.create_session("sim-profiles", "sim-fast-oai", &[]);
    let reg = registry(&env);
    let kept = reg["keys"].as_object().expect("keys").values();
    assert!(
        kept.into_iter()
            .any(|e| e["alias"] == "team-newer" && e["kind"] == "team"),
        "the newer kind's entry is kept by name: {reg}"
    );

    // Behind the edge: LiteLLM's own check refuses a session key that bypasses the edge, and
    // never answers a bad key with a 500.
    let litellm = env.litellm_url();
    let direct = call(
        &litellm,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &bearer)],
        r#"{"model":"sim-fast","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(direct.status, 401, "{}", direct.body);
    assert!(
        direct.body.contains("only through StackPerf's edge"),
        "{}",
        direct.body
    );
    for k in [None, Some("sk-st\u{e4}ckperf")] {
        let b = k.map(|k| format!("Bearer {k}")).unwrap_or_default();
        let headers: Vec<(&str, &str)> = k
            .map(|_| vec![("Authorization", b.as_str())])
            .unwrap_or_default();
        let r = call(
            &litellm,
            "POST",
            "/v1/chat/completions",
            &headers,
            r#"{"model":"sim-fast","messages":[{"role":"user","content":"hi"}]}"#,
        );
        assert_eq!(r.status, 401, "LiteLLM direct, key {k:?}: {}", r.body);
    }

    // Refusals are logged for the operator, without any key (a `?key=` query is never logged).
    let log =
        std::fs::read_to_string(env.data.path().join("stack/logs/edge.log")).expect("edge log");
    assert!(log.contains("refused 404 GET /health"), "{log}");
    assert!(
        log.contains("refused 403 POST /v1/chat/completions"),
        "{log}"
    );
    assert!(
        !log.contains(&key) && !log.contains("kkkkkkkk"),
        "no key in the edge log"
    );

    // A multi-megabyte query string and a query with bytes that are not UTF-8 are refused by the
    // edge's HTTP layer (414, 400) — and the edge keeps serving.
    let long = "x".repeat(3 << 20);
    for (method, path) in [
        ("GET", format!("/v1/models?a={long}")),
        ("POST", format!("/v1/chat/completions?key={long}")),
    ] {
        let r = call(&edge, method, &path, &[("Authorization", &bearer)], "{}");
        assert_eq!(r.status, 414, "{method} with a 3 MiB query: {}", r.body);
    }
    {
        use std::io::{Read, Write};
        let mut conn =
            std::net::TcpStream::connect(edge.trim_start_matches("http://")).expect("connect");
        conn.write_all(b"GET /v1/models?key=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    // The edge's metrics (sessions, variants, labels) open to the scrape token only: not to
    // anyone on loopback, not to a session's key.
    for h in [vec![], vec![("Authorization", bearer.as_str())]] {
        let r = call(&edge, "GET", "/_stackperf/metrics", &h, "");
        assert_eq!(r.status, 401, "{h:?}: {}", r.body);
        assert!(r.body.contains("scrape token"), "{}", r.body);
    }

    // Request heads: one just under the edge's limit reaches the model (LiteLLM takes it with the
    // headers the edge adds); a larger one, up to a megabyte, gets a 431 saying why in the
    // surface's own format, and is never forwarded.
    let chat = r#"{"model":"sim-fast","messages":[{"role":"user","content":"hi"}]}"#;
    let pad = "p".repeat(14 << 10);
    let headers = [("Authorization", bearer.as_str()), ("x-pad", pad.as_str())];
    let r = call(&edge, "POST", "/v1/chat/completions", &headers, chat);
    assert_eq!(r.status, 200, "a 14 KiB header: {}", r.body);
    for kib in [20, 1024] {
        let pad = "p".repeat(kib << 10);
        let headers = [("Authorization", bearer.as_str()), ("x-pad", pad.as_str())];
        let r = call(&edge, "POST", "/v1/chat/completions", &headers, chat);
        assert_eq!(r.status, 431, "a {kib} KiB header: {}", r.body);
        let m = message("chat", &r);
        assert!(
            m.contains("headers are") && m.contains("limit is 15 KiB"),
            "{m}"
        );
    }
    let r = call(
        &edge,
        "GET",
        "/v1/models",
        &[("Authorization", &bearer)],
        "",
    );
    assert_eq!(r.status, 200, "the edge still serves: {}", r.body);

    // Finalized: the key is refused, and says why.
    env.json(&["session", "finalize", &id, "--status", "completed"]);
    let r = call(
        &edge,
        "POST",
        "/v1/chat/completions",
        &[("Authorization", &bearer)],
        r#"{"model":"sim-fast","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(message("chat", &r).contains("revoked"), "{}", r.body);
}

fn registry(env: &StackEnv) -> Value {
    let text =
        std::fs::read_to_string(env.data.path().join("keys/registry.json")).expect("registry");
    serde_json::from_str(&text).expect("registry JSON")
}

/// What a newer StackPerf could write: an entry of a kind this build does not know, valid in
/// every other respect (live, any model).
fn add_newer_kind_entry(env: &StackEnv, key: &str) {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut reg = registry(env);
    reg["keys"][hash] = serde_json::json!({
        "alias": "team-newer", "kind": "team", "session_id": "team-newer",
        "expires_at": 4e9, "any_model": true, "models": ["sim-fast"]
    });
    let path = env.data.path().join("keys/registry.json");
    let tmp = path.with_extension("tmp-test");
    std::fs::write(&tmp, reg.to_string()).expect("write registry");
    std::fs::rename(&tmp, &path).expect("replace registry");
}
