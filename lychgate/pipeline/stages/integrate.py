"""The ``integrate`` stage: hand the request to the method's integration and keep its answer."""

from __future__ import annotations

import time

from lychgate.errors import ApiConfigurationError, GatewayError
from lychgate.integrations.base import IntegrationRequest
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.facts import invocation_facts, method_arn
from lychgate.pipeline.variables import lookup_for


class _ContextSource:
    """The integration request's derived views, computed from the context when asked for."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: RequestContext):
        self.ctx = ctx

    def lookup(self):
        return lookup_for(self.ctx)

    def facts(self):
        return invocation_facts(self.ctx)

    def method_arn(self) -> str:
        return method_arn(self.ctx)


async def integrate(ctx: RequestContext) -> None:
    method = ctx.route.method
    handler = ctx.api.handlers.get(id(method))
    if handler is None:
        raise ApiConfigurationError(detail=f"{method.route_key} has no integration", cause="no_integration")
    stage = ctx.stage
    req = IntegrationRequest(ctx.request, stage.name, stage.variables, ctx.route.path_parameters,
                             method.integration.timeout_ms / 1000, ctx.api.rest, _ContextSource(ctx))
    started = time.perf_counter()
    try:
        response = await handler.invoke(req)
    except GatewayError as exc:
        ctx.integration_error = exc.detail
        ctx.trace.add("integrate", "failed", exc.detail)
        raise
    finally:
        ctx.integration_latency_ms = int((time.perf_counter() - started) * 1000)
    status = ctx.integration_status = response.status
    ctx.response = response
    ctx.trace.add("integrate", "answered", (_answered_text, method, status))


def _answered_text(method, status: int) -> str:
    return f"{method.integration.type} answered {status}"
