"""A lean HTTP/1.1 client for backends: httptools parsing, keep-alive pools per origin.

Stock async clients cost 87 µs (aiohttp) to over 1 ms (httpx) per proxied request on this
machine (shared/perf-baseline.md §1); a protocol-level client costs about 10 µs, so the data path
uses this one. It does exactly what a reverse proxy needs: one request in flight per connection,
idle connections reused, Content-Length / chunked / close-delimited bodies, TLS for https, and
errors raised as ``UpstreamError`` (connection failed, reset, garbage) for the caller to map.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque

import httptools

MAX_IDLE_PER_ORIGIN = 256
MAX_RESPONSE_BYTES = 10 * 1024 * 1024 + 65536  # API Gateway caps integration responses at 10 MB


class UpstreamError(Exception):
    """The backend could not be reached or answered something that is not HTTP."""


class UpstreamResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body


class _Connection(asyncio.Protocol):
    """One connection to a backend, carrying one request at a time."""

    __slots__ = ("transport", "loop", "parser", "waiter", "alive", "received_any", "head",
                 "headers", "body", "size", "headers_done", "deadline", "timer", "timer_at")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.alive = True
        self.received_any = False
        self.head = False
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.headers_done = False
        self.deadline = 0.0  # the current request's, in loop time
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0  # when ``timer`` fires

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.loop = asyncio.get_running_loop()

    def connection_lost(self, exc) -> None:
        self.alive = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.waiter is None or self.waiter.done():
            return
        if self.headers_done and not self._framed():
            self._finish()  # a close-delimited body ends with the connection
        else:
            self.waiter.set_exception(UpstreamError("connection closed before a complete response"))

    def _framed(self) -> bool:
        names = {k.lower() for k, _ in self.headers}
        return "content-length" in names or "transfer-encoding" in names

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("backend tried to upgrade the connection"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"backend answered something that is not HTTP/1.x: {exc}"))

    def _fail(self, exc: Exception) -> None:
        self.alive = False
        self.transport.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.head:  # a HEAD response has no body whatever its Content-Length says
            self.alive = False
            self._finish()

    def on_body(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_RESPONSE_BYTES:
            self._fail(UpstreamError("backend response is larger than 10 MB"))
            return
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.alive = False
        self._finish()

    def _finish(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(UpstreamResponse(self.parser.get_status_code(), self.headers, b"".join(self.body)))

    def send(self, head: bytes, head_only: bool, body: bytes, deadline: float) -> asyncio.Future:
        """Send a request; the future is its response, or asyncio.TimeoutError at ``deadline``."""
        # The per-response state is reset here, not in a helper: a call less per request.
        self.headers = []
        self.body = []
        self.size = 0
        self.headers_done = False
        self.head = head_only
        self.received_any = False
        waiter = self.waiter = self.loop.create_future()
        # One timer per connection rather than one per request (a timer costs more than the rest
        # of an exchange): a timer that fires before the current request's deadline re-arms
        # itself for it (``_on_timer``); only a deadline earlier than the armed one needs a new one.
        self.deadline = deadline
        if self.timer is None or deadline < self.timer_at:
            self._arm(deadline)
        if len(body) < 65536:
            self.transport.write(head + body)  # one write, one segment
        else:
            self.transport.writelines((head, body))
        return waiter

    def _arm(self, deadline: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_at(deadline, self._on_timer)
        self.timer_at = deadline

    def _on_timer(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # idle, or the request it was armed for is over
        if self.deadline <= self.timer_at:
            waiter.set_exception(asyncio.TimeoutError())
        else:  # armed for an earlier request on this connection
            self._arm(self.deadline)


class UpstreamPool:
    """Keep-alive connections per origin, ``(scheme, host, port)``."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def request(self, origin: tuple[str, str, int], head: bytes, body: bytes, *, timeout: float,
                      head_only: bool = False) -> UpstreamResponse:
        """Send one request (``head`` is the request line and headers) and read the response;
        asyncio.TimeoutError after ``timeout`` seconds (a timer, not ``wait_for``: no extra task).
        ``head_only``: the request is a HEAD, whose response has no body.

        The exchange on a reused idle connection, the common case, is inline here (one coroutine
        per request); a new connection, and the one retry when the backend had closed an idle
        one (nothing received), go through ``_exchange_fresh``."""
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if conn.alive and not conn.transport.is_closing():
                break
        else:  # no usable idle connection
            deadline = asyncio.get_running_loop().time() + timeout
            return await self._exchange_fresh(origin, head, body, head_only, deadline)
        deadline = conn.loop.time() + timeout
        try:
            response = await conn.send(head, head_only, body, deadline)
        except UpstreamError:
            conn.transport.close()
            if conn.received_any:
                raise
            return await self._exchange_fresh(origin, head, body, head_only, deadline)
        except BaseException:  # timeout or cancellation: the connection's state is unknown
            conn.transport.close()
            raise
        self._release(origin, conn)
        return response

    async def _exchange_fresh(self, origin, head: bytes, body: bytes, head_only: bool,
                              deadline: float) -> UpstreamResponse:
        """One request on a new connection, without retry."""
        conn = await self._connect_before(origin, deadline)
        try:
            response = await conn.send(head, head_only, body, deadline)
        except BaseException:  # failure, timeout or cancellation: the connection is done for
            conn.transport.close()
            raise
        self._release(origin, conn)
        return response

    async def _connect_before(self, origin, deadline: float) -> _Connection:
        remaining = deadline - asyncio.get_running_loop().time()
        return await asyncio.wait_for(self._connect(origin), max(0.0, remaining))

    async def _connect(self, origin) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        ctx = self._ssl_context() if scheme == "https" else None
        try:
            _, conn = await loop.create_connection(_Connection, host, port, ssl=ctx,
                                                   server_hostname=host if ctx else None)
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from exc
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _release(self, origin, conn: _Connection) -> None:
        if conn.alive:
            idle = self._idle.get(origin)
            if idle is None:
                idle = self._idle[origin] = deque()
            if len(idle) < MAX_IDLE_PER_ORIGIN:
                idle.append(conn)
                return
        conn.transport.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.transport.close()
            idle.clear()  # in place: a request in flight puts its connection back in this deque
