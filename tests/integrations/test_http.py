"""HTTP_PROXY and HTTP integrations against a recording pool: the request head sent to the backend
byte for byte, the URI filled per stage, and the backend's answer as passed back or mapped."""

from __future__ import annotations

import asyncio

import pytest

from lychgate.config.model import Integration, IntegrationResponse, Source
from lychgate.errors import ApiConfigurationError, IntegrationFailure, IntegrationTimeout
from lychgate.integrations.base import IntegrationRequest
from lychgate.integrations import http as http_integration
from lychgate.integrations.http import HttpIntegration
from lychgate.messages import Request
from lychgate.upstream import UpstreamError, UpstreamResponse

SOURCE = Source("test", "/")
ANSWER = UpstreamResponse(200, [("Content-Type", "application/json"), ("Content-Length", "2"),
                                ("Server", "b"), ("Date", "d"), ("Connection", "keep-alive"),
                                ("Keep-Alive", "timeout=5"), ("X-A", "1"), ("set-cookie", "c=1"),
                                ("WWW-Authenticate", "Basic"), ("transfer-encoding", "chunked")], b"{}")


class Pool:
    def __init__(self, answer=ANSWER, fail: Exception | None = None):
        self.answer, self.fail = answer, fail
        self.calls = []

    async def request(self, origin, head, body, *, timeout, head_only=False):
        self.calls.append((origin, head, body, timeout, head_only))
        if self.fail is not None:
            raise self.fail
        return self.answer


class Source_:
    def __init__(self, values):
        self.values = values

    def lookup(self):
        return self.values.get


def integration(type_="HTTP_PROXY", uri="http://backend:8080/base/{proxy}", method="ANY", params=None, **kw):
    return Integration(type=type_, source=SOURCE, uri=uri, http_method=method,
                       request_parameters=params or {}, **kw)


def request(method="GET", path_parameters=None, stage="dev", variables=None, rest=True, values=None,
            headers=None, body=b"", raw_query="", source_ip="10.0.0.1", timeout=29.0):
    req = Request(method, "/ignored", raw_query, headers if headers is not None else [("Accept", "*/*")],
                  body, source_ip)
    return IntegrationRequest(req, stage, variables or {}, path_parameters or {}, timeout, rest,
                              Source_(values or {}))


def invoke(handler, req):
    return asyncio.run(handler.invoke(req))


def test_proxy_request_head_byte_for_byte():
    pool = Pool()
    handler = HttpIntegration(integration(), pool)
    headers = [("Host", "gw"), ("Accept", "*/*"), ("X-Forwarded-For", "1.2.3.4"), ("x-forwarded-proto", "https"),
               ("X-Forwarded-Port", "443"), ("Connection", "keep-alive"), ("Content-Length", "4"),
               ("Transfer-Encoding", "chunked"), ("TE", "trailers"), ("Expect", "100-continue"),
               ("Upgrade", "h2c"), ("Keep-Alive", "5"), ("Proxy-Authorization", "x"), ("Trailer", "x"),
               ("Proxy-Authenticate", "x"), ("X-Custom", "v"), ("x-custom", "w"), ("X-Uni", "caf\u00e9 \u20ac")]
    invoke(handler, request("POST", {"proxy": "a/b c"}, headers=headers, body=b"data", raw_query="x=1&y"))
    origin, head, body, timeout, head_only = pool.calls[0]
    assert origin == ("http", "backend", 8080) and body == b"data" and timeout == 29.0 and head_only is False
    assert head == (b"POST /base/a/b%20c?x=1&y HTTP/1.1\r\nHost: backend:8080\r\nAccept: */*\r\n"
                    b"X-Custom: v\r\nx-custom: w\r\nX-Uni: caf\xe9 ?\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.1\r\n"
                    b"X-Forwarded-Proto: http\r\nContent-Length: 4\r\n\r\n")


def test_x_forwarded_for_is_the_source_ip_when_absent_and_the_last_one_wins():
    pool = Pool()
    handler = HttpIntegration(integration(uri="https://b.example/x"), pool)
    invoke(handler, request(headers=[]))
    invoke(handler, request(headers=[("x-forwarded-for", "1.1.1.1"), ("X-FORWARDED-FOR", "2.2.2.2")]))
    assert pool.calls[0][0] == ("https", "b.example", 443)
    assert pool.calls[0][1] == (b"GET /x HTTP/1.1\r\nHost: b.example\r\nX-Forwarded-For: 10.0.0.1\r\n"
                                b"X-Forwarded-Proto: http\r\nContent-Length: 0\r\n\r\n")
    assert b"X-Forwarded-For: 2.2.2.2, 10.0.0.1\r\n" in pool.calls[1][1]


