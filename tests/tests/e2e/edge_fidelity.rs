//! Measurement fidelity at the edge: a raw-socket client times its own send, first content and
//! last byte on all four surfaces (streaming) through the real stack (edge → LiteLLM → simulator);
//! the stored `ttft_ms` and `latency_ms` must equal what it saw (median |Δ| ≤ 2 ms, max ≤ 10 ms),
//! and a stream that breaks mid-way keeps the outcome and no guessed token count.

use std::collections::HashMap;

use serde_json::{json, Value};
use stackperf_e2e::{median, raw_post, RawResponse, StackEnv};

const PER_SURFACE: usize = 12;

fn request(env: &StackEnv, surface: &str, key: &str, model: &str, max_tokens: u64) -> RawResponse {
    let bearer = format!("Bearer {key}");
    let (path, headers, body): (String, Vec<(&str, &str)>, Value) = match surface {
        "chat" => (
            "/v1/chat/completions".into(),
            vec![("Authorization", bearer.as_str())],
            json!({"model": model, "stream": true, "stream_options": {"include_usage": true}, "max_tokens": max_tokens,
                   "messages": [{"role": "user", "content": "Say something."}]}),
        ),
        "responses" => (
            "/v1/responses".into(),
            vec![("Authorization", bearer.as_str())],
            json!({"model": model, "stream": true, "max_output_tokens": max_tokens, "input": "Say something."}),
        ),
        "messages" => (
            "/v1/messages".into(),
            vec![("x-api-key", key), ("anthropic-version", "2023-06-01")],
            json!({"model": model, "stream": true, "max_tokens": max_tokens,
                   "messages": [{"role": "user", "content": "Say something."}]}),
        ),
        _ => (
            format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
            vec![("x-goog-api-key", key)],
            json!({"contents": [{"role": "user", "parts": [{"text": "Say something."}]}],
                   "generationConfig": {"maxOutputTokens": max_tokens}}),
        ),
    };
    raw_post(
        &env.proxy_url(),
        &path,
        &headers,
        body.to_string().as_bytes(),
    )
}

fn rows_by_id(env: &StackEnv) -> HashMap<String, Value> {
    env.merged_requests()
        .into_iter()
        .map(|r| (r["request_id"].as_str().unwrap_or_default().to_string(), r))
        .collect()
}

/// Tests that take the machine alone (`stackperf_e2e::quiet`): `scripts/test.sh` runs them
/// after the others, one at a time (`::quiet::` in their names).
mod quiet {
    use super::*;

