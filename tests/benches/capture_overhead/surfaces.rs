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

/// One row of the table: a protocol surface (named for the harnesses that use it), the model
/// alias the stack routes it to, and the session's experiment and variant (a session key is
/// scoped to its variant's model).
pub struct Surface {
    kind: &'static str,
    label: &'static str,
    alias: &'static str,
    pub session: (&'static str, &'static str),
    /// Translated by LiteLLM to another protocol to reach the provider.
    bridged: bool,
}

/// `sim-fast-oai`: the simulator's OpenAI-style provider (native for chat and responses; LiteLLM
/// bridges messages and generateContent to it).
const SIM_OAI: (&str, &str) = ("sim-profiles", "sim-fast-oai");

/// The surfaces; messages and generateContent twice: bridged to the simulator's OpenAI-style
/// provider (as `sim-fast` variants route them) and on LiteLLM's native Anthropic and Gemini
/// routes (as a Claude Code or Gemini CLI user with that provider has it).
pub const SURFACES: [Surface; 6] = [
    Surface {
        kind: "chat",
        label: "chat completions (OpenCode, OpenHands)",
        alias: "sim-fast",
        session: SIM_OAI,
        bridged: false,
    },
    Surface {
        kind: "responses",
        label: "responses (Codex)",
        alias: "sim-fast",
        session: SIM_OAI,
        bridged: false,
    },
    Surface {
        kind: "messages",
        label: "messages, bridged (Claude Code)",
        alias: "sim-fast",
        session: SIM_OAI,
        bridged: true,
    },
    Surface {
        kind: "messages",
        label: "messages, native route (Claude Code)",
        alias: "sim-anthropic-fast",
        session: ("claude-code-routes", "claude-code-sim-anthropic"),
        bridged: false,
    },
    Surface {
        kind: "generate",
        label: "generateContent, bridged (Gemini CLI)",
        alias: "sim-fast",
        session: SIM_OAI,
        bridged: true,
    },
    Surface {
        kind: "generate",
        label: "generateContent, native route (Gemini CLI)",
        alias: "sim-gemini-fast",
        session: ("gemini-cli-routes", "gemini-cli-sim-gemini"),
        bridged: false,
    },
];

/// One streamed request for `model` on `surface` to `base_url`, timed by the raw-socket client.
fn request(base_url: &str, surface: &str, model: &str, key: &str) -> RawResponse {
    let bearer = format!("Bearer {key}");
    let msg = json!([{"role": "user", "content": "overhead"}]);
    let (path, headers, body): (String, Vec<(&str, &str)>, Value) = match surface {
        "chat" => (
            "/v1/chat/completions".into(),
            vec![("Authorization", &bearer)],
            json!({"model": model, "stream": true, "max_tokens": 16, "messages": msg}),
        ),
        "responses" => (
            "/v1/responses".into(),
            vec![("Authorization", &bearer)],
            json!({"model": model, "stream": true, "max_output_tokens": 16, "input": "overhead"}),
        ),
        "messages" => (
            "/v1/messages".into(),
            vec![("x-api-key", key), ("anthropic-version", "2023-06-01")],
            json!({"model": model, "stream": true, "max_tokens": 16, "messages": msg}),
        ),
        _ => (
            format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
            vec![("x-goog-api-key", key)],
            json!({"contents": [{"role": "user", "parts": [{"text": "overhead"}]}],
                   "generationConfig": {"maxOutputTokens": 16}}),
        ),
    };
    raw_post(base_url, &path, &headers, body.to_string().as_bytes())
}

/// Where one side of a comparison sends its requests: a key per row of [`SURFACES`], and
/// whether it is the simulator itself (which knows every model by its upstream name, `sim-fast`).
pub struct Target<'a> {
    pub name: &'a str,
    pub url: String,
    pub keys: [&'a str; SURFACES.len()],
    pub upstream: bool,
}

