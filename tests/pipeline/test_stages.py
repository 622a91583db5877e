"""Stages on hand-built contexts: each reads only what earlier stages would have written."""

import asyncio
import time

import pytest

from helpers import openapi, proxy_op, write_project
from lychgate.config.project import load_project
from lychgate.errors import AccessDenied, ApiConfigurationError, MissingAuthenticationToken
from lychgate.messages import Request
from lychgate.pipeline import build_pipeline
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.runtime import Gateway
from lychgate.pipeline.stages.auth import authorize
from lychgate.pipeline.stages.route import match_route, resolve_api

HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': event['path']}\n"
DENY_DELETE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
    {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*/DELETE/*"}]}


@pytest.fixture
def gateway(tmp_path):
    doc = openapi({"/items/{id}": {"get": proxy_op("fn"), "delete": proxy_op("fn")}, "/mock": {"get": {}}},
                  **{"x-amazon-apigateway-policy": DENY_DELETE})
    project = load_project(write_project(tmp_path, doc, config={
        "apis": [{"id": "api1", "openapi": "openapi.yaml", "stages": {"v1": {"access_log": False}}}],
        "functions": {"fn": "h.py:handler"}}, files={"h.py": HANDLER}))
    gw = Gateway(project, access_log=False)
    yield gw
    gw.close()


def context(gateway, method, path, host="127.0.0.1:8080") -> RequestContext:
    request = Request(method, path, "", [("Host", host)], received_at=time.time())
    return RequestContext(gateway=gateway, request=request, request_id="rid", extended_request_id="ext=",
                          started=time.perf_counter())


def test_resolve_api_path_and_host_style(gateway):
    ctx = context(gateway, "GET", "/v1/items/1")
    resolve_api(ctx)
    assert (ctx.api.api.id, ctx.stage.name, ctx.path, ctx.stage_prefixed) == ("api1", "v1", "/items/1", True)
    ctx = context(gateway, "GET", "/v1/items/1", host="api1.execute-api.us-east-1.amazonaws.com")
    resolve_api(ctx)
    assert ctx.domain_name == "api1.execute-api.us-east-1.amazonaws.com"
    with pytest.raises(MissingAuthenticationToken):
        resolve_api(context(gateway, "GET", "/v2/items/1"))


def test_match_route_sets_route_and_raises_for_misses(gateway):
    ctx = context(gateway, "GET", "/v1/items/7")
    resolve_api(ctx)
    match_route(ctx)
    assert ctx.route.method.route_key == "GET /items/{id}" and ctx.route.path_parameters == {"id": "7"}
    ctx = context(gateway, "POST", "/v1/items/7")
    resolve_api(ctx)
    with pytest.raises(MissingAuthenticationToken):
        match_route(ctx)


def test_authorize_applies_the_resource_policy_to_anonymous_callers(gateway):
    ctx = context(gateway, "DELETE", "/v1/items/7")
    resolve_api(ctx)
    match_route(ctx)
    with pytest.raises(AccessDenied) as info:
        authorize(ctx)
    assert info.value.message.endswith("api1/v1/DELETE/items/7 with an explicit deny")
    assert ctx.decision.decision.value == "explicitDeny"


def test_chain_renders_errors_and_runs_response_stages(gateway):
    pipeline = build_pipeline()
    ctx = context(gateway, "GET", "/v1/mock")
    asyncio.run(pipeline.run(ctx))
    assert isinstance(ctx.error, ApiConfigurationError)  # a method without an integration
    assert ctx.response.status == 500 and ctx.response.body == b'{"message":"Internal server error"}'
    assert ctx.response.header("x-amzn-RequestId") == "rid"
    ok = context(gateway, "GET", "/v1/items/3")
    asyncio.run(pipeline.run(ok))
    assert (ok.response.status, ok.response.body) == (200, b"/items/3")
    assert [step.stage for step in ok.trace.steps] == ["resolve_api", "match_route", "authenticate", "authorize", "integrate"]


def test_chain_awaits_what_a_plain_stage_returns_and_only_that(gateway):
    """A stage returns None or an awaitable: a plain function may hand back a coroutine on the
    paths that wait (a Lambda authorizer, a shared store) and decide at once on the others."""
    from lychgate.pipeline.chain import Pipeline
    from lychgate.pipeline import LOCATE_STAGES
    from lychgate.pipeline.stages.respond import add_standard_headers
    from lychgate.messages import Response
    ran = []

    async def answer_later(ctx):
        await asyncio.sleep(0)
        ran.append("awaited")
        ctx.response = Response(200, [], b"later")

    def decide_now_or_later(ctx):
        ran.append("called")
        return answer_later(ctx) if ctx.request.method == "GET" else None

    def refuse_later_for_delete(ctx):
        async def refuse():
            raise AccessDenied(detail="refused after awaiting", cause="test")
        return refuse()

    pipeline = Pipeline(LOCATE_STAGES, [decide_now_or_later, refuse_later_for_delete], [add_standard_headers], [])
    got = context(gateway, "GET", "/v1/items/3")
    asyncio.run(pipeline.run(got))
    assert ran == ["called", "awaited"] and got.response.body == b"later"  # the response stops the chain
    ran.clear()
    deleted = context(gateway, "DELETE", "/v1/items/3")
    asyncio.run(pipeline.run(deleted))
    assert ran == ["called"]  # None: nothing awaited, the next stage ran and its coroutine refused
    assert deleted.response.status == 403 and deleted.error.detail == "refused after awaiting"
