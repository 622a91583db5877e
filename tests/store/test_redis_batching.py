"""The single-server Redis store batches the CONSUME scripts of one event-loop turn into one pipeline.

Each script stays atomic on the server and each caller gets its own reply; these tests check the
limits under concurrency, the reply-to-caller mapping, NOSCRIPT recovery inside a batch, and that
a failing batch fails every caller with ``StoreUnavailable`` and leaves nothing pending.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import hiredis
import pytest
import redis

from helpers import run_released
from lychgate.store import StoreUnavailable, open_store
from lychgate.store import redis as redis_store
from lychgate.store.base import BucketSpec, Counter, Tally
from lychgate.store.resp import RespClient
from lychgate.usage import Limiter, QuotaSpec

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_900_000_000.0


@pytest.fixture
def redis_url(redis_server):
    with redis.Redis(port=redis_server.port) as client:
        client.flushall()
    return f"redis://127.0.0.1:{redis_server.port}/0"


def _count_pipelines(monkeypatch) -> list[list[str]]:
    """Record the commands of every pipeline the store sends (command names, in order)."""
    sent: list[list[str]] = []
    original = RespClient.pipeline

    def pipeline(self, data, count):
        reader = hiredis.Reader(encoding="utf-8")  # packed commands are RESP arrays too
        reader.feed(data)
        commands = [reader.gets() for _ in range(count)]
        assert reader.gets() is False  # exactly ``count`` commands
        sent.append([command[0] for command in commands])
        return original(self, data, count)

    monkeypatch.setattr(RespClient, "pipeline", pipeline)
    return sent


def test_each_caller_gets_its_own_reply_in_one_pipeline(redis_url, with_store, monkeypatch):
    """60 concurrent requests of different shapes, one pipeline: caller i sees its own bucket
    (burst i + 1), its own counter (limit i) and nobody else's."""

    async def body(store):
        sent = _count_pipelines(monkeypatch)

        def request(i):
            buckets = [BucketSpec(f"own-{i}", 0.0, i + 1)] + ([BucketSpec(f"also-{i}", 0.0, 100)] if i % 3 == 0 else [])
            counters = [Counter(f"own-{i}", "w", i, NOW + 60)] if i % 2 == 0 else []
            tallies = [Tally(f"usage-{i}", "d", NOW + 60)] if i % 5 == 0 else []
            return store.consume(buckets, counters, tallies, NOW)

        outcomes = await asyncio.gather(*(request(i) for i in range(60)))
        return outcomes, sent

    outcomes, sent = with_store(redis_url, body)
    assert len(sent) == 1 and sent[0][0] == "SCRIPT" and sent[0][1:] == ["EVALSHA"] * 60
    for i, outcome in enumerate(outcomes):
        if i == 0:  # its counter's limit is 0
            assert outcome.refused == ("counter", 0)
            assert outcome.tokens == (1.0, 100.0) and outcome.counts == (0,)
            continue
        assert outcome.refused is None, (i, outcome)
        assert outcome.tokens == ((float(i), 99.0) if i % 3 == 0 else (float(i),)), (i, outcome)
        assert outcome.counts == ((1,) if i % 2 == 0 else ()), (i, outcome)


def test_batches_are_bounded_and_flushed_every_turn(redis_url, with_store, monkeypatch):
    async def body(store):
        sent = _count_pipelines(monkeypatch)
        bucket = [BucketSpec("bounded", 0.0, 1000)]
        first = await asyncio.gather(*(store.consume(bucket, [], [], NOW) for _ in range(200)))
        alone = await store.consume(bucket, [], [], NOW)  # one request alone is not held back
        return first, alone, sent

    first, alone, sent = with_store(redis_url, body)
    scripts = [[c for c in pipeline if c == "EVALSHA"] for pipeline in sent]
    assert [len(s) for s in scripts] == [64, 64, 64, 8, 1]
    assert sorted(o.tokens[0] for o in first) == [float(n) for n in range(800, 1000)]
    assert alone.tokens == (799.0,)