/// The pause after each request (`STACKPERF_BENCH_GAP_MS`, default 0: back to back). A harness
/// works between its requests (tools, the user); LiteLLM finishes a request (cost, logging
/// callbacks) on the loop the next one needs, so back to back is the worst case.
fn gap() -> std::time::Duration {
    let ms = std::env::var("STACKPERF_BENCH_GAP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::time::Duration::from_millis(ms)
}

/// Runs `rounds` rounds (every surface, both targets, order flipped every round) against the
/// stack of `env` (whose simulator serves both); returns per surface x − y at (p50, p99) and the
/// 95 % bootstrap interval of the p50 difference, after printing them.
fn compare(env: &StackEnv, x: &Target, y: &Target, rounds: usize) -> Vec<(f64, f64, (f64, f64))> {
    let pause = gap();
    let send = |t: &Target, i: usize| {
        // Modelled think time between a harness's requests, not synchronisation.
        std::thread::sleep(pause);
        let s = &SURFACES[i];
        let model = if t.upstream { "sim-fast" } else { s.alias };
        let r = request(&t.url, s.kind, model, t.keys[i]);
        assert_eq!(r.status, 200, "{} ({}): {}", s.label, t.name, r.body);
        assert!(r.complete, "{}: the stream did not end properly", s.label);
        r.ttft_ms.expect("first content")
    };
    // Warm-up: LiteLLM's first requests on a code path are slow.
    for _ in 0..10 {
        for i in 0..SURFACES.len() {
            send(x, i);
            send(y, i);
        }
    }
    let after = env.truth_last_seq();
    let mut sent: Vec<(usize, bool, f64)> = Vec::new();
    for k in 0..rounds {
        for i in 0..SURFACES.len() {
            let order = if (k + i) % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for is_x in order {
                sent.push((i, is_x, send(if is_x { x } else { y }, i)));
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
    let mut sides: Vec<(Vec<f64>, Vec<f64>)> =
        SURFACES.iter().map(|_| Default::default()).collect();
    for ((i, is_x, ttft), t) in sent.iter().zip(&truth) {
        let sim_first = t["first_token_ms"]
            .as_f64()
            .expect("the simulator's first token");
        let side = &mut sides[*i];
        if *is_x { &mut side.0 } else { &mut side.1 }.push(ttft - sim_first);
    }
    SURFACES
        .iter()
        .zip(&sides)
        .map(|(s, (xs, ys))| {
            print_row(s.label, (x.name, y.name), xs, ys);
            (
                percentile(xs, 50.0) - percentile(ys, 50.0),
                percentile(xs, 99.0) - percentile(ys, 99.0),
                bootstrap_diff(xs, ys, 50.0),
            )
        })
        .collect()
}

/// 4.: through the stack with `session_keys` (one per row) vs straight to the simulator with
/// `sim_key`.
pub fn run(env: &StackEnv, session_keys: [&str; SURFACES.len()], sim_key: &str, rounds: usize) {
    println!(
        "The stack's tax per surface: {rounds} rounds of streamed sim-fast requests, each surface straight to the simulator and through the stack (session key), net of the simulator's own first-token time; {} ms between requests",
        gap().as_millis()
    );
    let stack = Target {
        name: "stack",
        url: env.proxy_url(),
        keys: session_keys,
        upstream: false,
    };
    let direct = Target {
        name: "direct",
        url: env.sim_url(),
        keys: [sim_key; SURFACES.len()],
        upstream: true,
    };
    let taxes = compare(env, &stack, &direct, rounds);
    println!("  tax to the first token, per surface:");
    for (s, (p50, p99, (l, h))) in SURFACES.iter().zip(&taxes) {
        println!(
            "    {:<40} p50 {p50:6.2} ms [{l:.2}, {h:.2}]  p99 {p99:6.2} ms",
            s.label
        );
    }
    let spread = |rows: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = rows.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
            (l.min(x), h.max(x))
        });
        hi - lo
    };
    println!(
        "  spread between surfaces at p50: {:.2} ms; native routes only (each surface to a provider of its own protocol): {:.2} ms (goals: p50 ≤ 5 ms, p99 ≤ 10 ms on every surface; spread ≤ 1 ms)",
        spread(&mut taxes.iter().map(|t| t.0)),
        spread(
            &mut SURFACES
                .iter()
                .zip(&taxes)
                .filter(|(s, _)| !s.bridged)
                .map(|(_, t)| t.0)
        )
    );
}

/// RFC 7386: objects merge, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// 5.: the stack's LiteLLM vs a second one with `change` (`{"config": <merge patch>, "env":
/// {NAME: value}, "args": [..]}`), both reached directly with the master key.
pub fn one_change(env: &StackEnv, master: &str, change: &str, rounds: usize) {
    let change: Value = serde_json::from_str(change).expect("STACKPERF_BENCH_AB is JSON");
    let vars: Vec<(String, String)> = change["env"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let args: Vec<String> = change["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let (_b, port) = crate::beside::litellm_beside(
        env,
        "changed",
        |c| {
            if let Some(patch) = change.get("config") {
                merge_patch(c, patch)
            }
        },
        &vars,
        &args,
    );
    println!("One change to LiteLLM, side by side: {change}; {rounds} rounds per surface, net of the simulator");
    let changed = Target {
        name: "changed",
        url: format!("http://127.0.0.1:{port}"),
        keys: [master; SURFACES.len()],
        upstream: false,
    };
    let stack = Target {
        name: "as shipped",
        url: env.litellm_url(),
        keys: [master; SURFACES.len()],
        upstream: false,
    };
    let diffs = compare(env, &changed, &stack, rounds);
    println!("  changed − as shipped, to the first token:");
    for (s, (p50, p99, (l, h))) in SURFACES.iter().zip(&diffs) {
        println!(
            "    {:<40} p50 {p50:+6.2} ms [{l:+.2}, {h:+.2}]  p99 {p99:+6.2} ms",
            s.label
        );
    }
}
