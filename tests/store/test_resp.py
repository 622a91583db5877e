"""``lychgate.store.resp``, the lean client of the Redis store's hot path, against real redis-servers:
replies matched to their callers, error replies, a server killed or silent mid-flight, cancelled
callers, AUTH and SELECT, TLS, and a store used again by a later event loop."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest
import redis
from hiredis import ReplyError

from helpers import RedisServer, free_port
from lychgate.store import StoreUnavailable, open_store
from lychgate.store.base import BucketSpec
from lychgate.store.resp import Address, RespClient, bulk, pack, pack_prefix

NOW = 1_900_000_000.0
PASSWORD = "s3cret-pw"


def _run(client: RespClient, body):
    """``await body(client)`` in a fresh event loop, then close the client in it."""

    async def main():
        try:
            return await body(client)
        finally:
            await client.close()

    return asyncio.run(main())


def _pipeline(client: RespClient, commands: list[tuple]):
    return client.pipeline(b"".join(map(pack, commands)), len(commands))


def _admin(server: RedisServer) -> redis.Redis:
    return redis.Redis(port=server.port, password=server._password())


@pytest.mark.parametrize("command", [
    ("EVALSHA", "a" * 40, 1, "lg:{k€y}:b", 1, 0, 0, "0.5", 10, 1_900_000_000_123_456),
    ("SET", "k", b"raw\x00bytes"),
    ("ECHO", ""),
])
def test_a_prefix_and_its_last_argument_pack_as_the_whole_command(command):
    last = command[-1] if isinstance(command[-1], bytes) else str(command[-1]).encode()
    assert pack_prefix(command) + bulk(last) == pack(command)


def test_replies_go_to_their_callers_across_batches(redis_server):
    client = RespClient(Address("127.0.0.1", redis_server.port), 1.0)

    async def body(client):
        async def one(i):
            if i % 3 == 0:
                return await _pipeline(client, [("SET", f"resp-{i}", i), ("INCRBY", f"resp-{i}", i), ("ECHO", f"e{i}")])
            if i % 7 == 0:
                await asyncio.sleep(0)  # a later loop turn: a later batch
            return await client.execute("ECHO", f"echo-{i}")

        return await asyncio.gather(*(one(i) for i in range(300)))

    results = _run(client, body)
    for i, result in enumerate(results):
        assert result == (["OK", 2 * i, f"e{i}"] if i % 3 == 0 else f"echo-{i}"), (i, result)


def test_an_error_reply_is_that_commands_reply_alone(redis_server):
    client = RespClient(Address("127.0.0.1", redis_server.port), 1.0)

    async def body(client):
        replies = await _pipeline(client, [("SET", "err-k", "v"), ("EVALSHA", "0" * 40, 0), ("GET", "err-k")])
        with pytest.raises(ReplyError) as caught:
            await client.execute("INCR", "err-k")
        return replies, caught.value, await client.execute("GET", "err-k")

    replies, error, after = _run(client, body)
    assert replies[0] == "OK" and replies[2] == "v"
    assert isinstance(replies[1], ReplyError) and str(replies[1]).startswith("NOSCRIPT")
    assert "not an integer" in str(error) and after == "v"


def test_server_killed_mid_flight_fails_every_waiter_then_a_restart_recovers(private_redis):
    """The server holds three batches unanswered (CLIENT PAUSE), then is killed: each batch fails
    with ConnectionError at once, and after a restart the same client logs in again (AUTH)."""
    client = RespClient(Address("127.0.0.1", private_redis.port, password=PASSWORD), 5.0)

    async def body(client):
        assert await client.execute("SET", "killed", "1") == "OK"
        with _admin(private_redis) as admin:
            admin.client_pause(10_000, all=True)
        waiting = [_pipeline(client, [("INCR", "killed")] * 3) for _ in range(2)]
        waiting.append(asyncio.ensure_future(client.execute("GET", "killed")))
        await asyncio.sleep(0.2)
        private_redis.proc.kill()
        private_redis.proc.wait(10)
        started = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 10)
        waited = time.monotonic() - started
        private_redis.proc = None
        private_redis.start()
        return results, waited, await client.execute("INCR", "killed")

    results, waited, after = _run(client, body)
    assert all(isinstance(r, ConnectionError) for r in results), results
    assert len({id(r) for r in results}) == 3  # an exception of its own per batch
    assert waited < 3
    assert after == 1  # the restarted server is empty


def test_a_cancelled_caller_leaves_the_reply_stream_in_step(private_redis):
    client = RespClient(Address("127.0.0.1", private_redis.port, password=PASSWORD), 5.0)

    async def body(client):
        await client.execute("PING")
        with _admin(private_redis) as admin:
            admin.client_pause(300, all=True)  # replies held: every call below is in flight
        calls = [asyncio.ensure_future(client.execute("ECHO", f"m{i}")) for i in range(10)]
        await asyncio.sleep(0.05)
        calls[3].cancel()
        calls[7].cancel()
        results = await asyncio.gather(*calls, return_exceptions=True)
        return results, await client.execute("ECHO", "after")

    results, after = _run(client, body)
    for i, result in enumerate(results):
        if i in (3, 7):
            assert isinstance(result, asyncio.CancelledError)
        else:
            assert result == f"m{i}", (i, result)
    assert after == "after"


def test_acl_user_and_database_from_the_url(private_redis, with_store):
    with _admin(private_redis) as admin:
        admin.acl_setuser("lg-user", enabled=True, passwords=["+user-pw"], keys=["*"], commands=["+@all"])
    url = f"redis://lg-user:user-pw@127.0.0.1:{private_redis.port}/5"

    async def body(store):
        return await store.consume([BucketSpec("in-db-5", 0.0, 3)], [], [], NOW)

    assert with_store(url, body).tokens == (2.0,)
    with redis.Redis(port=private_redis.port, password=PASSWORD, db=5) as db5:
        assert db5.exists("lg:{in-db-5}:b") == 1
    with _admin(private_redis) as db0:
        assert db0.exists("lg:{in-db-5}:b") == 0


@pytest.mark.parametrize("userinfo, path, refused", [
    (":wrong-pw@", "0", "ConnectionError: connecting to 127.0.0.1:{port}: AUTH refused: WRONGPASS"),
    (f":{PASSWORD}@", "99", "ConnectionError: connecting to 127.0.0.1:{port}: SELECT refused: ERR DB index"),
    ("", "0", "ReplyError: NOAUTH"),  # no AUTH sent: the script itself is refused, to its caller
])
def test_a_refused_login_is_unavailable_and_names_no_password(private_redis, with_store, userinfo, path, refused):
    url = f"redis://{userinfo}127.0.0.1:{private_redis.port}/{path}"

    async def body(store):
        with pytest.raises(StoreUnavailable) as caught:
            await store.consume([BucketSpec("login", 0.0, 3)], [], [], NOW)
        return caught.value

    error = with_store(url, body)
    assert refused.format(port=private_redis.port) in str(error)
    assert "wrong-pw" not in str(error) and PASSWORD not in str(error)


def test_no_reply_within_the_timeout_is_unavailable_then_recovers(private_redis, with_store):
    url = f"redis://:{PASSWORD}@127.0.0.1:{private_redis.port}/0?timeout=0.3"
    bucket = [BucketSpec("silent", 0.0, 100)]

    async def body(store):
        assert (await store.consume(bucket, [], [], NOW)).admitted
        with _admin(private_redis) as admin:
            admin.client_pause(1500, all=True)
        started = time.monotonic()
        results = await asyncio.gather(*(store.consume(bucket, [], [], NOW) for _ in range(5)),
                                       return_exceptions=True)
        waited = time.monotonic() - started
        await asyncio.sleep(1.5 - waited + 0.1)  # the pause is over
        return results, waited, await store.consume(bucket, [], [], NOW)

    results, waited, after = with_store(url, body)
    assert all(isinstance(r, StoreUnavailable) and "TimeoutError: no reply within 0.3 s" in str(r)
               for r in results), results
    assert 0.3 <= waited < 1.0
    assert after.admitted


def test_a_login_with_no_answer_times_out(private_redis, with_store):
    url = f"redis://:{PASSWORD}@127.0.0.1:{private_redis.port}/0?timeout=0.3"

    async def body(store):
        with _admin(private_redis) as admin:
            admin.client_pause(1000, all=True)  # AUTH waits too
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await store.consume([BucketSpec("no-login", 0.0, 1)], [], [], NOW)
        return caught.value, time.monotonic() - started

    error, waited = with_store(url, body)
    assert f"TimeoutError: connecting to 127.0.0.1:{private_redis.port}: no answer within 0.3 s" in str(error)
    assert waited < 1.0


def test_a_store_closed_in_one_event_loop_works_in_the_next(redis_server):
    store = open_store(f"redis://127.0.0.1:{redis_server.port}/0")
    bucket = [BucketSpec("two-loops", 0.0, 10)]

    async def one_run():
        try:
            return await store.consume(bucket, [], [], NOW)
        finally:
            await store.close()

    with redis.Redis(port=redis_server.port) as admin:
        admin.delete("lg:{two-loops}:b")
    assert [asyncio.run(one_run()).tokens for _ in range(2)] == [(9.0,), (8.0,)]


@pytest.fixture
def tls_redis(tmp_path):
    """A redis-server with a TLS port (its certificate for 127.0.0.1, self-signed: ``ca.pem``)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "ca.pem")], check=True, capture_output=True, timeout=60)
    tls_port = free_port()
    server = RedisServer(tmp_path, "--tls-port", str(tls_port), "--tls-cert-file", "ca.pem",
                         "--tls-key-file", "key.pem", "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no")
    server.start()
    yield tls_port, tmp_path / "ca.pem"
    server.stop()


def test_rediss_verifies_the_server_with_the_urls_ca(tls_redis, with_store):
    tls_port, ca = tls_redis

    async def body(store):
        await store.ping()
        outcome = await store.consume([BucketSpec("over-tls", 0.0, 3)], [], [], NOW)
        await store.put_record("apikey", "k", {"over": "tls"})
        return outcome, await store.get_record("apikey", "k")

    outcome, record = with_store(f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}", body)
    assert outcome.tokens == (2.0,) and record == {"over": "tls"}

    async def untrusted(store):
        with pytest.raises(StoreUnavailable) as caught:
            await store.consume([BucketSpec("over-tls", 0.0, 3)], [], [], NOW)
        return caught.value

    assert "CERTIFICATE_VERIFY_FAILED" in str(with_store(f"rediss://127.0.0.1:{tls_port}/0", untrusted))
