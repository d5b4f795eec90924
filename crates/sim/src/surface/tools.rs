//! The scripted agent (profile `scripted_agent`): a request that offers a shell/command tool is
//! answered with calls to that tool — arguments valid against the tool's own JSON schema — until
//! the conversation holds as many tool results as the task asks for, so a real harness runs real
//! tool round trips offline. The last call writes [`MARKER`] in the harness's working folder
//! (which a task card's verify step checks), or, with the task's failure probability, a wrong
//! result instead ([`WRONG`]): a suite has a truth that does not depend on the harness.
//!
//! Per-task parameters ride in the task card's prompt as `[sim-agent calls=3 fail=0.5
//! think_ms=200]` (tool calls before done, probability of a wrong result, think time before
//! each call); without one: one call, never wrong, no think time.

use axum::body::Bytes;
use serde_json::{json, Map, Value};

use super::schema_fill::{required, resolve, value_for};
use super::{sse, unix_now, Endpoint};
use crate::profile::Plan;

/// The file the scripted agent's last command writes when it gets the task right.
pub const MARKER: &str = "stackperf-agent.txt";

/// The file it writes instead when it gets the task wrong.
pub const WRONG: &str = "stackperf-agent.wrong";

/// The shell command the (only or last) tool call carries when the result is right.
pub fn command() -> String {
    format!("echo stackperf scripted agent > {MARKER}")
}

/// What a task asks of the scripted agent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Script {
    /// Tool calls before it answers "done".
    pub calls: u32,
    /// Share of final calls that write a wrong result.
    pub fail: f64,
    /// Think time before each call (added to the first-token time).
    pub think_ms: u64,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            calls: 1,
            fail: 0.0,
            think_ms: 0,
        }
    }
}

impl Script {
    /// The task's identity for its result sequence.
    pub fn key(&self) -> String {
        format!("calls={} fail={}", self.calls, self.fail)
    }

    /// The n-th value (n from 0) of the golden-ratio sequence: frac(n·φ).
    pub fn nth_draw(n: u64) -> f64 {
        const PHI: f64 = 0.618_033_988_749_894_8;
        (n as f64 * PHI).fract()
    }

    /// The `[sim-agent …]` directive anywhere in the request body, else the default.
    pub fn of(body: &Value) -> Script {
        let text = body.to_string();
        let Some(start) = text.find("[sim-agent") else {
            return Script::default();
        };
        let rest = &text[start + "[sim-agent".len()..];
        let inner = &rest[..rest.find(']').unwrap_or(rest.len())];
        let mut s = Script::default();
        for pair in inner.split_whitespace() {
            match pair.split_once('=') {
                Some(("calls", v)) => s.calls = v.parse().unwrap_or(1).clamp(1, 50),
                Some(("fail", v)) => s.fail = v.parse().unwrap_or(0.0_f64).clamp(0.0, 1.0),
                Some(("think_ms", v)) => s.think_ms = v.parse().unwrap_or(0).min(600_000),
                _ => {}
            }
        }
        s
    }
}

/// One tool call to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    /// The arguments as a JSON text (what every wire format carries).
    pub arguments: String,
    pub call_id: String,
    /// Think time before it is sent.
    pub think_ms: u64,
    /// The final call's result: right (`Some(true)`) or wrong; `None` for an earlier step.
    pub right: Option<bool>,
}

/// Tool names that run a shell command in the harnesses StackPerf ships profiles for.
const SHELL_TOOLS: &[&str] = &[
    "Bash",
    "bash",
    "shell",
    "exec_command",
    "shell_command",
    "run_shell_command",
    "execute_bash",
    "terminal",
];

