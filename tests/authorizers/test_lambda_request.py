"""REQUEST authorizers: REST, HTTP API payload 1.0 and 2.0, simple responses (spec §5.2, §5.5)."""

import asyncio

from lychgate.authorizers.lambda_ import function_invoker, parse_authorizer, run_authorizer
from lychgate.errors import AccessDenied, AuthorizerConfigurationError, Unauthorized

URI = "arn:aws:lambda:us-east-1:123456789012:function:auth"

POLICY_HANDLER = '''
CALLS = []

def handler(event, context):
    CALLS.append(event)
    arn = event.get("methodArn") or event["routeArn"]
    context_out = {"tenant": "acme", "level": 3}
    if event.get("version") == "2.0":
        context_out["roles"] = ["a", "b"]
    if (event.get("queryStringParameters") or {}).get("claims"):
        context_out = {"claims": "x"}
    return {"principalId": "p-9", "context": context_out,
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}]}}
'''

SIMPLE_HANDLER = '''
CALLS = []

def handler(event, context):
    CALLS.append(event)
    ok = event["headers"].get("authorization") == "secretToken"
    return {"isAuthorized": ok, "context": {"user": "u1", "numberKey": 1, "mapKey": {"k": "v"}, "arrayKey": [1, 2]}}
'''


def run(config, function, facts_and_arn):
    facts, arn = facts_and_arn
    invoke = function_invoker(function, request_id="rid-1", timeout_s=5)
    return asyncio.run(run_authorizer(config, facts=facts, method_arn=arn, invoke=invoke))


def rest_config(sources="method.request.header.X-Key,method.request.querystring.tenant,stageVariables.env"):
    raw = {"type": "request", "authorizerUri": URI, "identitySource": sources, "authorizerResultTtlInSeconds": 0}
    return parse_authorizer("reqAuth", raw, protocol="REST")


def http_config(version, simple=False, sources="$request.header.Authorization,$request.querystring.t"):
    raw = {"type": "request", "authorizerUri": URI, "identitySource": sources,
           "authorizerPayloadFormatVersion": version, "enableSimpleResponses": simple}
    return parse_authorizer("httpAuth", raw, protocol="HTTP")


SIMPLE = http_config("2.0", simple=True, sources="$request.header.Authorization")


def rest_request(facts, headers=(("Host", "h"), ("X-Key", "k1")), query="tenant=acme", env="dev"):
    return facts("GET", "/pets/42", headers=list(headers), query=query, resource_path="/pets/{petId}",
                 path_parameters={"petId": "42"}, stage_variables={"env": env} if env else {})


def test_rest_request_event_is_the_proxy_event_without_body(make_function, facts, calls):
    function = make_function(POLICY_HANDLER)
    request = rest_request(facts)
    outcome = run(rest_config(), function, request)
    assert outcome.allowed and outcome.principal_id == "p-9"
    [event] = calls(function)
    assert list(event) == ["type", "methodArn", "resource", "path", "httpMethod", "headers", "multiValueHeaders",
                           "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
                           "stageVariables", "requestContext"]
    assert event["type"] == "REQUEST" and event["methodArn"] == request[1]
    assert request[1] == "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/prod/GET/pets/42"
    assert event["resource"] == "/pets/{petId}" and event["path"] == "/pets/42" and event["httpMethod"] == "GET"
    assert event["headers"] == {"Host": "h", "X-Key": "k1"}
    assert event["multiValueHeaders"] == {"Host": ["h"], "X-Key": ["k1"]}
    assert event["queryStringParameters"] == {"tenant": "acme"} and event["pathParameters"] == {"petId": "42"}
    assert event["stageVariables"] == {"env": "dev"}
    context = event["requestContext"]
    assert context["stage"] == "prod" and context["path"] == "/prod/pets/42" and context["resourcePath"] == "/pets/{petId}"
    assert context["identity"]["sourceIp"] == "10.1.2.3" and "authorizer" not in context


def test_rest_request_context_is_stringified_for_the_integration(make_function, facts):
    outcome = run(rest_config(), make_function(POLICY_HANDLER), rest_request(facts))
    fields = outcome.event_authorizer()
    assert fields["principalId"] == "p-9" and fields["tenant"] == "acme" and fields["level"] == "3"


def test_rest_request_each_missing_source_is_401_without_invoking(make_function, facts, calls):
    function = make_function(POLICY_HANDLER)
    cases = {"method.request.header.X-Key": rest_request(facts, headers=[("Host", "h")]),
             "method.request.querystring.tenant": rest_request(facts, query="tenant="),
             "stageVariables.env": rest_request(facts, env=None)}
    for source, request in cases.items():
        outcome = run(rest_config(), function, request)
        assert isinstance(outcome.error, Unauthorized) and source in outcome.reason
    assert calls(function) == []


def test_rest_querystring_source_is_case_sensitive(make_function, facts):
    outcome = run(rest_config(), make_function(POLICY_HANDLER), rest_request(facts, query="Tenant=acme"))
    assert isinstance(outcome.error, Unauthorized)


