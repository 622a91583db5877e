"""Usage-plan throttling and quotas (spec gateway-behavior §7) on top of a ``CounterStore``.

Throttles are token buckets: a bucket holds at most ``burst`` tokens (a new one is full), refills
``rate`` tokens per second, and each request takes one. ``Limiter.check`` admits a request only if
EVERY applicable bucket has a token and the quota has room, in one atomic store call; a refused
request takes nothing from any bucket or quota. Our choices where AWS documents none: only
admitted requests consume quota (a throttled request does not); when several limits refuse, the
quota is reported first (it stays exhausted until the period resets), then the buckets in the
order given. Quota periods are in UTC: DAY starts 00:00 UTC, WEEK starts Monday 00:00 UTC (ISO
weeks), MONTH starts on the 1st 00:00 UTC. ``offset`` is subtracted from ``limit`` in the initial
period only: the period containing ``QuotaSpec.start`` (when the key joined the plan), as spec §7
reads botocore; other AWS SDK docs call ``offset`` "the day that a time period starts" (WEEK: 0 =
Sunday, 1 = Monday), a reading we do not implement. Every admitted request with a ``usage_key`` is
also counted per UTC day, kept ``USAGE_RETENTION_DAYS``, for ``get-usage``-style reports. lychgate
enforces limits exactly (a Redis Cluster may briefly under-admit, never over-admit), where AWS
calls its own best-effort targets (§7).
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Callable, Literal, Sequence

from lychgate.store.base import BucketSpec, Counter, CounterStore, Decision, Prepared, Tally

USAGE_RETENTION_DAYS = 400
"""Per-day usage counts are kept this long after their day ends (our choice; a year and change)."""
EXPIRY_GRACE = timedelta(days=1)
"""Quota counters outlive their period by this much, so hosts with skewed clocks agree on them."""


class Period(str, Enum):
    """A usage-plan quota period (spec §7: ``quota.period``)."""

    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@dataclass(frozen=True, slots=True)
class QuotaSpec:
    """A usage-plan quota (spec §7): ``limit`` requests per ``period``, less ``offset`` in the
    period containing ``start`` (epoch seconds; required when ``offset`` is not 0)."""

    key: str
    limit: int
    period: Period
    offset: int = 0
    start: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"a quota key must be a non-empty string, got {self.key!r}")
        try:
            object.__setattr__(self, "period", Period(self.period))
        except ValueError:
            raise ValueError(f"quota {self.key!r}: period must be DAY, WEEK or MONTH, got {self.period!r}") from None
        for name in ("limit", "offset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"quota {self.key!r}: {name} must be an int >= 0, got {value!r}")
        if self.offset and self.start is None:
            raise ValueError(f"quota {self.key!r}: an offset needs start (when the quota began) "
                             "to know its initial period")


@dataclass(slots=True)  # made per request: a frozen dataclass's __init__ costs several times more
class QuotaState:
    """Where a quota stands after a decision: ``used`` of ``limit`` (already less any offset)."""

    key: str
    period: Period
    used: int
    limit: int
    resets_at: datetime  # UTC: the start of the next period

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class Verdict:
    """The outcome of one ``check``: admitted, or which limit refused (``kind`` and ``key``).

    It keeps the store's decision and works out everything else when it is read. The throttle
    stage makes one only when a request is refused, or when an admission's trace is read
    (``describe_decision``).
    """

    __slots__ = ("admitted", "_decided", "_limits", "_counts")

    def __init__(self, decided: Decision, limits: RequestLimits, counts: DayCounts) -> None:
        self._decided, self._limits, self._counts = decided, limits, counts
        self.admitted: bool = decided[0] is None

    @property
    def kind(self) -> Literal["throttle", "quota"] | None:
        refused = self._decided[0]
        return None if refused is None else "quota" if refused[0] == "counter" else "throttle"

    @property
    def bucket(self) -> BucketSpec | None:
        """The bucket that refused, with its limits."""
        refused = self._decided[0]
        return self._limits.buckets[refused[1]] if refused is not None and refused[0] == "bucket" else None

    @property
    def key(self) -> str | None:
        """The key of the bucket or quota that refused."""
        if self.bucket is not None:
            return self.bucket.key
        quota = self._limits.quota
        return quota.key if self.kind == "quota" and quota is not None else None

    @property
    def tokens_left(self) -> dict[str, float]:
        """Bucket key -> tokens after the decision."""
        return {b.key: t for b, t in zip(self._limits.buckets, self._decided[1])}

    @property
    def quota(self) -> QuotaState | None:
        quota, counts = self._limits.quota, self._counts
        if quota is None or not counts.counters or counts.resets is None:
            return None
        return QuotaState(quota.key, quota.period, self._decided[2][0], counts.counters[0].limit, counts.resets)

    def describe(self) -> str:
        """One sentence for the decision trace."""
        parts = [f"bucket {k}: {t:.3g} tokens left" for k, t in self.tokens_left.items()]
        if self.quota is not None:
            q = self.quota
            parts.append(f"quota {q.key}: {q.used}/{q.limit} used this {q.period.value}, "
                         f"resets {q.resets_at.isoformat()}")
        head = "admitted" if self.admitted else f"refused by {self.kind} {self.key}"
        if self.bucket is not None:
            zero = ": a burst limit of 0 refuses every request" if self.bucket.burst == 0 else ""
            head += f" (rate limit {self.bucket.rate:g}/s, burst limit {self.bucket.burst}{zero})"
        return head + ("; " + "; ".join(parts) if parts else "")


def describe_decision(decided: Decision, limits: RequestLimits, counts: DayCounts) -> str:
    """``Verdict.describe`` of a decision, for a trace detail formatted only when read."""
    return Verdict(decided, limits, counts).describe()


def period_bounds(period: Period | str, now: float) -> tuple[datetime, datetime]:
    """The UTC period ``[start, end)`` containing ``now`` (spec §7; WEEK starts Monday)."""
    return _period_bounds(Period(period), int(now // 86400))


@functools.lru_cache(maxsize=64)
def _period_bounds(period: Period, day_number: int) -> tuple[datetime, datetime]:
    """Per UTC day (days since the epoch): the same answer all day long, so computed once."""
    day = datetime.fromtimestamp(day_number * 86400, timezone.utc)
    if period is Period.DAY:
        return day, day + timedelta(days=1)
    if period is Period.WEEK:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    return start, (start + timedelta(days=32)).replace(day=1)


def quota_counter(quota: QuotaSpec, now: float) -> tuple[Counter, datetime]:
    """The store counter for ``quota``'s current period, and when that period ends."""
    return _quota_counter(quota, int(now // 86400))


@functools.lru_cache(maxsize=4096)
def _quota_counter(quota: QuotaSpec, day_number: int) -> tuple[Counter, datetime]:
    """Per quota and UTC day: the same answer all day long, so computed once."""
    start, end = _period_bounds(quota.period, day_number)
    limit = quota.limit
    if quota.start is not None and start <= period_bounds(quota.period, quota.start)[0]:
        limit = max(0, quota.limit - quota.offset)  # spec §7: offset applies to the initial period
    window = f"{quota.period.value[0]}{start.date().isoformat()}"
    return Counter(quota.key, window, limit, (end + EXPIRY_GRACE).timestamp()), end


def usage_tally(key: str, now: float) -> Tally:
    """The per-UTC-day usage count that an admitted request with ``usage_key=key`` bumps."""
    return _usage_tally(key, int(now // 86400))


@functools.lru_cache(maxsize=4096)
def _usage_tally(key: str, day_number: int) -> Tally:
    window, expires = _usage_window(day_number)
    return Tally(key, window, expires)


@functools.lru_cache(maxsize=8)
def _usage_window(day_number: int) -> tuple[str, float]:
    day = datetime.fromtimestamp(day_number * 86400, timezone.utc)
    return day.date().isoformat(), (day + timedelta(days=1 + USAGE_RETENTION_DAYS)).timestamp()


class DayCounts:
    """What a request under ``RequestLimits`` counts on one UTC day: its quota counter (if any),
    with the end of the quota period, and its usage tally (if any); and all its limits of that
    day prepared for a store that decides at once (``Limiter.decide_now``).

    The throttle stage asks on every request whether ``now`` is still on this day, and reads
    ``prepared``: ``since <= now < until`` costs a third of ``now // 86400 == day``, and a slot
    is read several times faster than a NamedTuple's field.
    """

    __slots__ = ("day", "since", "until", "counters", "tallies", "resets", "prepared")

    def __init__(self, day: int, counters: tuple[Counter, ...], tallies: tuple[Tally, ...],
                 resets: datetime | None, prepared: Prepared | None) -> None:
        self.day = day  # days since the epoch
        self.since, self.until = day * 86400.0, (day + 1) * 86400.0  # the day in epoch seconds
        self.counters, self.tallies, self.resets, self.prepared = counters, tallies, resets, prepared


class RequestLimits:
    """Every limit one kind of request is checked against: its buckets (in the order refusals
    are reported), its quota, and the ``usage_key`` its admitted requests are counted under.

    The limits never change, so one object serves every request of a route, stage and key: it
    validates the buckets once and keeps the counter and tally of the last day asked for in
    ``counts`` (see ``counts_on``).
    """

    __slots__ = ("buckets", "quota", "usage_key", "counts")

    def __init__(self, buckets: Sequence[BucketSpec], quota: QuotaSpec | None = None,
                 usage_key: str | None = None) -> None:
        if len(buckets) > 1 and len({b.key for b in buckets}) < len(buckets):
            raise ValueError(f"a bucket key is listed twice: {[b.key for b in buckets]}")
        self.buckets, self.quota, self.usage_key = tuple(buckets), quota, usage_key
        self.counts = DayCounts(-1, (), (), None, None)  # no day yet

    def counts_on(self, day: int) -> DayCounts:
        """The counter and tally of UTC ``day`` (days since the epoch), worked out once a day."""
        counts = self.counts
        if counts.day != day:
            counter, resets = _quota_counter(self.quota, day) if self.quota is not None else (None, None)
            tallies = (_usage_tally(self.usage_key, day),) if self.usage_key else ()
            counters = (counter,) if counter else ()
            counts = self.counts = DayCounts(day, counters, tallies, resets, Prepared(self.buckets, counters, tallies))
        return counts


class Limiter:
    """Throttles, quotas and usage counts for the gateway, on one ``CounterStore``.

    Keys are the caller's: a plan's limits aggregate per API key across all its stages (spec §7),
    so key the plan's throttle, quota and usage by plan and API key (e.g. ``"plan1/key1"``; the
    same string for all three keeps them in one Redis Cluster slot, one script); stage method
    throttles by API, stage and ``{resourcePath}/{METHOD}``.
    """

    def __init__(self, store: CounterStore, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock
        # A store that decides without I/O (memory) offers ``decide``: ``consume`` of limits
        # prepared beforehand (``DayCounts.prepared``), without a coroutine; ``settle_now``
        # calls it, saving two coroutines on every request.
        self.decide_now: Callable[..., Decision] | None = getattr(store, "decide", None)
        # A store that pipelines (Redis, one server) offers ``decide_soon``: a future of the
        # decision, which ``settle_soon`` hands to the throttle stage to await itself.
        self.decide_soon: Callable[..., asyncio.Future[Decision] | None] | None = getattr(store, "decide_soon", None)

    async def check(self, buckets: Sequence[BucketSpec], quota: QuotaSpec | None = None,
                    now: float | None = None, *, usage_key: str | None = None) -> Verdict:
        """Admit one request iff every bucket has a token and the quota has room (spec §7),
        consuming from all of them or from none; count it for ``usage_key`` if admitted."""
        return await self.check_limits(RequestLimits(buckets, quota, usage_key), now)

    async def check_limits(self, limits: RequestLimits, now: float | None = None) -> Verdict:
        """``check`` with limits made beforehand (and reused: this runs on every request)."""
        decided, counts = await self.settle(limits, now)
        return Verdict(decided, limits, counts)

    async def settle(self, limits: RequestLimits, now: float | None = None) -> tuple[Decision, DayCounts]:
        """What the store decided for ``limits``, and the day's counts it decided on: a
        ``Verdict``'s makings, for the throttle stage to make one only when it needs it."""
        if self.decide_now is not None:
            return self.settle_now(limits, now)
        now = self.clock() if now is None else now
        counts = limits.counts_on(int(now // 86400))
        outcome = await self.store.consume(limits.buckets, counts.counters, counts.tallies, now)
        return (outcome.refused, outcome.tokens, outcome.counts), counts

    def settle_now(self, limits: RequestLimits, now: float | None = None) -> tuple[Decision, DayCounts]:
        """``settle`` without awaiting, for a store that decides at once (``decide_now``). The
        throttle stage takes these steps itself, without this call (keep the two alike)."""
        now = self.clock() if now is None else now
        counts = limits.counts
        if not counts.since <= now < counts.until:
            counts = limits.counts_on(int(now // 86400))
        return self.decide_now(counts.prepared, now), counts

    def settle_soon(self, limits: RequestLimits, now: float | None = None
                    ) -> tuple[asyncio.Future[Decision], DayCounts] | None:
        """``settle`` as a future of the decision that the caller awaits itself, with the day's
        counts, for a store that offers ``decide_soon``: no coroutine suspended per request but
        the caller's. None: the store has no such path here; await ``settle``."""
        if self.decide_soon is None:
            return None
        now = self.clock() if now is None else now
        counts = limits.counts_on(int(now // 86400))
        future = self.decide_soon(limits.buckets, counts.counters, counts.tallies, now)
        return None if future is None else (future, counts)

    async def take(self, key: str, rate: float, burst: int, now: float | None = None) -> Verdict:
        """One token from the single bucket ``key`` (``rate`` per second, ``burst`` tokens)."""
        return await self.check([BucketSpec(key, rate, burst)], None, now)

    async def usage(self, key: str, day: date) -> int:
        """Admitted requests counted for ``key`` on UTC ``day``."""
        return (await self.store.read_tallies(key, [day.isoformat()]))[0]

    async def usage_between(self, key: str, first: date, last: date) -> dict[date, int]:
        """Per-day admitted requests for ``key`` from ``first`` to ``last`` inclusive."""
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        counts = await self.store.read_tallies(key, [d.isoformat() for d in days])
        return dict(zip(days, counts))

