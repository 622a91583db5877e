"""The ``integrate`` stage: hand the request to the method's integration and keep its answer."""

from __future__ import annotations

import time

from lychgate.errors import ApiConfigurationError, GatewayError
from lychgate.integrations.base import IntegrationRequest
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.facts import invocation_facts, method_arn
from lychgate.pipeline.variables import lookup_for


async def integrate(ctx: RequestContext) -> None:
    method = ctx.route.method
    handler = ctx.api.handler_for(method)
    if handler is None:
        raise ApiConfigurationError(detail=f"{method.route_key} has no integration", cause="no_integration")
    req = IntegrationRequest(request=ctx.request, stage=ctx.stage.name, stage_variables=ctx.stage.variables,
                             path_parameters=ctx.route.path_parameters, lookup=lookup_for(ctx),
                             timeout_s=method.integration.timeout_ms / 1000, rest=ctx.api.rest,
                             make_facts=lambda: invocation_facts(ctx), method_arn=method_arn(ctx))
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
    ctx.trace.add("integrate", "answered", lambda: f"{method.integration.type} answered {response.status}")