def test_rest_context_identity_source(make_function, facts):
    config = rest_config("method.request.header.X-Key,context.httpMethod")
    assert run(config, make_function(POLICY_HANDLER), rest_request(facts)).allowed


def test_http_api_v2_event(make_function, facts, calls):
    function = make_function(POLICY_HANDLER)
    request = facts("GET", "/pets/42", headers=[("Host", "h"), ("Authorization", "tok"), ("Cookie", "c=1")],
                    query="t=1&t=2", stage="$default", rest=False, resource_path="/pets/{petId}",
                    path_parameters={"petId": "42"}, stage_variables={"v": "1"})
    outcome = run(http_config("2.0"), function, request)
    assert outcome.allowed
    assert outcome.event_authorizer() == {"lambda": {"tenant": "acme", "level": 3, "roles": ["a", "b"]}}
    [event] = calls(function)
    assert request[1] == "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/$default/GET/pets/42"
    assert list(event)[:4] == ["version", "type", "routeArn", "identitySource"]
    assert event["version"] == "2.0" and event["type"] == "REQUEST" and event["routeArn"] == request[1]
    assert event["identitySource"] == ["tok", "1,2"]  # repeated query keys are comma-joined on HTTP APIs
    assert event["routeKey"] == "GET /pets/{petId}" and event["rawPath"] == "/pets/42"
    assert event["rawQueryString"] == "t=1&t=2"
    assert event["cookies"] == ["c=1"] and event["headers"] == {"host": "h", "authorization": "tok"}
    assert event["queryStringParameters"] == {"t": "1,2"} and event["pathParameters"] == {"petId": "42"}
    assert event["stageVariables"] == {"v": "1"} and event["requestContext"]["http"]["method"] == "GET"
    assert "body" not in event and "isBase64Encoded" not in event and "methodArn" not in event


def test_http_api_v1_event_joins_identity_sources(make_function, facts, calls):
    function = make_function(POLICY_HANDLER)
    request = facts("GET", "/pets", headers=[("Host", "h"), ("Authorization", "user1")], query="t=123",
                    stage="$default", rest=False)
    outcome = run(http_config("1.0"), function, request)
    assert outcome.allowed and outcome.context_variables() == {"principalId": "p-9", "tenant": "acme", "level": "3"}
    [event] = calls(function)
    assert list(event)[:5] == ["version", "type", "methodArn", "identitySource", "authorizationToken"]
    assert event["version"] == "1.0" and event["methodArn"] == request[1]
    assert event["identitySource"] == "user1,123" and event["authorizationToken"] == "user1,123"
    assert event["multiValueQueryStringParameters"] == {"t": ["123"]} and "body" not in event


def test_http_api_v1_claims_context_key_is_reserved(make_function, facts):
    request = facts("GET", "/pets", headers=[("Authorization", "a")], query="t=1&claims=1", stage="$default", rest=False)
    outcome = run(http_config("1.0"), make_function(POLICY_HANDLER), request)
    assert isinstance(outcome.error, AuthorizerConfigurationError) and "claims" in outcome.reason


def test_http_api_missing_source_is_401(make_function, facts, calls):
    function = make_function(POLICY_HANDLER)
    outcome = run(http_config("2.0"), function, facts(headers=[("Authorization", "a")], stage="$default", rest=False))
    assert isinstance(outcome.error, Unauthorized) and "$request.querystring.t" in outcome.reason
    assert outcome.error.http_api == (401, "Unauthorized") and calls(function) == []


def test_simple_response_true_allows_and_passes_any_context(make_function, facts):
    request = facts(headers=[("Authorization", "secretToken")], stage="$default", rest=False)
    outcome = run(SIMPLE, make_function(SIMPLE_HANDLER), request)
    assert outcome.allowed and outcome.evaluation is None and outcome.policy is None
    assert outcome.event_authorizer() == {"lambda": {"user": "u1", "numberKey": 1, "mapKey": {"k": "v"}, "arrayKey": [1, 2]}}
    assert outcome.context_variables()["mapKey"] == '{"k":"v"}'


def test_simple_response_false_is_403_forbidden(make_function, facts):
    request = facts(headers=[("Authorization", "wrong")], stage="$default", rest=False)
    outcome = run(SIMPLE, make_function(SIMPLE_HANDLER), request)
    assert isinstance(outcome.error, AccessDenied) and outcome.error.http_api == (403, "Forbidden")
    assert outcome.verdict == "forbidden" and "isAuthorized: false" in outcome.reason


def test_simple_response_needs_a_boolean(make_function, facts):
    function = make_function("CALLS = []\ndef handler(event, context):\n    return {'isAuthorized': 'yes'}\n")
    outcome = run(http_config("2.0", simple=True, sources=""), function, facts(stage="$default", rest=False))
    assert isinstance(outcome.error, AuthorizerConfigurationError) and "isAuthorized" in outcome.reason


def test_no_identity_sources_without_caching_always_invokes(make_function, facts, calls):
    function = make_function(SIMPLE_HANDLER)
    config = http_config("2.0", simple=True, sources="")
    run(config, function, facts(stage="$default", rest=False))
    assert calls(function)[0]["identitySource"] == []
