"""StackPerf's request capture for LiteLLM (`litellm_settings.callbacks`).

One JSON line per request (success and failure) is appended to the spool file named by
STACKPERF_SPOOL, flushed per line. Only the fields StackPerf normalizes are written — never prompt
or response content, never a key (only LiteLLM's hash and the alias). Nothing here may raise into
LiteLLM's request path: every hook swallows its own errors.

Timing is not taken here: StackPerf's edge times every request at the harness's socket and writes
its own record. This logger adds what only LiteLLM knows (tokens, cache tokens, when it handed the
call to the upstream, cost, error class) and the edge's correlation id, which the auth hook put
into the key metadata (from a header only the edge can set), so ingest can join the two. No
per-chunk hook: nothing here runs while a response streams.
"""

import asyncio
import json
import os
import threading

from litellm.integrations.custom_logger import CustomLogger


_DEFER_S = 0.02

# Recording fixtures for the capture contract (docs/capture-contract.md): when set, every call
# also appends {"kwargs": <what this logger reads from LiteLLM's kwargs>, "line": <the spool
# line>} to this file. Used by tests/tests/e2e/capture_contract.rs; off in normal runs.
_RECORD = os.environ.get("STACKPERF_CAPTURE_RECORD", "")

# The parts of LiteLLM's kwargs this logger reads (everything else is left out of fixtures).
_SLO_KEYS = (
    "litellm_call_id", "id", "status", "call_type", "stream", "startTime", "endTime",
    "completionStartTime", "model", "model_group", "custom_llm_provider", "prompt_tokens",
    "completion_tokens", "request_tags", "error_information", "response_cost",
)
_META_KEYS = (
    "user_api_key_auth_metadata", "usage_object", "user_api_key_request_route",
    "user_api_key_alias", "user_api_key_hash",
)
_HIDDEN_KEYS = ("usage_object", "litellm_overhead_time_ms", "response_id")


def _plain(v):
    """A JSON-safe copy: datetimes as {"$datetime": epoch seconds}, other objects as text."""
    if hasattr(v, "timestamp") and hasattr(v, "isoformat"):
        return {"$datetime": v.timestamp()}
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if hasattr(v, "model_dump"):
        return _plain(v.model_dump())
    return str(v)


def _projection(kwargs):
    slo = kwargs.get("standard_logging_object") or {}
    meta = slo.get("metadata") or {}
    hidden = slo.get("hidden_params") or {}
    out_slo = {k: slo.get(k) for k in _SLO_KEYS if k in slo}
    out_slo["metadata"] = {k: meta.get(k) for k in _META_KEYS if k in meta}
    out_slo["hidden_params"] = {k: hidden.get(k) for k in _HIDDEN_KEYS if k in hidden}
    out = {k: kwargs.get(k) for k in ("litellm_call_id", "call_type", "stream",
                                       "first_api_call_start_time", "api_call_start_time") if k in kwargs}
    out["optional_params"] = {"stream": (kwargs.get("optional_params") or {}).get("stream")}
    out["standard_logging_object"] = out_slo
    return _plain(out)


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
        self._path = os.environ.get("STACKPERF_SPOOL", "")
        self._file = None

    def _rotated(self):
        """The open file is no longer the one at the spool's path (renamed or deleted)."""
        try:
            return os.stat(self._path).st_ino != os.fstat(self._file.fileno()).st_ino
        except OSError:
            return True

    # -- events ---------------------------------------------------------------------------------
    # LiteLLM runs these as a task at the end of a stream, while the last bytes go out to the
    # client; yielding first keeps the line's formatting and write off the tail of the response.
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        await asyncio.sleep(_DEFER_S)
        self._write(kwargs, start_time, end_time)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        await asyncio.sleep(_DEFER_S)
        self._write(kwargs, start_time, end_time)

    def _write(self, kwargs, start_time, end_time):
        try:
            slo = kwargs.get("standard_logging_object") or {}
            call_id = slo.get("litellm_call_id") or kwargs.get("litellm_call_id")
            meta = slo.get("metadata") or {}
            auth_meta = meta.get("user_api_key_auth_metadata") or {}
            edge_id = auth_meta.get("stackperf_request_id") if isinstance(auth_meta, dict) else None
            usage = meta.get("usage_object") or (slo.get("hidden_params") or {}).get("usage_object") or {}
            details = usage.get("prompt_tokens_details") or {}
            out_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
            err = slo.get("error_information") or {}
            hidden = slo.get("hidden_params") or {}
            record = {
                "v": 1,
                "litellm_call_id": call_id,
                "edge_id": edge_id if isinstance(edge_id, str) else None,
                "id": slo.get("id"),
                "status": slo.get("status"),
                "call_type": slo.get("call_type") or kwargs.get("call_type"),
                "route": meta.get("user_api_key_request_route"),
                # The failure payload drops the stream flag; the call's own details keep it.
                "stream": bool(slo.get("stream") or kwargs.get("stream") or (kwargs.get("optional_params") or {}).get("stream")),
                "start": _num(slo.get("startTime")),
                "end": _num(slo.get("endTime")),
                "completion_start": _num(slo.get("completionStartTime")),
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
                # Reasoning ("thinking") tokens, counted inside completion_tokens.
                "reasoning_tokens": _num(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else None,
                "key_alias": meta.get("user_api_key_alias"),
                "key_hash": meta.get("user_api_key_hash"),
                "key_metadata": auth_meta or None,
                "request_tags": slo.get("request_tags") or [],
                "error_code": err.get("error_code"),
                "error_class": err.get("error_class"),
                "overhead_ms": _num(hidden.get("litellm_overhead_time_ms")),
                "cost": _num(slo.get("response_cost")),
                "response_id": hidden.get("response_id") if isinstance(hidden.get("response_id"), str) else None,
            }
            line = json.dumps(record, separators=(",", ":")) + "\n"
            with self._lock:
                if self._file is not None and self._rotated():
                    # StackPerf renamed the spool (rotation): reopen so the next line starts the
                    # new file; the old one is drained by its cursor.
                    self._file.close()
                    self._file = None
                if self._file is None:
                    os.makedirs(os.path.dirname(self._path) or ".", exist_ok=True)
                    self._file = open(self._path, "a", encoding="utf-8")
                self._file.write(line)
                self._file.flush()
                if _RECORD:
                    with open(_RECORD, "a", encoding="utf-8") as f:
                        f.write(json.dumps({"kwargs": _projection(kwargs), "line": record}) + "\n")
        except Exception:
            # Capture must never break the request path; a lost line shows up as a count mismatch
            # against the proxy's own metrics, not as a failed request.
            pass


capture = StackPerfCapture()
