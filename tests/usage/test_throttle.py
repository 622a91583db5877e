"""Quota periods, offsets, specs and verdicts (spec gateway-behavior §7), on the memory store."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from lychgate.store import open_store
from lychgate.usage import USAGE_RETENTION_DAYS, BucketSpec, Limiter, Period, QuotaSpec, period_bounds
from lychgate.usage.throttle import RequestLimits, quota_counter, usage_tally


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def run(body):
    """``body(limiter)`` on a fresh memory store."""
    async def main():
        store = open_store("memory")
        try:
            return await body(Limiter(store))
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.mark.parametrize("period, now, start, end", [
    ("DAY", utc(2031, 5, 14, 0, 0, 0), utc(2031, 5, 14), utc(2031, 5, 15)),
    ("DAY", utc(2031, 5, 14, 23, 59, 59, 999999), utc(2031, 5, 14), utc(2031, 5, 15)),
    ("DAY", utc(2031, 12, 31, 12), utc(2031, 12, 31), utc(2032, 1, 1)),
    ("WEEK", utc(2031, 5, 12), utc(2031, 5, 12), utc(2031, 5, 19)),  # a Monday
    ("WEEK", utc(2031, 5, 18, 23, 59, 59), utc(2031, 5, 12), utc(2031, 5, 19)),  # the Sunday after
    ("WEEK", utc(2032, 1, 1, 8), utc(2031, 12, 29), utc(2032, 1, 5)),  # across a new year
    ("MONTH", utc(2032, 2, 29, 23, 59), utc(2032, 2, 1), utc(2032, 3, 1)),  # leap year
    ("MONTH", utc(2031, 12, 31, 23, 59, 59), utc(2031, 12, 1), utc(2032, 1, 1)),
    ("MONTH", utc(2031, 1, 31), utc(2031, 1, 1), utc(2031, 2, 1)),
])
def test_period_bounds_are_utc(period, now, start, end):
    assert period_bounds(period, now.timestamp()) == (start, end)


def test_period_bounds_ignore_the_local_timezone_of_a_timestamp():
    # 2031-05-19 01:30 in UTC+3 is still Sunday 22:30 UTC: the week has not turned yet
    local = datetime(2031, 5, 19, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    assert period_bounds(Period.WEEK, local.timestamp())[1] == utc(2031, 5, 19)


@pytest.mark.parametrize("start, now, limit", [
    (utc(2031, 5, 14, 9), utc(2031, 5, 14, 23), 7),  # same day: the initial period
    (utc(2031, 5, 14, 9), utc(2031, 5, 15, 0), 10),  # the next day
    (utc(2031, 5, 13, 23, 59), utc(2031, 5, 14, 0, 0, 1), 10),
    (utc(2031, 5, 20), utc(2031, 5, 14), 7),  # before the quota began counts as its initial period
])
def test_offset_applies_in_the_initial_day_only(start, now, limit):
    quota = QuotaSpec("q", limit=10, period="DAY", offset=3, start=start.timestamp())
    assert quota_counter(quota, now.timestamp())[0].limit == limit


def test_offset_in_weeks_and_months_and_never_below_zero():
    week = QuotaSpec("w", 10, "WEEK", offset=4, start=utc(2031, 5, 12, 8).timestamp())
    assert quota_counter(week, utc(2031, 5, 18, 23).timestamp())[0].limit == 6
    assert quota_counter(week, utc(2031, 5, 19).timestamp())[0].limit == 10
    month = QuotaSpec("m", 5, "MONTH", offset=9, start=utc(2031, 5, 31).timestamp())
    assert quota_counter(month, utc(2031, 5, 1).timestamp())[0].limit == 0
    assert quota_counter(month, utc(2031, 6, 1).timestamp())[0].limit == 5


def test_counter_window_and_expiry():
    counter, resets = quota_counter(QuotaSpec("plan/key", 10, "WEEK"), utc(2031, 5, 15, 12).timestamp())
    assert (counter.key, counter.window, resets) == ("plan/key", "W2031-05-12", utc(2031, 5, 19))
    assert counter.expires_at == utc(2031, 5, 20).timestamp()  # a day of grace for skewed clocks
    assert quota_counter(QuotaSpec("k", 1, "MONTH"), utc(2031, 5, 15).timestamp())[0].window == "M2031-05-01"
    assert quota_counter(QuotaSpec("k", 1, "DAY"), utc(2031, 5, 15).timestamp())[0].window == "D2031-05-15"


def test_usage_tally_is_per_utc_day_and_kept_for_the_retention():
    tally = usage_tally("key1", utc(2031, 5, 14, 23, 59, 59).timestamp())
    assert (tally.key, tally.window) == ("key1", "2031-05-14")
    assert tally.expires_at == (utc(2031, 5, 15) + timedelta(days=USAGE_RETENTION_DAYS)).timestamp()


@pytest.mark.parametrize("kwargs, message", [
    (dict(key="", limit=1, period="DAY"), "non-empty"),
    (dict(key="q", limit=1, period="YEAR"), "DAY, WEEK or MONTH"),
    (dict(key="q", limit=-1, period="DAY"), "limit must be an int >= 0"),
    (dict(key="q", limit=True, period="DAY"), "limit must be an int >= 0"),
    (dict(key="q", limit=1.5, period="DAY"), "limit must be an int >= 0"),
    (dict(key="q", limit=1, period="DAY", offset=-2, start=0.0), "offset must be an int >= 0"),
    (dict(key="q", limit=5, period="DAY", offset=2), "needs start"),
])
def test_bad_quota_specs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QuotaSpec(**kwargs)


def test_quota_period_strings_become_periods():
    assert QuotaSpec("q", 1, "MONTH").period is Period.MONTH


@pytest.mark.parametrize("rate, burst, message", [
    (-1.0, 1, "rate must be"), (float("nan"), 1, "rate must be"), (float("inf"), 1, "rate must be"),
    (1.0, -1, "burst must be"), (1.0, 2.5, "burst must be"), (1.0, True, "burst must be"),
])
def test_bad_bucket_specs(rate, burst, message):
    with pytest.raises(ValueError, match=message):
        BucketSpec("b", rate, burst)


def test_a_bucket_listed_twice_is_refused():
    with pytest.raises(ValueError, match="listed twice"):
        run(lambda limiter: limiter.check([BucketSpec("b", 1, 1), BucketSpec("b", 2, 2)]))
    with pytest.raises(ValueError, match="listed twice"):
        RequestLimits([BucketSpec("b", 1, 1), BucketSpec("b", 2, 2)])


def test_request_limits_made_once_count_on_the_day_of_each_request():
    limits = RequestLimits([BucketSpec("b", 100.0, 100)], QuotaSpec("plan/key", 2, "DAY"), usage_key="k")
    late, early = utc(2031, 5, 14, 23, 59).timestamp(), utc(2031, 5, 15, 0, 1).timestamp()

    async def body(limiter):
        verdicts = [await limiter.check_limits(limits, now) for now in (late, late, late, early, late)]
        return verdicts, [await limiter.usage("k", date(2031, 5, day)) for day in (14, 15)]

    verdicts, used = run(body)
    assert [v.admitted for v in verdicts] == [True, True, False, True, False]  # the 14th's quota stays used
    assert [v.quota.resets_at for v in verdicts[2:]] == [utc(2031, 5, 15), utc(2031, 5, 16), utc(2031, 5, 15)]
    assert used == [2, 1]


def test_no_limits_admits_and_the_clock_is_used_when_now_is_omitted():
    async def body(limiter):
        limiter.clock = lambda: utc(2031, 5, 14, 12).timestamp()
        verdict = await limiter.check([], None, usage_key="k")
        return verdict, await limiter.usage("k", date(2031, 5, 14))

    verdict, used = run(body)
    assert verdict.admitted and verdict.kind is None and verdict.quota is None and used == 1


def test_verdict_describes_itself_for_the_decision_trace():
    quota = QuotaSpec("plan/key", 1, "DAY")

    async def body(limiter):
        now = utc(2031, 5, 14, 12).timestamp()
        return [await limiter.check([BucketSpec("stage */*", 10.0, 5)], quota, now) for _ in range(2)]

    first, second = run(body)
    assert first.describe() == ("admitted; bucket stage */*: 4 tokens left; "
                                "quota plan/key: 1/1 used this DAY, resets 2031-05-15T00:00:00+00:00")
    assert second.describe().startswith("refused by quota plan/key; bucket stage */*: 4 tokens left")
    assert (second.quota.remaining, second.quota.period) == (0, Period.DAY)


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(0, 50), burst=st.integers(0, 20),
       gaps=st.lists(st.floats(0, 0.5), min_size=1, max_size=80))
def test_a_bucket_never_admits_more_than_burst_plus_refill(rate, burst, gaps):
    async def body(limiter):
        first = now = 1_900_000_000.0 + gaps[0]
        admitted, verdicts = 0, []
        for gap in gaps:
            now += gap if verdicts else 0.0
            verdict = await limiter.take("b", rate, burst, now)
            admitted += verdict.admitted
            verdicts.append(verdict)
        return admitted, verdicts, now - first

    admitted, verdicts, elapsed = run(body)
    assert admitted <= burst + rate * elapsed + 1e-6
    assert all(0 <= v.tokens_left["b"] <= burst for v in verdicts)
    assert all(v.admitted or v.tokens_left["b"] < 1 for v in verdicts)
    if burst >= len(gaps):
        assert admitted == len(gaps)
