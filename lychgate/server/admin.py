"""The admin endpoint: ``GET /explain/{request-id}`` on 127.0.0.1, for ``lychgate explain``.

Each worker process listens on its own loopback port, protected by a bearer token generated at
start-up; it registers itself in a file under the temp folder (mode 0600) so ``lychgate explain``
can find every running gateway without being told a port.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import secrets
import tempfile
from pathlib import Path

from lychgate.pipeline.explain import explanation
from lychgate.pipeline.runtime import Gateway

REGISTRY = Path(tempfile.gettempdir()) / "lychgate-admin"


def new_token() -> str:
    return secrets.token_urlsafe(24)


class AdminServer:
    def __init__(self, gateway: Gateway, token: str, serving_url: str):
        self.gateway = gateway
        self.token = token
        self.serving_url = serving_url
        self.server: asyncio.base_events.Server | None = None
        self.file = REGISTRY / f"{os.getpid()}.json"

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        REGISTRY.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"admin": url, "token": self.token, "serving": self.serving_url, "pid": os.getpid()}, out)
        return url

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.file.unlink(missing_ok=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            status, body = self._answer(head.decode("latin-1"))
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, UnicodeError):
            status, body = 400, {"message": "Bad Request"}
        payload = json.dumps(body).encode()
        writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (status, len(payload), payload))
        await writer.drain()
        writer.close()

    def _answer(self, head: str) -> tuple[int, dict]:
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
        scheme, _, given = headers.get("authorization", "").partition(" ")
        # The token alone, without "Bearer ", is refused like any other malformed credential.
        if not hmac.compare_digest(given.encode(), self.token.encode()) or scheme.lower() != "bearer":
            return 401, {"message": "Unauthorized"}
        if len(parts) < 2 or not parts[1].startswith("/explain/"):
            return 404, {"message": "Not Found"}
        record = self.gateway.traces.get(parts[1][len("/explain/"):])
        if record is None:
            return 404, {"message": "no such request id in this gateway's recent requests"}
        return 200, explanation(record)


def registered() -> list[dict]:
    """Admin endpoints of running gateways on this machine."""
    found = []
    for file in sorted(REGISTRY.glob("*.json")) if REGISTRY.is_dir() else []:
        try:
            info = json.loads(file.read_text())
            os.kill(info["pid"], 0)
        except (OSError, ValueError, KeyError):
            continue
        found.append(info)
    return found
