"""The inbound HTTP/1.1 server: an asyncio protocol on httptools, feeding the pipeline.

Chosen over an ASGI server because the data path's budget (shared/perf-baseline.md: ~15 µs per
proxied request for a lean uvloop + httptools path, 18 µs for the ASGI floor alone) leaves no room
for a framework layer. It enforces the limits a front door needs before a request reaches the
pipeline: URL, header and body sizes (413/414/431), header and body read timeouts (slow clients
are dropped, never waited for), keep-alive idle timeout, in-order answers to pipelined requests,
and ``Expect: 100-continue``. Malformed requests get a 400 and the connection is closed.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import os
import time
from collections import deque
from email.utils import formatdate
from http import HTTPStatus

import httptools

from lychgate.config.model import Limits
from lychgate.errors import GatewayError, RequestTooLarge
from lychgate.messages import Request, Response
from lychgate.pipeline.chain import Pipeline
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.runtime import Gateway
from lychgate import responses

LOG = logging.getLogger(__name__)
STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus}
MAX_PIPELINED = 32
HEAD_SLACK = 1024
"""Bytes a head may hold beyond its URL and the header limit (request line, whitespace around values)
before it is refused unfinished."""
_date_cache = [0, ""]


def http_date() -> str:
    """The ``Date`` header line, with its CRLF, formatted once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0], _date_cache[1] = now, f"Date: {formatdate(now, usegmt=True)}\r\n"
    return _date_cache[1]


def status_line(status: int) -> str:
    return STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n"


_ID_BATCH = 256  # requests per random prefix: the two hex digits that end each id
_HEX2 = [f"{n:02x}" for n in range(_ID_BATCH)]
_id_state: list = ["", "", _ID_BATCH]  # request-id prefix, extended-id prefix, next number


def request_ids() -> tuple[str, str]:
    """A UUID-4-shaped ``x-amzn-RequestId`` and an ``x-amz-apigw-id`` shaped like AWS's (16 base64
    characters). Each is a random prefix, drawn from ``os.urandom`` once per 256 requests, and the
    request's number within that batch in two hex digits: unique, unpredictable across batches,
    and two concatenations per request instead of a UUID's formatting."""
    state = _id_state
    n = state[2]
    if n == _ID_BATCH:
        raw = os.urandom(26)
        h = raw[:16].hex()
        state[0] = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[raw[8] & 3]}{h[17:20]}-{h[20:30]}"
        state[1] = binascii.b2a_base64(raw[16:], newline=False).decode()[:13]  # 10 bytes: 13 full characters
        n = 0
    state[2] = n + 1
    suffix = _HEX2[n]
    return state[0] + suffix, state[1] + suffix + "="


