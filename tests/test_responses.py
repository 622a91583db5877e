"""Gateway responses: defaults, DEFAULT_4XX/5XX fallback, customisation, HTTP API bodies."""

import json

from lychgate import responses
from lychgate.config.model import HTTP, REST, Api, GatewayResponseTemplate, Source
from lychgate.errors import (ERROR_CLASSES, RESPONSE_TYPES, AccessDenied, AuthorizerConfigurationError,
                             IntegrationFailure, IntegrationTimeout, InvalidApiKey, MissingAuthenticationToken,
                             QuotaExceeded, Throttled, Unauthorized)


def api(protocol=REST, **gateway_responses) -> Api:
    return Api("a1", "a1", protocol, Source("f", ""), (), {}, gateway_responses=gateway_responses)


def lookup(values=None):
    values = values or {}
    return lambda name: values.get(name)


def test_every_type_has_a_class_except_the_defaults():
    assert set(ERROR_CLASSES) == set(RESPONSE_TYPES) - {"DEFAULT_4XX", "DEFAULT_5XX"}
    assert len(RESPONSE_TYPES) == 21


def test_default_bodies_are_aws_exact():
    cases = [
        (MissingAuthenticationToken(), 403, "MissingAuthenticationTokenException", b'{"message":"Missing Authentication Token"}'),
        (Unauthorized(), 401, "UnauthorizedException", b'{"message":"Unauthorized"}'),
        (AuthorizerConfigurationError(), 500, "AuthorizerConfigurationException", b'{"message":null}'),
        (InvalidApiKey(), 403, "ForbiddenException", b'{"message":"Forbidden"}'),
        (Throttled(), 429, "TooManyRequestsException", b'{"message":"Too Many Requests"}'),
        (QuotaExceeded(), 429, "LimitExceededException", b'{"message":"Limit Exceeded"}'),
        (IntegrationTimeout(), 504, "InternalServerErrorException", b'{"message":"Endpoint request timed out"}'),
        (IntegrationFailure(), 500, "InternalServerErrorException", b'{"message":"Internal server error"}'),
        (AccessDenied("User: anonymous is not authorized"), 403, "AccessDeniedException",
         b'{"Message":"User: anonymous is not authorized"}'),
    ]
    for error, status, error_type, body in cases:
        response = responses.render(error, api(), lookup())
        assert (response.status, response.body) == (status, body)
        assert response.header("x-amzn-ErrorType") == error_type
        assert response.header("Content-Type") == "application/json"


def test_default_4xx_changes_every_uncustomised_4xx_but_not_5xx():
    custom = api(DEFAULT_4XX=GatewayResponseTemplate("DEFAULT_4XX", 418, {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}))
    r = responses.render(Unauthorized(), custom, lookup())
    assert r.status == 418 and r.header("Access-Control-Allow-Origin") == "*"
    assert r.body == b'{"message":"Unauthorized"}'
    r5 = responses.render(IntegrationFailure(), custom, lookup())
    assert r5.status == 500 and r5.header("Access-Control-Allow-Origin") is None


def test_own_type_wins_over_default_and_error_type_stays():
    custom = api(DEFAULT_4XX=GatewayResponseTemplate("DEFAULT_4XX", 400),
                 MISSING_AUTHENTICATION_TOKEN=GatewayResponseTemplate(
                     "MISSING_AUTHENTICATION_TOKEN", 404,
                     {"gatewayresponse.header.x-path": "method.request.path.petId",
                      "gatewayresponse.header.x-q": "method.request.querystring.q"},
                     {"application/json": '{"error":$context.error.messageString,"type":"$context.error.responseType","id":"$context.requestId","v":"$stageVariables.v"}'}))
    values = {"method.request.path.petId": "7", "method.request.querystring.q": "x",
              "context.requestId": "rid", "stageVariables.v": "sv"}
    r = responses.render(MissingAuthenticationToken(), custom, lookup(values))
    assert r.status == 404
    assert r.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert (r.header("x-path"), r.header("x-q")) == ("7", "x")
    assert json.loads(r.body) == {"error": "Missing Authentication Token", "type": "MISSING_AUTHENTICATION_TOKEN",
                                  "id": "rid", "v": "sv"}


def test_http_api_errors_have_their_own_bodies():
    http = api(HTTP)
    assert responses.render(MissingAuthenticationToken(), http, lookup()).body == b'{"message":"Not Found"}'
    assert responses.render(MissingAuthenticationToken(), http, lookup()).status == 404
    r = responses.render(IntegrationFailure(), http, lookup())
    assert (r.status, r.body) == (500, b'{"message":"Internal Server Error"}')
    assert r.header("x-amzn-ErrorType") is None
