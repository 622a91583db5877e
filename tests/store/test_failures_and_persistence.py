"""State that must survive a restart, and failures that must surface as ``StoreUnavailable``."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import date

import pytest

from lychgate.store import StoreUnavailable
from lychgate.usage import BucketSpec, Limiter, QuotaSpec

NOW = 1_900_000_000.0  # 2030-03-17 17:46:40 UTC
QUOTA = QuotaSpec("persist-quota", limit=5, period="MONTH")
BUCKET = BucketSpec("persist-bucket", 0.0, 4)


def test_sqlite_counters_and_records_survive_reopening(tmp_path, with_store):
    url = f"sqlite:///{tmp_path / 'state.db'}"

    async def first(store):
        limiter = Limiter(store)
        for _ in range(3):
            assert (await limiter.check([BUCKET], QUOTA, NOW, usage_key="k")).admitted
        await store.put_record("apikey", "k", {"value": "x" * 20})

    async def second(store):
        limiter = Limiter(store)
        verdict = await limiter.check([BUCKET], QUOTA, NOW + 1, usage_key="k")
        usage = await limiter.usage("k", date(2030, 3, 17))
        return verdict, usage, await store.get_record("apikey", "k")

    with_store(url, first)
    verdict, usage, record = with_store(url, second)
    assert verdict.admitted and verdict.tokens_left == {BUCKET.key: 0} and verdict.quota.used == 4
    assert usage == 4
    assert record == {"value": "x" * 20}


def test_sqlite_locked_beyond_the_timeout_is_unavailable_then_recovers(tmp_path, with_store):
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}?timeout=0.2"

    async def body(store):
        await store.ping()  # creates the schema
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await Limiter(store).take("b", 1.0, 1, NOW)
        waited = time.monotonic() - started
        blocker.execute("ROLLBACK")
        blocker.close()
        return caught.value, waited, await Limiter(store).take("b", 1.0, 1, NOW)

    error, waited, verdict = with_store(url, body)
    assert str(path) in str(error) and "locked" in str(error)
    assert 0.15 <= waited < 3
    assert verdict.admitted


def test_sqlite_unopenable_file_is_unavailable_until_it_can_be_created(tmp_path, with_store):
    folder = tmp_path / "not-yet"

    async def body(store):
        with pytest.raises(StoreUnavailable) as caught:
            await store.put_record("apikey", "k", {})
        folder.mkdir()
        await store.put_record("apikey", "k", {"ok": True})
        return caught.value, await store.get_record("apikey", "k")

    error, record = with_store(f"sqlite:///{folder / 'state.db'}", body)
    assert "unable to open database file" in str(error)
    assert record == {"ok": True}


def test_the_event_loop_keeps_running_while_sqlite_waits(tmp_path, with_store):
    path = tmp_path / "state.db"

    async def body(store):
        await store.ping()
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        waiting = asyncio.ensure_future(Limiter(store).take("b", 1.0, 1, NOW))
        ticks = 0
        for _ in range(10):  # the loop is free: these sleeps complete while the store waits
            await asyncio.sleep(0.01)
            ticks += 1
        done_early = waiting.done()
        blocker.execute("ROLLBACK")
        blocker.close()
        return ticks, done_early, (await waiting).admitted

    assert with_store(f"sqlite:///{path}?timeout=5", body) == (10, False, True)


def test_redis_restart_is_unavailable_then_the_same_store_works_again(private_redis, with_store):
    url = f"redis://:s3cret-pw@127.0.0.1:{private_redis.port}/0"

    async def body(store):
        limiter = Limiter(store)
        assert (await limiter.check([BUCKET], QUOTA, NOW)).admitted
        private_redis.stop()
        errors = []
        for call in (limiter.check([BUCKET], QUOTA, NOW), store.get_record("apikey", "k"), store.ping()):
            with pytest.raises(StoreUnavailable) as caught:
                await call
            errors.append(caught.value)
        private_redis.start()
        verdict = await limiter.check([BUCKET], QUOTA, NOW)
        await store.put_record("apikey", "k", {"after": "restart"})
        return errors, verdict, await store.get_record("apikey", "k")

    errors, verdict, record = with_store(url, body)
    for error in errors:
        assert f"redis://:***@127.0.0.1:{private_redis.port}/0" in str(error)
        assert "s3cret-pw" not in str(error) and "s3cret-pw" not in repr(error.__cause__)
    assert verdict.admitted and verdict.quota.used == 1  # no persistence: the restarted server is empty
    assert record == {"after": "restart"}


def test_redis_not_listening_fails_fast(unused_port, with_store):
    url = f"redis://127.0.0.1:{unused_port}/0"

    async def body(store):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await Limiter(store).take("b", 1.0, 1, NOW)
        return caught.value, time.monotonic() - started

    error, elapsed = with_store(url, body)
    assert "ConnectionError" in str(error) and url in str(error)
    assert elapsed < 2
