"""Finalizers: run after the response is sent; they can never change it."""

from __future__ import annotations

import logging

from lychgate.pipeline.chain import applies_when
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.variables import lookup_for


EXECUTION_LOG = logging.getLogger("lychgate.execution")


@applies_when(lambda ctx: ctx.api.access_logs.get(ctx.stage.name) is not None)
def write_access_log(ctx: RequestContext) -> None:
    """One line in the stage's access log, if it has one."""
    if ctx.api is None or ctx.stage is None:
        return
    writer = ctx.api.access_logs.get(ctx.stage.name)
    if writer is not None:
        writer.write(lookup_for(ctx))


@applies_when(lambda ctx: ctx.gateway.execution_log or ctx.stage.logging_level != "OFF")
def write_execution_log(ctx: RequestContext) -> None:
    """Execution-log lines in the style of API Gateway's CloudWatch execution logs, from the trace.

    On with the stage's ``logging_level`` (INFO: every request, ERROR: refused or failed ones) or
    ``lychgate serve --execution-log`` (INFO everywhere).
    """
    level = "INFO" if ctx.gateway.execution_log else (ctx.stage.logging_level if ctx.stage else "OFF")
    if level == "OFF" or level == "ERROR" and ctx.error is None:
        return
    for line in execution_log_lines(ctx):
        EXECUTION_LOG.info("(%s) %s", ctx.request_id, line)


# A presigned URL's signature and session token are credentials: never logged.
SECRET_QUERY_PARAMETERS = frozenset({"x-amz-signature", "x-amz-security-token"})


def execution_log_lines(ctx: RequestContext) -> list[str]:
    request = ctx.request
    lines = [f"Extended Request Id: {ctx.extended_request_id}",
             f"Starting execution for request: {ctx.request_id}",
             f"HTTP Method: {request.method}, Resource Path: {ctx.path}"]
    if ctx.route is not None:
        lines.append(f"Method request path: {dict(ctx.route.path_parameters)}")
        query = {k: "[redacted]" if k.lower() in SECRET_QUERY_PARAMETERS else v for k, v in request.query}
        lines.append(f"Method request query string: {query}")
    for step in ctx.trace.steps:
        lines.append(f"{_STEP_LABELS.get(step.stage, step.stage)}: {step.outcome}" + (f" ({step.text})" if step.detail else ""))
    if ctx.error is not None:
        lines.append(f"Gateway response type: {ctx.error.response_type} with status code: {ctx.response.status}")
    else:
        lines.append(f"Endpoint response status: {ctx.integration_status}")
    lines.append(f"Method completed with status: {ctx.response.status if ctx.response else '-'}")
    return lines


_STEP_LABELS = {"authenticate": "Authorizer result", "authorize": "Authorization", "integrate": "Endpoint request",
                "require_api_key": "API Key", "throttle": "Usage Plan", "match_route": "Method request route"}


def remember_trace(ctx: RequestContext) -> None:
    """Keep the request's trace for ``lychgate explain``."""
    ctx.gateway.traces.add(ctx)
