"""The ``integrate`` stage: hand the request to the method's integration and keep its answer."""

from __future__ import annotations

import fnmatch
import time

from lychgate.authorizers import iam
from lychgate.errors import ApiConfigurationError, GatewayError
from lychgate.functions.events import InvocationFacts
from lychgate.integrations.base import IntegrationRequest
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.variables import lookup_for
from urllib.parse import unquote


async def integrate(ctx: RequestContext) -> None:
    method = ctx.route.method
    handler = ctx.api.handler_for(method)
    if handler is None:
        raise ApiConfigurationError(detail=f"{method.route_key} has no integration", cause="no_integration")
    req = IntegrationRequest(facts=invocation_facts(ctx), lookup=lookup_for(ctx),
                             timeout_s=method.integration.timeout_ms / 1000, rest=ctx.api.rest)
    started = time.perf_counter()
    try:
        response = await handler.invoke(req)
    except GatewayError as exc:
        ctx.integration_error = exc.detail
        ctx.trace.add("integrate", "failed", exc.detail)
        raise
    finally:
        ctx.integration_latency_ms = int((time.perf_counter() - started) * 1000)
    ctx.integration_status = response.status
    ctx.response = response
    ctx.trace.add("integrate", "answered", f"{method.integration.type} answered {response.status}")


def invocation_facts(ctx: RequestContext) -> InvocationFacts:
    api, method, request = ctx.api.api, ctx.route.method, ctx.request
    project = ctx.gateway.project
    stage_path = f"/{ctx.stage.name}{ctx.path}" if ctx.stage_prefixed else ctx.path
    return InvocationFacts(
        request=request, api_id=api.id, account_id=project.account_id, stage=ctx.stage.name,
        domain_name=ctx.domain_name, request_id=ctx.request_id,
        extended_request_id=ctx.extended_request_id, http_method=request.method,
        resource_path=method.resource_path, resource_id=method.resource_id, route_key=method.route_key,
        path=unquote(ctx.path), stage_path=stage_path, path_parameters=ctx.route.path_parameters,
        stage_variables=ctx.stage.variables, binary=is_binary(request.header("content-type"), api.binary_media_types),
        identity=iam.identity_fields(ctx.caller),
        authorizer=authorizer_fields(ctx),
    )


def is_binary(content_type: str | None, binary_media_types: tuple[str, ...]) -> bool:
    """Whether a Content-Type is one of the API's binary media types (wildcards allowed)."""
    if not content_type or not binary_media_types:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(mime, t.lower()) for t in binary_media_types)


def authorizer_fields(ctx: RequestContext) -> dict | None:
    """``requestContext.authorizer``: a token/Lambda authorizer's output, or an HTTP API's IAM caller."""
    if ctx.authorizer is not None:
        return ctx.authorizer
    if ctx.caller is not None and not ctx.api.rest:
        return {"iam": iam.iam_authorizer_fields(ctx.caller)}
    return None
