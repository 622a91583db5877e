"""Proxy events (payload 1.0 and 2.0) and the parsing of function results."""

import base64

import pytest

from lychgate.functions.events import (InvocationFacts, MalformedResponse, parse_response_v1,
                                       parse_response_v2, proxy_event_v1, proxy_event_v2, request_time)
from lychgate.messages import Request

EPOCH = 1_583_349_317.123  # 04/Mar/2020:19:15:17 +0000


def facts(headers=None, query="", body=b"", stage_path="/prod/pets/42", path_params=None, binary=False, **kw):
    request = Request("GET", "/prod/pets/42", query, headers if headers is not None else [("Host", "h"), ("User-Agent", "curl/8")],
                      body, "10.1.2.3", "1.1", EPOCH)
    values = dict(api_id="abc123", account_id="123456789012", stage="prod", domain_name="abc123.execute-api.us-east-1.amazonaws.com",
                  request_id="rid-1", extended_request_id="ext=", http_method="GET", resource_path="/pets/{petId}",
                  resource_id="r1", route_key="GET /pets/{petId}", path="/pets/42", stage_path=stage_path,
                  path_parameters=path_params if path_params is not None else {"petId": "42"},
                  stage_variables={"v": "1"}, binary=binary)
    values.update(kw)
    return InvocationFacts(request=request, **values)


def test_request_time_format():
    assert request_time(EPOCH) == "04/Mar/2020:19:15:17 +0000"


def test_v1_event_shape():
    event = proxy_event_v1(facts(headers=[("Host", "h"), ("X-A", "1"), ("x-a", "2"), ("X-A", "3")], query="a=1&a=2&b=&c"))
    assert list(event) == ["resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
                           "multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext",
                           "body", "isBase64Encoded"]
    assert event["resource"] == "/pets/{petId}" and event["path"] == "/pets/42"
    assert event["headers"] == {"Host": "h", "X-A": "3", "x-a": "2"}
    assert event["multiValueHeaders"]["X-A"] == ["1", "3"]
    assert event["queryStringParameters"] == {"a": "2", "b": "", "c": ""}
    assert event["multiValueQueryStringParameters"]["a"] == ["1", "2"]
    assert event["pathParameters"] == {"petId": "42"} and event["stageVariables"] == {"v": "1"}
    assert event["body"] is None and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["path"] == "/prod/pets/42" and ctx["stage"] == "prod" and ctx["resourcePath"] == "/pets/{petId}"
    assert ctx["requestTime"] == "04/Mar/2020:19:15:17 +0000" and ctx["requestTimeEpoch"] == 1583349317123
    assert ctx["domainPrefix"] == "abc123" and ctx["accountId"] == "123456789012"
    assert ctx["identity"]["sourceIp"] == "10.1.2.3" and ctx["identity"]["userArn"] is None
    assert "version" not in event


def test_v1_absent_maps_are_null():
    event = proxy_event_v1(facts(headers=[], path_params={}, stage_variables={}))
    for key in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters",
                "pathParameters", "stageVariables"):
        assert event[key] is None, key


def test_v1_bodies_text_and_binary():
    assert proxy_event_v1(facts(body=b'{"a":1}'))["body"] == '{"a":1}'
    binary = proxy_event_v1(facts(body=b"\x89PNG", binary=True))
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\x89PNG"
    assert proxy_event_v1(facts(body=b"\xff\xfe"))["isBase64Encoded"] is True


def test_http_api_v1_event_has_version():
    assert proxy_event_v1(facts(), version="1.0")["version"] == "1.0"


def test_v2_event_shape():
    event = proxy_event_v2(facts(headers=[("Host", "h"), ("X-A", "1"), ("x-a", "2"), ("Cookie", "a=1; b=2")],
                                 query="q=1&q=2", stage_path="/pets/42", body=b"hi"))
    assert event["version"] == "2.0" and event["routeKey"] == "GET /pets/{petId}"
    assert event["rawPath"] == "/pets/42" and event["rawQueryString"] == "q=1&q=2"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"] == {"host": "h", "x-a": "1,2"}
    assert event["queryStringParameters"] == {"q": "1,2"}
    assert event["body"] == "hi" and event["isBase64Encoded"] is False
    http = event["requestContext"]["http"]
    assert http == {"method": "GET", "path": "/pets/42", "protocol": "HTTP/1.1", "sourceIp": "10.1.2.3", "userAgent": ""}
    assert event["requestContext"]["timeEpoch"] == 1583349317123


def test_v2_event_omits_absent_fields():
    event = proxy_event_v2(facts(headers=[], path_params={}, stage_variables={}))
    for key in ("cookies", "queryStringParameters", "body", "pathParameters", "stageVariables"):
        assert key not in event


def test_parse_v1_merges_multi_value_headers_and_decodes():
    r = parse_response_v1({"statusCode": 201, "headers": {"A": "1", "B": True, "C": 3},
                           "multiValueHeaders": {"A": ["x", "y"]}, "body": base64.b64encode(b"\x00\x01").decode(),
                           "isBase64Encoded": True})
    assert r.status == 201 and r.body == b"\x00\x01"
    assert r.headers == [("A", "x"), ("A", "y"), ("B", "true"), ("C", "3")]


@pytest.mark.parametrize("result", [
    "not an object", [1], {"statusCode": 200, "extra": 1}, {"statusCode": "abc"}, {"statusCode": 200, "body": {"a": 1}},
    {"statusCode": 200, "headers": {"A": {"x": 1}}}, {"statusCode": 99}, {"body": "x", "isBase64Encoded": True},
])
def test_parse_v1_malformed(result):
    with pytest.raises(MalformedResponse):
        parse_response_v1(result)


def test_parse_v1_defaults():
    r = parse_response_v1({})
    assert (r.status, r.body, r.headers) == (200, b"", [])
    assert parse_response_v1({"statusCode": "404"}).status == 404


def test_parse_v2_inference_without_status_code():
    r = parse_response_v2({"hello": "world"})
    assert (r.status, r.body, r.header("content-type")) == (200, b'{"hello":"world"}', "application/json")
    assert parse_response_v2("Hello").body == b"Hello"


def test_parse_v2_structured_with_cookies():
    r = parse_response_v2({"statusCode": 302, "headers": {"Location": "/x"}, "cookies": ["a=1", "b=2"], "body": ""})
    assert r.status == 302 and r.header("Location") == "/x"
    assert [v for k, v in r.headers if k == "set-cookie"] == ["a=1", "b=2"]
