//! Google generateContent / streamGenerateContent (what Gemini CLI speaks).

use axum::body::Bytes;
use serde_json::{json, Value};

use super::Encoder;
use crate::profile::Plan;

/// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent[?alt=sse]`.
/// Without `alt=sse` the stream is one JSON array, sent incrementally as Google does.
pub struct Generate {
    sse: bool,
    sent_first: bool,
}

impl Generate {
    pub fn new(sse: bool) -> Self {
        Generate {
            sse,
            sent_first: false,
        }
    }

    fn frame(&mut self, v: &Value) -> Bytes {
        if self.sse {
            return Bytes::from(format!("data: {v}\r\n\r\n"));
        }
        let sep = if self.sent_first { ",\r\n" } else { "" };
        self.sent_first = true;
        Bytes::from(format!("{sep}{v}"))
    }
}

fn usage(plan: &Plan, output: u64) -> Value {
    let mut u = json!({
        "promptTokenCount": plan.input_tokens,
        "candidatesTokenCount": output,
        "totalTokenCount": plan.input_tokens + output
    });
    if plan.cached_input_tokens > 0 {
        u["cachedContentTokenCount"] = json!(plan.cached_input_tokens);
    }
    // Gemini counts thinking apart from the answer (and inside the total).
    if plan.reasoning_tokens > 0 {
        u["thoughtsTokenCount"] = json!(plan.reasoning_tokens);
        u["totalTokenCount"] = json!(plan.input_tokens + output + plan.reasoning_tokens);
    }
    u
}

fn chunk(plan: &Plan, text: &str, finish: Option<&str>, output: u64) -> Value {
    let mut cand = json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0});
    if let Some(f) = finish {
        cand["finishReason"] = json!(f);
    }
    json!({"candidates": [cand], "usageMetadata": usage(plan, output), "modelVersion": plan.model,
        "responseId": plan.id})
}

fn finish_reason(plan: &Plan) -> &'static str {
    if plan.truncated {
        "MAX_TOKENS"
    } else {
        "STOP"
    }
}

impl Encoder for Generate {
    fn content_type(&self) -> &'static str {
        if self.sse {
            "text/event-stream"
        } else {
            "application/json"
        }
    }

    fn preamble(&mut self, _plan: &Plan) -> Vec<Bytes> {
        if self.sse {
            Vec::new()
        } else {
            vec![Bytes::from_static(b"[")]
        }
    }

    fn delta(&mut self, plan: &Plan, text: &str) -> Bytes {
        let v = chunk(plan, text, None, 0);
        self.frame(&v)
    }

    fn reasoning(&mut self, plan: &Plan, text: &str) -> Bytes {
        let mut v = chunk(plan, text, None, 0);
        if let Some(part) = v.pointer_mut("/candidates/0/content/parts/0") {
            part["thought"] = Value::Bool(true);
        }
        self.frame(&v)
    }

    fn finish(&mut self, plan: &Plan, _text: &str) -> Vec<Bytes> {
        let v = chunk(plan, "", Some(finish_reason(plan)), plan.output_tokens);
        let mut out = vec![self.frame(&v)];
        if !self.sse {
            out.push(Bytes::from_static(b"]"));
        }
        out
    }

    fn malformed(&mut self) -> Bytes {
        Bytes::from_static(b"data: {\"candidates\": [{\"content\": \r\n\r\n")
    }

    fn full(&self, plan: &Plan, text: &str) -> Value {
        chunk(plan, text, Some(finish_reason(plan)), plan.output_tokens)
    }
}
