"""Fixtures for the state stores: real ``redis-server`` processes on free 127.0.0.1 ports.

A missing ``redis-server`` (or ``redis-cli``, for the cluster) FAILS these fixtures: CI installs
them (apt-get install redis-server), so a skip would hide a broken install.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest
import redis

from helpers import RedisServer, binary, free_port
from lychgate.store import open_store


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """Three masters on free ports, slots spread by ``redis-cli --cluster create``."""
    workdir = tmp_path_factory.mktemp("redis-cluster")
    nodes = [RedisServer(workdir, "--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                         "--cluster-config-file", f"nodes-{n}.conf") for n in range(3)]
    try:
        for node in nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in nodes]
        made = subprocess.run([binary("redis-cli"), "--cluster", "create", *addresses, "--cluster-replicas", "0",
                               "--cluster-yes"], capture_output=True, text=True, timeout=30)
        if made.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed:\n{made.stdout}{made.stderr}", pytrace=False)
        _wait_cluster_ok(nodes)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of the test's own, password ``s3cret-pw``: stopping it disturbs no other test."""
    server = RedisServer(tmp_path, "--requirepass", "s3cret-pw").start()
    yield server
    server.stop()


@pytest.fixture
def unused_port() -> int:
    return free_port()


class CuttingRelay:
    """A TCP relay on 127.0.0.1 to a real redis-server that, once told, passes only N more bytes
    of replies and then closes the client's connection: a connection broken mid-batch.
    ``async with relay:`` serves it on ``relay.port`` within the test's event loop."""

    def __init__(self, target_port: int) -> None:
        self.port, self.target_port = free_port(), target_port
        self._budget: int | None = None
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cut_after(self, size: int | None) -> None:
        self._budget = size

    async def __aenter__(self) -> CuttingRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._server.close()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, client_reader, client_writer) -> None:
        self._relays.add(asyncio.current_task())
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        try:
            await asyncio.gather(self._commands(client_reader, server_writer),
                                 self._replies(server_reader, client_writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for writer in (client_writer, server_writer):
                writer.close()
            self._relays.discard(asyncio.current_task())

    @staticmethod
    async def _commands(reader, writer) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def _replies(self, reader, writer) -> None:
        while data := await reader.read(65536):
            if self._budget is not None and len(data) >= self._budget:
                writer.write(data[:self._budget])
                await writer.drain()
                raise ConnectionError("cut")  # closes both sides
            if self._budget is not None:
                self._budget -= len(data)
            writer.write(data)
            await writer.drain()


@pytest.fixture
def cutting_relay(redis_server) -> CuttingRelay:
    with redis.Redis(port=redis_server.port) as client:
        client.flushall()
    return CuttingRelay(redis_server.port)


def _wait_cluster_ok(nodes: list[RedisServer]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        states = []
        for node in nodes:
            with redis.Redis(port=node.port) as client:
                states.append(client.cluster("info").get("cluster_state"))
        if all(s == "ok" for s in states):
            return
        time.sleep(0.05)
    pytest.fail(f"the Redis cluster did not become ready: {states}", pytrace=False)


def _flush(ports: list[int]) -> None:
    for port in ports:
        with redis.Redis(port=port) as client:
            client.flushall()


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster"])
def store_url(request, tmp_path):
    """A URL for a fresh, empty store of each kind."""
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        _flush([server.port])
        return f"redis://127.0.0.1:{server.port}/0"
    nodes = request.getfixturevalue("redis_cluster")
    _flush([node.port for node in nodes])
    return f"redis+cluster://127.0.0.1:{nodes[0].port}"


@pytest.fixture
def with_store():
    """``with_store(url, body)``: open the store, ``await body(store)``, close it, in one event loop."""

    def run(url: str, body):
        async def main():
            store = open_store(url)
            try:
                return await body(store)
            finally:
                await store.close()

        return asyncio.run(main())

    return run
