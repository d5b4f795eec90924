"""Send traffic the way a harness would: configured only from a session's rendered environment.

  session_traffic.py openai N      N requests via the OpenAI SDK (OPENAI_BASE_URL/OPENAI_API_KEY/OPENAI_MODEL),
                                   cycling chat stream, chat, responses stream, responses
  session_traffic.py anthropic N   N requests via the Anthropic SDK (ANTHROPIC_BASE_URL/ANTHROPIC_AUTH_TOKEN/
                                   ANTHROPIC_MODEL), alternating streaming and not
  session_traffic.py chat-stream N N streamed chat requests (OpenAI SDK)
  session_traffic.py rejected      one request that must be refused; prints its status
Prints JSON: how many requests were sent and how many succeeded.
"""

import json
import os
import sys

import anthropic
import openai

mode = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1
MSG = [{"role": "user", "content": "Say hello"}]
ok = 0

if mode in ("openai", "chat-stream", "rejected"):
    client = openai.OpenAI(max_retries=0, timeout=60)  # base URL and key from the environment
    model = os.environ["OPENAI_MODEL"]
    if mode == "rejected":
        try:
            client.chat.completions.create(model=model, messages=MSG, max_tokens=10)
            print(json.dumps({"status": 200}))
        except openai.APIStatusError as e:
            print(json.dumps({"status": e.status_code, "message": str(e)[:300]}))
        sys.exit(0)
    for i in range(n):
        kind = "chat-stream" if mode == "chat-stream" else ["chat-stream", "chat", "responses-stream", "responses"][i % 4]
        if kind == "chat-stream":
            text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model=model, messages=MSG, stream=True, max_tokens=12, stream_options={"include_usage": True}) if c.choices)
        elif kind == "chat":
            text = client.chat.completions.create(model=model, messages=MSG, max_tokens=12).choices[0].message.content
        elif kind == "responses-stream":
            text = "".join(ev.delta for ev in client.responses.create(model=model, input="Say hello", stream=True, max_output_tokens=12)
                           if ev.type == "response.output_text.delta")
        else:
            text = client.responses.create(model=model, input="Say hello", max_output_tokens=12).output_text
        ok += bool(text)
elif mode == "anthropic":
    client = anthropic.Anthropic(max_retries=0, timeout=60)  # ANTHROPIC_BASE_URL + ANTHROPIC_AUTH_TOKEN
    model = os.environ["ANTHROPIC_MODEL"]
    for i in range(n):
        if i % 2 == 0:
            with client.messages.stream(model=model, max_tokens=12, messages=MSG) as s:
                text = "".join(s.text_stream)
        else:
            text = client.messages.create(model=model, max_tokens=12, messages=MSG).content[0].text
        ok += bool(text)
else:
    sys.exit(f"unknown mode {mode}")

print(json.dumps({"requests": n, "ok": ok}))
