"""HTTP_PROXY and HTTP integrations: forward the request to a backend over the upstream pool.

HTTP_PROXY passes the method, path parameters, query string, headers and body through and the
backend's response back. The URI may use ``${stageVariables.x}`` and ``{name}`` placeholders,
filled from ``requestParameters`` (``integration.request.path.name``) or else from the path
parameter of that name. HTTP (non-proxy) passes the body through and maps the answer through the
integration responses (selected by the backend's status code).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from lychgate.config.model import Integration
from lychgate.config.references import MissingStageVariable, expand_stage_variables
from lychgate.errors import ApiConfigurationError
from lychgate.integrations.base import (IntegrationRequest, backend_errors, mapped_response_headers,
                                        select_response)
from lychgate.messages import Response
from lychgate.templates import parameter_value
from lychgate.upstream import UpstreamPool, UpstreamResponse

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9._-]+)\}")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade", "host", "content-length", "expect"})
# REST APIs rename these backend response headers to x-amzn-Remapped-<name> (docs/aws-behaviour.md).
REMAPPED = frozenset({"authorization", "connection", "content-md5", "date", "expect", "host",
                      "max-forwards", "proxy-authenticate", "server", "te", "trailer",
                      "transfer-encoding", "upgrade", "user-agent", "via", "www-authenticate"})
DROPPED_RESPONSE = frozenset({"content-length", "connection", "keep-alive", "transfer-encoding"})


class HttpIntegration:
    def __init__(self, config: Integration, pool: UpstreamPool):
        self.config = config
        self.pool = pool
        self.proxy = config.type == "HTTP_PROXY"
        self._origins: dict[str, tuple] = {}  # stage name -> the URI parsed once (request-independent parts)
        self._query_mappings = [(t[32:], src) for t, src in config.request_parameters.items()
                                if t.startswith("integration.request.querystring.")]

    async def invoke(self, req: IntegrationRequest) -> Response:
        scheme, host, port, target, host_header = self._target(req)
        method = req.request.method if self.config.http_method in ("", "ANY") else self.config.http_method
        head = self._request_head(req, method, target, host_header)
        with backend_errors(f"{scheme}://{host_header}"):
            answer = await self.pool.request(scheme, host, port, head, req.request.body, method, req.timeout_s)
        return self._response(answer, req)

    def _target(self, req: IntegrationRequest) -> tuple[str, str, int, str, str]:
        origin = self._origins.get(req.stage)
        if origin is None:
            origin = self._parse_origin(req)
        scheme, host, port, netloc, path, query = origin
        if "{" in path:
            path = PLACEHOLDER.sub(lambda m: self._path_value(m.group(1), req), path)
        return scheme, host, port, self._path_and_query(path, query, req), netloc

    def _parse_origin(self, req: IntegrationRequest) -> tuple:
        """The stage's URI, parsed once: scheme, host, port, netloc, path template, fixed query."""
        try:
            uri = expand_stage_variables(self.config.uri, req.stage_variables)
        except MissingStageVariable as exc:
            raise ApiConfigurationError(detail=f"stage {req.stage!r} has no stage variable {exc.args[0]!r}",
                                        cause="missing_stage_variable") from None
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or "{" in parts.netloc:
            raise ApiConfigurationError(detail=f"integration URI {uri!r} is not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin = (parts.scheme, parts.hostname, port, parts.netloc, parts.path or "/", parts.query)
        self._origins[req.stage] = origin
        return origin

    def _path_value(self, name: str, req: IntegrationRequest) -> str:
        mapping = self.config.request_parameters.get(f"integration.request.path.{name}")
        value = parameter_value(mapping, req.lookup) if mapping else req.path_parameters.get(name)
        return quote(value or "", safe="/")

    def _path_and_query(self, path: str, fixed_query: str, req: IntegrationRequest) -> str:
        query = [q for q in (fixed_query, req.request.raw_query if self.proxy else "") if q]
        for name, source in self._query_mappings:
            value = parameter_value(source, req.lookup)
            if value is not None:
                query.append(f"{quote(name, safe='')}={quote(value, safe='')}")
        return f"{path}?{'&'.join(query)}" if query else path

    def _request_head(self, req: IntegrationRequest, method: str, target: str, host: str) -> bytes:
        request = req.request
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        mapped = self._mapped_request_headers(req)
        skip = HOP_BY_HOP | {name.lower() for name, _ in mapped}
        forwarded_for = request.source_ip
        for name, value in request.headers:
            lname = name.lower()
            if lname == "x-forwarded-for":
                forwarded_for = f"{value}, {request.source_ip}"
            elif lname not in skip and not lname.startswith("x-forwarded-"):
                lines.append(f"{name}: {value}")
        lines += [f"{name}: {value}" for name, value in mapped]
        lines += [f"X-Forwarded-For: {forwarded_for}", "X-Forwarded-Proto: http",
                  f"Content-Length: {len(request.body)}", "", ""]
        return "\r\n".join(lines).encode("latin-1", "replace")

    def _mapped_request_headers(self, req: IntegrationRequest) -> list[tuple[str, str]]:
        out = []
        for target, source in self.config.request_parameters.items():
            if target.startswith("integration.request.header."):
                value = parameter_value(source, req.lookup)
                if value is not None:
                    out.append((target[len("integration.request.header."):], value))
        return out

    def _response(self, answer: UpstreamResponse, req: IntegrationRequest) -> Response:
        if self.proxy:
            return Response(answer.status, self._passed_headers(answer.headers, req.rest), answer.body)
        chosen = select_response(self.config.responses, str(answer.status))
        lookup = _with_integration_response(answer, req.lookup)
        headers = [("Content-Type", _content_type(answer))]
        headers += mapped_response_headers(chosen.response_parameters, lookup)
        return Response(chosen.status_code, headers, answer.body)

    @staticmethod
    def _passed_headers(headers: list[tuple[str, str]], rest: bool) -> list[tuple[str, str]]:
        out = []
        for name, value in headers:
            lname = name.lower()
            if lname in DROPPED_RESPONSE:
                continue
            if rest and lname in REMAPPED:
                name = f"x-amzn-Remapped-{name}"
            out.append((name, value))
        return out


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
