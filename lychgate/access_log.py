"""Access logs: one line per request in the stage's ``accessLogSettings.format`` (spec §10).

The format is compiled once into literal text and ``$context.*`` variables; an empty value is
printed as ``-`` as AWS does. In a JSON format, values are escaped so a line stays valid JSON.
Secrets never reach the log: variables that would carry an API key or a token are redacted.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Callable, TextIO

from lychgate.config.model import AccessLogSettings

VARIABLE = re.compile(r"\$(?:\{(context\.[A-Za-z0-9_.-]+)\}|(context\.[A-Za-z0-9_.-]*[A-Za-z0-9_]))")
REDACTED_VARIABLES = frozenset({"context.identity.apiKey", "context.authorizer.token",
                                "context.identity.accessKey"})
REDACTED = "[redacted]"
# AWS's error texts for a malformed Authorization header quote the header; the response may
# (the client sent it), the log must not.
ECHOING_VARIABLES = frozenset({"context.error.message", "context.error.messageString"})


def compile_format(fmt: str) -> list[str | tuple[str]]:
    """Literal strings and 1-tuples of variable names, in order."""
    parts: list[str | tuple[str]] = []
    pos = 0
    for match in VARIABLE.finditer(fmt):
        parts.append(fmt[pos:match.start()])
        parts.append((match.group(1) or match.group(2),))
        pos = match.end()
    parts.append(fmt[pos:])
    return [p for p in parts if p != ""]


def render(parts: list[str | tuple[str]], lookup: Callable[[str], str | None], json_escape: bool) -> str:
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        name = part[0]
        value = lookup(name)
        if value is None or value == "":
            value = "-"
        elif name in REDACTED_VARIABLES:
            value = REDACTED
        elif name in ECHOING_VARIABLES:
            value = _without_credentials(value, lookup)
        out.append(json.dumps(value)[1:-1] if json_escape else value)
    return "".join(out)


def _without_credentials(text: str, lookup: Callable[[str], str | None]) -> str:
    """``text`` with the request's credential headers, and every longer piece of them, redacted."""
    secrets: set[str] = set()
    for header in ("Authorization", "X-Api-Key", "X-Amz-Security-Token"):
        value = (lookup(f"method.request.header.{header}") or "").strip()
        if len(value) >= 8:
            secrets.add(value)
            secrets.update(piece for piece in re.split(r"[\s,]+", value) if len(piece) >= 8)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


class AccessLogWriter:
    """Renders and writes lines for one stage."""

    def __init__(self, settings: AccessLogSettings, stream: TextIO, owned: bool):
        self.parts = compile_format(settings.format)
        self.json = settings.format.lstrip().startswith("{")
        self.stream = stream
        self.owned = owned

    @classmethod
    def open(cls, settings: AccessLogSettings) -> "AccessLogWriter":
        if settings.destination in ("stdout", "-"):
            return cls(settings, sys.stdout, False)
        if settings.destination == "stderr":
            return cls(settings, sys.stderr, False)
        return cls(settings, open(settings.destination, "a", encoding="utf-8", buffering=1), True)

    def write(self, lookup: Callable[[str], str | None]) -> None:
        self.stream.write(render(self.parts, lookup, self.json) + "\n")
        if not self.owned:
            self.stream.flush()

    def close(self) -> None:
        if self.owned:
            self.stream.close()