/// The call to make for this request, if it offers a shell tool and the task wants more tool
/// results than the conversation holds. `draw` (in [0, 1), asked only for the final call of a
/// task that can fail) decides whether it gets the result wrong.
pub fn scripted_call(
    surface: Endpoint,
    body: &Value,
    plan_id: &str,
    draw: impl FnOnce(&Script) -> f64,
) -> Option<ToolCall> {
    let (tools, results) = match surface {
        Endpoint::Chat => (
            body.get("tools")?
                .as_array()?
                .iter()
                .filter_map(chat_tool)
                .collect::<Vec<_>>(),
            body.get("messages")?
                .as_array()?
                .iter()
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
                .count(),
        ),
        Endpoint::Responses => (
            body.get("tools")?
                .as_array()?
                .iter()
                .filter_map(responses_tool)
                .collect(),
            body.get("input")
                .and_then(Value::as_array)
                .map_or(0, |items| {
                    items
                        .iter()
                        .filter(|i| {
                            i.get("type")
                                .and_then(Value::as_str)
                                .is_some_and(|t| t.ends_with("_output"))
                        })
                        .count()
                }),
        ),
        _ => return None,
    };
    let script = Script::of(body);
    let step = results as u32;
    if step >= script.calls {
        return None;
    }
    let (name, params) = pick(&tools)?;
    let last = step + 1 == script.calls;
    let right = last.then(|| !(script.fail > 0.0 && draw(&script) < script.fail));
    let cmd = match right {
        None => format!(
            "echo step {} of {} >> stackperf-agent.log",
            step + 1,
            script.calls
        ),
        Some(false) => format!("echo stackperf scripted agent: wrong result > {WRONG}"),
        Some(true) => command(),
    };
    Some(ToolCall {
        name: name.to_string(),
        arguments: arguments(params, &cmd).to_string(),
        call_id: format!("call_{plan_id}"),
        think_ms: script.think_ms,
        right,
    })
}

fn chat_tool(t: &Value) -> Option<(&str, &Value)> {
    let f = t.get("function")?;
    Some((
        f.get("name")?.as_str()?,
        f.get("parameters").unwrap_or(&Value::Null),
    ))
}

fn responses_tool(t: &Value) -> Option<(&str, &Value)> {
    (t.get("type").and_then(Value::as_str) == Some("function"))
        .then(|| {
            Some((
                t.get("name")?.as_str()?,
                t.get("parameters").unwrap_or(&Value::Null),
            ))
        })
        .flatten()
}

/// A known shell tool by name, else any tool whose schema has a `command` or `cmd` property.
fn pick<'a>(tools: &[(&'a str, &'a Value)]) -> Option<(&'a str, &'a Value)> {
    SHELL_TOOLS
        .iter()
        .find_map(|n| tools.iter().find(|(t, _)| t == n))
        .or_else(|| {
            tools.iter().find(|(_, p)| {
                p.pointer("/properties/command").is_some() || p.pointer("/properties/cmd").is_some()
            })
        })
        .copied()
}

/// Arguments valid against the tool's JSON schema: `cmd` in `command`/`cmd` (an argv array where
/// the schema wants one), and a valid value for every other required property.
fn arguments(params: &Value, cmd: &str) -> Value {
    let props = params.get("properties").and_then(Value::as_object);
    let key = ["command", "cmd"]
        .into_iter()
        .find(|k| props.is_some_and(|p| p.contains_key(*k)))
        .unwrap_or("command");
    let kind = props
        .and_then(|p| p.get(key))
        .map(|s| resolve(s, params))
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("string");
    let mut out = Map::new();
    out.insert(
        key.to_string(),
        if kind == "array" {
            json!(["bash", "-lc", cmd])
        } else {
            json!(cmd)
        },
    );
    for name in required(params).into_iter().filter(|n| *n != key) {
        let s = props
            .and_then(|p| p.get(name))
            .cloned()
            .unwrap_or(json!({}));
        out.insert(name.to_string(), value_for(&s, params));
    }
    Value::Object(out)
}

fn chat_usage(plan: &Plan, output: u64) -> Value {
    json!({"prompt_tokens": plan.input_tokens, "completion_tokens": output,
        "total_tokens": plan.input_tokens + output,
        "prompt_tokens_details": {"cached_tokens": plan.cached_input_tokens}})
}

fn responses_usage(plan: &Plan, output: u64) -> Value {
    json!({"input_tokens": plan.input_tokens,
        "input_tokens_details": {"cached_tokens": plan.cached_input_tokens},
        "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": plan.input_tokens + output})
}

