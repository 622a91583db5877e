"""One decision (``settle``) for the memory and sqlite stores, on limits prepared once a day, and the
same tuples handed to a store on every request of the same limits (spec gateway-behavior §7)."""

from __future__ import annotations

import asyncio
import copy
import random
from datetime import datetime, timezone

import pytest

from lychgate.store import open_store
from lychgate.store.base import Outcome, settle
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
    assert [entry[:-1] for entry in prepared.counters + prepared.tallies] == [(("plan/key", "D2031-05-14"), 10),
                                                                             (("k", "2031-05-14"),)]
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


def test_the_memory_stores_own_decision_answers_as_settle_does(tmp_path):
    """``MemoryStore.decide`` writes ``settle``'s steps out; the sqlite store calls ``settle``. On the
    same requests (two buckets, a quota, usage counts, a clock that sometimes goes back, a day that
    ends) both answer alike: which limit refused, the tokens and counts after, the usage counted."""
    memory, sqlite = open_store("memory"), open_store(f"sqlite:///{tmp_path / 'state.db'}")
    at_once, awaited = Limiter(memory), Limiter(sqlite)
    shapes = [RequestLimits([BucketSpec("fast", 2.0, 3), BucketSpec("slow", 0.5, 2)],
                            QuotaSpec("plan/key", 25, "DAY"), usage_key="key"),
              RequestLimits([BucketSpec("slow", 0.5, 2)], QuotaSpec("plan/key", 25, "DAY"), usage_key="key"),
              RequestLimits([BucketSpec("never-refills", 0.0, 4)], usage_key="other"),
              RequestLimits([], QuotaSpec("plan/key", 25, "DAY"))]
    midnight = (NOW // 86400 + 1) * 86400
    draw = random.Random(7)
    now, decided, refusals = midnight - 40.0, [], set()

    async def run():
        nonlocal now
        try:
            for _ in range(300):
                now += draw.choice((0.0, 0.0, 0.1, 0.7, 2.5, -0.5))  # a step back now and then
                limits = draw.choice(shapes)
                (refused, tokens, counts), _ = at_once.settle_now(limits, now)
                (expected, expected_tokens, expected_counts), _ = await awaited.settle(limits, now)
                decided.append(((refused, tuple(tokens), tuple(counts)),
                                (expected, tuple(expected_tokens), tuple(expected_counts))))
                refusals.add(refused)
            days = [datetime.fromtimestamp(midnight + d, timezone.utc).date().isoformat() for d in (-1, 0)]
            return [await store.read_tallies(key, days) for store in (memory, sqlite) for key in ("key", "other")]
        finally:
            await sqlite.close()

    usage = asyncio.run(run())
    assert now > midnight + 60, "the requests go on into the next day"
    assert [mine for mine, _ in decided] == [theirs for _, theirs in decided]
    assert {None, ("counter", 0), ("bucket", 0), ("bucket", 1)} <= refusals  # every way to answer was taken
    assert usage[:2] == usage[2:] and all(usage[0])  # usage counted on both days, alike


def test_a_refusal_leaves_the_memory_store_as_it_was():
    store = open_store("memory")
    limiter = Limiter(store)
    limits = RequestLimits([BucketSpec("open", 1.0, 5), BucketSpec("shut", 1.0, 1)], QuotaSpec("plan/key", 9, "DAY"),
                           usage_key="key")
    assert limiter.settle_now(limits, NOW)[0][0] is None
    before = copy.deepcopy((store._buckets, store._counters, store._tallies))  # counts are changed in place
    assert limiter.settle_now(limits, NOW)[0][0] == ("bucket", 1)
    assert (store._buckets, store._counters, store._tallies) == before


def test_settle_dates_a_bucket_s_expiry_from_its_last_refill_when_the_clock_went_back():
    """sqlite's decision (and the memory store's refusals): a bucket last refilled 200 s ahead of
    ``now`` is full again 200 s after that refill, and may be forgotten a minute later."""
    written = {}
    decided = settle((("b", 0.01, 2.0),), {"b": (1.0, NOW + 200, None)}.get, written.__setitem__, (), [], NOW)
    assert decided[0] is None
    assert written["b"] == (0.0, NOW + 200, pytest.approx(NOW + 200 + 200 + 60, abs=1e-3))
