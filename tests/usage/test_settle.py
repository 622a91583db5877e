"""One decision (``settle``) for the memory and sqlite stores, on limits prepared once a day, and the
same tuples handed to a store on every request of the same limits (spec gateway-behavior §7)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from lychgate.store import open_store
from lychgate.store.base import Outcome
from lychgate.usage import BucketSpec, Limiter, QuotaSpec
from lychgate.usage.throttle import RequestLimits

NOW = datetime(2031, 5, 14, 12, tzinfo=timezone.utc).timestamp()


class Recording:
    """A store that admits everything and remembers the ids of what it was handed."""

    url = "recording"

    def __init__(self) -> None:
        self.handed: list[tuple[int, int, int]] = []

    async def consume(self, buckets, counters, tallies, now):
        self.handed.append((id(buckets), id(counters), id(tallies)))
        return Outcome(None, tuple(float(b.burst) for b in buckets), tuple(1 for _ in counters))


def test_a_store_is_handed_the_same_tuples_for_the_same_limits_and_day():
    """Redis packs its script once per (buckets, counters, tallies), found by their ids."""
    store = Recording()
    limiter = Limiter(store)
    limits = RequestLimits([BucketSpec("b", 1.0, 5)], QuotaSpec("plan/key", 10, "DAY"), usage_key="k")
    for now in (NOW, NOW + 1, NOW + 2, NOW + 86400):
        asyncio.run(limiter.check_limits(limits, now))
    assert len(set(store.handed[:3])) == 1
    assert store.handed[3][0] == store.handed[0][0] and store.handed[3][1:] != store.handed[0][1:]  # a new day


def test_limits_are_prepared_once_a_day():
    limits = RequestLimits([BucketSpec("b", 1.0, 5)], QuotaSpec("plan/key", 10, "DAY"), usage_key="k")
    day = int(NOW // 86400)
    prepared = limits.counts_on(day).prepared
    assert limits.counts_on(day).prepared is prepared
    assert prepared.buckets == (("b", 1.0, 5.0),) and prepared.limits == (10,)
    assert [where for where, _ in prepared.counters + prepared.tallies] == [("plan/key", "D2031-05-14"),
                                                                           ("k", "2031-05-14")]
    assert limits.counts_on(day + 1).prepared is not prepared


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_clock_that_goes_back_refills_nothing_and_keeps_the_later_refill_time(kind, tmp_path):
    url = "memory" if kind == "memory" else f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    limiter = Limiter(store)
    limits = RequestLimits([BucketSpec("b", 1.0, 2)])

    async def at(*times):
        try:
            return [await limiter.check_limits(limits, NOW + t) for t in times]
        finally:
            await store.close()

    verdicts = asyncio.run(at(0, 1, 0, 1.5))
    assert [v.admitted for v in verdicts] == [True, True, True, False]
    # 2 - 1, refilled to 2 (capped) - 1, not refilled - 1, then half a token since the later time (1)
    assert [v.tokens_left["b"] for v in verdicts] == [1.0, 1.0, 0.0, 0.5]
