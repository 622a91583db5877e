"""Finalizers: run after the response is sent; they can never change it."""

from __future__ import annotations

from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.variables import lookup_for


def write_access_log(ctx: RequestContext) -> None:
    """One line in the stage's access log, if it has one."""
    if ctx.api is None or ctx.stage is None:
        return
    writer = ctx.api.access_logs.get(ctx.stage.name)
    if writer is not None:
        writer.write(lookup_for(ctx))


def remember_trace(ctx: RequestContext) -> None:
    """Keep the request's trace for ``lychgate explain``."""
    ctx.gateway.traces.add(ctx)
