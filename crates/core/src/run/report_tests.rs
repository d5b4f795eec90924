//! Each parser against the real output of the pinned harness CLI (captured from a run on the
//! simulator's scripted agent; the expected figures read off the files by hand).

use super::*;

const CLAUDE: &str = include_str!("../../tests/fixtures/harness-output/claude-code.json");
const CODEX: &str = include_str!("../../tests/fixtures/harness-output/codex.jsonl");
const GEMINI: &str = include_str!("../../tests/fixtures/harness-output/gemini-cli.json");
const OPENCODE: &str = include_str!("../../tests/fixtures/harness-output/opencode.jsonl");

#[test]
fn claude_code_reports_turns_tokens_and_its_own_cost() {
    let r = parse(ReportFormat::ClaudeJson, CLAUDE).expect("report");
    assert_eq!(r.model_calls, Some(2));
    assert_eq!(r.input_tokens, Some(21657));
    assert_eq!(r.output_tokens, Some(35));
    assert!(
        r.cost_usd.is_some_and(|c| (c - 0.10916).abs() < 1e-12),
        "{r:?}"
    );
    assert_eq!(r.tool_calls, None);
}

#[test]
fn codex_reports_tokens_per_turn_and_its_commands() {
    let r = parse(ReportFormat::CodexJsonl, CODEX).expect("report");
    assert_eq!(r.input_tokens, Some(17223));
    assert_eq!(r.output_tokens, Some(27));
    // The command it ran; the "model metadata" error item is not a tool call.
    assert_eq!(r.tool_calls, Some(1));
    assert_eq!((r.model_calls, r.cost_usd), (None, None));
}

#[test]
fn gemini_cli_reports_requests_tokens_and_tools() {
    let r = parse(ReportFormat::GeminiJson, GEMINI).expect("report");
    assert_eq!(r.model_calls, Some(2));
    assert_eq!(r.input_tokens, Some(22280));
    assert_eq!(r.output_tokens, Some(29));
    assert_eq!(r.tool_calls, Some(1));
    assert_eq!(r.cost_usd, None);
}

#[test]
fn opencode_reports_each_step() {
    let r = parse(ReportFormat::OpencodeJsonl, OPENCODE).expect("report");
    assert_eq!(r.model_calls, Some(2));
    assert_eq!(r.input_tokens, Some(6900 + 6935));
    assert_eq!(r.output_tokens, Some(17 + 15));
    // No price for the model in OpenCode's own table: it says 0.
    assert_eq!(r.cost_usd, Some(0.0));
    assert_eq!(r.tool_calls, Some(1));
}

#[test]
fn output_without_a_report_gives_none() {
    for f in [
        ReportFormat::ClaudeJson,
        ReportFormat::CodexJsonl,
        ReportFormat::GeminiJson,
        ReportFormat::OpencodeJsonl,
    ] {
        assert_eq!(parse(f, ""), None);
        assert_eq!(
            parse(f, "Error: cannot connect\n{\"type\":\"thread.started\"}"),
            None
        );
        // A crash halfway through writing the object.
        assert_eq!(parse(f, &CLAUDE[..CLAUDE.len() / 2]), None, "{f:?}");
    }
}
