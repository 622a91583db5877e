"""Several OS processes sharing one sqlite file or one Redis never admit more than the limits allow."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from helpers import run_released
from lychgate.usage import BucketSpec, Limiter, QuotaSpec

ROOT = Path(__file__).resolve().parents[2]
HAMMER = Path(__file__).with_name("hammer.py")
WORKERS = 3


def hammer(url: str, seconds: float, calls: int, rate: float, burst: int, limit: int) -> list[dict]:
    """Start WORKERS processes, release them together, return their tallies."""
    cmd = [sys.executable, str(HAMMER), url, str(seconds), str(calls), str(rate), str(burst), str(limit)]
    return run_released([cmd] * WORKERS, ROOT)


def _overlapped(results: list[dict]) -> bool:
    return max(r["first"] for r in results) < min(r["last"] for r in results)


SHARED = ["sqlite", "redis", "redis-cluster"]


@pytest.mark.parametrize("store_url", SHARED, indirect=True)
def test_quota_across_processes_admits_exactly_n(store_url):
    limit = 120
    results = hammer(store_url, 30, 100, -1, 0, limit)
    assert _overlapped(results), results
    assert sum(r["admitted"] for r in results) == limit, results
    assert sum(r["refused"] for r in results) == WORKERS * 100 - limit


@pytest.mark.parametrize("store_url", SHARED, indirect=True)
def test_bucket_under_concurrent_load_stays_within_burst_plus_refill(store_url):
    """Admitted <= burst + rate x elapsed + 1: the +1 covers a token that completes between the
    last ``now`` a worker passed and the ``last`` timestamp it reports (float rounding)."""
    rate, burst = 100.0, 15
    results = hammer(store_url, 0.5, 10**6, rate, burst, -1)
    elapsed = max(r["last"] for r in results) - min(r["first"] for r in results)
    admitted = sum(r["admitted"] for r in results)
    assert _overlapped(results), results
    assert admitted <= burst + rate * elapsed + 1, (admitted, elapsed, results)
    assert admitted >= burst and sum(r["refused"] for r in results) > 0, results


@pytest.mark.parametrize("store_url", ["redis", "redis-cluster", "sqlite", "memory"], indirect=True)
def test_concurrent_tasks_in_one_process_admit_exactly_n(store_url, with_store):
    """Many checks in flight on one event loop (several Redis connections at once)."""
    quota = QuotaSpec("tasks-quota", 50, "DAY")
    buckets = [BucketSpec("tasks-a", 0.0, 1000), BucketSpec("tasks-b", 0.0, 1000)]

    async def body(store):
        limiter = Limiter(store)
        verdicts = await asyncio.gather(*(limiter.check(buckets, quota, 1_900_000_000.0) for _ in range(200)))
        left = await limiter.check(buckets, None, 1_900_000_000.0)
        return sum(v.admitted for v in verdicts), left.tokens_left

    admitted, left = with_store(store_url, body)
    assert admitted == 50
    assert left == {"tasks-a": 1000 - 51, "tasks-b": 1000 - 51}