class ConnectionState:
    """What all connections of one server share."""

    SWEEP_EVERY_S = 0.25

    def __init__(self, gateway: Gateway, pipeline: Pipeline, limits: Limits):
        self.gateway = gateway
        self.pipeline = pipeline
        self.limits = limits
        self.connections: set[HttpConnection] = set()
        self.in_flight = 0

    async def sweep(self) -> None:
        """Drop connections past their deadline (slow headers or body, idle keep-alive)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.SWEEP_EVERY_S)
            now = loop.time()
            for conn in [c for c in self.connections if c.deadline is not None and c.deadline <= now]:
                conn._timed_out()


class _RejectRequest(Exception):
    """Stop reading this request: answer ``status`` and close."""

    def __init__(self, status: int, message: str, error: GatewayError | None = None):
        self.status, self.message, self.error = status, message, error


class HttpConnection(asyncio.Protocol):
    def __init__(self, state: ConnectionState):
        self.state = state
        self.limits = state.limits
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[tuple[Request, bool]] = deque()
        self.worker: asyncio.Task | None = None
        self.wakeup: asyncio.Future | None = None  # set while the worker waits for the next request
        self.busy = False  # a request is in the pipeline or being written
        # Loop time after which the connection is dropped, checked by the server's sweep
        # (ConnectionState.sweep): a plain attribute, no timer per request.
        self.deadline: float | None = None
        self.closing = False
        self.paused = False  # reading paused: too many pipelined requests queued
        self.peer = "127.0.0.1"
        self.in_message = False  # the other fields of a message are set by on_message_begin
        self.in_head = False  # from a message's begin to the end of its headers
        self.chunk_bytes = 0  # the size of the chunk being parsed

    # connection lifecycle
    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = peer[0]
        self.state.connections.add(self)
        self.deadline = self.loop.time() + self.limits.keepalive_timeout_s

    def connection_lost(self, exc) -> None:
        self.state.connections.discard(self)
        self.transport = None
        self.deadline = None
        if self.worker is not None and not self.worker.done():
            self.worker.cancel()

    def _timed_out(self) -> None:
        """Idle keep-alive, or a client too slow sending headers or body: drop it."""
        self.deadline = None
        if self.in_message and not self.queue and not self.busy:
            self._reject(_RejectRequest(408, "Request Timeout"))
        elif self.transport is not None and not self.queue and not self.busy:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.in_head:  # a head an earlier chunk began: count this chunk too
            self.head_bytes += len(data)
        self.chunk_bytes = len(data)
        try:
            self.parser.feed_data(data)
            if self.in_head and self.head_bytes > self.limits.max_header_bytes + self.limits.max_url_bytes + HEAD_SLACK:
                raise _RejectRequest(431, "Request Header Fields Too Large")  # and still no end of head
        except _RejectRequest as exc:
            self._reject(exc)
        except httptools.HttpParserError as exc:
            # httptools wraps what a callback raised; a _RejectRequest says what to answer.
            cause = exc.__context__ if isinstance(exc.__context__, _RejectRequest) else None
            self._reject(cause or _RejectRequest(400, "Bad Request"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.in_head = True
        self.head_bytes = self.chunk_bytes  # at most: the head may start within this chunk
        self.body: list[bytes] = []
        self.body_size = 0
        self.in_message = True
        self.deadline = self.loop.time() + self.limits.header_timeout_s

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.limits.max_url_bytes:
            raise _RejectRequest(414, "Request-URI Too Long")

    def on_header(self, name: bytes, value: bytes) -> None:
        # The limits are checked when the head ends (``on_headers_complete``), or after each chunk
        # while it has not (``data_received``): per header, checks would cost more than the header.
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.in_head = False
        headers = self.headers
        if len(headers) > self.limits.max_headers or (
                # the chunks the head came in bound its size: most heads need no count
                self.head_bytes > self.limits.max_header_bytes and _header_bytes(headers) > self.limits.max_header_bytes):
            raise _RejectRequest(431, "Request Header Fields Too Large")
        for name, value in headers:
            if len(name) == 14 and name.lower() == "content-length":
                if value.isdigit() and int(value) > self.limits.max_body_bytes:
                    raise _RejectRequest(413, "Request Entity Too Large", RequestTooLarge())
            elif len(name) == 6 and name.lower() == "expect" and value.lower() == "100-continue":
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.deadline = self.loop.time() + self.limits.body_timeout_s

    def on_body(self, chunk: bytes) -> None:
        self.body_size += len(chunk)
        if self.body_size > self.limits.max_body_bytes:
            raise _RejectRequest(413, "Request Entity Too Large", RequestTooLarge())
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        self.deadline = None
        self.in_message = False
        url = self.url
        if url[:1] == b"/" and b"#" not in url:  # origin form, the usual one
            path, _, query = url.decode("latin-1").partition("?")
        else:
            path, query = _split_target(url)
        body = self.body
        request = Request(self.parser.get_method().decode(), path, query, self.headers,
                          body[0] if len(body) == 1 else b"".join(body), self.peer, self.parser.get_http_version(),
                          time.time())
        self.queue.append((request, self.parser.should_keep_alive()))
        if len(self.queue) >= MAX_PIPELINED:
            self.transport.pause_reading()
            self.paused = True
        if self.worker is None:
            self.worker = self.loop.create_task(self._serve_queue())
        elif self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)

    # answering
    async def _serve_queue(self) -> None:
        """Answer queued requests one by one, so pipelined responses keep their order.

        One task per connection for its whole life (a keep-alive client's next request wakes it
        through a future): cheaper than a task per request.
        """
        state = self.state
        while self.transport is not None:
            if not self.queue:
                if not self.in_message:
                    self.deadline = self.loop.time() + self.limits.keepalive_timeout_s
                self.wakeup = self.loop.create_future()
                await self.wakeup
                self.wakeup = None
                continue
            request, keep_alive = self.queue.popleft()
            request_id, extended_id = request_ids()
            ctx = RequestContext(state.gateway, request, request_id, extended_id, time.perf_counter())
            state.in_flight += 1
            self.busy = True
            try:
                await state.pipeline.run(ctx)
            finally:
                state.in_flight -= 1
            keep_alive = keep_alive and not self.closing
            if self.transport is None:
                return
            self._write(ctx.response, request, keep_alive)
            self.busy = False
            state.pipeline.finish(ctx)
            if not keep_alive:
                self.transport.close()
                return
            if self.paused and len(self.queue) < MAX_PIPELINED:
                self.paused = False
                self.transport.resume_reading()

    def _write(self, response: Response, request: Request, keep_alive: bool) -> None:
        headers = response.headers
        fields = ""
        for name, value in headers:  # += on a str: cheaper here than a join of a comprehension
            fields += f"{name}: {value}\r\n"
        if fields.count("\n") != len(headers) or fields.count("\r") != len(headers):
            # A CR or LF inside a name or value would let a backend or handler inject headers.
            fields = "".join([f"{_one_line(name)}: {_one_line(value)}\r\n" for name, value in headers])
        body = response.body
        head = (f"{status_line(response.status)}{fields}{http_date()}Content-Length: {len(body)}\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n").encode("latin-1", "replace")
        self.transport.write(head + body if request.method != "HEAD" else head)

    def _reject(self, exc: _RejectRequest) -> None:
        """Answer a request that cannot be read, then close the connection."""
        if self.transport is None:
            return
        if exc.error is not None:
            response = responses.render(exc.error, None, lambda name: None)
        else:
            body = b'{"message":"%s"}' % exc.message.encode()
            response = Response(exc.status, [("Content-Type", "application/json")], body)
        self.queue.clear()
        self._write(response, Request("GET", "/", "", []), keep_alive=False)
        self.transport.close()

    def shutdown(self) -> None:
        """Graceful stop: finish what is in flight, then close; idle connections close now."""
        self.closing = True
        if self.transport is not None and not self.busy and not self.in_message:
            self.transport.close()


def _header_bytes(headers: list[tuple[str, str]]) -> int:
    """What the header size limit counts: each name and value, with ": " and CRLF."""
    size = 0
    for name, value in headers:
        size += len(name) + len(value) + 4
    return size


def _split_target(url: bytes) -> tuple[str, str]:
    """Path and raw query of a request target in absolute form (via httptools), or ``*``."""
    parsed = httptools.parse_url(url) if url != b"*" else None
    path = parsed.path.decode("latin-1") if parsed and parsed.path else "/"
    return path, parsed.query.decode("latin-1") if parsed and parsed.query else ""


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")
