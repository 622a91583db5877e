"""A lean Redis client on the event loop: one connection, commands pipelined, replies in order.

The Redis store's hot path (``RedisStore.consume``) goes through it. redis-py's asyncio client
spends ~170 µs of CPU per round-trip on its pool, per-command bookkeeping and timeouts; here a
batch of commands is packed by hiredis (C) and written in one ``transport.write``, and its
replies, parsed by ``hiredis.Reader`` (C) as they arrive, resolve one future. Redis answers the
commands of a connection in the order sent, so the oldest batch waiting owns the next reply.

Failures: a refused or timed-out connect, AUTH or SELECT refused, the connection lost or reset,
no byte from the server for ``timeout`` seconds while replies are awaited, or bytes that are not
RESP: the connection is closed and every batch waiting on it fails (``ConnectionError`` or
``TimeoutError``, one instance per batch); the next batch connects again. An error *reply* (e.g.
NOSCRIPT) is no failure but that command's reply, a ``hiredis.ReplyError``. Nothing is retried:
a command that may have run is never sent twice.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from hiredis import ProtocolError, Reader, ReplyError, pack_command

EMPTY_LAST = b"$0\r\n\r\n"


def pack(command: tuple[Any, ...]) -> bytes:
    """``command`` (str, bytes, int, float arguments) in RESP, as Redis reads it."""
    return pack_command(command)


def pack_prefix(command: tuple[Any, ...]) -> bytes:
    """``command`` in RESP but for its last argument, which stands for a value to come: append
    ``bulk(value)`` to complete it. The constant part is packed once, the value each time."""
    return pack_command((*command[:-1], ""))[:-len(EMPTY_LAST)]


def bulk(value: bytes) -> bytes:
    """One argument in RESP (a bulk string)."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


@dataclass(frozen=True)
class Address:
    """Where to connect and how to log in; ``tls`` builds the TLS context (``rediss://``)."""

    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: Callable[[], ssl.SSLContext] | None = None

    def handshake(self) -> list[tuple[Any, ...]]:
        """The commands a new connection sends before any other: AUTH, SELECT (as redis-py)."""
        commands: list[tuple[Any, ...]] = []
        if self.username or self.password:
            password = self.password or ""
            commands.append(("AUTH", self.username, password) if self.username else ("AUTH", password))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands


class _Batch:
    """Commands written together: how many, their replies so far, the future of the full list."""

    __slots__ = ("size", "replies", "future")

    def __init__(self, size: int, future: asyncio.Future[list[Any]]) -> None:
        self.size, self.replies, self.future = size, [], future


