//! Watching a response stream as the client receives it: an incremental SSE parser and a
//! classifier for the four surfaces' events (OpenAI chat, OpenAI responses, Anthropic messages,
//! Google generateContent). Pure: the caller passes the time each frame was handed to the client.
//!
//! Content is any answer text, reasoning text or tool call delta. *Visible* content excludes
//! reasoning: it is what a person (or the harness) first sees as the answer.

use serde_json::Value;

/// What one SSE event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// No content (lifecycle, usage, role-only, empty deltas).
    None,
    /// Reasoning / thinking text.
    Reasoning,
    /// Answer text or a tool call.
    Visible,
}

/// What was learned from one event besides its content class.
#[derive(Debug, Clone, Default, PartialEq)]
struct EventInfo {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    terminal: bool,
    error: Option<String>,
    /// Names of tool calls this event starts.
    tools: Vec<String>,
}

fn nonempty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

fn num(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
}

fn error_text(v: &Value) -> String {
    let e = v.get("error").unwrap_or(v);
    let msg = e
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| e.as_str())
        .unwrap_or("error event in the stream");
    msg.chars().take(200).collect()
}

/// The names of the tool calls an event of any surface starts (names only: never arguments).
fn tool_names(v: &Value) -> Vec<String> {
    let name = |x: Option<&Value>| {
        x.and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(100).collect::<String>())
    };
    let mut out = Vec::new();
    match v.get("type").and_then(Value::as_str) {
        Some("content_block_start")
            if v.pointer("/content_block/type").and_then(Value::as_str) == Some("tool_use") =>
        {
            out.extend(name(v.pointer("/content_block/name")));
        }
        Some("response.output_item.added") => {
            let kind = v
                .pointer("/item/type")
                .and_then(Value::as_str)
                .unwrap_or("");
            if kind.ends_with("_call") && kind != "reasoning" {
                out.extend(name(v.pointer("/item/name")).or_else(|| Some(kind.to_string())));
            }
        }
        _ => {}
    }
    for c in v
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for t in c
            .pointer("/delta/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(name(t.pointer("/function/name")));
        }
    }
    for c in v
        .get("candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for p in c
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(name(p.pointer("/functionCall/name")));
        }
    }
    out
}