    #[test]
    fn stored_timings_equal_what_a_raw_socket_client_measured() {
        let _quiet = stackperf_e2e::quiet(); // timings against a raw socket client
        let env = StackEnv::new("fidelity");
        let master = env.up_with_master_key();
        let session = env.create_session("sim-profiles", "sim-fast-oai", &[]);
        let key = session.key().to_string();
        assert!(session.env["OPENAI_BASE_URL"].starts_with(&env.proxy_url()));

        // One untimed request per surface first: LiteLLM's first request on a code path is slow.
        let surfaces = ["chat", "responses", "messages", "google"];
        let mut seen: Vec<(&str, RawResponse)> = Vec::new();
        for s in surfaces {
            let r = request(&env, s, &key, "sim-fast", 8);
            assert_eq!(r.status, 200, "{s}: {}", r.body);
        }
        for i in 0..PER_SURFACE * surfaces.len() {
            let s = surfaces[i % surfaces.len()];
            let r = request(&env, s, &key, "sim-fast", 24);
            assert_eq!(r.status, 200, "{s}: {}", r.body);
            assert!(r.complete && r.ttft_ms.is_some(), "{s}: {r:?}");
            seen.push((s, r));
        }
        let rows = rows_by_id(&env);
        let mut report = Vec::new();
        for s in surfaces {
            let (mut dt, mut dl) = (Vec::new(), Vec::new());
            for (_, r) in seen.iter().filter(|(x, _)| *x == s) {
                let id = r
                    .header("x-stackperf-request-id")
                    .expect("correlation id header");
                let row = rows
                    .get(id)
                    .unwrap_or_else(|| panic!("{s}: no row for {id}"));
                assert_eq!(row["timed_at"], "edge", "{row}");
                assert_eq!(row["status"], "success", "{row}");
                assert_eq!(
                    row["has_litellm_record"], 1,
                    "LiteLLM's line was merged: {row}"
                );
                assert!(
                    row["output_tokens"].as_f64().is_some_and(|t| t >= 1.0),
                    "{row}"
                );
                let ttft = row["ttft_ms"].as_f64().expect("ttft_ms");
                dt.push(ttft - r.ttft_ms.unwrap_or_default());
                dl.push(row["latency_ms"].as_f64().expect("latency") - r.total_ms);
                let visible = row["ttft_visible_ms"].as_f64().expect("ttft_visible_ms");
                assert!(
                    (visible - ttft).abs() < 1e-6,
                    "no reasoning: visible = first content"
                );
            }
            let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
            let max = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            report.push(format!(
                "{s:>9}: ttft Δ median {:+.2} ms (|Δ| {:.2}), max |Δ| {:.2}; latency Δ median {:+.2} ms (|Δ| {:.2}), max |Δ| {:.2}",
                median(&dt), median(&abs(&dt)), max(&dt), median(&dl), median(&abs(&dl)), max(&dl)
            ));
            assert!(
                median(&abs(&dt)) <= 2.0 && max(&dt) <= 10.0,
                "{s} ttft: {dt:?}"
            );
            assert!(
                median(&abs(&dl)) <= 2.0 && max(&dl) <= 10.0,
                "{s} latency: {dl:?}"
            );
        }
        eprintln!(
            "edge vs raw-socket client ({PER_SURFACE} streams per surface):\n{}",
            report.join("\n")
        );

        // A reasoning model: thinking deltas first, answer text ~400 ms later. `ttft_visible_ms` is
        // the time the client first saw answer text, `ttft_ms` the first delta of either kind.
        let mut reasoning_seen = Vec::new();
        for (s, model) in [
            ("chat", "sim-reasoning"),
            ("responses", "sim-reasoning"),
            ("messages", "sim-anthropic-reasoning"),
            ("google", "sim-reasoning"),
            ("google", "sim-gemini-reasoning"),
        ] {
            let r = request(&env, s, &master, model, 24);
            assert_eq!(r.status, 200, "{s} {model}: {}", r.body);
            let id = r.header("x-stackperf-request-id").expect("id").to_string();
            let rows = rows_by_id(&env);
            let row = &rows[&id];
            let (client_first, client_visible) =
                (r.ttft_ms.expect("first"), r.ttft_visible_ms.expect("text"));
            let visible = row["ttft_visible_ms"].as_f64().expect("ttft_visible_ms");
            let first = row["ttft_ms"].as_f64().expect("ttft_ms");
            assert!(
                (visible - client_visible).abs() <= 5.0,
                "{s} {model}: visible {visible} vs client {client_visible}"
            );
            assert!(
                (first - client_first).abs() <= 5.0,
                "{s} {model}: first {first} vs client {client_first}"
            );
            if client_visible - client_first > 300.0 {
                reasoning_seen.push((s, model));
            }
            // Reasoning tokens as the upstream counted them (Anthropic does not report them: LiteLLM
            // estimates from the thinking text there).
            let truth = env.truth_after(env.truth_last_seq().saturating_sub(1));
            let sent = truth.last().expect("truth")["reasoning_tokens"].as_i64();
            assert!(sent.is_some_and(|n| n > 0), "{truth:?}");
            let got = row["reasoning_tokens"].as_i64();
            if s == "messages" {
                assert!(got.is_some_and(|n| n > 0), "{s} {model}: {row}");
            } else {
                assert_eq!(got, sent, "{s} {model}: {row}");
            }
            eprintln!("reasoning on {s} ({model}): first delta {first:.1} ms (client {client_first:.1}), first text {visible:.1} ms (client {client_visible:.1})");
        }
        // LiteLLM passes reasoning through natively on these (it drops it when translating
        // generateContent to chat).
        for seen in [
            ("chat", "sim-reasoning"),
            ("messages", "sim-anthropic-reasoning"),
            ("google", "sim-gemini-reasoning"),
        ] {
            assert!(
                reasoning_seen.contains(&seen),
                "{seen:?}: no reasoning before the text reached the client ({reasoning_seen:?})"
            );
        }

        // A stream the upstream breaks after a few tokens: the row keeps the failure and does not
        // guess a token count; it says how many content events were delivered.
        for s in ["chat", "messages"] {
            let r = request(&env, s, &master, "sim-always-disconnect", 24);
            let id = r.header("x-stackperf-request-id").expect("id").to_string();
            let rows = rows_by_id(&env);
            let row = &rows[&id];
            assert_eq!(row["status"], "error", "{s}: {row}");
            assert_eq!(row["timed_at"], "edge");
            match row["output_tokens"].as_f64() {
                None => assert!(
                    row["output_tokens_missing_reason"].as_str().is_some_and(
                        |m| m.contains(&format!("{} content deltas", r.content_events))
                    ),
                    "{s}: client saw {} content events: {row}",
                    r.content_events
                ),
                // A count the stream itself reported before failing is what the client received.
                Some(n) => assert!(n >= r.content_events as f64, "{s}: {row}\n{}", r.body),
            }
            assert_eq!(
                row["http_status"].as_f64(),
                Some(r.status as f64),
                "{s}: {row}"
            );
        }

        // A client that leaves mid-stream: its row says so, and counts no more than was handed over.
        let (id, seen) = leave_after(&env, &master, 3);
        let rows = rows_by_id(&env);
        let row = &rows[&id];
        assert_eq!(row["outcome"], "client_disconnected", "{row}");
        assert_eq!(row["status"], "error", "{row}");
        let deltas = row["content_deltas"].as_f64().expect("content_deltas");
        assert!(
            deltas >= seen as f64 && deltas < 20.0,
            "the client saw {seen} of 20 deltas: {row}"
        );

        // A keep-alive client that idles past LiteLLM's own keep-alive (uvicorn closes an idle
        // connection after 5 s): its next request on the same connection is answered — the edge
        // replaces the LiteLLM connection that LiteLLM closed — and both are rows of their own.
        let ids = keep_alive_with_idle(&env, &master, std::time::Duration::from_millis(5500));
        let rows = rows_by_id(&env);
        for id in &ids {
            assert_eq!(rows[id]["status"], "success", "{}", rows[id]);
        }
        assert_ne!(ids[0], ids[1]);
    }
}

