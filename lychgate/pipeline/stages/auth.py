"""Stages that decide who is calling and whether they may: ``authenticate``.

This version enforces authorization type NONE only. Every other type fails closed (and is
reported at start-up): an unsigned request to an AWS_IAM method gets AWS's exact answer
(403 Missing Authentication Token); anything else gets a 500 rather than being let through.
"""

from __future__ import annotations

from lychgate.errors import AuthorizerConfigurationError, MissingAuthenticationToken
from lychgate.pipeline.context import RequestContext


def authenticate(ctx: RequestContext) -> None:
    method = ctx.route.method
    kind = method.authorization_type
    if kind == "NONE" and not method.api_key_required:
        ctx.trace.add("authenticate", "none", "the method's authorization type is NONE")
        return
    if kind == "AWS_IAM" and ctx.request.header("authorization") is None and "X-Amz-Signature" not in ctx.request.raw_query:
        raise MissingAuthenticationToken(detail="AWS_IAM method called without a SigV4 signature")
    what = "an API key" if kind == "NONE" else f"authorization type {kind}"
    raise AuthorizerConfigurationError(detail=f"{what} is not supported by this version of lychgate: failing closed")
