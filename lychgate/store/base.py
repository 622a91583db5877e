"""The state-store contract: atomic counter primitives, records, errors and ``open_store(url)``.

A ``CounterStore`` knows nothing of AWS: it offers one atomic step, ``consume``, over token
buckets (take one token from each), bounded counters (add one to each while below its limit) and
tallies (unbounded per-window counts), all-or-nothing; plus JSON records keyed by kind and id.
``lychgate.usage`` builds usage-plan throttles and quotas (spec gateway-behavior §7) on top.
The decision itself lives here once (``settle``, with ``refusal``): the sqlite store calls it,
the memory store writes its steps out on its dicts (it decides on every request, where the calls
``settle`` needs would cost as much as the steps; tests hold the two to the same answers), and
the Redis Lua script mirrors it line for line. Every store failure is raised as
``StoreUnavailable`` naming the store URL with any password masked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence
from urllib.parse import parse_qsl, urlsplit

WHOLE_TOKEN = 1.0 - 1e-9
"""What a bucket must hold to admit: one token, less a tolerance (``now - last`` on epoch floats
loses ~1e-7 s)."""


class StoreUnavailable(Exception):
    """The state store could not be reached or did not answer in time; ``url`` has no password."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"state store {url} unavailable: {reason}")
        self.url, self.reason = url, reason


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """A token bucket (spec §7): holds at most ``burst`` tokens, refills ``rate`` per second."""

    key: str
    rate: float
    burst: int

    def __post_init__(self) -> None:
        _check_key(self.key)
        if not self.rate >= 0 or self.rate == float("inf"):
            raise ValueError(f"bucket {self.key!r}: rate must be a finite number >= 0, got {self.rate!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 0:
            raise ValueError(f"bucket {self.key!r}: burst must be an int >= 0, got {self.burst!r}")


@dataclass(frozen=True, slots=True)
class Counter:
    """A counter for one window (e.g. a quota period): admits while its value is below ``limit``.

    ``expires_at`` (epoch seconds, the caller's clock) is when the store may forget it.
    """

    key: str
    window: str
    limit: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class Tally:
    """An unbounded count for one window (e.g. one UTC day of usage), bumped on admission."""

    key: str
    window: str
    expires_at: float


@dataclass(slots=True)  # made per request: a frozen dataclass's __init__ costs several times more
class Outcome:
    """What ``consume`` decided.

    ``refused`` is ``("counter", i)`` or ``("bucket", i)`` for the first refusal (counters are
    looked at first), or None when admitted. ``tokens[i]`` is what bucket i holds after the
    decision; ``counts[i]`` is counter i's value after it (unchanged when refused).
    """

    refused: tuple[str, int] | None
    tokens: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def admitted(self) -> bool:
        return self.refused is None

    @classmethod
    def of(cls, decided: Decision) -> Outcome:
        refused, tokens, counts = decided
        return cls(refused, tuple(tokens), tuple(counts))


class CounterStore(Protocol):
    """The async contract every store implements; ``url`` is the redacted store URL."""

    url: str

    async def consume(self, buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                      tallies: Sequence[Tally], now: float) -> Outcome:
        """Atomically: if every bucket has a token and every counter is below its limit, take
        one token from each bucket and add one to each counter and tally; else change nothing."""

    async def read_tallies(self, key: str, windows: Sequence[str]) -> list[int]:
        """The tallies of ``key`` for each window (0 where none was counted)."""

    async def put_record(self, kind: str, id: str, value: dict[str, Any]) -> None: ...

    async def get_record(self, kind: str, id: str) -> dict[str, Any] | None: ...

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]: ...

    async def delete_record(self, kind: str, id: str) -> bool: ...

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers."""

    async def close(self) -> None: ...


Decision = tuple[tuple[str, int] | None, list[float], list[int]]
"""What ``settle`` decided: an ``Outcome``'s fields in a plain tuple, which costs a fraction of an
``Outcome`` to make (see ``Outcome.of``)."""
BucketEntry = tuple[str, float, float]
"""A bucket as ``settle`` reads it: (key, rate, burst as a float)."""


class Prepared:
    """Buckets, counters and tallies as the stores that decide in Python read them: the buckets
    as ``settle``'s entries, the counters' limits, each counter as ((key, window), limit,
    expiry) and each tally as ((key, window), expiry). The limits of a route and API key are the
    same on every request, so whoever keeps them can keep this too
    (``lychgate.usage.throttle.DayCounts``). ``bound`` is the memory store's: its cells for
    these limits (``MemoryStore.decide``)."""

    __slots__ = ("buckets", "limits", "counters", "tallies", "bound")

    def __init__(self, buckets: Sequence[BucketSpec], counters: Sequence[Counter], tallies: Sequence[Tally]) -> None:
        self.buckets: tuple[BucketEntry, ...] = tuple((b.key, b.rate, float(b.burst)) for b in buckets)
        self.limits = tuple(counter.limit for counter in counters)
        self.counters = tuple(((c.key, c.window), c.limit, c.expires_at) for c in counters)
        self.tallies = tuple(((tally.key, tally.window), tally.expires_at) for tally in tallies)
        self.bound: tuple | None = None


def settle(buckets: Sequence[BucketEntry], read: Callable[[str], Sequence[float] | None],
           write: Callable[[str, tuple[float, float, float | None]], object], limits: Sequence[int],
           counts: list[int], now: float) -> Decision:
    """The ``consume`` decision, read-refill-decide-write, for the sqlite store (and for the
    memory store's refusals; ``MemoryStore.decide`` makes its admissions the same way).

    ``read(key)`` is a bucket's stored ``(tokens, last refill, ...)``, None for a bucket never
    seen (or forgotten): it is full. ``counts[i]`` is counter i's value, ``limits[i]`` its limit.
    When admitted, one token is taken from each bucket and ``write(key, (tokens, last refill,
    expires))`` stores it: ``expires`` is a minute after the bucket would be full again, counted
    from its last refill, which a clock that went back leaves ahead of ``now`` (then it may be
    forgotten), None when it never refills; and one is added to each of ``counts``, which
    the store then writes (with its tallies, also its to add one to).

    It runs on every request: plain comparisons, not min/max/enumerate/zip, which cost several
    times more in CPython 3.11, and the lists it is given and makes are the decision's own.
    """
    tokens, lasts, room = [], [], True
    for key, rate, burst in buckets:
        state = read(key)
        if state is None:
            held, last = burst, now
        else:
            held, last = state[0], state[1]
            if now > last:  # a clock that went back refills nothing
                held += (now - last) * rate
                last = now
            if held > burst:
                held = burst
        if held < WHOLE_TOKEN:
            room = False
        tokens.append(held)
        lasts.append(last)
    i = 0
    for limit in limits:
        if counts[i] >= limit:
            room = False
        i += 1
    if not room:  # refusal names the limit that refuses (asked only then: it costs a call)
        return (refusal(tokens, counts, limits), tokens, counts)
    i = 0
    for key, rate, burst in buckets:
        held = tokens[i] = tokens[i] - 1.0  # at most burst - 1: full again in (burst - held) / rate
        write(key, (held, lasts[i], lasts[i] + ((burst - held) / rate + 60.0) if rate > 0 else None))
        i += 1
    i = 0
    for count in counts:
        counts[i] = count + 1
        i += 1
    return (None, tokens, counts)


def refusal(tokens: Sequence[float], counts: Sequence[int], limits: Sequence[int]) -> tuple[str, int] | None:
    """The first counter at its limit (``limits[i]`` is counter i's), else the first bucket
    without a whole token, else None."""
    i = 0
    for limit in limits:
        if counts[i] >= limit:
            return ("counter", i)
        i += 1
    i = 0
    for held in tokens:
        if held < WHOLE_TOKEN:
            return ("bucket", i)
        i += 1
    return None


def redact(url: str) -> str:
    """``url`` with any password (userinfo or ``password=`` query value) replaced by ``***``."""
    url = re.sub(r"^([a-z0-9+.-]+://[^/@:]*):[^/@]*@", r"\1:***@", url, flags=re.I)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.I)


def encode_record(kind: str, id: str, value: dict[str, Any]) -> str:
    """The JSON text stored for a record; TypeError/ValueError for a bad kind, id or value."""
    for name, part in (("kind", kind), ("id", id)):
        if not isinstance(part, str) or not part:
            raise ValueError(f"record {name} must be a non-empty string, got {part!r}")
    if not isinstance(value, dict):
        raise TypeError(f"record {kind}/{id} must be a dict, got {type(value).__name__}")
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError(f"a bucket, quota or usage key must be a non-empty string, got {key!r}")


def parse_query(url: str) -> dict[str, str]:
    """The query parameters of ``url`` (last one wins)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def float_param(url: str, params: dict[str, str], name: str, default: float) -> float:
    """A positive float query parameter, or ValueError naming the (redacted) URL."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"state store URL {redact(url)}: {name} must be a positive number of seconds, got {raw!r}")
    return value


SCHEMES = ("memory, sqlite:///relative.db, sqlite:////absolute.db, redis://, rediss://, "
           "redis+cluster://, rediss+cluster://")


def open_store(url: str) -> CounterStore:
    """The store for ``url`` (no I/O yet; call ``await store.ping()`` to check it answers).

    ``memory`` | ``sqlite:///relative/path.db`` | ``sqlite:////absolute/path.db`` (SQLAlchemy's
    convention; ``?timeout=SECONDS`` busy wait, default 5) | ``redis://[user:password@]host[:port][/db]``
    | ``rediss://…`` (TLS) | ``redis+cluster://host:port`` | ``rediss+cluster://…``. Redis URLs
    accept ``?timeout=SECONDS`` (connect and read, default 1) and redis-py's own options such as
    ``?max_connections=N``. Anything else raises ValueError.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"state store URL must be a non-empty string (one of: {SCHEMES}), got {url!r}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else url.lower()
    if scheme in ("memory", "memory:"):
        if url.lower() not in ("memory", "memory://"):
            raise ValueError(f"state store URL {redact(url)}: the memory store takes no path or options; "
                             "write 'memory'")
        from lychgate.store.memory import MemoryStore
        return MemoryStore()
    if scheme == "sqlite":
        from lychgate.store.sqlite import SqliteStore
        return SqliteStore.from_url(url)
    if scheme in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
        from lychgate.store.redis import RedisStore
        return RedisStore.from_url(url)
    raise ValueError(f"state store URL {redact(url)}: unknown scheme {scheme!r}; expected one of: {SCHEMES}")