/// Output tokens a call counts for (its arguments' length / 4, as the simulator estimates).
pub fn call_tokens(call: &ToolCall) -> u64 {
    (call.arguments.len() as u64).div_ceil(4).max(1)
}

/// The streamed frames of a tool-call answer, in order.
pub fn stream(surface: Endpoint, plan: &Plan, call: &ToolCall, include_usage: bool) -> Vec<Bytes> {
    let n = call_tokens(call);
    match surface {
        Endpoint::Chat => {
            let id = format!("chatcmpl-{}", plan.id);
            let chunk = |delta: Value, finish: Value| {
                json!({"id": id, "object": "chat.completion.chunk", "created": unix_now(),
                    "model": plan.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            let tool = json!([{"index": 0, "id": call.call_id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}}]);
            let mut out = vec![
                sse(
                    None,
                    &chunk(json!({"role": "assistant", "content": null}), Value::Null),
                ),
                sse(None, &chunk(json!({"tool_calls": tool}), Value::Null)),
                sse(None, &chunk(json!({}), json!("tool_calls"))),
            ];
            if include_usage {
                let mut u = chunk(json!({}), Value::Null);
                u["choices"] = json!([]);
                u["usage"] = chat_usage(plan, n);
                out.push(sse(None, &u));
            }
            out.push(Bytes::from_static(b"data: [DONE]\n\n"));
            out
        }
        _ => responses_stream(plan, call, n),
    }
}

fn responses_stream(plan: &Plan, call: &ToolCall, n: u64) -> Vec<Bytes> {
    let item_id = format!("fc_{}", plan.id);
    let item = |args: &str, status: &str| {
        json!({"id": item_id, "type": "function_call", "status": status, "call_id": call.call_id,
            "name": call.name, "arguments": args})
    };
    let done_item = item(&call.arguments, "completed");
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": format!("resp_{}", plan.id), "object": "response", "created_at": unix_now(),
            "status": status, "error": null, "incomplete_details": null, "model": plan.model,
            "output": output, "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
            "usage": usage, "metadata": {}})
    };
    let events = [
        (
            "response.created",
            json!({"response": response("in_progress", json!([]), Value::Null)}),
        ),
        (
            "response.in_progress",
            json!({"response": response("in_progress", json!([]), Value::Null)}),
        ),
        (
            "response.output_item.added",
            json!({"output_index": 0, "item": item("", "in_progress")}),
        ),
        (
            "response.function_call_arguments.delta",
            json!({"item_id": item_id, "output_index": 0, "delta": call.arguments}),
        ),
        (
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": 0, "arguments": call.arguments}),
        ),
        (
            "response.output_item.done",
            json!({"output_index": 0, "item": done_item.clone()}),
        ),
        (
            "response.completed",
            json!({"response": response("completed", json!([done_item]), responses_usage(plan, n))}),
        ),
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(seq, (kind, mut data))| {
            data["type"] = json!(kind);
            data["sequence_number"] = json!(seq);
            sse(Some(kind), &data)
        })
        .collect()
}

