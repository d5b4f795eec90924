"""One request per case of the capture contract, through StackPerf's edge, on every surface.

  fixture_traffic.py BASE KEY      BASE = the edge's URL, KEY = a key the edge accepts

Prints JSON {case: edge request id} (from the `x-stackperf-request-id` response header), so the
recorder can pair each case with the line LiteLLM's capture logger wrote for it.
"""

import http.client
import json
import sys
import urllib.parse

BASE, KEY = sys.argv[1].rstrip("/"), sys.argv[2]
MSG = [{"role": "user", "content": "Say hello"}]
OPENAI = {"authorization": f"Bearer {KEY}"}
ANTHROPIC = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
GOOGLE = {"x-goog-api-key": KEY}


def chat(model, stream):
    body = {"model": model, "messages": MSG, "max_tokens": 12, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return "POST", "/v1/chat/completions", OPENAI, body


def responses(model, stream):
    return "POST", "/v1/responses", OPENAI, {"model": model, "input": "Say hello", "max_output_tokens": 12, "stream": stream}


def messages(model, stream):
    return "POST", "/v1/messages", ANTHROPIC, {"model": model, "max_tokens": 12, "messages": MSG, "stream": stream}


def gemini(model, stream):
    path = f"/v1beta/models/{model}:" + ("streamGenerateContent?alt=sse" if stream else "generateContent")
    return "POST", path, GOOGLE, {"contents": [{"role": "user", "parts": [{"text": "Say hello"}]}]}


CASES = {
    "chat-stream": chat("sim-fast", True),
    "chat": chat("sim-fast", False),
    "responses-stream": responses("sim-fast", True),
    "responses": responses("sim-fast", False),
    "messages-stream": messages("sim-fast", True),
    "messages": messages("sim-fast", False),
    "generate-content-stream": gemini("sim-fast", True),
    "generate-content": gemini("sim-fast", False),
    "chat-upstream-429": chat("sim-always-429", False),
    "messages-upstream-500": messages("sim-always-500", False),
    "chat-stream-disconnect": chat("sim-always-disconnect", True),
    "responses-stream-malformed": responses("sim-always-malformed", True),
}

out = {}
host = urllib.parse.urlparse(BASE)
for case, (method, path, headers, body) in CASES.items():
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    conn.request(method, path, body=json.dumps(body), headers={**headers, "content-type": "application/json"})
    r = conn.getresponse()
    out[case] = r.getheader("x-stackperf-request-id")
    try:
        r.read()
    except (http.client.HTTPException, OSError):
        pass  # a stream the upstream broke: the edge's id came with the headers
    conn.close()
print(json.dumps(out))
