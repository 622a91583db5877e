"""AWS event payloads for Lambda-style functions, and the parsing of what they return.

Proxy integration events, payload format 1.0 (REST and HTTP APIs) and 2.0 (HTTP APIs), exactly
as spec gateway-behavior §9 describes them; and the response rules of §9.3: a 1.0 response with
an unknown key, a non-string body or a non-JSON value is malformed (502 on REST), a 2.0 response
without ``statusCode`` is taken as the JSON body of a 200.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson

from lychgate.messages import Request, Response

V1_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class MalformedResponse(ValueError):
    """A function result API Gateway cannot turn into an HTTP response; the text says why."""


@dataclass(slots=True)
class InvocationFacts:
    """What an event describes: the request and where it arrived. Built by the pipeline."""

    request: Request
    api_id: str
    account_id: str
    stage: str
    domain_name: str
    request_id: str
    extended_request_id: str
    http_method: str  # the method as requested (never ANY)
    resource_path: str  # the route's template, e.g. /pets/{petId}
    resource_id: str
    route_key: str
    path: str  # request path below the stage, decoded
    stage_path: str  # $context.path: with the /stage prefix when the URL had one
    path_parameters: Mapping[str, str]
    stage_variables: Mapping[str, str]
    binary: bool = False  # REST: the request's Content-Type is one of the API's binary media types
    identity: Mapping[str, Any] = field(default_factory=dict)
    authorizer: Mapping[str, Any] | None = None


def request_time(epoch: float) -> str:
    """``$context.requestTime``: CLF ``dd/MMM/yyyy:HH:mm:ss +0000``."""
    t = time.gmtime(epoch)
    return f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def domain_prefix(domain: str) -> str:
    return domain.split(".", 1)[0] if domain else ""


def _v1_identity(facts: InvocationFacts) -> dict:
    request = facts.request
    identity = {
        "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
        "sourceIp": request.source_ip, "principalOrgId": None, "accessKey": None,
        "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None, "userArn": None,
        "userAgent": request.header("user-agent"), "user": None, "apiKey": None, "apiKeyId": None,
    }
    identity.update(facts.identity)
    return identity


def request_context_v1(facts: InvocationFacts) -> dict:
    """``requestContext`` of a 1.0 event (REST proxy, REST REQUEST authorizer, HTTP API 1.0)."""
    epoch = facts.request.received_at
    context = {
        "resourceId": facts.resource_id, "resourcePath": facts.resource_path,
        "httpMethod": facts.http_method, "extendedRequestId": facts.extended_request_id,
        "requestTime": request_time(epoch), "path": facts.stage_path, "accountId": facts.account_id,
        "protocol": f"HTTP/{facts.request.http_version}", "stage": facts.stage,
        "domainPrefix": domain_prefix(facts.domain_name), "requestTimeEpoch": int(epoch * 1000),
        "requestId": facts.request_id, "identity": _v1_identity(facts),
        "domainName": facts.domain_name, "apiId": facts.api_id,
    }
    if facts.authorizer is not None:
        context["authorizer"] = dict(facts.authorizer)
    return context


def _multi(pairs: list[tuple[str, str]]) -> tuple[dict | None, dict | None]:
    """Single-value (last wins) and multi-value maps of pairs; both None when there are none."""
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _body(facts: InvocationFacts) -> tuple[str | None, bool]:
    """The body as event text; base64 for binary media types and for bytes that are not UTF-8."""
    body = facts.request.body
    if not body:
        return None, False
    if facts.binary:
        return base64.b64encode(body).decode(), True
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def proxy_event_v1(facts: InvocationFacts, *, version: str | None = None) -> dict:
    """A payload-format 1.0 event; ``version="1.0"`` adds the field HTTP APIs send."""
    headers, multi_headers = _multi(facts.request.headers)
    query, multi_query = _multi(facts.request.query)
    body, is_b64 = _body(facts)
    event = {
        "resource": facts.resource_path, "path": facts.path, "httpMethod": facts.http_method,
        "headers": headers, "multiValueHeaders": multi_headers,
        "queryStringParameters": query, "multiValueQueryStringParameters": multi_query,
        "pathParameters": dict(facts.path_parameters) or None,
        "stageVariables": dict(facts.stage_variables) or None,
        "requestContext": request_context_v1(facts), "body": body, "isBase64Encoded": is_b64,
    }
    if version is not None:
        event = {"version": version, **event}
    return event


def request_context_v2(facts: InvocationFacts) -> dict:
    request = facts.request
    epoch = request.received_at
    context = {
        "accountId": facts.account_id, "apiId": facts.api_id, "domainName": facts.domain_name,
        "domainPrefix": domain_prefix(facts.domain_name),
        "http": {"method": facts.http_method, "path": facts.stage_path,
                 "protocol": f"HTTP/{request.http_version}", "sourceIp": request.source_ip,
                 "userAgent": request.header("user-agent", "")},
        "requestId": facts.request_id, "routeKey": facts.route_key, "stage": facts.stage,
        "time": request_time(epoch), "timeEpoch": int(epoch * 1000),
    }
    if facts.authorizer is not None:
        context["authorizer"] = dict(facts.authorizer)
    return context


def joined(pairs: list[tuple[str, str]], lower: bool) -> dict[str, str]:
    """Repeated names joined with commas, as payload 2.0 does."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower() if lower else name
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def proxy_event_v2(facts: InvocationFacts) -> dict:
    """A payload-format 2.0 event: lower-case joined headers, cookies apart, absent fields omitted."""
    request = facts.request
    headers = [(k, v) for k, v in request.headers if k.lower() != "cookie"]
    cookies = [c.strip() for k, v in request.headers if k.lower() == "cookie" for c in v.split(";") if c.strip()]
    event: dict[str, Any] = {
        "version": "2.0", "routeKey": facts.route_key, "rawPath": facts.stage_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined(headers, lower=True)
    if request.query:
        event["queryStringParameters"] = joined(request.query, lower=False)
    event["requestContext"] = request_context_v2(facts)
    body, is_b64 = _body(facts)
    if body is not None:
        event["body"] = body
    if facts.path_parameters:
        event["pathParameters"] = dict(facts.path_parameters)
    event["isBase64Encoded"] = is_b64
    if facts.stage_variables:
        event["stageVariables"] = dict(facts.stage_variables)
    return event


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise MalformedResponse(f"header value {value!r} is not a string, number or boolean")


def _status(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise MalformedResponse(f"statusCode {value!r} is not an HTTP status code")
    return value


def _decoded_body(body: Any, is_b64: Any, decode: bool) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, found {type(body).__name__}")
    if is_b64 is True and decode:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise MalformedResponse("isBase64Encoded is true but the body is not valid base64") from None
    return body.encode("utf-8")


def parse_response_v1(result: Any, *, decode_base64: bool = True) -> Response:
    """A 1.0 proxy response -> Response; MalformedResponse when AWS would answer 502 (spec §9.3)."""
    if not isinstance(result, dict):
        raise MalformedResponse(f"expected a JSON object, found {type(result).__name__}")
    extra = set(result) - V1_RESPONSE_KEYS
    if extra:
        raise MalformedResponse(f"unexpected keys {sorted(extra)}")
    status = _status(result.get("statusCode", 200))
    headers: dict[str, list[str]] = {}
    for name, value in (result.get("headers") or {}).items():
        headers[name] = [_header_text(value)]
    # On a clash the multi-value entry wins (spec §9.1).
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            raise MalformedResponse(f"multiValueHeaders[{name!r}] is not a list")
        headers[name] = [_header_text(v) for v in values]
    body = _decoded_body(result.get("body"), result.get("isBase64Encoded"), decode_base64)
    return Response(status, [(k, v) for k, vs in headers.items() for v in vs], body)


def parse_response_v2(result: Any) -> Response:
    """A 2.0 response; anything without ``statusCode`` is the JSON body of a 200 (spec §9.3)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = result if isinstance(result, str) else orjson.dumps(result).decode()
        return Response(200, [("content-type", "application/json")], body.encode())
    status = _status(result["statusCode"])
    headers = [(k, _header_text(v)) for k, v in (result.get("headers") or {}).items()]
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise MalformedResponse("cookies must be a list of strings")
    headers += [("set-cookie", str(c)) for c in cookies]
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("content-type", "application/json"))
    return Response(status, headers, _decoded_body(result.get("body"), result.get("isBase64Encoded"), True))
