"""The same throttle/quota/usage/record behaviour on every store: memory, sqlite, Redis, Redis Cluster.

Time is injected (``now``), never slept; quota periods are UTC (spec gateway-behavior §7).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from lychgate.usage import BucketSpec, Limiter, QuotaSpec


def at(*args: int) -> float:
    """Epoch seconds of a UTC wall-clock time."""
    return datetime(*args, tzinfo=timezone.utc).timestamp()


T0 = at(2031, 5, 14, 12, 0, 0)  # a Wednesday


def test_burst_admits_exactly_burst_immediate_requests(store_url, with_store):
    async def body(store):
        limiter = Limiter(store)
        verdicts = [await limiter.take("burst", 2.0, 5, T0) for _ in range(8)]
        return [v.admitted for v in verdicts], [v.tokens_left["burst"] for v in verdicts]

    admitted, tokens = with_store(store_url, body)
    assert admitted == [True] * 5 + [False] * 3
    assert tokens[:6] == [4, 3, 2, 1, 0, 0]


def test_refill_after_time(store_url, with_store):
    async def body(store):
        limiter = Limiter(store)
        for _ in range(3):
            assert (await limiter.take("refill", 2.0, 3, T0)).admitted
        early = await limiter.take("refill", 2.0, 3, T0 + 0.4)  # 0.8 token: not yet
        one = [await limiter.take("refill", 2.0, 3, T0 + 0.5) for _ in range(2)]  # exactly 1 token
        full = [await limiter.take("refill", 2.0, 3, T0 + 100) for _ in range(4)]  # capped at burst
        return early.admitted, [v.admitted for v in one], [v.admitted for v in full]

    early, one, full = with_store(store_url, body)
    assert early is False
    assert one == [True, False]
    assert full == [True, True, True, False]


def test_fractional_rate_refills_over_several_seconds(store_url, with_store):
    async def body(store):
        limiter = Limiter(store)
        first = await limiter.take("slow", 0.25, 1, T0)
        return [first.admitted] + [(await limiter.take("slow", 0.25, 1, T0 + s)).admitted for s in (1, 3.9, 4, 4)]

    assert with_store(store_url, body) == [True, False, False, True, False]


def test_zero_burst_admits_nothing(store_url, with_store):
    async def body(store):
        return (await Limiter(store).take("closed", 100.0, 0, T0)).admitted

    assert with_store(store_url, body) is False


def test_when_one_bucket_refuses_no_bucket_is_consumed(store_url, with_store):
    wide, narrow = BucketSpec("stage GET /pets", 1.0, 5), BucketSpec("plan key1", 1.0, 2)

    async def body(store):
        limiter = Limiter(store)
        verdicts = [await limiter.check([wide, narrow], None, T0) for _ in range(4)]
        alone = [(await limiter.take(wide.key, wide.rate, wide.burst, T0)).admitted for _ in range(4)]
        return verdicts, alone

    verdicts, alone = with_store(store_url, body)
    assert [v.admitted for v in verdicts] == [True, True, False, False]
    refused = verdicts[2]
    assert (refused.kind, refused.key) == ("throttle", narrow.key)
    assert refused.tokens_left == {wide.key: 3, narrow.key: 0}
    assert alone == [True, True, True, False]  # 5 - 2 admitted; the refusals took nothing


def test_quota_admits_limit_minus_offset_in_first_period_then_limit(store_url, with_store):
    quota = QuotaSpec("plan1/key1", limit=5, period="DAY", offset=2, start=at(2031, 5, 14, 9))

    async def body(store):
        limiter = Limiter(store)
        first = [await limiter.check([], quota, T0 + i) for i in range(6)]
        second = [await limiter.check([], quota, at(2031, 5, 15, 0, 0, i)) for i in range(7)]
        return first, second

    first, second = with_store(store_url, body)
    assert [v.admitted for v in first] == [True] * 3 + [False] * 3
    assert [v.admitted for v in second] == [True] * 5 + [False] * 2
    refused = first[-1]
    assert (refused.kind, refused.key) == ("quota", "plan1/key1")
    assert (refused.quota.used, refused.quota.limit, refused.quota.remaining) == (3, 3, 0)
    assert refused.quota.resets_at == datetime(2031, 5, 15, tzinfo=timezone.utc)
    assert (second[-1].quota.used, second[-1].quota.limit) == (5, 5)


def _fill_then_probe(store_url, with_store, period: str, last_second: float, next_start: float):
    """Use up a quota of 2 one second before a period ends; probe just before and at the boundary."""
    quota = QuotaSpec(f"q-{period}", limit=2, period=period)

    async def body(store):
        limiter = Limiter(store)
        used = [(await limiter.check([], quota, last_second - 1)).admitted for _ in range(2)]
        before = await limiter.check([], quota, last_second)
        after = [await limiter.check([], quota, next_start) for _ in range(3)]
        return used, before, after

    used, before, after = with_store(store_url, body)
    assert used == [True, True]
    assert before.admitted is False
    assert before.quota.resets_at.timestamp() == next_start
    assert [v.admitted for v in after] == [True, True, False]
    return after


def test_day_period_resets_at_midnight_utc(store_url, with_store):
    _fill_then_probe(store_url, with_store, "DAY", at(2031, 5, 14, 23, 59, 59), at(2031, 5, 15))


def test_week_period_resets_monday_midnight_utc(store_url, with_store):
    # 2031-05-18 is a Sunday, 2031-05-19 a Monday
    _fill_then_probe(store_url, with_store, "WEEK", at(2031, 5, 18, 23, 59, 59), at(2031, 5, 19))


def test_month_period_resets_on_the_first_utc(store_url, with_store):
    _fill_then_probe(store_url, with_store, "MONTH", at(2031, 2, 28, 23, 59, 59), at(2031, 3, 1))
    _fill_then_probe(store_url, with_store, "MONTH", at(2031, 12, 31, 23, 59, 59), at(2032, 1, 1))


def test_week_quota_is_shared_from_monday_to_sunday(store_url, with_store):
    quota = QuotaSpec("q-week-span", limit=3, period="WEEK")

    async def body(store):
        limiter = Limiter(store)
        days = [at(2031, 5, 12), at(2031, 5, 15, 8), at(2031, 5, 18, 23, 59), at(2031, 5, 18, 23, 59, 59)]
        return [(await limiter.check([], quota, t)).admitted for t in days]

    assert with_store(store_url, body) == [True, True, True, False]


def test_throttled_requests_do_not_consume_quota(store_url, with_store):
    quota = QuotaSpec("q-throttled", limit=10, period="DAY")
    bucket = BucketSpec("b-throttled", 1.0, 2)

    async def body(store):
        limiter = Limiter(store)
        verdicts = [await limiter.check([bucket], quota, T0) for _ in range(5)]
        return verdicts

    verdicts = with_store(store_url, body)
    assert [v.admitted for v in verdicts] == [True, True, False, False, False]
    assert [v.kind for v in verdicts[2:]] == ["throttle"] * 3
    assert verdicts[-1].quota.used == 2


def test_exhausted_quota_is_reported_before_a_throttle(store_url, with_store):
    quota = QuotaSpec("q-first", limit=1, period="DAY")
    bucket = BucketSpec("b-first", 0.0, 1)

    async def body(store):
        limiter = Limiter(store)
        return [await limiter.check([bucket], quota, T0) for _ in range(2)]

    first, second = with_store(store_url, body)
    assert first.admitted and not second.admitted
    assert (second.kind, second.key) == ("quota", "q-first")
    assert second.tokens_left == {"b-first": 0}


def test_per_day_usage_counts_admitted_requests(store_url, with_store):
    bucket = BucketSpec("b-usage", 0.0, 4)

    async def body(store):
        limiter = Limiter(store)
        for t in (at(2031, 5, 13, 23, 59, 59), at(2031, 5, 14), at(2031, 5, 14, 18), at(2031, 5, 14, 23)):
            await limiter.check([bucket], None, t, usage_key="key1")
        await limiter.check([bucket], None, at(2031, 5, 15, 1), usage_key="key1")  # throttled: not counted
        await limiter.check([], None, at(2031, 5, 15, 2), usage_key="key2")
        one = await limiter.usage("key1", date(2031, 5, 14))
        days = await limiter.usage_between("key1", date(2031, 5, 12), date(2031, 5, 15))
        return one, days, await limiter.usage("key2", date(2031, 5, 15))

    one, days, other = with_store(store_url, body)
    assert one == 3
    assert days == {date(2031, 5, 12): 0, date(2031, 5, 13): 1, date(2031, 5, 14): 3, date(2031, 5, 15): 0}
    assert other == 1


def test_records_crud(store_url, with_store):
    key = {"id": "k1", "value": "a" * 20, "enabled": True, "stageKeys": ["api/prod"], "n": 1.5}

    async def body(store):
        await store.put_record("apikey", "k1", key)
        await store.put_record("apikey", "k0", {"id": "k0"})
        await store.put_record("usageplan", "k1", {"id": "plan"})
        got = await store.get_record("apikey", "k1")
        await store.put_record("apikey", "k1", {**key, "enabled": False})
        listed = await store.list_records("apikey")
        deleted, again = await store.delete_record("apikey", "k1"), await store.delete_record("apikey", "k1")
        return got, listed, deleted, again, await store.get_record("apikey", "k1"), await store.list_records("apikey")

    got, listed, deleted, again, gone, remaining = with_store(store_url, body)
    assert got == key
    assert list(listed) == ["k0", "k1"] and listed["k1"]["enabled"] is False
    assert (deleted, again, gone) == (True, False, None)
    assert remaining == {"k0": {"id": "k0"}}


def test_a_bucket_drained_after_the_clock_went_back_is_kept_until_full_again(store_url, with_store):
    """Its expiry counts from its last refill, which a clock that went back leaves ahead of the
    decision's time: forgotten earlier, it would come back full (memory prunes by then)."""
    async def body(store):
        limiter = Limiter(store)
        await limiter.take("other", 1.0, 1, T0 + 150)  # the memory store prunes from T0 + 210 on
        one = await limiter.take("slow", 0.01, 2, T0 + 200)  # one token per 100 s
        back = await limiter.take("slow", 0.01, 2, T0)  # clock 200 s back: no refill, the last token
        later = await limiter.take("slow", 0.01, 2, T0 + 270)  # 0.7 token since T0 + 200
        return one.admitted, back.admitted, later.admitted, later.tokens_left["slow"]

    assert with_store(store_url, body) == (True, True, False, pytest.approx(0.7))