/// Classify one `data:` payload of any surface.
fn classify(v: &Value) -> (Delta, EventInfo) {
    let mut info = EventInfo {
        tools: tool_names(v),
        ..EventInfo::default()
    };
    let mut delta = Delta::None;
    if let Some(kind) = v.get("type").and_then(Value::as_str) {
        // OpenAI responses events and Anthropic messages events both carry a `type`.
        match kind {
            "content_block_delta" => {
                let d = v.get("delta");
                let field = |k: &str| nonempty(d.and_then(|d| d.get(k)));
                if field("text") || field("partial_json") {
                    delta = Delta::Visible;
                } else if field("thinking") {
                    delta = Delta::Reasoning;
                }
            }
            // message_start's output count is a placeholder; only message_delta's is final.
            "message_start" => info.input_tokens = num(v.pointer("/message/usage/input_tokens")),
            "message_delta" => {
                info.output_tokens = num(v.pointer("/usage/output_tokens"));
                info.input_tokens = num(v.pointer("/usage/input_tokens"));
            }
            "message_stop" => info.terminal = true,
            "response.completed" | "response.incomplete" => {
                info.terminal = true;
                info.input_tokens = num(v.pointer("/response/usage/input_tokens"));
                info.output_tokens = num(v.pointer("/response/usage/output_tokens"));
            }
            "response.failed" | "error" => {
                info.error = Some(error_text(v.get("response").unwrap_or(v)));
            }
            k if k.starts_with("response.")
                && k.ends_with(".delta")
                && nonempty(v.get("delta")) =>
            {
                delta = if k.contains("reasoning") {
                    Delta::Reasoning
                } else {
                    Delta::Visible
                };
            }
            _ => {}
        }
        return (delta, info);
    }
    if let Some(choices) = v.get("choices").and_then(Value::as_array) {
        for c in choices {
            let d = c.get("delta");
            let field = |k: &str| nonempty(d.and_then(|d| d.get(k)));
            if field("content") || field("tool_calls") || field("function_call") {
                delta = Delta::Visible;
            } else if delta == Delta::None && (field("reasoning_content") || field("reasoning")) {
                delta = Delta::Reasoning;
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            info.input_tokens = num(u.get("prompt_tokens"));
            info.output_tokens = num(u.get("completion_tokens"));
        }
    }
    if let Some(cands) = v.get("candidates").and_then(Value::as_array) {
        for c in cands {
            let parts = c.pointer("/content/parts").and_then(Value::as_array);
            for p in parts.into_iter().flatten() {
                let thought = p.get("thought").and_then(Value::as_bool).unwrap_or(false);
                if nonempty(p.get("functionCall")) || (!thought && nonempty(p.get("text"))) {
                    delta = Delta::Visible;
                } else if thought && nonempty(p.get("text")) && delta == Delta::None {
                    delta = Delta::Reasoning;
                }
            }
            if nonempty(c.get("finishReason")) {
                info.terminal = true;
            }
        }
    }
    if let Some(u) = v.get("usageMetadata") {
        info.input_tokens = num(u.get("promptTokenCount"));
        let out = num(u.get("candidatesTokenCount"));
        let thoughts = num(u.get("thoughtsTokenCount"));
        info.output_tokens = match (out, thoughts) {
            (Some(o), Some(t)) => Some(o + t),
            (o, t) => o.or(t),
        };
    }
    if v.get("error").is_some() && v.get("choices").is_none() {
        info.error = Some(error_text(v));
    }
    (delta, info)
}

/// Everything measured about one response stream, in epoch seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamStats {
    pub first_content: Option<f64>,
    pub first_visible: Option<f64>,
    pub last_content: Option<f64>,
    /// Content events (deltas) delivered.
    pub deltas: u64,
    /// The longest gap between two frames that carried content (first token excluded).
    pub max_gap_ms: Option<f64>,
    /// Gaps longer than the stall threshold.
    pub stalls: u64,
    /// Usage as the stream itself reported it to the client (last report wins).
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// The surface's end-of-stream marker was delivered (`[DONE]`, `message_stop`,
    /// `response.completed`, a Gemini `finishReason`).
    pub terminal: bool,
    /// When the end marker was handed to the client.
    pub terminal_at: Option<f64>,
    /// An error event inside the stream (its message, shortened).
    pub error: Option<String>,
    pub bytes: u64,
    /// The names of the tool calls the response made, in order (at most [`MAX_TOOLS`]).
    pub tool_calls: Vec<String>,
}

/// Tool-call names kept per response.
pub const MAX_TOOLS: usize = 64;

impl StreamStats {
    /// Mean time per output delta after the first (TPOT), when at least two were delivered.
    pub fn itl_ms(&self) -> Option<f64> {
        match (self.first_content, self.last_content) {
            (Some(a), Some(b)) if self.deltas >= 2 => {
                Some((b - a) * 1000.0 / (self.deltas - 1) as f64)
            }
            _ => None,
        }
    }
}

/// An incremental SSE reader over the frames of one response.
#[derive(Debug)]
pub struct Observer {
    stall_ms: f64,
    line: Vec<u8>,
    data: Vec<u8>,
    pub stats: StreamStats,
}

/// Longest line kept while waiting for its end (a longer one is skipped, not buffered forever).
const MAX_LINE: usize = 4 << 20;

impl Observer {
    pub fn new(stall_ms: f64) -> Observer {
        Observer {
            stall_ms,
            line: Vec::new(),
            data: Vec::new(),
            stats: StreamStats::default(),
        }
    }

