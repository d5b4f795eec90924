//! What a harness says about its own run (its JSON output in headless mode): model calls, tokens,
//! cost, tool calls. Kept beside StackPerf's own figures as a cross-check, never instead of them:
//! each harness counts differently (its own price table, its own idea of a turn).

pub use crate::store::model::HarnessReport;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The shape of a harness's headless output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// `claude -p … --output-format json`: one result object (`num_turns`, `usage`,
    /// `total_cost_usd`).
    ClaudeJson,
    /// `codex exec --json`: JSON lines; `turn.completed` carries usage, `item.completed` items.
    CodexJsonl,
    /// `gemini -p … --output-format json`: one object with `stats.models.*.api` / `.tokens` and
    /// `stats.tools`.
    GeminiJson,
    /// `opencode run --format json`: JSON lines; one `step_finish` per model call with tokens and
    /// cost, one `tool_use` per tool call.
    OpencodeJsonl,
}

/// Parse a harness's stdout; `None` when it holds nothing of the expected shape (a crash, a
/// changed output format).
pub fn parse(format: ReportFormat, out: &str) -> Option<HarnessReport> {
    let r = match format {
        ReportFormat::ClaudeJson => claude(&last_object(out)?),
        ReportFormat::GeminiJson => gemini(&last_object(out)?),
        ReportFormat::CodexJsonl => codex(&lines(out)),
        ReportFormat::OpencodeJsonl => opencode(&lines(out)),
    };
    (r != HarnessReport::default()).then_some(r)
}

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

/// The whole output as one object, or else its last line that is one.
fn last_object(out: &str) -> Option<Value> {
    serde_json::from_str::<Value>(out.trim())
        .ok()
        .filter(Value::is_object)
        .or_else(|| lines(out).pop())
}

fn int(v: &Value, path: &str) -> Option<i64> {
    v.pointer(path).and_then(Value::as_i64)
}

fn add(acc: &mut Option<i64>, x: Option<i64>) {
    if let Some(x) = x {
        *acc = Some(acc.unwrap_or(0) + x);
    }
}

fn claude(v: &Value) -> HarnessReport {
    let input = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| int(v, &format!("/usage/{k}")))
    .reduce(|a, b| a + b);
    HarnessReport {
        model_calls: int(v, "/num_turns"),
        input_tokens: input,
        output_tokens: int(v, "/usage/output_tokens"),
        cost_usd: v.pointer("/total_cost_usd").and_then(Value::as_f64),
        tool_calls: None,
    }
}

fn gemini(v: &Value) -> HarnessReport {
    let mut r = HarnessReport::default();
    if let Some(models) = v.pointer("/stats/models").and_then(Value::as_object) {
        for m in models.values() {
            add(&mut r.model_calls, int(m, "/api/totalRequests"));
            add(&mut r.input_tokens, int(m, "/tokens/prompt"));
            // Gemini counts thinking apart from the answer; both are output.
            add(&mut r.output_tokens, int(m, "/tokens/candidates"));
            add(&mut r.output_tokens, int(m, "/tokens/thoughts"));
        }
    }
    r.tool_calls = int(v, "/stats/tools/totalCalls");
    r
}

fn codex(events: &[Value]) -> HarnessReport {
    let mut r = HarnessReport::default();
    for e in events {
        match e.get("type").and_then(Value::as_str) {
            Some("turn.completed") => {
                add(&mut r.input_tokens, int(e, "/usage/input_tokens"));
                add(&mut r.output_tokens, int(e, "/usage/output_tokens"));
            }
            Some("item.completed") => {
                let kind = e.pointer("/item/type").and_then(Value::as_str);
                if matches!(
                    kind,
                    Some("command_execution" | "mcp_tool_call" | "file_change" | "web_search")
                ) {
                    add(&mut r.tool_calls, Some(1));
                }
            }
            _ => {}
        }
    }
    r
}

fn opencode(events: &[Value]) -> HarnessReport {
    let mut r = HarnessReport::default();
    for e in events {
        match e.get("type").and_then(Value::as_str) {
            Some("step_finish") => {
                add(&mut r.model_calls, Some(1));
                for k in ["input", "cache/read", "cache/write"] {
                    add(&mut r.input_tokens, int(e, &format!("/part/tokens/{k}")));
                }
                add(&mut r.output_tokens, int(e, "/part/tokens/output"));
                add(&mut r.output_tokens, int(e, "/part/tokens/reasoning"));
                if let Some(c) = e.pointer("/part/cost").and_then(Value::as_f64) {
                    r.cost_usd = Some(r.cost_usd.unwrap_or(0.0) + c);
                }
            }
            Some("tool_use") => add(&mut r.tool_calls, Some(1)),
            _ => {}
        }
    }
    r
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
