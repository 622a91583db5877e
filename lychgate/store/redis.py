"""Redis state store (``redis://``, ``rediss://``, ``redis+cluster://``): shared by many hosts.

Each ``consume`` is ONE Lua script (``CONSUME``) run server-side, so the read-refill-decide-write
of every bucket, counter and tally is atomic across processes and hosts, in one round-trip
(EVALSHA; EVAL once more only after the server lost its script cache, e.g. a restart). Keys are
``lg:{<key>}:b`` (bucket hash: t = tokens, ts = last update), ``lg:{<key>}:c:<window>`` (counter),
``lg:{<key>}:t:<window>`` (tally) and ``lg:r:<kind>`` (records hash); ``{<key>}`` is a cluster hash
tag (``{``, ``}`` and ``%`` in keys are %-escaped), so everything of one bucket/quota/usage key, and
of several using the same key string, lives in one slot. On a cluster, keys of one ``consume``
that fall in different slots are sent as one script per slot, concurrently (one round-trip of
latency); if any refuses, the admitted ones are given back with ``REFUND``. Between the two, a
concurrent request may see the taken tokens, so a cluster can briefly under-admit, never over-admit.
Bucket keys expire a minute after they would be full again; counters and tallies at their window's
``expires_at``. Every Redis failure becomes ``StoreUnavailable``; redis-py reconnects on the next call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from lychgate.store.base import (BucketSpec, Counter, Outcome, StoreUnavailable, Tally, encode_record,
                                 first_refusal, float_param, parse_query, redact)

MAX_CONNECTIONS = 50
"""Redis connections per store (per process); more concurrent calls wait up to ``timeout`` for one.
A URL's ``?max_connections=N`` overrides it."""

CONSUME = """
local now, nb, nc, nt = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cbase, tbase = 4 + 2 * nb, 4 + 2 * nb + 2 * nc
local tokens, lasts, counts = {}, {}, {}
local kind, index = '', 0
for i = 1, nb do
  local rate, burst = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  local state = redis.call('HMGET', KEYS[i], 't', 'ts')
  local t, last = tonumber(state[1]), tonumber(state[2])
  if t == nil or last == nil then
    tokens[i], lasts[i] = burst, now
  else
    tokens[i], lasts[i] = math.min(burst, t + math.max(0, now - last) * rate), math.max(now, last)
  end
end
for j = 1, nc do
  counts[j] = tonumber(redis.call('GET', KEYS[nb + j]) or '0')
  if kind == '' and counts[j] >= tonumber(ARGV[cbase + 2 * j - 1]) then kind, index = 'counter', j - 1 end
end
for i = 1, nb do
  if kind == '' and tokens[i] < 1 - 1e-9 then kind, index = 'bucket', i - 1 end
end
if kind == '' then
  for i = 1, nb do
    local rate, burst = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
    tokens[i] = tokens[i] - 1
    redis.call('HSET', KEYS[i], 't', string.format('%.17g', tokens[i]), 'ts', string.format('%.17g', lasts[i]))
    local ms = 0
    if rate > 0 then ms = math.ceil(((burst - tokens[i]) / rate + 60) * 1000) end
    if ms > 0 and ms < 3e11 then
      redis.call('PEXPIRE', KEYS[i], string.format('%d', ms))
    else
      redis.call('PERSIST', KEYS[i])
    end
  end
  for j = 1, nc do
    counts[j] = redis.call('INCR', KEYS[nb + j])
    redis.call('EXPIRE', KEYS[nb + j], ARGV[cbase + 2 * j])
  end
  for k = 1, nt do
    redis.call('INCR', KEYS[nb + nc + k])
    redis.call('EXPIRE', KEYS[nb + nc + k], ARGV[tbase + k])
  end
end
local out = {kind, index}
for i = 1, nb do out[#out + 1] = string.format('%.17g', tokens[i]) end
for j = 1, nc do out[#out + 1] = counts[j] end
return out
"""

REFUND = """
local now, nb, nc, nt = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 1, nb do
  local rate, burst = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  local state = redis.call('HMGET', KEYS[i], 't', 'ts')
  local t, last = tonumber(state[1]), tonumber(state[2])
  if t ~= nil and last ~= nil then
    t = math.min(burst, math.min(burst, t + math.max(0, now - last) * rate) + 1)
    redis.call('HSET', KEYS[i], 't', string.format('%.17g', t), 'ts', string.format('%.17g', math.max(now, last)))
  end
end
for j = 1, nc + nt do
  if tonumber(redis.call('GET', KEYS[nb + j]) or '0') > 0 then redis.call('DECR', KEYS[nb + j]) end
end
return 1
"""


@dataclass
class _Group:
    """The buckets, counters and tallies (indices into the request) that share one cluster slot."""

    buckets: list[int] = field(default_factory=list)
    counters: list[int] = field(default_factory=list)
    tallies: list[int] = field(default_factory=list)


