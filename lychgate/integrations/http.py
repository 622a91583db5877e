"""HTTP_PROXY and HTTP integrations: forward the request to a backend over the upstream pool.

HTTP_PROXY passes the method, path parameters, query string, headers and body through and the
backend's response back. The URI may use ``${stageVariables.x}`` and ``{name}`` placeholders,
filled from ``requestParameters`` (``integration.request.path.name``) or else from the path
parameter of that name. HTTP (non-proxy) passes the body through and maps the answer through the
integration responses (selected by the backend's status code).
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote, urlsplit

from lychgate.config.model import Integration
from lychgate.config.references import MissingStageVariable, expand_stage_variables
from lychgate.errors import ApiConfigurationError
from lychgate.integrations.base import IntegrationRequest, backend_error, mapped_response_headers, select_response
from lychgate.messages import Response
from lychgate.templates import parameter_value
from lychgate.upstream import UpstreamError, UpstreamPool, UpstreamResponse

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9._-]+)\}")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade", "host", "content-length", "expect"})
# REST APIs rename these backend response headers to x-amzn-Remapped-<name> (docs/aws-behaviour.md).
REMAPPED = frozenset({"authorization", "connection", "content-md5", "date", "expect", "host",
                      "max-forwards", "proxy-authenticate", "server", "te", "trailer",
                      "transfer-encoding", "upgrade", "user-agent", "via", "www-authenticate"})
DROPPED_RESPONSE = frozenset({"content-length", "connection", "keep-alive", "transfer-encoding"})


# How a request header is forwarded, by its name as sent: passed as is, dropped, merged into
# X-Forwarded-For, or dropped as another X-Forwarded-* (we send our own). Remembered per exact name
# (``_verdict``): clients send the same few names on every request, and a lookup costs half of
# lower-casing and testing each name again. Bounded: names are the client's to choose.
_PASS, _DROP, _FORWARDED_FOR, _FORWARDED_OTHER, _REMAP = 0, 1, 2, 3, 4
_VERDICTS_MAX = 1024
_HOP_BY_HOP_VERDICTS: dict[str, int] = {}  # for the integrations without header mappings (most)
# The same for the backend's response headers: passed, dropped or renamed (_passed_headers).
_RESPONSE_VERDICTS: dict[bool, dict[str, int]] = {True: {}, False: {}}  # REST API? -> name -> verdict

# Characters a path value may hold without percent-encoding; a set test is cheaper than a regex call.
_SAFE_PATH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~/-").issuperset
_CRLF = re.compile(r"[\r\n]")


class _StageTarget:
    """The integration URI for one stage, parsed once: where to connect and how to fill the path."""

    __slots__ = ("origin", "netloc", "what", "host_line", "path_parts", "fixed_query")

    def __init__(self, uri: str):
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or "{" in parts.netloc:
            raise ApiConfigurationError(detail=f"integration URI {uri!r} is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.origin = (parts.scheme, parts.hostname, port)
        self.netloc = parts.netloc
        self.what = f"{parts.scheme}://{parts.netloc}"  # names the backend in error details
        self.host_line = f"Host: {parts.netloc}\r\n"
        # "/a/{x}/b" -> ["/a/", "x", "/b"]: literals at even indexes, placeholder names at odd ones.
        self.path_parts = PLACEHOLDER.split(parts.path or "/")
        self.fixed_query = parts.query


class HttpIntegration:
    def __init__(self, config: Integration, pool: UpstreamPool):
        self.config = config
        self.pool = pool
        self.proxy = config.type == "HTTP_PROXY"
        self.fixed_method = config.http_method if config.http_method not in ("", "ANY") else None
        self._targets: dict[str, _StageTarget] = {}  # stage name -> its target
        params = config.request_parameters
        self._query_mappings = [(t[32:], src) for t, src in params.items()
                                if t.startswith("integration.request.querystring.")]
        self._header_mappings = [(t[27:], src) for t, src in params.items()
                                 if t.startswith("integration.request.header.")]
        # The sent headers that mapped ones replace, when every mapping has a value (the usual case).
        # Shared when there is nothing to add: 10,000 routes would otherwise hold 10,000 copies.
        self._skip_mapped = (HOP_BY_HOP | {name.lower() for name, _ in self._header_mappings}
                             if self._header_mappings else HOP_BY_HOP)
        self._mapped_verdicts: dict[str, int] = {}  # _verdict's memory for _skip_mapped
        # Placeholders mapped from anything but the path parameter of the same name (which is
        # also what an unmapped placeholder takes, without a lookup).
        self._path_sources = {name: src for name, src in ((t[25:], s) for t, s in params.items()
                                                          if t.startswith("integration.request.path."))
                              if src != f"method.request.path.{name}"}

    async def invoke(self, req: IntegrationRequest) -> Response:
        target = self._targets.get(req.stage) or self._target_for(req)
        request = req.request
        method = self.fixed_method or request.method
        head = self._request_head(req, method, self._path_and_query(target, req), target.host_line)
        try:
            answer = await self.pool.request(target.origin, head, request.body, timeout=req.timeout_s,
                                             head_only=method == "HEAD")
        except (asyncio.TimeoutError, UpstreamError) as exc:
            raise backend_error(exc, target.what) from exc
        if self.proxy:
            return Response(answer.status, _passed_headers(answer.headers, req.rest), answer.body)
        return self._mapped_response(answer, req)

    def _target_for(self, req: IntegrationRequest) -> _StageTarget:
        try:
            uri = expand_stage_variables(self.config.uri, req.stage_variables)
        except MissingStageVariable as exc:
            raise ApiConfigurationError(detail=f"stage {req.stage!r} has no stage variable {exc.args[0]!r}",
                                        cause="missing_stage_variable") from None
        target = self._targets[req.stage] = _StageTarget(uri)
        return target

    def _path_and_query(self, target: _StageTarget, req: IntegrationRequest) -> str:
        # Built by concatenation, placeholders filled inline: no lists or helper calls per request.
        parts = target.path_parts
        path = parts[0]
        if (n := len(parts)) > 1:
            sources = self._path_sources
            for i in range(1, n, 2):
                name = parts[i]
                source = sources.get(name)
                value = req.path_parameters.get(name) if source is None else parameter_value(source, req.lookup)
                if value:
                    path += value if _SAFE_PATH(value) else quote(value, safe="/")
                path += parts[i + 1]
        query = target.fixed_query
        if self.proxy and (raw := req.request.raw_query):
            query = f"{query}&{raw}" if query else raw
        for name, source in self._query_mappings:
            value = parameter_value(source, req.lookup)
            if value is not None:
                pair = f"{quote(name, safe='')}={quote(value, safe='')}"
                query = f"{query}&{pair}" if query else pair
        return f"{path}?{query}" if query else path

    def _request_head(self, req: IntegrationRequest, method: str, target: str, host_line: str) -> bytes:
        request = req.request
        source_ip = request.source_ip
        forwarded_for = source_ip
        if self._header_mappings:
            mapped = self._mapped_request_headers(req)
            if len(mapped) == len(self._header_mappings):
                skip, verdicts = self._skip_mapped, self._mapped_verdicts
            else:  # a mapping without a value this time: its header is not replaced, nothing remembered
                skip, verdicts = HOP_BY_HOP | {name.lower() for name, _ in mapped}, {}
        else:
            mapped, skip, verdicts = (), HOP_BY_HOP, _HOP_BY_HOP_VERDICTS
        passed: list[str] = []  # pieces of the passed header lines, joined once below
        for name, value in request.headers:
            verdict = verdicts.get(name)
            if verdict is None:
                verdict = _verdict(name, skip, verdicts)
            if verdict:
                if verdict == _FORWARDED_FOR:
                    forwarded_for = f"{value}, {source_ip}"
                continue
            passed += (name, ": ", value, "\r\n")
        for name, value in mapped:
            passed += (name, ": ", value, "\r\n")
        return (f"{method} {target} HTTP/1.1\r\n{host_line}{''.join(passed)}X-Forwarded-For: {forwarded_for}\r\n"
                f"X-Forwarded-Proto: http\r\nContent-Length: {len(request.body)}\r\n\r\n").encode("latin-1", "replace")

    def _mapped_request_headers(self, req: IntegrationRequest) -> list[tuple[str, str]]:
        out = []
        for name, source in self._header_mappings:
            value = parameter_value(source, req.lookup)
            if value is not None:
                # A mapped value may come from a decoded query string: never let it inject a header.
                out.append((name, _CRLF.sub(" ", value)))
        return out

    def _mapped_response(self, answer: UpstreamResponse, req: IntegrationRequest) -> Response:
        chosen = select_response(self.config.responses, str(answer.status))
        lookup = _with_integration_response(answer, req.lookup)
        headers = [("Content-Type", _content_type(answer))]
        headers += mapped_response_headers(chosen.response_parameters, lookup)
        return Response(chosen.status_code, headers, answer.body)


def _verdict(name: str, skip: frozenset[str], verdicts: dict[str, int]) -> int:
    """How a request header named exactly ``name`` is forwarded past ``skip`` (lower-case names),
    remembered in ``verdicts``."""
    lname = name.lower()
    return _remember(verdicts, name, _DROP if lname in skip else _FORWARDED_FOR if lname == "x-forwarded-for"
                     else _FORWARDED_OTHER if lname.startswith("x-forwarded-") else _PASS)


def _remember(verdicts: dict[str, int], name: str, verdict: int) -> int:
    if len(verdicts) >= _VERDICTS_MAX:
        verdicts.clear()
    verdicts[name] = verdict
    return verdict


def _passed_headers(headers: list[tuple[str, str]], rest: bool) -> list[tuple[str, str]]:
    # One lookup per header by its name as sent, and the backend's own pair passed on as is in
    # the common case (neither dropped nor renamed).
    verdicts = _RESPONSE_VERDICTS[rest]
    out = []
    for header in headers:
        verdict = verdicts.get(header[0])
        if verdict is None:
            verdict = _response_verdict(header[0], rest, verdicts)
        if verdict:
            if verdict == _DROP:
                continue
            header = (f"x-amzn-Remapped-{header[0]}", header[1])
        out.append(header)
    return out


def _response_verdict(name: str, rest: bool, verdicts: dict[str, int]) -> int:
    """Whether a backend response header named exactly ``name`` is passed, dropped or (REST APIs)
    renamed to x-amzn-Remapped-``name``, remembered in ``verdicts``."""
    lname = name.lower()
    return _remember(verdicts, name, _DROP if lname in DROPPED_RESPONSE else _REMAP if rest and lname in REMAPPED
                     else _PASS)


def _content_type(answer: UpstreamResponse) -> str:
    for name, value in answer.headers:
        if name.lower() == "content-type":
            return value
    return "application/json"


def _with_integration_response(answer: UpstreamResponse, lookup):
    headers = {k.lower(): v for k, v in answer.headers}

    def find(name: str) -> str | None:
        if name.startswith("integration.response.header."):
            return headers.get(name[len("integration.response.header."):].lower())
        return lookup(name)
    return find