/// The non-streamed body of a tool-call answer.
pub fn full(surface: Endpoint, plan: &Plan, call: &ToolCall) -> Value {
    let n = call_tokens(call);
    match surface {
        Endpoint::Chat => json!({
            "id": format!("chatcmpl-{}", plan.id), "object": "chat.completion", "created": unix_now(),
            "model": plan.model,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
                "content": null, "tool_calls": [{"id": call.call_id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}}]}}],
            "usage": chat_usage(plan, n)
        }),
        _ => json!({
            "id": format!("resp_{}", plan.id), "object": "response", "created_at": unix_now(),
            "status": "completed", "error": null, "model": plan.model,
            "output": [{"id": format!("fc_{}", plan.id), "type": "function_call", "status": "completed",
                "call_id": call.call_id, "name": call.name, "arguments": call.arguments}],
            "usage": responses_usage(plan, n), "metadata": {}
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_tool_is_called_with_arguments_from_its_schema_until_a_result_comes_back() {
        // OpenCode-like chat tools: `bash` needs a description too.
        let chat = json!({"messages": [{"role": "user", "content": "hi"}], "tools": [
            {"type": "function", "function": {"name": "read", "parameters": {"properties": {"path": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "bash", "parameters": {"type": "object",
                "properties": {"command": {"type": "string"}, "description": {"type": "string"}, "timeout": {"type": "number"}},
                "required": ["command", "description"]}}}]});
        let call = scripted_call(Endpoint::Chat, &chat, "p1", |_| 0.5).unwrap();
        assert_eq!(call.name, "bash");
        let args: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(args["command"], command());
        assert!(args["description"].is_string() && args.get("timeout").is_none());
        let mut with_result = chat.clone();
        with_result["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "tool", "tool_call_id": "call_p1", "content": ""}));
        assert_eq!(
            scripted_call(Endpoint::Chat, &with_result, "p2", |_| 0.5),
            None
        );
        // Codex-like responses tool taking an argv array.
        let resp = json!({"input": [{"type": "message", "role": "user", "content": "hi"}], "tools": [
            {"type": "function", "name": "shell", "parameters": {"properties": {"command": {"type": "array", "items": {"type": "string"}}}, "required": ["command"]}}]});
        let call = scripted_call(Endpoint::Responses, &resp, "p3", |_| 0.5).unwrap();
        let args: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(args["command"], json!(["bash", "-lc", command()]));
        let mut done = resp.clone();
        done["input"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "function_call_output", "call_id": "call_p3", "output": "ok"}));
        assert_eq!(
            scripted_call(Endpoint::Responses, &done, "p4", |_| 0.5),
            None
        );
        // No tools offered: nothing to call.
        assert_eq!(
            scripted_call(Endpoint::Chat, &json!({"messages": []}), "p5", |_| 0.5),
            None
        );
    }

    /// `[sim-agent calls=3 fail=0.5 think_ms=200]` in the prompt: two steps, then the result —
    /// wrong when the draw falls under the failure probability.
    #[test]
    fn a_task_directive_sets_calls_failure_and_think_time() {
        let prompt = "Do it. [sim-agent calls=3 fail=0.5 think_ms=200]";
        let tools = json!([{"type": "function", "function": {"name": "bash", "parameters": {
            "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]);
        let mut body = json!({"messages": [{"role": "user", "content": prompt}], "tools": tools});
        assert_eq!(
            Script::of(&body),
            Script {
                calls: 3,
                fail: 0.5,
                think_ms: 200
            }
        );
        let cmd = |b: &Value, draw: f64| {
            let c = scripted_call(Endpoint::Chat, b, "p", |_| draw).unwrap();
            assert_eq!(c.think_ms, 200);
            serde_json::from_str::<Value>(&c.arguments).unwrap()["command"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert!(cmd(&body, 0.1).contains("step 1 of 3"));
        let tool_result = json!({"role": "tool", "tool_call_id": "x", "content": ""});
        body["messages"]
            .as_array_mut()
            .unwrap()
            .push(tool_result.clone());
        assert!(cmd(&body, 0.1).contains("step 2 of 3"));
        body["messages"]
            .as_array_mut()
            .unwrap()
            .push(tool_result.clone());
        assert!(
            cmd(&body, 0.1).contains(WRONG),
            "draw 0.1 < fail 0.5: wrong"
        );
        assert_eq!(cmd(&body, 0.9), command(), "draw 0.9: right");
        body["messages"].as_array_mut().unwrap().push(tool_result);
        assert_eq!(
            scripted_call(Endpoint::Chat, &body, "p", |_| 0.1),
            None,
            "done: answers"
        );
        assert_eq!(Script::of(&json!({"messages": []})), Script::default());
        // The result sequence: for a 50 % task, the first two results differ and the share of
        // wrong ones stays within 1/8 of a half over any first 8 or more.
        let wrong = |n: u64| (0..n).filter(|i| Script::nth_draw(*i) < 0.5).count() as f64;
        assert!(Script::nth_draw(0) < 0.5 && Script::nth_draw(1) >= 0.5);
        for n in 8..200 {
            assert!((wrong(n) / n as f64 - 0.5).abs() <= 0.125, "{n}");
        }
    }
}
