"""REST TOKEN authorizers through real Python handlers (spec gateway-behavior §5.1, §5.3, §2.3)."""

import asyncio

import pytest

from lychgate.authorizers.cache import AuthorizerCache
from lychgate.authorizers.lambda_ import function_invoker, parse_authorizer, run_authorizer
from lychgate.errors import AccessDenied, AuthorizerConfigurationError, Unauthorized
from lychgate.iam import Decision
from lychgate.responses import default_body

URI = "arn:aws:lambda:us-east-1:123456789012:function:auth"

HANDLER = '''
CALLS = []

def policy(effect, resource):
    return {"Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}

def handler(event, context):
    CALLS.append(event)
    token = event["authorizationToken"].removeprefix("Bearer ")
    arn = event["methodArn"]
    if token == "allow":
        return {"principalId": "user-1", "policyDocument": policy("Allow", arn),
                "context": {"s": "x", "n": 1, "f": 1.5, "b": True}, "usageIdentifierKey": "key-123"}
    if token == "deny":
        return {"principalId": "user-1", "policyDocument": policy("Deny", arn)}
    if token == "other":
        return {"principalId": "user-1", "policyDocument": policy("Allow", arn + "/elsewhere")}
    if token == "empty-principal":
        return {"principalId": "", "policyDocument": policy("Allow", arn)}
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "almost":
        raise Exception("Unauthorized: expired")
    if token == "boom":
        raise ValueError("boom")
    return MALFORMED[token]

MALFORMED = {
    "string": "Allow",
    "no-principal": {"policyDocument": policy("Allow", "*")},
    "no-policy": {"principalId": "u"},
    "int-principal": {"principalId": 7, "policyDocument": policy("Allow", "*")},
    "bad-effect": {"principalId": "u", "policyDocument": policy("Maybe", "*")},
    "policy-list": {"principalId": "u", "policyDocument": [policy("Allow", "*")]},
    "object-context": {"principalId": "u", "policyDocument": policy("Allow", "*"), "context": {"o": {"a": 1}}},
    "array-context": {"principalId": "u", "policyDocument": policy("Allow", "*"), "context": {"a": [1]}},
    "null-context": {"principalId": "u", "policyDocument": policy("Allow", "*"), "context": {"z": None}},
    "not-json": {"principalId": "u", "policyDocument": policy("Allow", "*"), "context": {"o": object()}},
    "int-usage-key": {"principalId": "u", "policyDocument": policy("Allow", "*"), "usageIdentifierKey": 5},
}
'''


def config(**extra):
    raw = {"type": "token", "authorizerUri": URI, "identitySource": "method.request.header.Authorization",
           "authorizerResultTtlInSeconds": 0, **extra}
    return parse_authorizer("tokenAuth", raw, protocol="REST")


def run(cfg, function, facts_and_arn, cache=None, now=None, timeout_s=5.0):
    facts, arn = facts_and_arn
    invoke = function_invoker(function, request_id=facts.request_id, timeout_s=timeout_s)
    return asyncio.run(run_authorizer(cfg, facts=facts, method_arn=arn, invoke=invoke, cache=cache, now=now))


def with_token(facts, token, method="GET", path="/pets"):
    return facts(method, path, headers=[("Host", "h"), ("Authorization", token)])


def test_allow_exposes_principal_context_and_usage_key(make_function, facts, calls):
    function = make_function(HANDLER)
    request = with_token(facts, "Bearer allow")
    outcome = run(config(), function, request)
    assert outcome.allowed and outcome.error is None and outcome.verdict == "allowed"
    assert outcome.principal_id == "user-1" and outcome.usage_identifier_key == "key-123"
    assert outcome.evaluation.decision is Decision.ALLOW and outcome.invoked and not outcome.cached
    assert dict(outcome.context) == {"s": "x", "n": 1, "f": 1.5, "b": True}
    assert outcome.context_variables() == {"principalId": "user-1", "s": "x", "n": "1", "f": "1.5", "b": "true"}
    event_authorizer = outcome.event_authorizer()
    assert event_authorizer.pop("integrationLatency") >= 0
    assert event_authorizer == {"principalId": "user-1", "s": "x", "n": "1", "f": "1.5", "b": "true"}
    assert "allows " + request[1] in outcome.reason


def test_token_event_is_exactly_type_token_and_method_arn(make_function, facts, calls):
    function = make_function(HANDLER)
    request = with_token(facts, "Bearer allow")
    run(config(), function, request)
    assert calls(function) == [{"type": "TOKEN", "authorizationToken": "Bearer allow", "methodArn": request[1]}]
    assert request[1] == "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/prod/GET/pets"