class _Connection(asyncio.Protocol):
    """One open connection: the batches on the wire, oldest first, and the replies as they come."""

    def __init__(self, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._reader = Reader(encoding="utf-8")
        self._waiting: deque[_Batch] = deque()
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._heard = 0.0  # loop time of the last bytes received, or of a send to an idle connection
        self.failed = False  # closed or closing: sends fail, the client opens another connection
        self.closed: asyncio.Future[None] = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def send(self, data: bytes, size: int, future: asyncio.Future[list[Any]]) -> None:
        """Write ``size`` packed commands; ``future`` gets their replies."""
        if self.failed:
            future.set_exception(ConnectionError("the connection was closed"))
            return
        if not self._waiting:  # the timeout counts from now, not from the last reply
            self._heard = self._loop.time()
            if self._timer is None:
                self._timer = self._loop.call_at(self._heard + self._timeout, self._check_timeout)
        self._waiting.append(_Batch(size, future))
        self._transport.write(data)

    def data_received(self, data: bytes) -> None:
        self._heard = self._loop.time()
        reader, waiting = self._reader, self._waiting
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not False:
                batch = waiting[0]  # IndexError: a reply nobody asked for
                batch.replies.append(reply)
                if len(batch.replies) == batch.size:
                    waiting.popleft()
                    if not batch.future.done():
                        batch.future.set_result(batch.replies)
        except (ProtocolError, IndexError) as exc:
            self.abort(ConnectionError, f"unexpected data from the server ({type(exc).__name__}: {exc})")

    def connection_lost(self, exc: Exception | None) -> None:
        self.failed = True
        self._fail_waiting(ConnectionError, f"connection lost: {exc}" if exc else "connection closed by the server")
        if not self.closed.done():
            self.closed.set_result(None)

    def _check_timeout(self) -> None:
        """Armed while replies are awaited: no byte for ``timeout`` seconds is a dead connection."""
        self._timer = None
        if not self._waiting or self.failed:
            return
        due = self._heard + self._timeout
        if self._loop.time() >= due:
            self.abort(TimeoutError, f"no reply within {self._timeout:g} s")
        else:
            self._timer = self._loop.call_at(due, self._check_timeout)

    def abort(self, kind: type[Exception], reason: str) -> None:
        """Close at once, failing every batch waiting with ``kind(reason)``."""
        self.failed = True
        self._transport.abort()
        self._fail_waiting(kind, reason)

    async def close(self) -> None:
        """Close after writing what is buffered; batches still waiting fail."""
        if not self.failed:
            self.failed = True
            self._fail_waiting(ConnectionError, "the client closed the connection")
            self._transport.close()
        await asyncio.wait([self.closed], timeout=self._timeout)
        if not self.closed.done():  # the server never acknowledged (e.g. a TLS close): drop it
            self._transport.abort()

    def _fail_waiting(self, kind: type[Exception], reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, deque()
        for batch in waiting:
            if not batch.future.done():
                batch.future.set_exception(kind(reason))


class RespClient:
    """Redis commands over one connection of this event loop, opened on first use and again after
    any failure. Batches sent while it opens wait for it, and fail with it."""

    def __init__(self, address: Address, timeout: float) -> None:
        self.address, self.timeout = address, timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: _Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._unsent: list[tuple[bytes, int, asyncio.Future[list[Any]]]] = []  # waiting for _connecting

    def pipeline(self, data: bytes, count: int) -> asyncio.Future[list[Any]]:
        """Send ``count`` commands, packed (``pack``) in ``data``, in one write. The future gets their
        replies in order (an error reply as a ``ReplyError``), or the error that lost them all."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        connection = self._connection
        if connection is not None and not connection.failed and self._loop is loop:
            connection.send(data, count, future)
            return future
        if self._loop is not loop:  # first use, or a new loop: what the old one held is gone with it
            self._loop, self._connection, self._connecting, self._unsent = loop, None, None, []
        self._unsent.append((data, count, future))
        if self._connecting is None:
            self._connecting = loop.create_task(self._connect())
        return future

    async def execute(self, *command: Any) -> Any:
        """One command's reply; an error reply is raised."""
        (reply,) = await self.pipeline(pack(command), 1)
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def close(self) -> None:
        if self._loop is not asyncio.get_running_loop():
            return  # never used, or only by a loop that is gone (with its connection)
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.wait([self._connecting])
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def _connect(self) -> None:
        try:
            connection = await asyncio.wait_for(self._open(), self.timeout)
        except BaseException as exc:  # CancelledError too (close): no batch is left waiting
            self._connecting = None
            kind, reason = self._connect_error(exc)
            unsent, self._unsent = self._unsent, []
            for _, _, future in unsent:
                if not future.done():
                    future.set_exception(kind(reason))
            if not isinstance(exc, Exception):
                raise
            return
        self._connecting, self._connection = None, connection
        unsent, self._unsent = self._unsent, []
        for data, size, future in unsent:
            connection.send(data, size, future)

    async def _open(self) -> _Connection:
        address = self.address
        tls = address.tls() if address.tls is not None else None
        _, connection = await self._loop.create_connection(lambda: _Connection(self.timeout), address.host,
                                                           address.port, ssl=tls)
        try:
            await self._handshake(connection)
        except BaseException:
            connection.abort(ConnectionError, "the handshake failed")
            raise
        return connection

    async def _handshake(self, connection: _Connection) -> None:
        commands = self.address.handshake()
        if not commands:
            return
        future = self._loop.create_future()
        connection.send(b"".join(map(pack, commands)), len(commands), future)
        for command, reply in zip(commands, await future):
            if isinstance(reply, ReplyError):  # Redis's message names no password
                raise ConnectionError(f"{command[0]} refused: {reply}")

    def _connect_error(self, exc: BaseException) -> tuple[type[Exception], str]:
        """The kind and reason each waiting batch fails with (one exception instance each)."""
        where = f"connecting to {self.address.host}:{self.address.port}"
        if isinstance(exc, TimeoutError):
            return TimeoutError, f"{where}: no answer within {self.timeout:g} s"
        if isinstance(exc, asyncio.CancelledError):
            return ConnectionError, f"{where}: the client was closed"
        if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):  # ssl.SSLError, a missing CA file
            return ConnectionError, f"{where}: {type(exc).__name__}: {exc}"
        return ConnectionError, f"{where}: {exc}"
