"""``$context`` variables and request parameters, derived from a ``RequestContext`` on demand.

Nothing here is stored on the request path: a lookup is created only when an access-log line,
a gateway-response template or a parameter mapping asks for a value (spec gateway-behavior §10).
"""

from __future__ import annotations

import json
from typing import Callable

from lychgate.functions.events import domain_prefix, request_time
from lychgate.pipeline.context import RequestContext
from lychgate.templates import Lookup


def _route_key(ctx: RequestContext) -> str | None:
    return ctx.route.method.route_key if ctx.route else None


def _resource_path(ctx: RequestContext) -> str | None:
    return ctx.route.method.resource_path if ctx.route else None


def _status(ctx: RequestContext) -> str | None:
    return str(ctx.response.status) if ctx.response else None


def _error(attr: str) -> Callable[[RequestContext], str | None]:
    def value(ctx: RequestContext) -> str | None:
        err = ctx.error
        if err is None:
            return None
        if attr == "messageString":
            return json.dumps(err.message)
        return {"message": err.message, "responseType": err.response_type}.get(attr)
    return value


def _stage_path(ctx: RequestContext) -> str:
    return f"/{ctx.stage.name}{ctx.path}" if ctx.stage_prefixed and ctx.stage else ctx.path


CONTEXT: dict[str, Callable[[RequestContext], object]] = {
    "requestId": lambda c: c.request_id,
    "extendedRequestId": lambda c: c.extended_request_id,
    "apiId": lambda c: c.api.api.id if c.api else None,
    "stage": lambda c: c.stage.name if c.stage else None,
    "domainName": lambda c: c.domain_name,
    "domainPrefix": lambda c: domain_prefix(c.domain_name),
    "httpMethod": lambda c: c.request.method,
    "resourcePath": _resource_path,
    "resourceId": lambda c: c.route.method.resource_id if c.route else None,
    "path": _stage_path,
    "protocol": lambda c: f"HTTP/{c.request.http_version}",
    "routeKey": _route_key,
    "requestTime": lambda c: request_time(c.request.received_at),
    "requestTimeEpoch": lambda c: int(c.request.received_at * 1000),
    "status": _status,
    "responseLength": lambda c: len(c.response.body) if c.response else None,
    "responseLatency": lambda c: c.response_latency_ms,
    "identity.sourceIp": lambda c: c.request.source_ip,
    "identity.userAgent": lambda c: c.request.header("user-agent"),
    "identity.caller": lambda c: c.caller.identity.userid if c.caller else None,
    "identity.user": lambda c: c.caller.identity.userid if c.caller else None,
    "identity.userArn": lambda c: c.caller.identity.arn if c.caller else None,
    "identity.accountId": lambda c: c.caller.identity.account if c.caller else None,
    "identity.accessKey": lambda c: c.caller.access_key_id if c.caller else None,
    "identity.apiKey": lambda c: c.api_key_value,
    "identity.apiKeyId": lambda c: c.api_key.id if c.api_key else None,
    "error.message": _error("message"),
    "error.messageString": _error("messageString"),
    "error.responseType": _error("responseType"),
    "lychgate.trace": lambda c: ">".join(f"{s.stage}:{s.outcome}" for s in c.trace.steps),
    "lychgate.cause": lambda c: c.error.cause if c.error else None,
    "integration.status": lambda c: c.integration_status,
    "integration.latency": lambda c: c.integration_latency_ms,
    "integration.error": lambda c: c.integration_error or None,
    "integrationStatus": lambda c: c.integration_status,
    "integrationLatency": lambda c: c.integration_latency_ms,
    "integrationErrorMessage": lambda c: c.integration_error or None,
}


def context_value(ctx: RequestContext, name: str) -> str | None:
    """The value of ``$context.<name>`` as text, or None when it has none."""
    getter = CONTEXT.get(name)
    value = getter(ctx) if getter else None
    if getter is None and name.startswith("authorizer."):
        value = _authorizer_value(ctx, name[len("authorizer."):])
    return None if value is None else str(value)


def _authorizer_value(ctx: RequestContext, name: str):
    """``$context.authorizer.principalId``, ``.claims.<claim>``, ``.<context key>``."""
    if name == "principalId":
        return ctx.authorizer_principal
    node = ctx.authorizer or {}
    for part in name.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def lookup_for(ctx: RequestContext) -> Lookup:
    """Values of ``context.*``, ``stageVariables.*`` and ``method.request.*`` for this request."""
    def find(name: str) -> str | None:
        scope, _, rest = name.partition(".")
        if scope == "context":
            return context_value(ctx, rest)
        if scope == "stageVariables":
            return ctx.stage.variables.get(rest) if ctx.stage else None
        if name.startswith("method.request."):
            return _method_request(ctx, name[len("method.request."):])
        return None
    return find


def _method_request(ctx: RequestContext, name: str) -> str | None:
    kind, _, key = name.partition(".")
    if kind == "header":
        return ctx.request.header(key)
    if kind == "querystring":
        values = [v for k, v in ctx.request.query if k == key]
        return values[-1] if values else None
    if kind == "path":
        return ctx.route.path_parameters.get(key) if ctx.route else None
    return None