    /// Feed one frame handed to the client at `now` (epoch seconds).
    pub fn frame(&mut self, now: f64, bytes: &[u8]) {
        self.stats.bytes += bytes.len() as u64;
        let mut content = false;
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            let (head, tail) = rest.split_at(i);
            rest = &tail[1..];
            let mut line = std::mem::take(&mut self.line);
            if line.len() + head.len() <= MAX_LINE {
                line.extend_from_slice(head);
            }
            content |= self.line_done(now, &line);
            line.clear();
            self.line = line;
        }
        if self.line.len() + rest.len() <= MAX_LINE {
            self.line.extend_from_slice(rest);
        }
        if content {
            if let Some(last) = self.stats.last_content {
                let gap = (now - last) * 1000.0;
                self.stats.max_gap_ms = Some(self.stats.max_gap_ms.map_or(gap, |m| m.max(gap)));
                if gap > self.stall_ms {
                    self.stats.stalls += 1;
                }
            }
            self.stats.last_content = Some(now);
        }
    }

    /// The stream ended: an unterminated last event still counts.
    pub fn finish(&mut self, now: f64) {
        let line = std::mem::take(&mut self.line);
        let mut content = self.line_done(now, &line);
        content |= self.dispatch(now);
        if content {
            self.stats.last_content = Some(now);
        }
    }

    /// One complete line; true when it completed an event with content.
    fn line_done(&mut self, now: f64, line: &[u8]) -> bool {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return self.dispatch(now);
        }
        if let Some(d) = line.strip_prefix(b"data:") {
            let d = d.strip_prefix(b" ").unwrap_or(d);
            if !self.data.is_empty() {
                self.data.push(b'\n');
            }
            if self.data.len() + d.len() <= MAX_LINE {
                self.data.extend_from_slice(d);
            }
        }
        false
    }

    fn dispatch(&mut self, now: f64) -> bool {
        if self.data.is_empty() {
            return false;
        }
        let data = std::mem::take(&mut self.data);
        if data.as_slice() == b"[DONE]" {
            if !self.stats.terminal {
                self.stats.terminal = true;
                self.stats.terminal_at = Some(now);
            }
            return false;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&data) else {
            return false;
        };
        let (delta, info) = classify(&v);
        let s = &mut self.stats;
        if info.input_tokens.is_some() {
            s.input_tokens = info.input_tokens;
        }
        if info.output_tokens.is_some() {
            s.output_tokens = info.output_tokens;
        }
        if info.terminal && !s.terminal {
            s.terminal = true;
            s.terminal_at = Some(now);
        }
        if info.error.is_some() {
            s.error = info.error;
        }
        for t in info.tools {
            if s.tool_calls.len() < MAX_TOOLS {
                s.tool_calls.push(t);
            }
        }
        if delta == Delta::None {
            return false;
        }
        s.deltas += 1;
        s.first_content.get_or_insert(now);
        if delta == Delta::Visible {
            s.first_visible.get_or_insert(now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(frames: &[(f64, &str)]) -> StreamStats {
        let mut o = Observer::new(1000.0);
        for (t, f) in frames {
            o.frame(*t, f.as_bytes());
        }
        o.finish(99.0);
        o.stats
    }

    #[test]
    fn tool_call_names_are_read_on_every_surface_and_arguments_never() {
        let chat = feed(&[
            (1.0, "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"bash\",\"arguments\":\"\"}}]}}]}\n\n"),
            (1.1, "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"command\\\":\\\"rm -rf x\\\"}\"}}]}}]}\n\n"),
            (1.2, "data: [DONE]\n\n"),
        ]);
        assert_eq!(chat.tool_calls, ["bash"]);
        let responses = feed(&[(1.0, "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"item\":{\"type\":\"function_call\",\"name\":\"shell\",\"arguments\":\"\"}}\n\n")]);
        assert_eq!(responses.tool_calls, ["shell"]);
        let messages = feed(&[(1.0, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"Bash\",\"input\":{}}}\n\n")]);
        assert_eq!(messages.tool_calls, ["Bash"]);
        let google = feed(&[(1.0, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"run_shell_command\",\"args\":{\"command\":\"ls\"}}}]}}]}\n\n")]);
        assert_eq!(google.tool_calls, ["run_shell_command"]);
        let text = feed(&[(
            1.0,
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n",
        )]);
        assert!(text.tool_calls.is_empty());
    }

    #[test]
    fn chat_the_role_only_chunk_is_not_content_and_usage_is_read() {
        let s = feed(&[
            (1.0, "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"),
            (1.2, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"),
            (1.3, "data: {\"choices\":[{\"delta\":{\"content\":\" there\"},\"finish_reason\":null}]}\n\n"),
            (1.4, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n"),
        ]);
        assert_eq!(s.first_content, Some(1.2));
        assert_eq!(s.first_visible, Some(1.2));
        assert_eq!(
            (s.deltas, s.output_tokens, s.input_tokens),
            (2, Some(2), Some(9))
        );
        assert!(s.terminal);
        assert!((s.itl_ms().unwrap() - 100.0).abs() < 1e-6);
        assert!((s.max_gap_ms.unwrap() - 100.0).abs() < 1e-6);
    }

    #[test]
    fn reasoning_counts_as_content_but_not_as_visible_on_every_surface() {
        let chat = feed(&[
            (
                1.0,
                "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n",
            ),
            (
                2.0,
                "data: {\"choices\":[{\"delta\":{\"content\":\"A\"}}]}\n\n",
            ),
        ]);
        let responses = feed(&[
            (
                1.0,
                "data: {\"type\":\"response.created\",\"response\":{}}\n\n",
            ),
            (
                1.5,
                "data: {\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"hmm\"}\n\n",
            ),
            (
                2.5,
                "data: {\"type\":\"response.output_text.delta\",\"delta\":\"A\"}\n\n",
            ),
        ]);
        let messages = feed(&[
            (1.0, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"),
            (1.1, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n"),
            (1.9, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"A\"}}\n\n"),
            (2.0, "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        ]);
        let google = feed(&[
            (1.0, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hmm\",\"thought\":true}]}}]}\r\n\r\n"),
            (3.0, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":3,\"thoughtsTokenCount\":2}}\r\n\r\n"),
        ]);
        assert_eq!(
            (chat.first_content, chat.first_visible),
            (Some(1.0), Some(2.0))
        );
        assert_eq!(
            (responses.first_content, responses.first_visible),
            (Some(1.5), Some(2.5))
        );
        assert_eq!(
            (messages.first_content, messages.first_visible),
            (Some(1.1), Some(1.9))
        );
        assert_eq!(
            (messages.input_tokens, messages.output_tokens),
            (Some(5), Some(7))
        );
        assert!(messages.terminal && google.terminal && !responses.terminal);
        assert_eq!(
            (google.first_content, google.first_visible),
            (Some(1.0), Some(3.0))
        );
        assert_eq!(google.output_tokens, Some(5));
        assert_eq!(google.stalls, 1, "a 2 s gap is a stall at a 1 s threshold");
    }

    #[test]
    fn lifecycle_events_and_a_preamble_are_never_the_first_token() {
        let s = feed(&[
            (1.0, "data: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\n"),
            (1.0, "data: {\"type\":\"response.in_progress\"}\n\n"),
            (1.0, "data: {\"type\":\"response.output_item.added\",\"item\":{}}\n\n"),
            (1.0, "data: {\"type\":\"response.output_text.delta\",\"delta\":\"\"}\n\n"),
            (1.7, "data: {\"type\":\"response.function_call_arguments.delta\",\"delta\":\"{\\\"a\"}\n\n"),
            (1.8, "data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}}\n\n"),
        ]);
        assert_eq!(s.first_content, Some(1.7), "a tool call is content");
        assert_eq!(s.first_visible, Some(1.7));
        assert_eq!((s.deltas, s.output_tokens), (1, Some(4)));
        assert!(s.terminal);
        assert_eq!(s.itl_ms(), None, "one delta has no inter-token latency");
    }

    #[test]
    fn events_split_anywhere_across_frames_are_reassembled() {
        let whole = "data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";
        for cut in 1..whole.len() {
            let (a, b) = whole.split_at(cut);
            let mut o = Observer::new(1000.0);
            o.frame(1.0, a.as_bytes());
            o.frame(2.0, b.as_bytes());
            o.finish(3.0);
            assert_eq!(o.stats.deltas, 2, "cut at {cut}");
            let first = if cut >= whole.find("\n\n").unwrap() + 2 {
                1.0
            } else {
                2.0
            };
            assert_eq!(o.stats.first_content, Some(first), "cut at {cut}");
        }
    }

    #[test]
    fn errors_malformed_json_and_huge_lines_do_not_break_the_observer() {
        let mut o = Observer::new(1000.0);
        o.frame(
            1.0,
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
        );
        o.frame(
            1.1,
            b"data: {\"id\": \"broken\", \"choices\": [{\"delta\": \n\n",
        );
        o.frame(1.2, &vec![b'x'; MAX_LINE + 10]);
        o.frame(
            1.3,
            b"\n\ndata: {\"error\":{\"message\":\"upstream went away\"}}\n\n",
        );
        o.finish(2.0);
        assert_eq!(o.stats.deltas, 1);
        assert_eq!(o.stats.error.as_deref(), Some("upstream went away"));
        assert!(!o.stats.terminal);
        let mut bin = Observer::new(1000.0);
        bin.frame(1.0, &[0xff, 0xfe, b'\n', b'\n', 0xc3]);
        bin.finish(1.0);
        assert_eq!(bin.stats.deltas, 0);
    }
}
