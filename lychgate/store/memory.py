"""In-process state store (URL ``memory``): dicts in this process, lost when it exits.

It is single-process: each ``lychgate serve`` worker process would count on its own, so a limit
of N admits up to N per worker; use sqlite (one host) or Redis (many hosts) to share state.
Every method runs without awaiting anything, so each call is atomic on the event loop.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from lychgate.store.base import (WHOLE_TOKEN, BucketSpec, Counter, Decision, Outcome, Prepared, Tally, encode_record,
                                 settle)

_UNSEEN = (0, 0.0)  # (value, expires) of a counter or tally never counted
PRUNE_INTERVAL = 60.0
"""Forget expired buckets, counters and tallies at most once per this many seconds of ``now``."""


class MemoryStore:
    """Buckets, counters, tallies and records in dicts (see the module docstring)."""

    url = "memory"

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float, float | None]] = {}  # key -> tokens, last, expires
        self._counters: dict[tuple[str, str], list] = {}  # (key, window) -> [value, expires]
        self._tallies: dict[tuple[str, str], list] = {}
        self._records: dict[str, dict[str, str]] = {}  # kind -> id -> JSON
        self._prune_at = 0.0  # the ``now`` from which the next decision prunes first

    async def consume(self, buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                      tallies: Sequence[Tally], now: float) -> Outcome:
        return Outcome.of(self.decide(Prepared(buckets, counters, tallies), now))

    def decide(self, prepared: Prepared, now: float) -> Decision:
        """``consume`` of limits prepared beforehand, without a coroutine nor an ``Outcome``
        (``Limiter.settle_now`` calls it on every request).

        It is ``settle``'s decision written out on the dicts, without ``settle``'s call, its read
        and write callbacks and its pass to gather the counts (tests/usage/test_settle.py holds
        the two to the same answers). Nothing is written until every limit has room; on a
        refusal, ``settle`` itself says which limit refused.
        """
        if now >= self._prune_at:
            self._prune(now)
        states, values = self._buckets, self._counters
        counts = []
        for where, limit, _ in prepared.counters:
            count = values.get(where, _UNSEEN)[0]
            if count >= limit:
                return self._refuse(prepared, now)
            counts.append(count)
        tokens, taken = [], []
        for key, rate, burst in prepared.buckets:
            state = states.get(key)
            if state is None:  # never seen, or forgotten: full
                held, last = burst, now
            else:
                held, last, _ = state
                if now > last:  # a clock that went back refills nothing
                    held += (now - last) * rate
                    last = now
                if held > burst:
                    held = burst
            if held < WHOLE_TOKEN:
                return self._refuse(prepared, now)
            held -= 1.0  # at most burst - 1: full again (burst - held) / rate after last
            tokens.append(held)
            taken.append((key, (held, last, last + ((burst - held) / rate + 60.0) if rate > 0.0 else None)))
        for key, state in taken:
            states[key] = state
        i = 0
        for where, _, expires in prepared.counters:  # counted in place: no tuple made, no dict insert
            count = counts[i] = counts[i] + 1
            counted = values.get(where)
            if counted is None:
                values[where] = [count, expires]
            else:
                counted[0], counted[1] = count, expires
            i += 1
        tallied = self._tallies
        for where, expires in prepared.tallies:
            counted = tallied.get(where)
            if counted is None:
                tallied[where] = [1, expires]
            else:
                counted[0] += 1
                counted[1] = expires
        return (None, tokens, counts)

    def _refuse(self, prepared: Prepared, now: float) -> Decision:
        """A refusal (the rare case): ``settle`` names the limit and what each bucket holds; it
        decides as ``decide`` did, with the same arithmetic, so it refuses too and writes nothing."""
        values = self._counters
        counts = [values.get(where, _UNSEEN)[0] for where, _, _ in prepared.counters]
        return settle(prepared.buckets, self._buckets.get, self._buckets.__setitem__, prepared.limits, counts, now)

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
