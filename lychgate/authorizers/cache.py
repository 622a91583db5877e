"""The Lambda authorizer result cache: TTL entries, least-recently-used eviction, counters.

API Gateway caches an authorizer's whole answer (principal, policy, context) under the values of
its identity sources for ``authorizerResultTtlInSeconds`` and re-evaluates the cached policy
against every later request's method ARN (spec gateway-behavior §5.4). This module only stores:
the caller builds the key and decides what is cacheable (``lambda_.run_authorizer`` does both).
The clock is injectable and every call may pass ``now`` so tests can move time; ``stats`` counts
hits, misses, stores, expirations and evictions for tests and the decision trace. Not thread-safe:
it is used from one event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable

DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached authorizer result and when it was stored / expires (clock seconds)."""

    value: Any
    stored_at: float
    expires_at: float

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)

    def ttl_left(self, now: float) -> float:
        return max(0.0, self.expires_at - now)


@dataclass(slots=True)
class CacheStats:
    """Counters, observable by tests and traces."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    expirations: int = 0
    evictions: int = 0


class AuthorizerCache:
    """A bounded TTL cache; the least recently used entry goes first when full."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.clock = clock
        self.stats = CacheStats()
        self._entries: OrderedDict[Hashable, CacheEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable, now: float | None = None) -> CacheEntry | None:
        """The live entry for ``key`` (counted as a hit), or None (a miss; expired ones are dropped)."""
        now = self.clock() if now is None else now
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= now:
            del self._entries[key]
            self.stats.expirations += 1
            entry = None
        if entry is None:
            self.stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return entry

    def put(self, key: Hashable, value: Any, ttl_s: float, now: float | None = None) -> CacheEntry | None:
        """Store ``value`` for ``ttl_s`` seconds; a TTL of 0 or less stores nothing."""
        if ttl_s <= 0:
            return None
        now = self.clock() if now is None else now
        entry = CacheEntry(value, now, now + ttl_s)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        self.stats.stores += 1
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.stats.evictions += 1
        return entry

    def invalidate(self, key: Hashable) -> bool:
        """Drop one entry (like ``execute-api:InvalidateCache``); True if there was one."""
        return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        self._entries.clear()
