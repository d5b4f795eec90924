//! Anthropic messages (what Claude Code speaks).

use axum::body::Bytes;
use serde_json::{json, Value};

use super::{sse, Encoder};
use crate::profile::Plan;

/// `POST /v1/messages`. With reasoning, a thinking block (index 0) precedes the text block.
#[derive(Default)]
pub struct Messages {
    thinking: bool,
    text_started: bool,
}

impl Messages {
    fn text_index(&self) -> u64 {
        u64::from(self.thinking)
    }
}

fn usage(plan: &Plan, output: u64) -> Value {
    // Anthropic reports uncached input separately from cache reads and writes.
    let uncached = plan
        .input_tokens
        .saturating_sub(plan.cached_input_tokens + plan.cache_write_tokens);
    json!({
        "input_tokens": uncached,
        "cache_creation_input_tokens": plan.cache_write_tokens,
        "cache_read_input_tokens": plan.cached_input_tokens,
        "output_tokens": output,
        "service_tier": "standard"
    })
}

fn stop_reason(plan: &Plan) -> &'static str {
    if plan.truncated {
        "max_tokens"
    } else {
        "end_turn"
    }
}

impl Encoder for Messages {
    fn preamble(&mut self, plan: &Plan) -> Vec<Bytes> {
        self.thinking = plan.reasoning_tokens > 0;
        self.text_started = !self.thinking;
        let block = if self.thinking {
            json!({"type": "thinking", "thinking": ""})
        } else {
            json!({"type": "text", "text": ""})
        };
        let message = json!({
            "id": format!("msg_{}", plan.id), "type": "message", "role": "assistant", "model": plan.model,
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(plan, 1)
        });
        vec![
            sse(
                Some("message_start"),
                &json!({"type": "message_start", "message": message}),
            ),
            sse(
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": 0, "content_block": block}),
            ),
            sse(Some("ping"), &json!({"type": "ping"})),
        ]
    }

    fn delta(&mut self, _plan: &Plan, text: &str) -> Bytes {
        let mut out = Vec::new();
        if !self.text_started {
            self.text_started = true;
            out.extend_from_slice(&sse(
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": 0}),
            ));
            out.extend_from_slice(&sse(
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            ));
        }
        out.extend_from_slice(&sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": self.text_index(), "delta": {"type": "text_delta", "text": text}}),
        ));
        Bytes::from(out)
    }

    fn reasoning(&mut self, _plan: &Plan, text: &str) -> Bytes {
        sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": text}}),
        )
    }

    fn finish(&mut self, plan: &Plan, _text: &str) -> Vec<Bytes> {
        vec![
            sse(
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": self.text_index()}),
            ),
            sse(
                Some("message_delta"),
                &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason(plan), "stop_sequence": null},
                    "usage": usage(plan, plan.output_tokens + plan.reasoning_tokens)}),
            ),
            sse(Some("message_stop"), &json!({"type": "message_stop"})),
        ]
    }

    fn malformed(&mut self) -> Bytes {
        Bytes::from_static(b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": \n\n")
    }

    fn full(&self, plan: &Plan, text: &str) -> Value {
        json!({
            "id": format!("msg_{}", plan.id), "type": "message", "role": "assistant", "model": plan.model,
            "content": [{"type": "text", "text": text}], "stop_reason": stop_reason(plan),
            "stop_sequence": null, "usage": usage(plan, plan.output_tokens + plan.reasoning_tokens)
        })
    }
}