def test_explicit_deny_is_403_with_capital_message(make_function, facts):
    outcome = run(config(), make_function(HANDLER), with_token(facts, "deny"))
    assert not outcome.allowed and isinstance(outcome.error, AccessDenied) and outcome.error.status == 403
    assert outcome.verdict == "explicitDeny"
    assert default_body(outcome.error) == (
        b'{"Message":"User is not authorized to access this resource with an explicit deny"}')


def test_no_covering_allow_is_403_without_explicit_deny(make_function, facts):
    outcome = run(config(), make_function(HANDLER), with_token(facts, "other"))
    assert isinstance(outcome.error, AccessDenied) and outcome.verdict == "implicitDeny"
    assert default_body(outcome.error) == b'{"Message":"User is not authorized to access this resource"}'
    assert outcome.error.http_api == (403, "Forbidden")


def test_empty_principal_id_is_accepted(make_function, facts):
    assert run(config(), make_function(HANDLER), with_token(facts, "empty-principal")).principal_id == ""


def test_raising_unauthorized_is_401(make_function, facts):
    outcome = run(config(), make_function(HANDLER), with_token(facts, "unauthorized"))
    assert isinstance(outcome.error, Unauthorized) and outcome.invoked and outcome.verdict == "unauthorized"
    assert outcome.error.status == 401 and default_body(outcome.error) == b'{"message":"Unauthorized"}'


@pytest.mark.parametrize("token", ["almost", "boom"])
def test_any_other_error_is_500_with_null_message(make_function, facts, token):
    outcome = run(config(), make_function(HANDLER), with_token(facts, token))
    assert isinstance(outcome.error, AuthorizerConfigurationError) and outcome.error.status == 500
    assert default_body(outcome.error) == b'{"message":null}' and outcome.verdict == "error"
    assert outcome.error.http_api == (500, "Internal Server Error")


@pytest.mark.parametrize("token", ["string", "no-principal", "no-policy", "int-principal", "bad-effect",
                                   "policy-list", "object-context", "array-context", "null-context", "not-json",
                                   "int-usage-key"])
def test_malformed_output_is_500(make_function, facts, token):
    outcome = run(config(), make_function(HANDLER), with_token(facts, token))
    assert isinstance(outcome.error, AuthorizerConfigurationError), outcome.reason
    assert "cannot use" in outcome.reason


def test_function_timeout_is_500(make_function, facts):
    slow = make_function("CALLS = []\nimport asyncio\nasync def handler(event, context):\n    await asyncio.sleep(5)\n")
    outcome = run(config(), slow, with_token(facts, "allow"), timeout_s=0.2)
    assert isinstance(outcome.error, AuthorizerConfigurationError) and "timed out" in outcome.reason


def test_function_own_timeout_is_500(make_function, facts):
    slow = make_function("CALLS = []\nimport asyncio\nasync def handler(event, context):\n    await asyncio.sleep(5)\n",
                         timeout_s=0.1)
    outcome = run(config(), slow, with_token(facts, "allow"))
    assert isinstance(outcome.error, AuthorizerConfigurationError) and "Task timed out" in outcome.reason


@pytest.mark.parametrize("headers", [[("Host", "h")], [("Host", "h"), ("Authorization", "")]])
def test_missing_or_empty_header_is_401_without_invoking(make_function, facts, calls, headers):
    function = make_function(HANDLER)
    cache = AuthorizerCache()
    outcome = run(config(authorizerResultTtlInSeconds=300), function, facts(headers=headers), cache=cache)
    assert isinstance(outcome.error, Unauthorized) and not outcome.invoked
    assert "method.request.header.Authorization is missing or empty" in outcome.reason
    assert calls(function) == [] and (cache.stats.hits, cache.stats.misses, len(cache)) == (0, 0, 0)


def test_header_name_is_case_insensitive(make_function, facts):
    outcome = run(config(), make_function(HANDLER), facts(headers=[("authorization", "allow")]))
    assert outcome.allowed


def test_regex_mismatch_is_401_without_invoking(make_function, facts, calls):
    function = make_function(HANDLER)
    cfg = config(identityValidationExpression="Bearer [a-z]+")
    outcome = run(cfg, function, with_token(facts, "Basic allow"))
    assert isinstance(outcome.error, Unauthorized) and "identityValidationExpression" in outcome.reason
    partial = run(cfg, function, with_token(facts, "Bearer allow!"))  # matches a prefix only: full match needed
    assert isinstance(partial.error, Unauthorized) and calls(function) == []
    assert run(cfg, function, with_token(facts, "Bearer allow")).allowed and len(calls(function)) == 1