def test_fixed_method_and_head():
    pool = Pool()
    invoke(HttpIntegration(integration(method="PUT"), pool), request("GET"))
    invoke(HttpIntegration(integration(), pool), request("HEAD"))
    invoke(HttpIntegration(integration(method="HEAD"), pool), request("GET"))
    assert pool.calls[0][1].startswith(b"PUT /base/ HTTP/1.1\r\n") and pool.calls[0][4] is False
    assert pool.calls[1][1].startswith(b"HEAD /base/ HTTP/1.1\r\n") and pool.calls[1][4] is True
    assert pool.calls[2][1].startswith(b"HEAD /base/ HTTP/1.1\r\n") and pool.calls[2][4] is True


def test_path_placeholders_stage_variables_and_query():
    pool = Pool()
    config = integration(uri="http://${stageVariables.host}/v1/{a}/{b}/{c}?fixed=1&z=%20",
                         params={"integration.request.path.b": "method.request.querystring.bee",
                                 "integration.request.path.c": "'lit eral'",
                                 "integration.request.path.a": "method.request.path.a",
                                 "integration.request.querystring.q w": "method.request.header.Q",
                                 "integration.request.querystring.missing": "method.request.header.none",
                                 "integration.request.querystring.lit": "'x&y=z'"})
    handler = HttpIntegration(config, pool)
    values = {"method.request.querystring.bee": "b/é?#", "method.request.header.Q": "a b"}
    invoke(handler, request(path_parameters={"a": "A~-._"}, variables={"host": "one:81"}, values=values,
                            raw_query="p=1"))
    invoke(handler, request(path_parameters={}, stage="other", variables={"host": "two"}, values={}))
    first, second = pool.calls[0], pool.calls[1]
    assert first[0] == ("http", "one", 81) and second[0] == ("http", "two", 80)
    assert first[1].startswith(b"GET /v1/A~-._/b/%C3%A9%3F%23/lit%20eral?fixed=1&z=%20&p=1&q%20w=a%20b"
                               b"&lit=x%26y%3Dz HTTP/1.1\r\nHost: one:81\r\n")
    assert second[1].startswith(b"GET /v1///lit%20eral?fixed=1&z=%20&lit=x%26y%3Dz HTTP/1.1\r\nHost: two\r\n")


def test_non_proxy_http_passes_no_query_string():
    pool = Pool()
    handler = HttpIntegration(integration("HTTP", uri="http://b/p", responses=(IntegrationResponse("default", 200),)),
                              pool)
    invoke(handler, request(raw_query="a=1"))
    assert pool.calls[0][1].startswith(b"GET /p HTTP/1.1\r\n")


def test_mapped_request_headers_replace_sent_ones_and_never_inject():
    pool = Pool()
    config = integration(params={"integration.request.header.X-Mapped": "method.request.querystring.v",
                                 "integration.request.header.accept": "'text/plain'",
                                 "integration.request.header.X-None": "method.request.header.nope"})
    sent = [("Accept", "*/*"), ("x-mapped", "old"), ("X-K", "k"), ("X-None", "kept")]
    invoke(HttpIntegration(config, pool),
           request(headers=sent, values={"method.request.querystring.v": "a\r\nEvil: 1\nb"}))
    assert pool.calls[0][1] == (b"GET /base/ HTTP/1.1\r\nHost: backend:8080\r\nX-K: k\r\nX-None: kept\r\n"
                                b"X-Mapped: a  Evil: 1 b\r\naccept: text/plain\r\n"
                                b"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\nContent-Length: 0\r\n\r\n")
    # Every mapping with a value: each replaces the sent header of its name.
    invoke(HttpIntegration(config, pool), request(headers=[("X-None", "sent"), ("X-Mapped", "old"), ("X-K", "k")],
                                                  values={"method.request.querystring.v": "v",
                                                          "method.request.header.nope": "n"}))
    assert pool.calls[1][1] == (b"GET /base/ HTTP/1.1\r\nHost: backend:8080\r\nX-K: k\r\n"
                                b"X-Mapped: v\r\naccept: text/plain\r\nX-None: n\r\n"
                                b"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\nContent-Length: 0\r\n\r\n")


