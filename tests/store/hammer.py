"""A worker for the cross-process tests: hammer one store with ``check`` calls, print a JSON tally.

Usage: ``python hammer.py URL SECONDS MAX_CALLS BUCKET_RATE BUCKET_BURST QUOTA_LIMIT``. Prints
``ready`` once the store answers and waits for a line on stdin, so workers start together; then
calls ``Limiter.check`` until ``SECONDS`` pass or ``MAX_CALLS`` calls were made. A negative rate
means no bucket (and a fixed ``now``, so the quota period cannot roll over mid-test); a negative
limit means no quota.
"""

import asyncio
import json
import sys
import time

from lychgate.store import open_store
from lychgate.usage import BucketSpec, Limiter, QuotaSpec

FIXED_NOW = 1_900_000_000.0


async def main(url: str, seconds: float, max_calls: int, rate: float, burst: int, limit: int) -> dict:
    store = open_store(url)
    limiter = Limiter(store)
    buckets = [BucketSpec("shared-bucket", rate, burst)] if rate >= 0 else []
    quota = QuotaSpec("shared-quota", limit, "MONTH") if limit >= 0 else None
    await store.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    admitted = refused = 0
    first = time.time()
    while admitted + refused < max_calls and time.time() - first < seconds:
        verdict = await limiter.check(buckets, quota, time.time() if buckets else FIXED_NOW)
        admitted, refused = admitted + verdict.admitted, refused + (not verdict.admitted)
    last = time.time()
    await store.close()
    return {"admitted": admitted, "refused": refused, "first": first, "last": last}


if __name__ == "__main__":
    url, seconds, calls, rate, burst, limit = sys.argv[1:]
    print(json.dumps(asyncio.run(main(url, float(seconds), int(calls), float(rate), int(burst), int(limit)))))
