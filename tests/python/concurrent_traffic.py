"""N streamed chat requests over C concurrent streams through the proxy (OpenAI async SDK).

Usage: concurrent_traffic.py PROXY_URL KEY MODEL N C
Prints JSON: how many were sent, succeeded and failed.
"""

import asyncio
import json
import sys

import openai

BASE, KEY, MODEL, N, C = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


async def main():
    client = openai.AsyncOpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0, timeout=60)
    sem = asyncio.Semaphore(C)
    results = {"ok": 0, "failed": 0}

    async def one(i):
        async with sem:
            try:
                stream = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"request {i}"}], stream=True, max_tokens=16)
                async for _ in stream:
                    pass
                results["ok"] += 1
            except Exception:
                results["failed"] += 1

    await asyncio.gather(*(one(i) for i in range(N)))
    print(json.dumps({"sent": N, **results}))


asyncio.run(main())
