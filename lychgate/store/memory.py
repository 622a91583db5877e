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
        # Every state is a list updated in place, a cell: decisions keep the cells of their limits
        # (``Prepared.bound``) and skip the lookups. ``_epoch`` is replaced whenever cells are
        # forgotten, which unbinds them all.
        self._buckets: dict[str, list] = {}  # key -> [tokens, last, expires]
        self._counters: dict[tuple[str, str], list] = {}  # (key, window) -> [value, expires]
        self._tallies: dict[tuple[str, str], list] = {}
        self._records: dict[str, dict[str, str]] = {}  # kind -> id -> JSON
        self._prune_at = 0.0  # the ``now`` from which the next decision prunes first
        self._epoch = object()

    async def consume(self, buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                      tallies: Sequence[Tally], now: float) -> Outcome:
        return Outcome.of(self.decide(Prepared(buckets, counters, tallies), now))

    def decide(self, prepared: Prepared, now: float) -> Decision:
        """``consume`` of limits prepared beforehand, without a coroutine nor an ``Outcome``
        (``Limiter.settle_now`` calls it on every request).

        It is ``settle``'s decision written out on the cells, without ``settle``'s call, its read
        and write callbacks and its pass to gather the counts (tests/usage/test_settle.py holds
        the two to the same answers). Nothing is written until every limit has room; on a
        refusal, ``settle`` itself says which limit refused.
        """
        if now >= self._prune_at:
            self._prune(now)
        bound = prepared.bound
        if bound is None or bound[0] is not self._epoch:
            bound = self._bind(prepared, now)
        counts = []
        for cell, limit, _ in bound[1]:
            count = cell[0]
            if count >= limit:
                return self._refuse(prepared, now)
            counts.append(count)
        tokens = []
        for cell, rate, burst in bound[2]:
            held, last = cell[0], cell[1]
            if now > last:  # a clock that went back refills nothing
                held += (now - last) * rate
            if held > burst:
                held = burst
            if held < WHOLE_TOKEN:
                return self._refuse(prepared, now)
            tokens.append(held - 1.0)  # at most burst - 1: full again (burst - held) / rate after last
        i = 0
        for cell, rate, burst in bound[2]:
            held = cell[0] = tokens[i]
            if now > cell[1]:
                cell[1] = now
            cell[2] = cell[1] + ((burst - held) / rate + 60.0) if rate > 0.0 else None
            i += 1
        i = 0
        for cell, _, expires in bound[1]:
            cell[0] = counts[i] = counts[i] + 1
            cell[1] = expires
            i += 1
        for cell, expires in bound[3]:
            cell[0] += 1
            cell[1] = expires
        return (None, tokens, counts)

    def _bind(self, prepared: Prepared, now: float) -> tuple:
        """The cells of ``prepared``'s limits, made where missing (a bucket full, as one never
        seen is; a counter or tally at 0), kept on it with the current epoch."""
        buckets = []
        for key, rate, burst in prepared.buckets:
            cell = self._buckets.get(key)
            if cell is None:
                cell = self._buckets[key] = [burst, now, now + 60.0]  # forgettable as a full bucket is
            buckets.append((cell, rate, burst))
        counters = tuple((self._cell(self._counters, where, expires), limit, expires)
                         for where, limit, expires in prepared.counters)
        tallies = tuple((self._cell(self._tallies, where, expires), expires) for where, expires in prepared.tallies)
        prepared.bound = bound = (self._epoch, counters, tuple(buckets), tallies)
        return bound

    @staticmethod
    def _cell(table: dict[tuple[str, str], list], where: tuple[str, str], expires: float) -> list:
        cell = table.get(where)
        if cell is None:
            cell = table[where] = [0, expires]
        return cell

    def _refuse(self, prepared: Prepared, now: float) -> Decision:
        """A refusal (the rare case): ``settle`` names the limit and what each bucket holds; it
        decides as ``decide`` did, with the same arithmetic, so it refuses too and writes nothing."""
        values = self._counters
        counts = [values.get(where, _UNSEEN)[0] for where, _, _ in prepared.counters]
        return settle(prepared.buckets, self._buckets.get, self._write_bucket, prepared.limits, counts, now)

    def _write_bucket(self, key: str, state: tuple[float, float, float | None]) -> None:
        """``settle``'s write, into the cell (never called on a refusal)."""
        cell = self._buckets.get(key)
        if cell is None:
            self._buckets[key] = list(state)
        else:
            cell[:] = state

    def _prune(self, now: float) -> None:
        self._prune_at = now + PRUNE_INTERVAL
        self._epoch = object()
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
