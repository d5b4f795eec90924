"""Drive the simulated provider with the real OpenAI and Anthropic Python SDKs.

Prints one JSON document: for every case, the request id the simulator echoed, what the SDK parsed
(text length, usage) and the client-side time to the first content delta. The Rust end-to-end test
compares these with the simulator's ground truth. Exits non-zero if an SDK rejects a response.
"""

import json
import sys
import time

import anthropic
import openai

BASE = sys.argv[1]  # e.g. http://127.0.0.1:PORT
STEADY = "sim-steady"  # 200 ms TTFT, no jitter, 20 tokens at 100 tok/s
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 3

oai = openai.OpenAI(base_url=BASE + "/v1", api_key="sk-sim-test", max_retries=0, timeout=30)
ant = anthropic.Anthropic(base_url=BASE, api_key="sim-test", max_retries=0, timeout=30)
results = []


def record(case, request_id, text, usage, ttft_ms=None, **extra):
    results.append(dict(case=case, request_id=request_id, text_len=len(text), text=text, usage=usage, ttft_ms=ttft_ms, **extra))


def chat(stream, model=STEADY):
    t0 = time.perf_counter()
    if not stream:
        raw = oai.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "Say hello"}])
        r = raw.parse()
        u = r.usage
        record("chat", raw.headers["x-sim-request-id"], r.choices[0].message.content,
               dict(input=u.prompt_tokens, output=u.completion_tokens, cached=u.prompt_tokens_details.cached_tokens))
        return
    raw = oai.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Say hello"}], stream=True, stream_options={"include_usage": True})
    ttft, text, usage = None, "", None
    for chunk in raw.parse():
        if chunk.choices and chunk.choices[0].delta.content:
            if ttft is None:
                ttft = (time.perf_counter() - t0) * 1000
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = dict(input=chunk.usage.prompt_tokens, output=chunk.usage.completion_tokens,
                         cached=chunk.usage.prompt_tokens_details.cached_tokens)
    record("chat_stream", raw.headers["x-sim-request-id"], text, usage, ttft)


def responses(stream, model=STEADY):
    t0 = time.perf_counter()
    if not stream:
        raw = oai.responses.with_raw_response.create(model=model, input="Say hello")
        r = raw.parse()
        u = r.usage
        record("responses", raw.headers["x-sim-request-id"], r.output_text,
               dict(input=u.input_tokens, output=u.output_tokens, cached=u.input_tokens_details.cached_tokens))
        return
    raw = oai.responses.with_raw_response.create(model=model, input="Say hello", stream=True)
    ttft, text, usage, kinds = None, "", None, []
    for ev in raw.parse():
        kinds.append(ev.type)
        if ev.type == "response.output_text.delta" and ev.delta:
            if ttft is None:
                ttft = (time.perf_counter() - t0) * 1000
            text += ev.delta
        if ev.type == "response.completed":
            u = ev.response.usage
            usage = dict(input=u.input_tokens, output=u.output_tokens, cached=u.input_tokens_details.cached_tokens)
            assert ev.response.output_text == text, "completed output differs from the deltas"
    assert "response.output_item.done" in kinds and kinds[-1] == "response.completed", kinds
    record("responses_stream", raw.headers["x-sim-request-id"], text, usage, ttft)


def messages(stream, model=STEADY):
    t0 = time.perf_counter()
    if not stream:
        raw = ant.messages.with_raw_response.create(model=model, max_tokens=256, messages=[{"role": "user", "content": "Say hello"}])
        m = raw.parse()
        u = m.usage
        record("messages", raw.headers["x-sim-request-id"], m.content[0].text,
               dict(input=u.input_tokens, output=u.output_tokens, cached=u.cache_read_input_tokens, cache_write=u.cache_creation_input_tokens))
        return
    raw = ant.messages.with_raw_response.create(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "Say hello"}], stream=True)
    ttft, text, usage, kinds = None, "", None, []
    for ev in raw.parse():
        kinds.append(ev.type)
        if ev.type == "content_block_delta" and ev.delta.text:
            if ttft is None:
                ttft = (time.perf_counter() - t0) * 1000
            text += ev.delta.text
        if ev.type == "message_delta":
            u = ev.usage
            usage = dict(input=u.input_tokens, output=u.output_tokens, cached=u.cache_read_input_tokens,
                         cache_write=u.cache_creation_input_tokens)
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop", kinds
    record("messages_stream", raw.headers["x-sim-request-id"], text, usage, ttft)


def expect_error(case, fn, exc_types):
    try:
        fn()
    except exc_types as e:
        status = getattr(e, "status_code", None)
        results.append(dict(case=case, error=type(e).__name__, status=status))
        return
    raise AssertionError(f"{case}: no error raised")


# Warm the connections so the timed requests do not include TCP setup.
oai.models.list()
ant.models.list()

for _ in range(REPEATS):
    for stream in (False, True):
        chat(stream)
        responses(stream)
        messages(stream)

# Cache accounting on every surface.
chat(False, "sim-cached")
messages(True, "sim-cached")

# Token counting.
count = ant.messages.count_tokens(model=STEADY, messages=[{"role": "user", "content": "Say hello to the simulator"}])
results.append(dict(case="count_tokens", input_tokens=count.input_tokens))

# Errors the SDKs must recognise.
expect_error("chat_429", lambda: chat(False, "sim-429"), openai.RateLimitError)
expect_error("chat_500", lambda: chat(False, "sim-500"), openai.InternalServerError)
expect_error("messages_429", lambda: messages(False, "sim-429"), anthropic.RateLimitError)
expect_error("messages_500", lambda: messages(True, "sim-500"), anthropic.InternalServerError)
expect_error("chat_disconnect", lambda: chat(True, "sim-disconnect"), (openai.APIError, Exception))
expect_error("messages_malformed", lambda: messages(True, "sim-malformed"), Exception)

print(json.dumps({"sdk": {"openai": openai.__version__, "anthropic": anthropic.__version__}, "results": results}))
