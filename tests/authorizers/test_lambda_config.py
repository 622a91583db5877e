"""parse_authorizer: reading x-amazon-apigateway-authorizer (spec gateway-behavior §5, §11)."""

import pytest

from lychgate.authorizers.lambda_ import parse_authorizer

URI = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
       "arn:aws:lambda:us-east-1:123456789012:function:auth/invocations")


def token(**extra):
    return {"type": "token", "authorizerUri": URI, "identitySource": "method.request.header.Authorization", **extra}


def test_rest_token_defaults():
    config = parse_authorizer("tokenAuth", token(), protocol="REST", functions={"auth"})
    assert (config.name, config.type, config.protocol) == ("tokenAuth", "TOKEN", "REST")
    assert config.ttl_s == 300 and config.caching
    assert [(s.kind, s.name) for s in config.identity_sources] == [("header", "Authorization")]
    assert config.validation is None and config.payload_version == "1.0" and not config.simple_responses


def test_the_whole_security_scheme_is_accepted_too():
    scheme = {"type": "apiKey", "name": "Authorization", "in": "header",
              "x-amazon-apigateway-authtype": "custom", "x-amazon-apigateway-authorizer": token()}
    assert parse_authorizer("t", scheme, protocol="REST").type == "TOKEN"


def test_rest_request_sources_and_ttl():
    raw = {"type": "REQUEST", "authorizerUri": URI, "authorizerResultTtlInSeconds": 0,
           "identitySource": "method.request.header.X-Key, method.request.querystring.tenant,"
                             "stageVariables.env, context.httpMethod"}
    config = parse_authorizer("req", raw, protocol="REST")
    assert [(s.kind, s.name) for s in config.identity_sources] == [
        ("header", "X-Key"), ("querystring", "tenant"), ("stageVariables", "env"), ("context", "httpMethod")]
    assert config.ttl_s == 0 and not config.caching


def test_http_api_sources_version_and_default_ttl():
    raw = {"type": "request", "authorizerUri": URI, "authorizerPayloadFormatVersion": "2.0",
           "enableSimpleResponses": True, "identitySource": ["$request.header.Authorization", "$context.routeKey"]}
    config = parse_authorizer("h", raw, protocol="HTTP")
    assert [(s.kind, s.name) for s in config.identity_sources] == [("header", "Authorization"), ("context", "routeKey")]
    assert config.payload_version == "2.0" and config.simple_responses
    assert config.ttl_s == 0  # HTTP API default: caching only when asked for (documented choice)


def test_http_url_and_stage_variable_uris():
    assert parse_authorizer("h", token(authorizerUri="http://127.0.0.1:9/auth"), protocol="REST").uri.startswith("http")
    staged = token(authorizerUri=URI.replace("function:auth", "function:${stageVariables.fn}"))
    assert "${stageVariables.fn}" in parse_authorizer("s", staged, protocol="REST", functions=set()).uri


def test_regex_is_compiled_for_token_and_ignored_for_request():
    assert parse_authorizer("t", token(identityValidationExpression="^Bearer .+$"), protocol="REST").validation
    request = {"type": "request", "authorizerUri": URI, "identitySource": "method.request.header.A",
               "identityValidationExpression": "^x$"}
    assert parse_authorizer("r", request, protocol="REST").validation is None


@pytest.mark.parametrize("raw, protocol, fragment", [
    ({"type": "jwt", "authorizerUri": URI}, "HTTP", "not a Lambda authorizer type"),
    (token(), "HTTP", "only REQUEST"),
    (token(authorizerUri=None), "REST", "authorizerUri is required"),
    (token(authorizerUri="s3://bucket/x"), "REST", "neither a Lambda invocation URI"),
    (token(authorizerUri=URI.replace("function:auth", "function:other")), "REST", "'other'"),
    (token(authorizerResultTtlInSeconds=3601), "REST", "from 0 to 3600"),
    (token(authorizerResultTtlInSeconds=True), "REST", "from 0 to 3600"),
    (token(identitySource="method.request.querystring.t"), "REST", "exactly one identitySource"),
    (token(identitySource="method.request.header.A,method.request.header.B"), "REST", "exactly one"),
    (token(identitySource=None), "REST", "exactly one"),
    (token(identityValidationExpression="("), "REST", "not a valid regular expression"),
    ({"type": "request", "authorizerUri": URI}, "REST", "needs at least one identitySource"),
    ({"type": "request", "authorizerUri": URI, "identitySource": "method.request.path.id"}, "REST", "path parameters"),
    ({"type": "request", "authorizerUri": URI, "identitySource": "$request.header.A"}, "REST", "not one of"),
    ({"type": "request", "authorizerUri": URI, "identitySource": "method.request.header.A",
      "authorizerPayloadFormatVersion": "2.0"}, "HTTP", "not one of"),
    ({"type": "request", "authorizerUri": URI, "identitySource": "$request.header.A"}, "HTTP",
     "authorizerPayloadFormatVersion"),
    ({"type": "request", "authorizerUri": URI, "identitySource": "$request.header.A",
      "authorizerPayloadFormatVersion": "1.0", "enableSimpleResponses": True}, "HTTP", "needs authorizerPayload"),
    ({"type": "request", "authorizerUri": URI, "identitySource": "$request.header.A",
      "authorizerPayloadFormatVersion": "2.0", "authorizerResultTtlInSeconds": 60, "enableSimpleResponses": "yes"},
     "HTTP", "enableSimpleResponses must be a boolean"),
])
def test_config_errors_say_what_is_wrong(raw, protocol, fragment):
    with pytest.raises(ValueError, match=None) as info:
        parse_authorizer("a", raw, protocol=protocol, functions={"auth"})
    assert fragment in str(info.value)


def test_http_api_without_identity_source_and_no_caching_is_fine():
    raw = {"type": "request", "authorizerUri": URI, "authorizerPayloadFormatVersion": "2.0"}
    assert parse_authorizer("h", raw, protocol="HTTP").identity_sources == ()
