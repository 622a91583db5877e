"""The request and response values the pipeline passes around.

A ``Request`` keeps what arrived on the wire untouched (raw percent-encoded path, raw query
string, headers in received order with their original case and repeats) because AWS's event
formats and SigV4 both need the raw forms; decoded views are computed on first use.
"""

from __future__ import annotations

from urllib.parse import unquote


class Request:
    """One HTTP request as received."""

    __slots__ = ("method", "raw_path", "raw_query", "headers", "body", "source_ip",
                 "http_version", "received_at", "_lower", "_query")

    def __init__(self, method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]],
                 body: bytes = b"", source_ip: str = "127.0.0.1", http_version: str = "1.1",
                 received_at: float = 0.0):
        self.method = method
        self.raw_path = raw_path
        self.raw_query = raw_query
        self.headers = headers
        self.body = body
        self.source_ip = source_ip
        self.http_version = http_version
        self.received_at = received_at
        self._lower: dict[str, list[str]] | None = None
        self._query: list[tuple[str, str]] | None = None

    @property
    def header_map(self) -> dict[str, list[str]]:
        """Lower-cased header name -> every value, in received order."""
        if self._lower is None:
            lower: dict[str, list[str]] = {}
            for name, value in self.headers:
                lower.setdefault(name.lower(), []).append(value)
            self._lower = lower
        return self._lower

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of a header, case-insensitively."""
        lname = name.lower()
        if self._lower is None and len(self.headers) <= 8:
            # A few headers: scanning them is cheaper than building the map.
            for key, value in self.headers:
                if key.lower() == lname:
                    return value
            return default
        values = self.header_map.get(lname)
        return values[0] if values else default

    def header_values(self, lname: str) -> list[str]:
        """Every value of a header, named in lower case, in received order (do not mutate)."""
        if self._lower is None and len(self.headers) <= 8:
            return [value for key, value in self.headers if key.lower() == lname]
        return self.header_map.get(lname) or []

    @property
    def query(self) -> list[tuple[str, str]]:
        """Decoded query pairs in order; a key without ``=`` has an empty value."""
        if self._query is None:
            self._query = parse_query(self.raw_query)
        return self._query

    @property
    def path(self) -> str:
        """The percent-decoded path."""
        return unquote(self.raw_path)


def parse_query(raw: str) -> list[tuple[str, str]]:
    """Split a raw query string the way API Gateway does: ``+`` is a space, empty pairs dropped."""
    pairs = []
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name.replace("+", " ")), unquote(value.replace("+", " "))))
    return pairs


class Response:
    """One HTTP response to send."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: list[tuple[str, str]] | None = None, body: bytes = b""):
        self.status = status
        self.headers = headers if headers is not None else []
        self.body = body

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        """Replace every header of that name with one value."""
        lname = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lname]
        self.headers.append((name, value))
