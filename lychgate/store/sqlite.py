"""SQLite state store (URL ``sqlite:///relative.db`` or ``sqlite:////absolute.db``): one host.

Uses the stdlib ``sqlite3`` in WAL mode, so several ``lychgate`` processes on one host can share
one file: every ``consume`` is one ``BEGIN IMMEDIATE`` transaction (the write lock is taken before
anything is read), so read-refill-decide-write is serialised across processes. All SQLite calls
run on one worker thread per store, never on the event loop; a lock held by another process
longer than ``?timeout=`` seconds (default 5) raises ``StoreUnavailable``. Commits use
``synchronous=NORMAL``: durable across process crashes, not necessarily across power loss.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence, TypeVar
from urllib.parse import unquote, urlsplit

from lychgate.store.base import (BucketSpec, Counter, Outcome, Prepared, StoreUnavailable, Tally, encode_record,
                                 float_param, parse_query, redact, settle)

T = TypeVar("T")
PRUNE_EVERY = 1024
SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, last REAL NOT NULL,
                                    expires REAL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (key TEXT NOT NULL, win TEXT NOT NULL, value INTEGER NOT NULL,
                                     expires REAL NOT NULL, PRIMARY KEY (key, win)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tallies (key TEXT NOT NULL, win TEXT NOT NULL, value INTEGER NOT NULL,
                                    expires REAL NOT NULL, PRIMARY KEY (key, win)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, id TEXT NOT NULL, value TEXT NOT NULL,
                                    PRIMARY KEY (kind, id)) WITHOUT ROWID;
"""
READ_BUCKET = "SELECT tokens, last FROM buckets WHERE key = ?"
WRITE_BUCKET = "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)"


class SqliteStore:
    """A ``CounterStore`` on one SQLite file (see the module docstring)."""

    def __init__(self, path: str, timeout: float = 5.0, url: str | None = None) -> None:
        self.path, self.timeout = path, timeout
        self.url = redact(url or f"sqlite:///{path}")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lychgate-sqlite")
        self._conn: sqlite3.Connection | None = None  # opened lazily on the worker thread
        self._calls = 0

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        parts = urlsplit(url)
        path = unquote(parts.path[1:])
        if parts.netloc or not parts.path.startswith("/") or not path:
            raise ValueError(f"state store URL {redact(url)}: expected sqlite:///relative/path.db "
                             "or sqlite:////absolute/path.db (no host)")
        params = parse_query(url)
        unknown = set(params) - {"timeout"}
        if unknown:
            raise ValueError(f"state store URL {redact(url)}: unknown option(s) {sorted(unknown)}; only timeout")
        return cls(path, float_param(url, params, "timeout", 5.0), url)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` in one transaction on the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._transaction, fn, args)

    def _transaction(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
                conn.execute("COMMIT")
                return result
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(self.url, f"{type(exc).__name__}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    async def consume(self, buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                      tallies: Sequence[Tally], now: float) -> Outcome:
        self._calls += 1
        prune = self._calls % PRUNE_EVERY == 0
        return await self._run(_consume, list(buckets), list(counters), list(tallies), now, prune)

    async def read_tallies(self, key: str, windows: Sequence[str]) -> list[int]:
        return await self._run(_read_tallies, key, list(windows))

    async def put_record(self, kind: str, id: str, value: dict[str, Any]) -> None:
        text = encode_record(kind, id, value)
        await self._run(lambda c: c.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (kind, id, text)))

    async def get_record(self, kind: str, id: str) -> dict[str, Any] | None:
        sql = "SELECT value FROM records WHERE kind = ? AND id = ?"
        row = await self._run(lambda c: c.execute(sql, (kind, id)).fetchone())
        return None if row is None else json.loads(row[0])

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        sql = "SELECT id, value FROM records WHERE kind = ? ORDER BY id"
        rows = await self._run(lambda c: c.execute(sql, (kind,)).fetchall())
        return {id: json.loads(value) for id, value in rows}

    async def delete_record(self, kind: str, id: str) -> bool:
        sql = "DELETE FROM records WHERE kind = ? AND id = ?"
        return await self._run(lambda c: c.execute(sql, (kind, id)).rowcount > 0)

    async def ping(self) -> None:
        await self._run(lambda c: c.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._close)
        self._pool.shutdown(wait=False)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _consume(conn: sqlite3.Connection, buckets: list[BucketSpec], counters: list[Counter],
             tallies: list[Tally], now: float, prune: bool) -> Outcome:
    """The ``consume`` decision inside one write transaction (the arithmetic is base.py's)."""
    if prune:
        _prune(conn, now)
    counts = [_value(conn, "counters", c.key, c.window) for c in counters]
    prepared = Prepared(buckets, counters, tallies)
    decided = settle(prepared.buckets, lambda key: conn.execute(READ_BUCKET, (key,)).fetchone(),
                     lambda key, state: conn.execute(WRITE_BUCKET, (key, *state)), prepared.limits, counts, now)
    if decided[0] is None:
        for c in counters:
            _bump(conn, "counters", c.key, c.window, c.expires_at)
        for t in tallies:
            _bump(conn, "tallies", t.key, t.window, t.expires_at)
    return Outcome.of(decided)


def _value(conn: sqlite3.Connection, table: str, key: str, window: str) -> int:
    row = conn.execute(f"SELECT value FROM {table} WHERE key = ? AND win = ?", (key, window)).fetchone()
    return 0 if row is None else row[0]


def _bump(conn: sqlite3.Connection, table: str, key: str, window: str, expires: float) -> None:
    conn.execute(f"INSERT INTO {table} VALUES (?, ?, 1, ?) ON CONFLICT (key, win) "
                 "DO UPDATE SET value = value + 1, expires = excluded.expires", (key, window, expires))


def _read_tallies(conn: sqlite3.Connection, key: str, windows: list[str]) -> list[int]:
    return [_value(conn, "tallies", key, w) for w in windows]


def _prune(conn: sqlite3.Connection, now: float) -> None:
    conn.execute("DELETE FROM buckets WHERE expires IS NOT NULL AND expires < ?", (now,))
    conn.execute("DELETE FROM counters WHERE expires < ?", (now,))
    conn.execute("DELETE FROM tallies WHERE expires < ?", (now,))
