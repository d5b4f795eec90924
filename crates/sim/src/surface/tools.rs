//! The scripted agent (profile `scripted_agent`): a request that offers a shell/command tool and
//! carries no tool result yet is answered with one call to that tool, arguments built from the
//! tool's own schema, so a real harness runs a real tool round trip offline. The command writes
//! [`MARKER`] in the harness's working folder, which a task card's verify step can check.

use axum::body::Bytes;
use serde_json::{json, Map, Value};

use super::{sse, unix_now, Surface};
use crate::profile::Plan;

/// The file the scripted agent's command writes.
pub const MARKER: &str = "stackperf-agent.txt";

/// The shell command the tool call carries.
pub fn command() -> String {
    format!("echo stackperf scripted agent > {MARKER}")
}

/// One tool call to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    /// The arguments as a JSON text (what every wire format carries).
    pub arguments: String,
    pub call_id: String,
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

/// The call to make for this request, if it offers a shell tool and has no tool result yet.
pub fn scripted_call(surface: Surface, body: &Value, plan_id: &str) -> Option<ToolCall> {
    let (tools, has_result) = match surface {
        Surface::Chat => (
            body.get("tools")?
                .as_array()?
                .iter()
                .filter_map(chat_tool)
                .collect::<Vec<_>>(),
            body.get("messages")?
                .as_array()?
                .iter()
                .any(|m| m.get("role").and_then(Value::as_str) == Some("tool")),
        ),
        Surface::Responses => (
            body.get("tools")?
                .as_array()?
                .iter()
                .filter_map(responses_tool)
                .collect(),
            body.get("input")
                .and_then(Value::as_array)
                .is_some_and(|items| {
                    items.iter().any(|i| {
                        i.get("type")
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.ends_with("_output"))
                    })
                }),
        ),
        _ => return None,
    };
    if has_result {
        return None;
    }
    let (name, params) = pick(&tools)?;
    Some(ToolCall {
        name: name.to_string(),
        arguments: arguments(params).to_string(),
        call_id: format!("call_{plan_id}"),
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

/// Arguments from the tool's JSON schema: the command in `command`/`cmd` (an argv array where
/// the schema wants one), and a plain value for every other required property.
fn arguments(params: &Value) -> Value {
    let props = params.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = params
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    let kind = |name: &str| {
        props
            .and_then(|p| p.get(name))
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("string")
    };
    let key = ["command", "cmd"]
        .into_iter()
        .find(|k| props.is_some_and(|p| p.contains_key(*k)))
        .unwrap_or("command");
    let cmd = command();
    out.insert(
        key.to_string(),
        if kind(key) == "array" {
            json!(["bash", "-lc", cmd])
        } else {
            json!(cmd)
        },
    );
    for name in required.iter().filter(|n| **n != key) {
        let v = match kind(name) {
            "boolean" => json!(false),
            "integer" | "number" => json!(60_000),
            "array" => json!([]),
            "object" => json!({}),
            _ => json!("stackperf scripted agent"),
        };
        out.insert((*name).to_string(), v);
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
pub fn stream(surface: Surface, plan: &Plan, call: &ToolCall, include_usage: bool) -> Vec<Bytes> {
    let n = call_tokens(call);
    match surface {
        Surface::Chat => {
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
pub fn full(surface: Surface, plan: &Plan, call: &ToolCall) -> Value {
    let n = call_tokens(call);
    match surface {
        Surface::Chat => json!({
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
        let call = scripted_call(Surface::Chat, &chat, "p1").unwrap();
        assert_eq!(call.name, "bash");
        let args: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(args["command"], command());
        assert!(args["description"].is_string() && args.get("timeout").is_none());
        let mut with_result = chat.clone();
        with_result["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "tool", "tool_call_id": "call_p1", "content": ""}));
        assert_eq!(scripted_call(Surface::Chat, &with_result, "p2"), None);
        // Codex-like responses tool taking an argv array.
        let resp = json!({"input": [{"type": "message", "role": "user", "content": "hi"}], "tools": [
            {"type": "function", "name": "shell", "parameters": {"properties": {"command": {"type": "array", "items": {"type": "string"}}}, "required": ["command"]}}]});
        let call = scripted_call(Surface::Responses, &resp, "p3").unwrap();
        let args: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(args["command"], json!(["bash", "-lc", command()]));
        let mut done = resp.clone();
        done["input"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "function_call_output", "call_id": "call_p3", "output": "ok"}));
        assert_eq!(scripted_call(Surface::Responses, &done, "p4"), None);
        // No tools offered: nothing to call.
        assert_eq!(
            scripted_call(Surface::Chat, &json!({"messages": []}), "p5"),
            None
        );
    }
}
