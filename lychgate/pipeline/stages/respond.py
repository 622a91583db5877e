"""Response stages: run on every response, including gateway errors."""

from __future__ import annotations

import logging

from lychgate import cors
from lychgate.pipeline.chain import applies_when
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.explain import one_line

LOG = logging.getLogger("lychgate.explain")


def add_standard_headers(ctx: RequestContext) -> None:
    """Request-id headers: REST ``x-amzn-RequestId`` + ``x-amz-apigw-id``, HTTP APIs ``apigw-requestid``."""
    response = ctx.response
    if ctx.api is not None and not ctx.api.rest:
        response.headers.append(("apigw-requestid", ctx.extended_request_id))
        return
    response.headers.append(("x-amzn-RequestId", ctx.request_id))
    response.headers.append(("x-amz-apigw-id", ctx.extended_request_id))


@applies_when(lambda ctx: ctx.gateway.explain_header)
def add_explain_header(ctx: RequestContext) -> None:
    """``serve --explain``: the cause of a refusal in ``x-lychgate-explain`` and on the console."""
    if ctx.error is None or not ctx.gateway.explain_header:
        return
    line = one_line(ctx)
    ctx.response.headers.append(("x-lychgate-explain", line))
    LOG.warning("%s %s %s refused: %s", ctx.request_id, ctx.request.method, ctx.request.raw_path, line)


@applies_when(lambda ctx: ctx.api.api.cors is not None or ctx.api.api.cors_on_errors)
def add_cors_headers(ctx: RequestContext) -> None:
    """HTTP APIs with CORS: the configured headers on every response; REST ``cors_on_errors``."""
    if ctx.api is None:
        return
    api = ctx.api.api
    if api.cors is not None:
        if ctx.route is not None or ctx.error is not None:  # else: the gateway's own preflight answer
            cors.apply(api.cors, ctx.request, ctx.response)
    elif api.cors_on_errors and ctx.error is not None:
        cors.add_to_error(ctx.request, ctx.response)
