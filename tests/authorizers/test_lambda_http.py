"""Authorizers served by a real HTTP endpoint on 127.0.0.1, and make_invoker's target resolution."""

import asyncio
import socket

import pytest

from lychgate.authorizers.lambda_ import http_invoker, make_invoker, parse_authorizer, run_authorizer
from lychgate.errors import AccessDenied, AuthorizerConfigurationError, Unauthorized
from lychgate.upstream import UpstreamPool

URI = "arn:aws:lambda:us-east-1:123456789012:function:auth"


def config(uri, protocol="REST"):
    if protocol == "REST":
        raw = {"type": "token", "authorizerUri": uri, "identitySource": "method.request.header.Authorization",
               "authorizerResultTtlInSeconds": 0}
    else:
        raw = {"type": "request", "authorizerUri": uri, "identitySource": "$request.header.Authorization",
               "authorizerPayloadFormatVersion": "2.0"}
    return parse_authorizer("remote", raw, protocol=protocol)


def over_http(cfg, url, facts_and_arn, timeout_s=5.0):
    facts, arn = facts_and_arn

    async def go():
        pool = UpstreamPool()
        try:
            invoke = http_invoker(url, pool, timeout_s)
            return await run_authorizer(cfg, facts=facts, method_arn=arn, invoke=invoke)
        finally:
            pool.close()
    return asyncio.run(go())


def test_allow_over_http_receives_the_exact_event(http_authorizer, facts):
    base, received = http_authorizer
    request = facts(headers=[("Authorization", "Bearer t")])
    outcome = over_http(config(base + "/allow"), base + "/allow", request)
    assert outcome.allowed and outcome.principal_id == "http-user"
    assert outcome.context_variables() == {"principalId": "http-user", "lang": "go", "n": "7"}
    last = received[-1]
    assert last["path"] == "/allow" and last["content_type"] == "application/json"
    assert last["event"] == {"type": "TOKEN", "authorizationToken": "Bearer t", "methodArn": request[1]}


def test_http_api_v2_event_over_http(http_authorizer, facts):
    base, received = http_authorizer
    request = facts(headers=[("Authorization", "t")], stage="$default", rest=False)
    outcome = over_http(config(base + "/allow", "HTTP"), base + "/allow", request)
    assert outcome.allowed and received[-1]["event"]["routeArn"] == request[1]
    assert received[-1]["event"]["identitySource"] == ["t"]


@pytest.mark.parametrize("path, error", [
    ("/deny", AccessDenied), ("/status401", Unauthorized), ("/unauthorized", Unauthorized),
    ("/boom", AuthorizerConfigurationError), ("/garbage", AuthorizerConfigurationError),
    ("/missing", AuthorizerConfigurationError),
])
def test_http_answers_map_like_lambda(http_authorizer, facts, path, error):
    base, _ = http_authorizer
    outcome = over_http(config(base + path), base + path, facts(headers=[("Authorization", "t")]))
    assert isinstance(outcome.error, error), outcome.reason


def test_http_error_text_reaches_the_reason(http_authorizer, facts):
    base, _ = http_authorizer
    outcome = over_http(config(base + "/boom"), base + "/boom", facts(headers=[("Authorization", "t")]))
    assert "database down" in outcome.reason and outcome.context_variables()["error"] == "database down"


def test_http_timeout_is_500(http_authorizer, facts):
    base, _ = http_authorizer
    outcome = over_http(config(base + "/slow"), base + "/slow", facts(headers=[("Authorization", "t")]), timeout_s=0.2)
    assert isinstance(outcome.error, AuthorizerConfigurationError) and "timed out" in outcome.reason


def test_unreachable_endpoint_is_500(facts):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/auth"
    outcome = over_http(config(url), url, facts(headers=[("Authorization", "t")]))
    assert isinstance(outcome.error, AuthorizerConfigurationError) and "cannot reach" in outcome.reason


# ---------------------------------------------------------------- make_invoker

def test_make_invoker_resolves_functions_urls_and_stage_variables(make_function, http_authorizer, facts):
    base, _ = http_authorizer
    function = make_function("CALLS = []\ndef handler(event, context):\n    raise Exception('Unauthorized')\n",
                             name="auth")
    staged = "arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}"
    cases = [(URI, {}, Unauthorized), (staged, {"fn": "auth"}, Unauthorized),
             (staged, {}, AuthorizerConfigurationError), (staged, {"fn": "nope"}, AuthorizerConfigurationError),
             (base + "/${stageVariables.route}", {"route": "deny"}, AccessDenied)]
    for uri, variables, error in cases:
        cfg = config(uri)
        request = facts(headers=[("Authorization", "t")], stage_variables=variables)

        async def go():
            pool = UpstreamPool()
            try:
                invoke = make_invoker(cfg, functions={"auth": function}, pool=pool,
                                      stage_variables=variables, request_id="rid")
                return await run_authorizer(cfg, facts=request[0], method_arn=request[1], invoke=invoke)
            finally:
                pool.close()
        outcome = asyncio.run(go())
        assert isinstance(outcome.error, error), (uri, variables, outcome.reason)


def test_unresolvable_target_still_checks_identity_first(facts):
    cfg = config("arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}")
    request = facts(headers=[("Host", "h")])
    invoke = make_invoker(cfg, functions={}, pool=UpstreamPool(), stage_variables={}, request_id="rid")
    outcome = asyncio.run(run_authorizer(cfg, facts=request[0], method_arn=request[1], invoke=invoke))
    assert isinstance(outcome.error, Unauthorized)
