"""A minimal keep-alive HTTP/1.1 backend for the benchmarks: an asyncio Protocol on uvloop.

Every request, whatever its method or path, is answered ``200`` with the same ~100-byte JSON
body. httptools parses the requests, so pipelined requests and request bodies are handled
correctly, and the connection is closed only when the client asks for it (``Connection: close``
or HTTP/1.0 without keep-alive). It is the upstream of the nginx and lychgate proxy scenarios
and, alone, the "backend direct" scenario. Run it as ``python bench/backend.py --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import httptools
import uvloop

BODY = (b'{"ok":true,"service":"backend","message":"hello from the bench backend",'
        b'"id":"a1b2c3d4e5f60718","n":42}')
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class BackendProtocol(asyncio.Protocol):
    """One client connection: parse requests, queue one canned response per complete request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending = 0
        self.close_after = False

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()
            return
        self._flush()

    def on_message_complete(self) -> None:
        self.pending += 1
        if not self.parser.should_keep_alive():
            self.close_after = True

    def _flush(self) -> None:
        if self.pending:
            self.transport.write(RESPONSE * self.pending)
            self.pending = 0
        if self.close_after:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    """Listen until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BackendProtocol, host, port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"backend: serving on http://{host}:{port}", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