def test_concurrent_consumes_never_exceed_burst_plus_refill(redis_url, with_store):
    """Two stores (two connection pools), 24 tasks each, real time: the bucket admits at most
    burst + rate x elapsed (+1 for a token completing between the last ``now`` and ``last``)."""
    rate, burst = 200.0, 25
    bucket = [BucketSpec("concurrent-bucket", rate, burst)]

    async def body(store):
        other = open_store(redis_url)
        try:
            tally = {"admitted": 0, "refused": 0}
            first = time.time()

            async def worker(s):
                while time.time() - first < 0.6:
                    outcome = await s.consume(bucket, [], [], time.time())
                    tally["admitted" if outcome.admitted else "refused"] += 1

            await asyncio.gather(*(worker(s) for s in (store, other) for _ in range(24)))
            return tally, time.time() - first
        finally:
            await other.close()

    tally, elapsed = with_store(redis_url, body)
    assert burst <= tally["admitted"] <= burst + rate * elapsed + 1, (tally, elapsed)
    assert tally["refused"] > 0, tally


def test_quota_admits_exactly_n_across_two_stores(redis_url, with_store):
    quota = QuotaSpec("two-stores-quota", 120, "MONTH")

    async def body(store):
        other = open_store(redis_url)
        try:
            limiters = [Limiter(store), Limiter(other)]
            verdicts = await asyncio.gather(*(limiters[n % 2].check([], quota, NOW, usage_key="two-stores")
                                              for n in range(300)))
            used = (await limiters[0].check([], quota, NOW)).quota.used
            return sum(v.admitted for v in verdicts), used, await store.read_tallies("two-stores", ["2030-03-17"])
        finally:
            await other.close()

    admitted, used, tallies = with_store(redis_url, body)
    assert (admitted, used, tallies) == (120, 120, [120])


WORKER = """
import asyncio, json, sys
from lychgate.store import open_store
from lychgate.usage import Limiter, QuotaSpec

async def main(url, calls):
    store = open_store(url)
    limiter, quota = Limiter(store), QuotaSpec("processes-quota", 150, "MONTH")
    await store.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    verdicts = await asyncio.gather(*(limiter.check([], quota, 1_900_000_000.0) for _ in range(calls)))
    await store.close()
    return sum(v.admitted for v in verdicts)

print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
"""


def test_quota_admits_exactly_n_across_processes_with_concurrent_tasks(redis_url):
    admitted = run_released([[sys.executable, "-c", WORKER, redis_url, "120"]] * 3, ROOT)
    assert sum(admitted) == 150, admitted


def test_noscript_within_a_batch_is_rerun_with_eval(redis_url, redis_server, with_store, monkeypatch):
    bucket = [BucketSpec("noscript-bucket", 0.0, 100)]
    counter = [Counter("noscript-bucket", "w", 1000, NOW + 60)]

    async def body(store):
        sent = _count_pipelines(monkeypatch)
        first = await store.consume(bucket, counter, [], NOW)
        rounds = []
        for _ in range(2):
            with redis.Redis(port=redis_server.port) as client:
                client.script_flush()
            sent.clear()
            outcomes = await asyncio.gather(*(store.consume(bucket, counter, [], NOW) for _ in range(20)))
            rounds.append((outcomes, list(sent)))
        with redis.Redis(port=redis_server.port) as client:
            cached = client.script_exists(redis_store.CONSUME_SHA)
        return first, rounds, cached

    first, rounds, cached = with_store(redis_url, body)
    assert first.tokens == (99.0,) and first.counts == (1,)
    for n, (outcomes, sent) in enumerate(rounds):
        assert sent == [["EVALSHA"] * 20, ["EVAL"] * 20]  # one batch, then its NOSCRIPT scripts again
        done = 1 + 20 * n
        assert sorted(o.tokens[0] for o in outcomes) == [99.0 - done - k for k in range(20)][::-1]
        assert sorted(o.counts[0] for o in outcomes) == [done + 1 + k for k in range(20)]
    assert cached == [True]  # EVAL cached it again


