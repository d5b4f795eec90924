//! OpenAI chat completions and responses.

use axum::body::Bytes;
use serde_json::{json, Value};

use super::{sse, unix_now, Encoder};
use crate::profile::Plan;

fn chat_usage(plan: &Plan) -> Value {
    // OpenAI counts reasoning tokens inside `completion_tokens` and says how many in the details.
    let (input, output) = (
        plan.input_tokens,
        plan.output_tokens + plan.reasoning_tokens,
    );
    json!({
        "prompt_tokens": input,
        "completion_tokens": output,
        "total_tokens": input + output,
        "prompt_tokens_details": {"cached_tokens": plan.cached_input_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": plan.reasoning_tokens, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    })
}

/// `POST /v1/chat/completions`.
pub struct Chat {
    id: String,
    created: u64,
    include_usage: bool,
}

impl Chat {
    pub fn new(plan: &Plan, include_usage: bool) -> Self {
        Chat {
            id: format!("chatcmpl-{}", plan.id),
            created: unix_now(),
            include_usage,
        }
    }

    fn chunk(&self, plan: &Plan, delta: Value, finish: Value) -> Value {
        let mut c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": plan.model, "system_fingerprint": "fp_stackperf_sim",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        });
        if self.include_usage {
            c["usage"] = Value::Null;
        }
        c
    }

    fn finish_reason(plan: &Plan) -> &'static str {
        if plan.truncated {
            "length"
        } else {
            "stop"
        }
    }
}

impl Encoder for Chat {
    fn preamble(&mut self, plan: &Plan) -> Vec<Bytes> {
        vec![sse(
            None,
            &self.chunk(
                plan,
                json!({"role": "assistant", "content": "", "refusal": null}),
                Value::Null,
            ),
        )]
    }

    fn delta(&mut self, plan: &Plan, text: &str) -> Bytes {
        sse(
            None,
            &self.chunk(plan, json!({"content": text}), Value::Null),
        )
    }

    fn reasoning(&mut self, plan: &Plan, text: &str) -> Bytes {
        sse(
            None,
            &self.chunk(plan, json!({"reasoning_content": text}), Value::Null),
        )
    }

    fn finish(&mut self, plan: &Plan, _text: &str) -> Vec<Bytes> {
        let mut out = vec![sse(
            None,
            &self.chunk(plan, json!({}), json!(Self::finish_reason(plan))),
        )];
        if self.include_usage {
            out.push(sse(
                None,
                &json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": plan.model, "system_fingerprint": "fp_stackperf_sim", "choices": [],
                    "usage": chat_usage(plan)}),
            ));
        }
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out
    }

    fn full(&self, plan: &Plan, text: &str) -> Value {
        json!({
            "id": self.id, "object": "chat.completion", "created": self.created, "model": plan.model,
            "system_fingerprint": "fp_stackperf_sim",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null,
                "annotations": []}, "logprobs": null, "finish_reason": Self::finish_reason(plan)}],
            "usage": chat_usage(plan), "service_tier": "default"
        })
    }
}

/// `POST /v1/responses` (what Codex speaks).
pub struct Responses {
    id: String,
    item_id: String,
    created: u64,
    seq: u64,
}

impl Responses {
    pub fn new(plan: &Plan) -> Self {
        Responses {
            id: format!("resp_{}", plan.id),
            item_id: format!("msg_{}", plan.id),
            created: unix_now(),
            seq: 0,
        }
    }

    fn event(&mut self, kind: &str, mut data: Value) -> Bytes {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        sse(Some(kind), &data)
    }

    fn item(&self, text: &str, done: bool) -> Value {
        let content = if done {
            json!([{"type": "output_text", "text": text, "annotations": [], "logprobs": []}])
        } else {
            json!([])
        };
        json!({"id": self.item_id, "type": "message", "status": if done {"completed"} else {"in_progress"},
            "role": "assistant", "content": content})
    }

    fn response(&self, plan: &Plan, status: &str, output: Value, usage: Value) -> Value {
        json!({
            "id": self.id, "object": "response", "created_at": self.created, "status": status,
            "background": false, "error": null,
            "incomplete_details": if plan.truncated && status != "in_progress" { json!({"reason": "max_output_tokens"}) } else { Value::Null },
            "instructions": null, "max_output_tokens": null, "model": plan.model, "output": output,
            "parallel_tool_calls": true, "previous_response_id": null,
            "reasoning": {"effort": null, "summary": null}, "service_tier": "default", "store": false,
            "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
            "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": null, "metadata": {}
        })
    }

    fn usage(plan: &Plan) -> Value {
        let output = plan.output_tokens + plan.reasoning_tokens;
        json!({
            "input_tokens": plan.input_tokens,
            "input_tokens_details": {"cached_tokens": plan.cached_input_tokens},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
            "total_tokens": plan.input_tokens + output
        })
    }

    fn final_status(plan: &Plan) -> &'static str {
        if plan.truncated {
            "incomplete"
        } else {
            "completed"
        }
    }
}

impl Encoder for Responses {
    fn preamble(&mut self, plan: &Plan) -> Vec<Bytes> {
        let r = self.response(plan, "in_progress", json!([]), Value::Null);
        let item = self.item("", false);
        let item_id = self.item_id.clone();
        vec![
            self.event("response.created", json!({"response": r.clone()})),
            self.event("response.in_progress", json!({"response": r})),
            self.event("response.output_item.added", json!({"output_index": 0, "item": item})),
            self.event(
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}),
            ),
        ]
    }

    fn delta(&mut self, _plan: &Plan, text: &str) -> Bytes {
        let item_id = self.item_id.clone();
        self.event(
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": text, "logprobs": []}),
        )
    }

    fn reasoning(&mut self, _plan: &Plan, text: &str) -> Bytes {
        let item_id = format!("rs_{}", self.item_id);
        self.event(
            "response.reasoning_summary_text.delta",
            json!({"item_id": item_id, "output_index": 0, "summary_index": 0, "delta": text}),
        )
    }

    fn finish(&mut self, plan: &Plan, text: &str) -> Vec<Bytes> {
        let item_id = self.item_id.clone();
        let item = self.item(text, true);
        let r = self.response(
            plan,
            Self::final_status(plan),
            json!([item.clone()]),
            Self::usage(plan),
        );
        let last = if plan.truncated {
            "response.incomplete"
        } else {
            "response.completed"
        };
        vec![
            self.event(
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
            ),
            self.event(
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                    "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []}}),
            ),
            self.event("response.output_item.done", json!({"output_index": 0, "item": item})),
            self.event(last, json!({"response": r})),
        ]
    }

    fn malformed(&mut self) -> Bytes {
        Bytes::from_static(b"event: response.output_text.delta\ndata: {\"type\": \"response.output_text.delta\", \"delta\": \n\n")
    }

    fn full(&self, plan: &Plan, text: &str) -> Value {
        self.response(
            plan,
            Self::final_status(plan),
            json!([self.item(text, true)]),
            Self::usage(plan),
        )
    }
}
