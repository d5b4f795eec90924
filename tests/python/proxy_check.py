"""Drive LiteLLM (started by `stackperf stack up`) with the real OpenAI and Anthropic SDKs.

Usage: proxy_check.py PROXY_URL KEY — every surface through the proxy, streaming and not, against
the simulated provider's models. Prints JSON: the cases that ran and what each returned.
"""

import json
import sys

import anthropic
import openai

BASE, KEY = sys.argv[1], sys.argv[2]
oai = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0, timeout=60)
ant = anthropic.Anthropic(base_url=BASE, api_key=KEY, max_retries=0, timeout=60)
MSG = [{"role": "user", "content": "Say hello"}]
USER = "stackperf-e2e"
cases = []

r = oai.chat.completions.create(model="sim-fast", messages=MSG, user=USER)
cases.append(dict(case="chat", text=len(r.choices[0].message.content), output_tokens=r.usage.completion_tokens))

text = ""
usage = None
for chunk in oai.chat.completions.create(model="sim-fast", messages=MSG, user=USER, stream=True, stream_options={"include_usage": True}):
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage.completion_tokens
cases.append(dict(case="chat_stream", text=len(text), output_tokens=usage))

r = oai.responses.create(model="sim-fast", input="Say hello", user=USER)
cases.append(dict(case="responses", text=len(r.output_text), output_tokens=r.usage.output_tokens))

text, usage = "", None
for ev in oai.responses.create(model="sim-fast", input="Say hello", user=USER, stream=True):
    if ev.type == "response.output_text.delta":
        text += ev.delta
    if ev.type == "response.completed":
        usage = ev.response.usage.output_tokens
cases.append(dict(case="responses_stream", text=len(text), output_tokens=usage))

for model in ("sim-anthropic-fast", "sim-fast"):  # native Anthropic route, and bridged to an OpenAI-type upstream
    m = ant.messages.create(model=model, max_tokens=200, messages=MSG, metadata={"user_id": USER})
    cases.append(dict(case=f"messages:{model}", text=len(m.content[0].text), output_tokens=m.usage.output_tokens))
    text, usage = "", None
    with ant.messages.stream(model=model, max_tokens=200, messages=MSG, metadata={"user_id": USER}) as s:
        for t in s.text_stream:
            text += t
        usage = s.get_final_message().usage.output_tokens
    cases.append(dict(case=f"messages_stream:{model}", text=len(text), output_tokens=usage))

# One upstream failure, so the error metrics exist (and are counted as a request).
try:
    oai.chat.completions.create(model="sim-always-500", messages=MSG, user=USER)
    cases.append(dict(case="chat_500", error=None))
except openai.APIStatusError as e:
    cases.append(dict(case="chat_500", error=e.status_code, text=1, output_tokens=1))

bad = []
for c in cases:
    if not c["text"] or not c["output_tokens"]:
        bad.append(c)
print(json.dumps({"requests": len(cases), "cases": cases}))
sys.exit(1 if bad else 0)
