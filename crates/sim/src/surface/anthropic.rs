//! Anthropic messages (what Claude Code speaks).

use axum::body::Bytes;
use serde_json::{json, Value};

use super::{sse, Encoder};
use crate::profile::Plan;

/// `POST /v1/messages`.
pub struct Messages;

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
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            sse(Some("ping"), &json!({"type": "ping"})),
        ]
    }

    fn delta(&mut self, _plan: &Plan, text: &str) -> Bytes {
        sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        )
    }

    fn finish(&mut self, plan: &Plan, _text: &str) -> Vec<Bytes> {
        vec![
            sse(
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": 0}),
            ),
            sse(
                Some("message_delta"),
                &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason(plan), "stop_sequence": null},
                    "usage": usage(plan, plan.output_tokens)}),
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
            "stop_sequence": null, "usage": usage(plan, plan.output_tokens)
        })
    }
}