def test_first_batch_loads_the_script_on_an_empty_cache(redis_url, redis_server, with_store, monkeypatch):
    with redis.Redis(port=redis_server.port) as client:
        client.script_flush()

    async def body(store):
        sent = _count_pipelines(monkeypatch)
        outcomes = await asyncio.gather(*(store.consume([BucketSpec("load", 0.0, 5)], [], [], NOW)
                                          for _ in range(7)))
        return [o.admitted for o in outcomes], sent

    admitted, sent = with_store(redis_url, body)
    assert admitted == [True] * 5 + [False] * 2
    assert sent == [["SCRIPT"] + ["EVALSHA"] * 7]


def test_redis_killed_mid_batch_fails_every_caller_and_leaves_nothing_pending(private_redis, with_store):
    """The server is paused (it holds the batch unanswered), then killed: every caller of the
    batch gets StoreUnavailable, no future stays pending, and the store works after a restart."""
    url = f"redis://:s3cret-pw@127.0.0.1:{private_redis.port}/0?timeout=5"
    bucket = [BucketSpec("killed", 0.0, 100)]

    async def body(store):
        assert (await store.consume(bucket, [], [], NOW)).admitted
        with redis.Redis(port=private_redis.port, password="s3cret-pw") as client:
            client.client_pause(10_000, all=True)
        calls = [asyncio.ensure_future(store.consume(bucket, [], [], NOW)) for _ in range(40)]
        for _ in range(200):  # until the pipeline is on the wire and waiting for its replies
            await asyncio.sleep(0.01)
            if store._batches and not store._queue:
                break
        await asyncio.sleep(0.1)
        in_flight = len(store._batches)
        private_redis.proc.kill()
        private_redis.proc.wait(10)
        started = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
        waited = time.monotonic() - started
        left = (len(store._batches), len(store._queue), [c for c in calls if not c.done()])
        private_redis.proc = None
        private_redis.start()
        after = await store.consume(bucket, [], [], NOW)
        return in_flight, results, waited, left, after

    in_flight, results, waited, left, after = with_store(url, body)
    assert in_flight == 1
    assert all(isinstance(r, StoreUnavailable) for r in results), results
    assert all("ConnectionError" in str(r) and "s3cret-pw" not in str(r) for r in results)
    assert len({id(r) for r in results}) == 40  # an exception of its own per caller
    assert waited < 3
    assert left == (0, 0, [])
    assert after.admitted and after.tokens == (99.0,)  # the restarted server is empty


def test_connection_broken_after_some_replies_fails_the_whole_batch(cutting_relay, with_store):
    """A relay to the real server closes the connection after the first replies of a 9-script
    batch: all its callers get StoreUnavailable, even those whose reply had arrived (a batch is
    answered whole), nothing is retried, and the next call connects again."""

    async def body(store):
        async with cutting_relay:
            await store.consume([BucketSpec("warm", 0.0, 5)], [], [], NOW)
            cutting_relay.cut_after(60)  # a CONSUME reply is ~20 bytes
            results = await asyncio.gather(*(store.consume([BucketSpec(f"broken-{i}", 0.0, 5)], [], [], NOW)
                                             for i in range(9)), return_exceptions=True)
            left = (len(store._batches), len(store._queue))
            cutting_relay.cut_after(None)
            after = await store.consume([BucketSpec("broken-0", 0.0, 5)], [], [], NOW)
            await store.close()  # before the relay stops
            return results, left, after

    results, left, after = with_store(cutting_relay.url, body)
    assert all(isinstance(r, StoreUnavailable) and "ConnectionError: connection" in str(r) for r in results), results
    assert left == (0, 0)
    assert after.admitted and after.tokens == (3.0,)  # broken-0 ran once (its reply was lost), not twice


