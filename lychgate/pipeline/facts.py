"""What events describe: the request and where it arrived, derived from the context once per use.

Shared by the stages that build AWS events: ``authenticate`` (Lambda authorizer events) and
``integrate`` (proxy events).
"""

from __future__ import annotations

import fnmatch
from urllib.parse import unquote

from lychgate.authorizers import iam
from lychgate.functions.events import InvocationFacts
from lychgate.iam.arn import execute_api_arn
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.variables import context_value


def invocation_facts(ctx: RequestContext) -> InvocationFacts:
    api, method, request = ctx.api.api, ctx.route.method, ctx.request
    project = ctx.gateway.project
    stage_path = f"/{ctx.stage.name}{ctx.path}" if ctx.stage_prefixed else ctx.path
    return InvocationFacts(
        request=request, api_id=api.id, account_id=project.account_id, stage=ctx.stage.name,
        domain_name=ctx.domain_name, request_id=ctx.request_id,
        extended_request_id=ctx.extended_request_id, http_method=request.method,
        resource_path=method.resource_path, resource_id=method.resource_id, route_key=method.route_key,
        path=unquote(ctx.path) if "%" in ctx.path else ctx.path, stage_path=stage_path,
        path_parameters=ctx.route.path_parameters, stage_variables=ctx.stage.variables,
        binary=bool(api.binary_media_types) and is_binary(request.header("content-type"), api.binary_media_types),
        identity={**iam.identity_fields(ctx.caller), **api_key_fields(ctx)} if ctx.caller or ctx.api_key else {},
        authorizer=authorizer_fields(ctx),
    )


class ContextFacts:
    """A request's InvocationFacts, read through: the fields an authorizer's cache hit needs
    come straight from the context, the whole InvocationFacts is built on first use of another
    (most cached Lambda authorizer calls never need it)."""

    __slots__ = ("_ctx", "_facts")

    def __init__(self, ctx: RequestContext):
        self._ctx = ctx
        self._facts: InvocationFacts | None = None

    @property
    def request(self):
        return self._ctx.request

    @property
    def api_id(self) -> str:
        return self._ctx.api.api.id

    @property
    def stage(self) -> str:
        return self._ctx.stage.name

    @property
    def stage_variables(self):
        return self._ctx.stage.variables

    def context_variable(self, name: str):
        """``$context.<name>`` of the request (identity sources may name one)."""
        return context_value(self._ctx, name)

    def complete(self) -> InvocationFacts:
        if self._facts is None:
            self._facts = invocation_facts(self._ctx)
        return self._facts

    def __getattr__(self, name: str):  # reached only for the fields not defined above
        return getattr(self.complete(), name)


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


def api_key_fields(ctx: RequestContext) -> dict:
    if ctx.api_key is None:
        return {}
    return {"apiKey": ctx.api_key_value, "apiKeyId": ctx.api_key.id}


def method_arn(ctx: RequestContext) -> str:
    """The request's ``arn:aws:execute-api:…/{stage}/{VERB}/{path}``."""
    project = ctx.gateway.project
    return execute_api_arn(project.region, project.account_id, ctx.api.api.id, ctx.stage.name,
                           ctx.request.method, ctx.path)
