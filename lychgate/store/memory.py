"""In-process state store (URL ``memory``): dicts in this process, lost when it exits.

It is single-process: each ``lychgate serve`` worker process would count on its own, so a limit
of N admits up to N per worker; use sqlite (one host) or Redis (many hosts) to share state.
Every method runs without awaiting anything, so each call is atomic on the event loop.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from lychgate.store.base import BucketSpec, Counter, Decision, Outcome, Prepared, Tally, encode_record, settle

_UNSEEN = (0, 0.0)  # (value, expires) of a counter or tally never counted
PRUNE_INTERVAL = 60.0
"""Forget expired buckets, counters and tallies at most once per this many seconds of ``now``."""


class MemoryStore:
    """Buckets, counters, tallies and records in dicts (see the module docstring)."""

    url = "memory"

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float, float | None]] = {}  # key -> tokens, last, expires
        self._counters: dict[tuple[str, str], tuple[int, float]] = {}  # (key, window) -> value, expires
        self._tallies: dict[tuple[str, str], tuple[int, float]] = {}
        self._records: dict[str, dict[str, str]] = {}  # kind -> id -> JSON
        self._prune_at = 0.0  # the ``now`` from which the next decision prunes first
        self._read, self._write = self._buckets.get, self._buckets.__setitem__  # for settle(), made once

    async def consume(self, buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                      tallies: Sequence[Tally], now: float) -> Outcome:
        return Outcome.of(self.decide(Prepared(buckets, counters, tallies), now))

    def decide(self, prepared: Prepared, now: float) -> Decision:
        """``consume`` of limits prepared beforehand, without a coroutine nor an ``Outcome``
        (``Limiter.settle_now`` calls it on every request)."""
        if now >= self._prune_at:
            self._prune(now)
        values, counts = self._counters, []
        for where, _ in prepared.counters:
            counts.append(values.get(where, _UNSEEN)[0])
        decided = settle(prepared.buckets, self._read, self._write, prepared.limits, counts, now)
        if decided[0] is None:
            i = 0
            for where, expires in prepared.counters:
                values[where] = (counts[i], expires)  # settle added the request
                i += 1
            tallied = self._tallies
            for where, expires in prepared.tallies:
                tallied[where] = (tallied.get(where, _UNSEEN)[0] + 1, expires)
        return decided

    def _prune(self, now: float) -> None:
        self._prune_at = now + PRUNE_INTERVAL
        for key in [k for k, v in self._buckets.items() if v[2] is not None and v[2] < now]:
            del self._buckets[key]
        for table in (self._counters, self._tallies):
            for key in [k for k, v in table.items() if v[1] < now]:
                del table[key]

    async def read_tallies(self, key: str, windows: Sequence[str]) -> list[int]:
        return [self._tallies.get((key, w), _UNSEEN)[0] for w in windows]

    async def put_record(self, kind: str, id: str, value: dict[str, Any]) -> None:
        self._records.setdefault(kind, {})[id] = encode_record(kind, id, value)

    async def get_record(self, kind: str, id: str) -> dict[str, Any] | None:
        raw = self._records.get(kind, {}).get(id)
        return None if raw is None else json.loads(raw)

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        return {id: json.loads(raw) for id, raw in sorted(self._records.get(kind, {}).items())}

    async def delete_record(self, kind: str, id: str) -> bool:
        return self._records.get(kind, {}).pop(id, None) is not None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