def test_a_cancelled_caller_does_not_disturb_the_others(redis_url, with_store):
    async def body(store):
        def call(i):
            return asyncio.ensure_future(store.consume([BucketSpec(f"cancel-{i}", 0.0, 10)], [], [], NOW))

        queued = [call(i) for i in range(10)]
        await asyncio.sleep(0)  # every call is queued; the batch is not sent yet
        queued[3].cancel()
        first = await asyncio.gather(*queued, return_exceptions=True)

        flying = [call(10 + i) for i in range(10)]
        while not store._batches:  # the batch is sent
            await asyncio.sleep(0)
        flying[4].cancel()
        second = await asyncio.gather(*flying, return_exceptions=True)
        after = [await store.consume([BucketSpec(f"cancel-{i}", 0.0, 10)], [], [], NOW) for i in (3, 14)]
        return first, second, after

    first, second, after = with_store(redis_url, body)
    for results, cancelled in ((first, 3), (second, 4)):
        assert isinstance(results[cancelled], asyncio.CancelledError)
        assert all(r.tokens == (9.0,) for n, r in enumerate(results) if n != cancelled), results
    assert after[0].tokens == (9.0,)  # cancelled before its batch left: its script was never sent
    assert after[1].tokens == (8.0,)  # cancelled in flight: the script ran, only the reply was dropped


def test_close_waits_for_the_batch_in_flight(redis_url):
    async def main():
        store = open_store(redis_url)
        calls = [asyncio.ensure_future(store.consume([BucketSpec("closing", 0.0, 10)], [], [], NOW))
                 for _ in range(5)]
        await asyncio.sleep(0)
        await store.close()
        return await asyncio.gather(*calls)

    assert sorted(o.tokens[0] for o in asyncio.run(main())) == [5.0, 6.0, 7.0, 8.0, 9.0]


def test_while_two_batches_are_in_flight_the_next_turns_queue_up_into_one(redis_url, redis_server, with_store,
                                                                          monkeypatch):
    """The server holds the pipelines (CLIENT PAUSE): the first turn's requests go as one, the
    second turn's as a second (MAX_IN_FLIGHT), and those of the two turns after wait and then
    go as ONE pipeline, each with its own reply."""
    assert redis_store.MAX_IN_FLIGHT == 2

    async def body(store):
        sent = _count_pipelines(monkeypatch)
        await store.consume([BucketSpec("warm-up", 0.0, 5)], [], [], NOW)
        with redis.Redis(port=redis_server.port) as client:
            client.client_pause(10_000, all=False)  # WRITE: scripts wait, until CLIENT UNPAUSE below
            try:
                sent.clear()
                first = [asyncio.ensure_future(store.consume([BucketSpec("held", 0.0, 100)], [], [], NOW))
                         for _ in range(5)]
                later = []
                for wave in range(3):
                    await asyncio.sleep(0.02)
                    later += [asyncio.ensure_future(store.consume([BucketSpec(f"wave-{wave}", 0.0, 10 + wave)],
                                                                  [], [], NOW)) for _ in range(4)]
                await asyncio.sleep(0.02)
                held = (len(store._batches), len(store._queue))
            finally:
                client.client_unpause()
        return held, await asyncio.gather(*first), await asyncio.gather(*later), [len(s) for s in sent]

    held, first, later, sizes = with_store(redis_url, body)
    assert held == (2, 8)
    assert sizes == [5, 4, 8]
    assert sorted(o.tokens[0] for o in first) == [95.0, 96.0, 97.0, 98.0, 99.0]
    for wave in range(3):
        burst = 10 + wave
        assert sorted(o.tokens[0] for o in later[4 * wave:4 * wave + 4]) == [float(burst - n) for n in (4, 3, 2, 1)]


