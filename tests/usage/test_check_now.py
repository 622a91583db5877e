"""``Limiter.settle_now``: the memory store decides without a coroutine, exactly as ``check_limits``
does (spec gateway-behavior §7); stores with I/O are always awaited."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from lychgate.store import open_store
from lychgate.store.base import Prepared
from lychgate.store.memory import PRUNE_INTERVAL
from lychgate.usage import BucketSpec, Limiter, QuotaSpec
from lychgate.usage.throttle import RequestLimits, Verdict

NOW = datetime(2031, 5, 14, 12, tzinfo=timezone.utc).timestamp()


def limits() -> RequestLimits:
    return RequestLimits([BucketSpec("b", 1.0, 2)], QuotaSpec("plan/key", 3, "DAY"), usage_key="k")


def check_now(limiter: Limiter, limits: RequestLimits, now: float) -> Verdict:
    decided, counts = limiter.settle_now(limits, now)
    return Verdict(decided, limits, counts)


def test_settle_now_decides_like_check_limits():
    sync, awaited = Limiter(open_store("memory")), Limiter(open_store("memory"))
    assert sync.decide_now is not None
    awaited.decide_now = None  # through the store's own consume, as a store with I/O is asked
    same = limits()
    now_verdicts = [check_now(sync, same, NOW + t) for t in (0, 0, 0, 1, 5)]
    awaited_verdicts = [asyncio.run(awaited.check_limits(same, NOW + t)) for t in (0, 0, 0, 1, 5)]
    assert [v.describe() for v in now_verdicts] == [v.describe() for v in awaited_verdicts]
    assert [v.admitted for v in now_verdicts] == [True, True, False, True, False]  # bucket, then quota
    assert (now_verdicts[2].kind, now_verdicts[4].kind) == ("throttle", "quota")


def test_stores_with_io_are_awaited(tmp_path):
    assert Limiter(open_store(f"sqlite:///{tmp_path / 'state.db'}")).decide_now is None


def test_memory_forgets_full_buckets_once_an_interval_has_passed():
    store = open_store("memory")
    limiter = Limiter(store)
    check_now(limiter, limits(), NOW)
    assert "b" in store._buckets
    check_now(limiter, RequestLimits([BucketSpec("other", 1.0, 2)]), NOW + PRUNE_INTERVAL + 2)
    assert "b" not in store._buckets  # full again after 1 s, forgettable a minute later


def test_the_days_counts_change_exactly_at_utc_midnight_either_way():
    """``settle_now`` (and the throttle stage) asks whether ``now`` is still on the counts' day."""
    limiter, same = Limiter(open_store("memory")), RequestLimits([], QuotaSpec("plan/key", 9, "DAY"))
    midnight = (NOW // 86400 + 1) * 86400
    today = int(midnight // 86400)
    windows = []
    for now in (midnight - 1e-6, midnight, midnight + 1e-6, midnight - 1e-6, midnight - 86400, midnight + 86400):
        decided, counts = limiter.settle_now(same, now)
        windows.append((counts.day, counts.counters[0].window, decided[2][0]))
    assert windows == [(today - 1, "D2031-05-14", 1), (today, "D2031-05-15", 1), (today, "D2031-05-15", 2),
                       (today - 1, "D2031-05-14", 2), (today - 1, "D2031-05-14", 3), (today + 1, "D2031-05-16", 1)]


def test_memory_decisions_share_cells_and_bind_afresh_after_forgetting():
    """Two limits sharing a bucket (as the routes of one key share its plan's) take from one
    state; once the store has forgotten that bucket, both find a new, full one."""
    store = open_store("memory")
    shared = BucketSpec("plan/p/k", 1.0, 2)
    one, other = Prepared([shared], [], []), Prepared([shared, BucketSpec("route", 1.0, 5)], [], [])
    assert store.decide(one, NOW)[0] is None
    assert store.decide(other, NOW)[0] is None
    assert store.decide(one, NOW)[0] == ("bucket", 0)  # the two requests above took both tokens
    later = NOW + PRUNE_INTERVAL + 10  # full again after 2 s, forgotten after a minute more
    assert store.decide(Prepared([BucketSpec("else", 1.0, 1)], [], []), later)[0] is None  # prunes
    assert "plan/p/k" not in store._buckets
    assert [store.decide(one, later)[1], store.decide(other, later)[1]] == [[1.0], [0.0, 4.0]]
    assert store._buckets["plan/p/k"][0] == 0.0  # the store's own state, not a forgotten one
