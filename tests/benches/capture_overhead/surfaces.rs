//! 4. The stack's tax per protocol surface: the same streamed request on each surface a harness
//!    uses, straight to the stack's simulator and through the whole stack (edge → LiteLLM with the
//!    capture callback and the auth hook → simulator) with a session key, as a harness sends it.
//!    Requests alternate between the surfaces and, within each, between the two paths (order
//!    flipped every round). A raw-socket client (tests/raw.rs) times its own send and first
//!    content; the simulator's logged time to its first token is subtracted, so each side is the
//!    time on the way there and back. The tax is through − direct: p50 / p99 with 95 % bootstrap
//!    intervals, then the spread between surfaces. Goals (issue 33): tax p50 ≤ 5 ms and p99 ≤ 10
//!    ms on every surface, spread ≤ 1 ms at p50.

use serde_json::{json, Value};
use stackperf_e2e::{raw_post, RawResponse, StackEnv};

use crate::{bootstrap_diff, percentile, print_row};

/// The surfaces, named for the harnesses that use them.
const SURFACES: [(&str, &str); 4] = [
    ("chat", "chat completions (OpenCode, OpenHands)"),
    ("responses", "responses (Codex)"),
    ("messages", "messages (Claude Code)"),
    ("generate", "generateContent (Gemini CLI)"),
];

/// One streamed request on `surface` to `base_url`, timed by the raw-socket client.
fn request(base_url: &str, surface: &str, key: &str) -> RawResponse {
    let bearer = format!("Bearer {key}");
    let msg = json!([{"role": "user", "content": "overhead"}]);
    let (path, headers, body): (String, Vec<(&str, &str)>, Value) = match surface {
        "chat" => (
            "/v1/chat/completions".into(),
            vec![("Authorization", &bearer)],
            json!({"model": "sim-fast", "stream": true, "max_tokens": 16, "messages": msg}),
        ),
        "responses" => (
            "/v1/responses".into(),
            vec![("Authorization", &bearer)],
            json!({"model": "sim-fast", "stream": true, "max_output_tokens": 16, "input": "overhead"}),
        ),
        "messages" => (
            "/v1/messages".into(),
            vec![("x-api-key", key), ("anthropic-version", "2023-06-01")],
            json!({"model": "sim-fast", "stream": true, "max_tokens": 16, "messages": msg}),
        ),
        _ => (
            "/v1beta/models/sim-fast:streamGenerateContent?alt=sse".into(),
            vec![("x-goog-api-key", key)],
            json!({"contents": [{"role": "user", "parts": [{"text": "overhead"}]}],
                   "generationConfig": {"maxOutputTokens": 16}}),
        ),
    };
    raw_post(base_url, &path, &headers, body.to_string().as_bytes())
}

/// One side's net first-content times per surface.
#[derive(Default)]
struct Sides {
    direct: Vec<f64>,
    stack: Vec<f64>,
}

/// Runs `rounds` rounds (every surface, both paths) against the stack of `env`: `session_key`
/// through the edge, `sim_key` straight to the simulator.
pub fn run(env: &StackEnv, session_key: &str, sim_key: &str, rounds: usize) {
    let (direct, stack) = (env.sim_url(), env.proxy_url());
    let send = |through: bool, surface: &str| {
        let r = if through {
            request(&stack, surface, session_key)
        } else {
            request(&direct, surface, sim_key)
        };
        assert_eq!(
            r.status, 200,
            "{surface} (through the stack: {through}): {}",
            r.body
        );
        assert!(r.complete, "{surface}: the stream did not end properly");
        r.ttft_ms.expect("first content")
    };
    // Warm-up: LiteLLM's first requests on a code path are slow.
    for _ in 0..10 {
        for (s, _) in SURFACES {
            send(true, s);
            send(false, s);
        }
    }
    let after = env.truth_last_seq();
    let mut sent: Vec<(usize, bool, f64)> = Vec::new();
    for k in 0..rounds {
        for (i, (s, _)) in SURFACES.iter().enumerate() {
            let order = if (k + i) % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for through in order {
                sent.push((i, through, send(through, s)));
            }
        }
    }
    let mut truth = env.truth_after(after);
    truth.sort_by_key(|r| r["seq"].as_u64());
    assert_eq!(
        truth.len(),
        sent.len(),
        "the simulator logged one request per request sent"
    );
    let mut sides: Vec<Sides> = SURFACES.iter().map(|_| Sides::default()).collect();
    for ((i, through, ttft), t) in sent.iter().zip(&truth) {
        let sim_first = t["first_token_ms"]
            .as_f64()
            .expect("the simulator's first token");
        let net = ttft - sim_first;
        let side = &mut sides[*i];
        if *through {
            side.stack.push(net)
        } else {
            side.direct.push(net)
        }
    }
    println!(
        "The stack's tax per surface: {rounds} rounds of streamed sim-fast requests, each surface straight to the simulator and through the stack (session key), net of the simulator's own first-token time"
    );
    let mut taxes = Vec::new();
    for ((_, label), side) in SURFACES.iter().zip(&sides) {
        print_row(label, ("stack", "direct"), &side.stack, &side.direct);
        let p50 = percentile(&side.stack, 50.0) - percentile(&side.direct, 50.0);
        let p99 = percentile(&side.stack, 99.0) - percentile(&side.direct, 99.0);
        taxes.push((
            *label,
            p50,
            p99,
            bootstrap_diff(&side.stack, &side.direct, 50.0),
        ));
    }
    let lo = taxes.iter().map(|t| t.1).fold(f64::INFINITY, f64::min);
    let hi = taxes.iter().map(|t| t.1).fold(f64::NEG_INFINITY, f64::max);
    println!("  tax to the first token, per surface:");
    for (label, p50, p99, (l, h)) in &taxes {
        println!("    {label:<40} p50 {p50:6.2} ms [{l:.2}, {h:.2}]  p99 {p99:6.2} ms");
    }
    println!(
        "  spread between surfaces at p50: {:.2} ms (goals: p50 ≤ 5 ms, p99 ≤ 10 ms on every surface; spread ≤ 1 ms)",
        hi - lo
    );
}