def test_packed_commands_are_reused_for_the_same_tuples_only(redis_url, with_store):
    """The limits of a route are the same tuples on every request: packed once. A list may change
    under the same id: packed each time, so a changed list is never sent with its old keys."""

    async def body(store):
        limits = (BucketSpec("packed-a", 0.0, 5),)
        for _ in range(3):
            await store.consume(limits, (), (), NOW)
        kept = len(store._packed)
        buckets = [BucketSpec("packed-b", 0.0, 5)]
        await store.consume(buckets, [], [], NOW)
        buckets[0] = BucketSpec("packed-c", 0.0, 5)
        changed = await store.consume(buckets, [], [], NOW)
        again = await store.consume(limits, (), (), NOW)
        return kept, len(store._packed), changed, again

    kept, total, changed, again = with_store(redis_url, body)
    assert (kept, total) == (1, 1)
    assert changed.tokens == (4.0,)  # packed-c's first token, not packed-b's second
    assert again.tokens == (1.0,)


def test_a_batch_that_cannot_be_sent_fails_its_callers(redis_url, with_store, monkeypatch):
    """_flush runs as a loop callback: had sending raised there, its callers would wait for ever."""

    def broken(self, data, count):
        raise RuntimeError("cannot send (test)")

    async def body(store):
        monkeypatch.setattr(RespClient, "pipeline", broken)
        results = await asyncio.wait_for(asyncio.gather(*(store.consume([BucketSpec("unsent", 0.0, 5)], [], [], NOW)
                                                          for _ in range(3)), return_exceptions=True), 5)
        monkeypatch.undo()
        return results, await store.consume([BucketSpec("unsent", 0.0, 5)], [], [], NOW)

    results, after = with_store(redis_url, body)
    assert all(isinstance(r, StoreUnavailable) and "RuntimeError: cannot send (test)" in str(r) for r in results)
    assert after.tokens == (4.0,)


def test_a_bucket_written_after_the_clock_went_back_lives_until_full_again_from_its_last_refill(redis_server):
    """Its TTL counts from its last refill (200 s ahead of the second call's clock), not from now."""
    t0 = 1_900_000_000.0

    async def main():
        store = open_store(f"redis://127.0.0.1:{redis_server.port}/0")
        try:
            limiter = Limiter(store)
            assert (await limiter.take("ttl-after-clock-back", 0.01, 2, t0 + 200)).admitted
            assert (await limiter.take("ttl-after-clock-back", 0.01, 2, t0)).admitted  # the last token
        finally:
            await store.close()

    asyncio.run(main())
    with redis.Redis(port=redis_server.port) as client:
        ttl_ms = client.pttl(redis_store.bucket_name("ttl-after-clock-back"))
    assert 459_000 < ttl_ms <= 460_000  # 200 s ahead + 200 s to refill 2 tokens + a minute


def test_settle_soon_hands_over_the_batched_future_and_decides_as_settle(redis_url, with_store, monkeypatch):
    """The throttle stage awaits the store's own future (``Limiter.settle_soon``): the decisions
    are ``settle``'s, a refusal names the same limit, and the calls of one turn share a pipeline.
    The memory store decides at once and has no such future."""
    from lychgate.usage.throttle import RequestLimits

    limits = RequestLimits([BucketSpec("soon-bucket", 0.0, 3)], QuotaSpec("soon-quota", 5, "DAY"), "soon-usage")
    twin = RequestLimits([BucketSpec("settle-bucket", 0.0, 3)], QuotaSpec("settle-quota", 5, "DAY"), "settle-usage")

    async def body(store):
        sent = _count_pipelines(monkeypatch)
        limiter = Limiter(store, clock=lambda: NOW)
        soon = [limiter.settle_soon(limits) for _ in range(4)]
        assert all(isinstance(future, asyncio.Future) for future, _ in soon)
        decided = [await future for future, _ in soon]
        settled = [(await limiter.settle(twin))[0] for _ in range(4)]
        return decided, settled, sent

    decided, settled, sent = with_store(redis_url, body)
    assert [d[0] for d in decided] == [None, None, None, ("bucket", 0)]
    assert [(d[0], list(d[1]), list(d[2])) for d in decided] == [(s[0], list(s[1]), list(s[2])) for s in settled]
    assert [len([c for c in p if c == "EVALSHA"]) for p in sent][0] == 4  # the four of one turn, together
    assert Limiter(open_store("memory")).settle_soon(limits) is None
