"""Response stages: run on every response, including gateway errors."""

from __future__ import annotations

from lychgate.pipeline.context import RequestContext


def add_standard_headers(ctx: RequestContext) -> None:
    """Request-id headers: REST ``x-amzn-RequestId`` + ``x-amz-apigw-id``, HTTP APIs ``apigw-requestid``."""
    response = ctx.response
    if ctx.api is not None and not ctx.api.rest:
        response.headers.append(("apigw-requestid", ctx.extended_request_id))
        return
    response.headers.append(("x-amzn-RequestId", ctx.request_id))
    response.headers.append(("x-amz-apigw-id", ctx.extended_request_id))
