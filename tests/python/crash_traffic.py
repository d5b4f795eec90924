"""Streamed chat requests over C concurrent connections until STOP_FILE exists (or MAX requests),
each worker pausing PAUSE_S between requests; records what the client saw of every request.

Usage: crash_traffic.py PROXY_URL KEY MODEL C PAUSE_S STOP_FILE MAX
Prints one JSON line per finished request ({"i", "id", "outcome", "status"}; outcome is ok,
http_error, stream_error or connect_error), then a summary line {"sent", "ok", "failed"}.
"""

import asyncio
import json
import os
import sys
import time

import openai

BASE, KEY, MODEL = sys.argv[1], sys.argv[2], sys.argv[3]
C, PAUSE, STOP, MAX = int(sys.argv[4]), float(sys.argv[5]), sys.argv[6], int(sys.argv[7])


async def main():
    client = openai.AsyncOpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0, timeout=60)
    counter = {"n": 0, "ok": 0, "failed": 0}
    deadline = time.monotonic() + 180

    async def one(i):
        rid, status = None, None
        try:
            raw = await client.chat.completions.with_raw_response.create(
                model=MODEL, messages=[{"role": "user", "content": f"request {i}"}], stream=True, max_tokens=16)
            rid, status = raw.headers.get("x-stackperf-request-id"), raw.status_code
            try:
                async for _ in raw.parse():
                    pass
                outcome = "ok"
            except Exception:
                outcome = "stream_error"
        except openai.APIStatusError as e:
            rid, status, outcome = e.response.headers.get("x-stackperf-request-id"), e.status_code, "http_error"
        except Exception:
            outcome = "connect_error"
        counter["ok" if outcome == "ok" else "failed"] += 1
        print(json.dumps({"i": i, "id": rid, "outcome": outcome, "status": status}), flush=True)

    async def worker():
        while not os.path.exists(STOP) and counter["n"] < MAX and time.monotonic() < deadline:
            i = counter["n"]
            counter["n"] += 1
            await one(i)
            await asyncio.sleep(PAUSE)

    await asyncio.gather(*(worker() for _ in range(C)))
    print(json.dumps({"sent": counter["n"], "ok": counter["ok"], "failed": counter["failed"]}), flush=True)


asyncio.run(main())
