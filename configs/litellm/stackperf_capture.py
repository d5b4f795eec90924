"""StackPerf's request capture for LiteLLM (`litellm_settings.callbacks`).

One JSON line per request (success and failure) is appended to the spool file named by
STACKPERF_SPOOL, flushed per line. Only the fields StackPerf normalizes are written — never prompt
or response content, never a key (only LiteLLM's hash and the alias). Nothing here may raise into
LiteLLM's request path: every hook swallows its own errors.

TTFT: LiteLLM's completionStartTime is wrong for /v1/responses streams (it marks the first SSE event,
not the first token) and meaningless without streaming. The streaming iterator hook below sees every
chunk on every surface and records when the first *content* (or reasoning / tool-call) delta passed;
the success or failure event picks that time up by call id.
"""

import json
import os
import threading
import time
from collections import OrderedDict

from litellm.integrations.custom_logger import CustomLogger

_MAX_PENDING = 10000


def _nonempty(v):
    return bool(v) and (not isinstance(v, str) or v != "")


def _frame_has_content(obj):
    """An Anthropic or Google SSE data object that carries content."""
    if not isinstance(obj, dict):
        return False
    if obj.get("type") == "content_block_delta":
        d = obj.get("delta") or {}
        return any(_nonempty(d.get(k)) for k in ("text", "thinking", "partial_json"))
    for cand in obj.get("candidates") or []:
        for part in ((cand or {}).get("content") or {}).get("parts") or []:
            if _nonempty(part.get("text")) or part.get("functionCall"):
                return True
    return False


def _chunk_has_content(chunk, tail):
    """Whether one streamed chunk (any surface) carries content; `tail` buffers split SSE frames."""
    if isinstance(chunk, (bytes, bytearray, str)):
        text = tail[0] + (chunk.decode("utf-8", "replace") if not isinstance(chunk, str) else chunk)
        lines = text.split("\n")
        tail[0] = lines.pop()[-65536:]
        for line in lines:
            line = line.strip()
            if line.startswith("data:"):
                try:
                    if _frame_has_content(json.loads(line[5:].strip())):
                        return True
                except ValueError:
                    continue
        return False
    kind = getattr(chunk, "type", None)
    if isinstance(kind, str) and kind.startswith("response.") and kind.endswith(".delta"):
        return _nonempty(getattr(chunk, "delta", None))
    if isinstance(chunk, dict):
        return _frame_has_content(chunk)
    for choice in getattr(chunk, "choices", None) or []:
        delta = getattr(choice, "delta", None)
        if delta is None:
            continue
        for attr in ("content", "reasoning_content", "tool_calls", "function_call"):
            if _nonempty(getattr(delta, attr, None)):
                return True
    return False


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _epoch(v):
    """LiteLLM's naive local datetimes (datetime.now()) or epoch floats, as epoch seconds."""
    if hasattr(v, "timestamp"):
        try:
            return v.timestamp()
        except Exception:
            return None
    return _num(v)


class StackPerfCapture(CustomLogger):
    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._first = OrderedDict()
        self._path = os.environ.get("STACKPERF_SPOOL", "")
        self._file = None

    # -- correlation -------------------------------------------------------------------------
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        # Gemini-surface requests routed to other providers run an inner call with another call id;
        # carry the outer id in LiteLLM's own metadata so the events can be matched.
        try:
            call_id = data.get("litellm_call_id")
            if call_id:
                for key in ("litellm_metadata", "metadata"):
                    if isinstance(data.get(key), dict):
                        data[key]["stackperf_call_id"] = call_id
        except Exception:
            pass
        return data

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
        call_id = None
        try:
            call_id = request_data.get("litellm_call_id")
        except Exception:
            pass
        seen = False
        tail = [""]
        async for chunk in response:
            if not seen and call_id:
                try:
                    if _chunk_has_content(chunk, tail):
                        seen = True
                        self._mark(call_id, time.time())
                except Exception:
                    seen = True
            yield chunk

    def _mark(self, call_id, t):
        with self._lock:
            if call_id not in self._first:
                self._first[call_id] = t
                while len(self._first) > _MAX_PENDING:
                    self._first.popitem(last=False)

    def _take_first(self, ids):
        with self._lock:
            for i in ids:
                if i and i in self._first:
                    return self._first.pop(i)
        return None

    # -- events ---------------------------------------------------------------------------------
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, start_time, end_time)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._write(kwargs, start_time, end_time)

    def _write(self, kwargs, start_time, end_time):
        try:
            slo = kwargs.get("standard_logging_object") or {}
            params = kwargs.get("litellm_params") or {}
            meta_sources = [params.get("metadata") or {}, params.get("litellm_metadata") or {}]
            outer = next((m.get("stackperf_call_id") for m in meta_sources if m.get("stackperf_call_id")), None)
            call_id = slo.get("litellm_call_id") or kwargs.get("litellm_call_id")
            first = self._take_first([outer, call_id])
            meta = slo.get("metadata") or {}
            usage = meta.get("usage_object") or (slo.get("hidden_params") or {}).get("usage_object") or {}
            details = usage.get("prompt_tokens_details") or {}
            err = slo.get("error_information") or {}
            hidden = slo.get("hidden_params") or {}
            record = {
                "v": 1,
                "litellm_call_id": outer or call_id,
                "inner_call_id": call_id if outer and outer != call_id else None,
                "id": slo.get("id"),
                "status": slo.get("status"),
                "call_type": slo.get("call_type") or kwargs.get("call_type"),
                "route": meta.get("user_api_key_request_route"),
                # The failure payload drops the stream flag; the call's own details keep it.
                "stream": bool(slo.get("stream") or kwargs.get("stream") or (kwargs.get("optional_params") or {}).get("stream")),
                "start": _num(slo.get("startTime")),
                "end": _num(slo.get("endTime")),
                "completion_start": _num(slo.get("completionStartTime")),
                "first_delta": first,
                # When LiteLLM handed the call to the upstream (after auth, routing, pre-call hooks).
                "upstream_start": _epoch(kwargs.get("first_api_call_start_time") or kwargs.get("api_call_start_time")),
                "model": slo.get("model"),
                "model_group": slo.get("model_group"),
                "custom_llm_provider": slo.get("custom_llm_provider"),
                "prompt_tokens": _num(slo.get("prompt_tokens")),
                "completion_tokens": _num(slo.get("completion_tokens")),
                "cached_tokens": _num(details.get("cached_tokens")) if isinstance(details, dict) else None,
                "cache_read_input_tokens": _num(usage.get("cache_read_input_tokens")),
                "cache_creation_input_tokens": _num(usage.get("cache_creation_input_tokens")),
                "key_alias": meta.get("user_api_key_alias"),
                "key_hash": meta.get("user_api_key_hash"),
                "key_metadata": meta.get("user_api_key_auth_metadata") or None,
                "request_tags": slo.get("request_tags") or [],
                "error_code": err.get("error_code"),
                "error_class": err.get("error_class"),
                "overhead_ms": _num(hidden.get("litellm_overhead_time_ms")),
                "response_id": hidden.get("response_id") if isinstance(hidden.get("response_id"), str) else None,
            }
            line = json.dumps(record, separators=(",", ":")) + "\n"
            with self._lock:
                if self._file is None:
                    os.makedirs(os.path.dirname(self._path) or ".", exist_ok=True)
                    self._file = open(self._path, "a", encoding="utf-8")
                self._file.write(line)
                self._file.flush()
        except Exception:
            # Capture must never break the request path; a lost line shows up as a count mismatch
            # against the proxy's own metrics, not as a failed request.
            pass


capture = StackPerfCapture()