/// Two non-streamed chat requests on one client connection, `idle` apart; asserts both are
/// answered 200 and returns their edge request ids.
fn keep_alive_with_idle(env: &StackEnv, key: &str, idle: std::time::Duration) -> Vec<String> {
    use std::io::{BufRead, BufReader, Read, Write};
    let addr = env.proxy_url().trim_start_matches("http://").to_string();
    let body =
        json!({"model": "sim-fast", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let conn = std::net::TcpStream::connect(&addr).expect("connect");
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut ids = Vec::new();
    for round in 0..2 {
        if round > 0 {
            std::thread::sleep(idle);
        }
        write!(
            &conn,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let (mut status, mut len, mut chunked, mut id) = (String::new(), None, false, None);
        reader.read_line(&mut status).expect("status line");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse::<usize>().ok();
            } else if l == "transfer-encoding: chunked" {
                chunked = true;
            } else if let Some(v) = l.strip_prefix("x-stackperf-request-id:") {
                id = Some(v.trim().to_string());
            }
        }
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "request {round}: {status}"
        );
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).expect("chunk size");
                let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
                let mut chunk = vec![0u8; n + 2];
                reader.read_exact(&mut chunk).expect("chunk");
                if n == 0 {
                    break;
                }
            }
        } else {
            let mut rest = vec![0u8; len.expect("a length or chunks")];
            reader.read_exact(&mut rest).expect("body");
        }
        ids.push(id.expect("request id header"));
    }
    ids
}

/// A streamed `sim-steady` chat request (20 deltas, 10 ms apart) whose client closes its socket
/// once it has `n` content events; returns the edge's request id and the events seen.
fn leave_after(env: &StackEnv, key: &str, n: usize) -> (String, usize) {
    use std::io::{Read, Write};
    let addr = env.proxy_url().trim_start_matches("http://").to_string();
    let body = json!({"model": "sim-steady", "stream": true,
                      "messages": [{"role": "user", "content": "Say something."}]})
    .to_string();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    write!(
        conn,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let seen = loop {
        let k = conn.read(&mut buf).expect("read");
        assert!(
            k > 0,
            "the stream ended early: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..k]);
        let text = String::from_utf8_lossy(&got);
        let seen =
            text.matches("\"content\":\"").count() - text.matches("\"content\":\"\"").count();
        if seen >= n {
            break seen;
        }
    };
    let text = String::from_utf8_lossy(&got);
    let id = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-stackperf-request-id:")
                .map(|v| v.trim().to_string())
        })
        .expect("request id header");
    drop(conn);
    (id, seen)
}