def _tag(key: str) -> str:
    """``{key}`` with braces and ``%`` escaped, so the hash tag is exactly the key."""
    return "{" + key.replace("%", "%25").replace("{", "%7B").replace("}", "%7D") + "}"


def bucket_name(key: str) -> str:
    return f"lg:{_tag(key)}:b"


def counter_name(key: str, window: str) -> str:
    return f"lg:{_tag(key)}:c:{window}"


def tally_name(key: str, window: str) -> str:
    return f"lg:{_tag(key)}:t:{window}"


def _ttl(expires_at: float, now: float) -> int:
    """Seconds from ``now`` to ``expires_at`` (relative, so server/caller clock skew is moot)."""
    return max(1, math.ceil(expires_at - now))


class RedisStore:
    """A ``CounterStore`` on Redis or a Redis Cluster (see the module docstring)."""

    def __init__(self, client: Any, url: str, cluster: bool, connections: int = MAX_CONNECTIONS) -> None:
        self._client, self.url, self._cluster = client, redact(url), cluster
        self._sha = {script: None for script in (CONSUME, REFUND)}
        self._ready = False  # cluster: topology known; False again after any failure
        self._init_lock = asyncio.Lock()
        self._gate = asyncio.Semaphore(connections)  # cluster: its pools raise instead of waiting

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        cluster = scheme.endswith("+cluster")
        _validate(url, parts, cluster)
        params = parse_query(url)
        timeout = float_param(url, params, "timeout", 1.0)
        query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("timeout="))
        plain = urlunsplit((scheme.removesuffix("+cluster"), parts.netloc, parts.path, query, ""))
        options: dict[str, Any] = dict(socket_timeout=timeout, socket_connect_timeout=timeout,
                                       decode_responses=True)
        connections = params.get("max_connections", str(MAX_CONNECTIONS))
        if not connections.isdigit() or int(connections) < 1:
            raise ValueError(f"state store URL {redact(url)}: max_connections must be a positive integer")
        if cluster:  # no command retries: a retried script could apply twice (see _send)
            client = RedisCluster.from_url(plain, retry=Retry(NoBackoff(), 0), max_connections=int(connections),
                                           **options)
            return cls(client, url, True, int(connections))
        pool = aioredis.BlockingConnectionPool.from_url(plain, retry=Retry(NoBackoff(), 1), timeout=timeout,
                                                       max_connections=int(connections), **options)
        return cls(aioredis.Redis.from_pool(pool), url, False)

    async def _send(self, method: str, *args: Any) -> Any:
        """``client.<method>(*args)``; every failure but NOSCRIPT becomes ``StoreUnavailable``.

        A standalone client retries once on a broken connection (a stale pooled socket after a
        server restart); should the script have run before the break it runs twice, which takes
        one token too many (under-admits), never too few. redis-py's cluster client re-reads the
        topology when a command fails, and commands that start meanwhile may fail (even with
        AttributeError) after running; so cluster commands are not retried, wait for the topology
        under a lock after any failure, and stay within the per-node connection pools.
        """
        try:
            if not self._cluster:
                return await getattr(self._client, method)(*args)
            async with self._gate:
                if not self._ready:
                    async with self._init_lock:
                        await self._client.initialize()
                        self._ready = True
                return await getattr(self._client, method)(*args)
        except NoScriptError:
            raise
        except (RedisError, RedisClusterException, OSError, AttributeError) as exc:
            self._ready = False
            raise StoreUnavailable(self.url, f"{type(exc).__name__}: {exc}") from exc

    async def _script(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run ``script`` by its SHA1, sending the body (EVAL) only when the server lacks it."""
        sha = self._sha[script]
        if sha is not None:
            try:
                return await self._send("evalsha", sha, len(keys), *keys, *args)
            except NoScriptError:
                pass
        result = await self._send("eval", script, len(keys), *keys, *args)
        self._sha[script] = _sha1(script)
        return result

    async def consume(self, buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                      tallies: Sequence[Tally], now: float) -> Outcome:
        if not (buckets or counters or tallies):
            return Outcome(None, (), ())
        groups = self._groups(buckets, counters, tallies)
        if len(groups) == 1:
            return await self._consume_group(groups[0], buckets, counters, tallies, now)
        return await self._consume_spread(groups, buckets, counters, tallies, now)

    def _groups(self, buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                tallies: Sequence[Tally]) -> list[_Group]:
        """One group on a single server; on a cluster, one group per slot touched."""
        if not self._cluster:
            return [_Group(list(range(len(buckets))), list(range(len(counters))), list(range(len(tallies))))]
        groups: dict[int, _Group] = {}
        for kind, items in (("buckets", buckets), ("counters", counters), ("tallies", tallies)):
            for i, item in enumerate(items):
                getattr(groups.setdefault(key_slot(_tag(item.key).encode()), _Group()), kind).append(i)
        return list(groups.values())

    async def _consume_group(self, group: _Group, buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                             tallies: Sequence[Tally], now: float) -> Outcome:
        """Run CONSUME for one group; the Outcome's indices are the group's own."""
        keys, args = _script_input(group, buckets, counters, tallies, now)
        reply = await self._script(CONSUME, keys, args)
        nb = len(group.buckets)
        refused = (reply[0], int(reply[1])) if reply[0] else None
        return Outcome(refused, tuple(float(t) for t in reply[2:2 + nb]), tuple(int(c) for c in reply[2 + nb:]))

    async def _consume_spread(self, groups: list[_Group], buckets: Sequence[BucketSpec],
                              counters: Sequence[Counter], tallies: Sequence[Tally], now: float) -> Outcome:
        """Cluster, several slots: consume per slot concurrently, give back if any refused."""
        replies = await asyncio.gather(*(self._consume_group(g, buckets, counters, tallies, now) for g in groups),
                                       return_exceptions=True)
        failed = [r for r in replies if isinstance(r, BaseException)]
        admitted = [g for g, r in zip(groups, replies) if isinstance(r, Outcome) and r.admitted]
        if failed or len(admitted) < len(groups):
            await self._refund(admitted, buckets, counters, tallies, now)
        if failed:
            raise failed[0]
        everyone = len(admitted) == len(groups)
        tokens, counts = [0.0] * len(buckets), [0] * len(counters)
        for group, outcome in zip(groups, replies):
            undo = 1 if outcome.admitted and not everyone else 0  # given back by _refund
            for n, i in enumerate(group.buckets):
                tokens[i] = outcome.tokens[n] + undo
            for n, i in enumerate(group.counters):
                counts[i] = outcome.counts[n] - undo
        refused = None if everyone else first_refusal(tokens, counts, counters)
        return Outcome(refused, tuple(tokens), tuple(counts))

    async def _refund(self, groups: list[_Group], buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                      tallies: Sequence[Tally], now: float) -> None:
        inputs = [_script_input(g, buckets, counters, tallies, now) for g in groups]
        await asyncio.gather(*(self._script(REFUND, keys, args) for keys, args in inputs))

    async def read_tallies(self, key: str, windows: Sequence[str]) -> list[int]:
        if not windows:
            return []
        values = await self._send("mget", [tally_name(key, w) for w in windows])
        return [int(v or 0) for v in values]

    async def put_record(self, kind: str, id: str, value: dict[str, Any]) -> None:
        await self._send("hset", f"lg:r:{kind}", id, encode_record(kind, id, value))

    async def get_record(self, kind: str, id: str) -> dict[str, Any] | None:
        raw = await self._send("hget", f"lg:r:{kind}", id)
        return None if raw is None else json.loads(raw)

    async def list_records(self, kind: str) -> dict[str, dict[str, Any]]:
        raw = await self._send("hgetall", f"lg:r:{kind}")
        return {id: json.loads(raw[id]) for id in sorted(raw)}

    async def delete_record(self, kind: str, id: str) -> bool:
        return bool(await self._send("hdel", f"lg:r:{kind}", id))

    async def ping(self) -> None:
        await self._send("ping")

    async def close(self) -> None:
        await self._client.aclose()


def _script_input(group: _Group, buckets: Sequence[BucketSpec], counters: Sequence[Counter],
                  tallies: Sequence[Tally], now: float) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV for CONSUME/REFUND, in the layout the scripts read."""
    keys = [bucket_name(buckets[i].key) for i in group.buckets]
    keys += [counter_name(counters[i].key, counters[i].window) for i in group.counters]
    keys += [tally_name(tallies[i].key, tallies[i].window) for i in group.tallies]
    args: list[Any] = [repr(float(now)), len(group.buckets), len(group.counters), len(group.tallies)]
    for i in group.buckets:
        args += [repr(float(buckets[i].rate)), buckets[i].burst]
    for i in group.counters:
        args += [counters[i].limit, _ttl(counters[i].expires_at, now)]
    args += [_ttl(tallies[i].expires_at, now) for i in group.tallies]
    return keys, args


def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


def _validate(url: str, parts: Any, cluster: bool) -> None:
    """ValueError naming the (redacted) URL unless it has a host, a valid port and db."""
    where = f"state store URL {redact(url)}"
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{where}: the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"{where}: a host is required, e.g. redis://127.0.0.1:6379/0")
    if port == 0:
        raise ValueError(f"{where}: the port must be a number from 1 to 65535")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ValueError(f"{where}: the path must be a database number, e.g. /0, got {parts.path!r}")
    if cluster and db not in ("", "0"):
        raise ValueError(f"{where}: a Redis Cluster has only database 0")