def test_forwarding_remembered_per_header_name_decides_as_afresh():
    """Each name's fate (passed, dropped, merged into X-Forwarded-For) is remembered per exact name,
    per set of replaced names, and at most _VERDICTS_MAX at once: the same request, any number of
    times, with more names than that, forwards the same head; a mapping without a value one time
    leaves the sent header for that request only."""
    pool = Pool()
    handler = HttpIntegration(integration(uri="http://b/x"), pool)
    names = [f"X-N{i}" for i in range(http_integration._VERDICTS_MAX + 50)]
    sent = [("CONNECTION", "close"), ("x-forwarded-for", "1.1.1.1"), ("X-Forwarded-Host", "h"),
            *[(name, "v") for name in names], ("connection", "close"), ("Te", "x")]
    for _ in range(3):
        invoke(handler, request(headers=sent))
    expected = (b"GET /x HTTP/1.1\r\nHost: b\r\n" + b"".join(b"%s: v\r\n" % n.encode() for n in names)
                + b"X-Forwarded-For: 1.1.1.1, 10.0.0.1\r\nX-Forwarded-Proto: http\r\nContent-Length: 0\r\n\r\n")
    assert [call[1] for call in pool.calls] == [expected] * 3
    mapped = HttpIntegration(integration(params={"integration.request.header.X-M": "method.request.header.m"}), pool)
    for value in ("n", None, "n"):
        invoke(mapped, request(headers=[("X-M", "sent")], values={"method.request.header.m": value} if value else {}))
    assert [call[1].split(b"\r\n")[2] for call in pool.calls[3:]] == [b"X-M: n", b"X-M: sent", b"X-M: n"]


def test_proxy_response_headers_for_rest_and_http_apis():
    rest = invoke(HttpIntegration(integration(), Pool()), request(rest=True))
    assert (rest.status, rest.body) == (200, b"{}")
    assert rest.headers == [("Content-Type", "application/json"), ("x-amzn-Remapped-Server", "b"),
                            ("x-amzn-Remapped-Date", "d"), ("X-A", "1"), ("set-cookie", "c=1"),
                            ("x-amzn-Remapped-WWW-Authenticate", "Basic")]
    http = invoke(HttpIntegration(integration(), Pool()), request(rest=False))
    assert http.headers == [("Content-Type", "application/json"), ("Server", "b"), ("Date", "d"), ("X-A", "1"),
                            ("set-cookie", "c=1"), ("WWW-Authenticate", "Basic")]


def test_proxy_response_with_nothing_to_drop_or_rename():
    answer = UpstreamResponse(404, [("X-A", "1"), ("x-a", "2")], b"")
    response = invoke(HttpIntegration(integration(), Pool(answer)), request())
    assert (response.status, response.headers, response.body) == (404, [("X-A", "1"), ("x-a", "2")], b"")
    response = invoke(HttpIntegration(integration(), Pool(UpstreamResponse(200, [], b"z"))), request())
    assert (response.status, response.headers, response.body) == (200, [], b"z")


def test_non_proxy_response_is_mapped():
    responses = (IntegrationResponse("4\\d\\d", 400, {"method.response.header.X-Up": "integration.response.header.x-a",
                                                      "method.response.header.X-Lit": "'v'"}),
                 IntegrationResponse("default", 201, {"method.response.header.X-Stage": "stageVariables.s"}))
    handler = HttpIntegration(integration("HTTP", responses=responses), Pool(UpstreamResponse(
        404, [("X-A", "up"), ("content-type", "text/csv")], b"a,b")))
    r = invoke(handler, request())
    assert (r.status, r.headers, r.body) == (400, [("Content-Type", "text/csv"), ("X-Up", "up"), ("X-Lit", "v")],
                                             b"a,b")
    handler = HttpIntegration(integration("HTTP", responses=responses), Pool())
    r = invoke(handler, request(values={"stageVariables.s": "S"}))
    assert (r.status, r.headers) == (201, [("Content-Type", "application/json"), ("X-Stage", "S")])
    handler = HttpIntegration(integration("HTTP", responses=responses), Pool(UpstreamResponse(200, [], b"")))
    assert invoke(handler, request()).headers[0] == ("Content-Type", "application/json")


def test_backend_failures_map_to_gateway_errors():
    with pytest.raises(IntegrationTimeout, match="http://backend:8080 did not answer"):
        invoke(HttpIntegration(integration(), Pool(fail=asyncio.TimeoutError())), request())
    with pytest.raises(IntegrationFailure, match="http://backend:8080 failed: boom"):
        invoke(HttpIntegration(integration(), Pool(fail=UpstreamError("boom"))), request())


def test_bad_uris_are_configuration_errors():
    with pytest.raises(ApiConfigurationError, match="no stage variable 'host'"):
        invoke(HttpIntegration(integration(uri="http://${stageVariables.host}/"), Pool()), request())
    for uri in ("ftp://x/", "http:///x", "http://{h}/x"):
        with pytest.raises(ApiConfigurationError, match="is not an http"):
            invoke(HttpIntegration(integration(uri=uri), Pool()), request())
