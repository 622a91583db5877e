"""End to end: an HTTP API (v2) with payload 2.0 and 1.0 routes, the $default stage and route."""

import requests

from helpers import openapi, proxy_op, write_project

HANDLERS = '''
import json

def v2(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "cookies": ["a=1"],
            "body": json.dumps(event)}

def inferred(event, context):
    return {"route": event["routeKey"], "params": event.get("pathParameters")}

def v1(event, context):
    return {"statusCode": 200, "body": json.dumps(event)}

def broken(event, context):
    raise RuntimeError("no")
'''


def http_api(tmp_path, stages=None):
    doc = openapi({
        "/pets/{id}": {"get": proxy_op("v2", payloadFormatVersion="2.0")},
        "/inferred/{proxy+}": {"get": proxy_op("inferred", payloadFormatVersion="2.0")},
        "/v1": {"post": proxy_op("v1", payloadFormatVersion="1.0")},
        "/broken": {"get": proxy_op("broken", payloadFormatVersion="2.0")},
    }, **{"x-amazon-apigateway-importexport-version": "1.0"})
    api = {"id": "httpapi", "openapi": "openapi.yaml"}
    if stages:
        api["stages"] = stages
    config = {"apis": [api], "functions": {n: f"h.py:{n}" for n in ("v2", "inferred", "v1", "broken")}}
    return write_project(tmp_path, doc, config=config, files={"h.py": HANDLERS})


def test_v2_event_on_default_stage(serve, tmp_path):
    server = serve(http_api(tmp_path))
    r = requests.get(f"{server.url}/pets/7?a=1&a=2", headers={"Cookie": "c=3", "X-Two": "x"})
    assert r.status_code == 200 and r.headers["set-cookie"] == "a=1"
    assert r.headers["apigw-requestid"] and "x-amzn-RequestId" not in r.headers
    event = r.json()
    assert event["version"] == "2.0" and event["routeKey"] == "GET /pets/{id}"
    assert event["rawPath"] == "/pets/7" and event["rawQueryString"] == "a=1&a=2"
    assert event["queryStringParameters"] == {"a": "1,2"} and event["cookies"] == ["c=3"]
    assert event["pathParameters"] == {"id": "7"} and "cookie" not in event["headers"]
    assert event["requestContext"]["stage"] == "$default" and event["requestContext"]["http"]["method"] == "GET"


def test_named_stage_keeps_prefix_in_raw_path(serve, tmp_path):
    server = serve(http_api(tmp_path, stages={"dev": {}}))
    event = requests.get(f"{server.url}/dev/pets/1").json()
    assert event["rawPath"] == "/dev/pets/1" and event["requestContext"]["stage"] == "dev"


def test_inferred_response_and_v1_payload(serve, tmp_path):
    server = serve(http_api(tmp_path))
    r = requests.get(f"{server.url}/inferred/a/b")
    assert r.json() == {"route": "GET /inferred/{proxy+}", "params": {"proxy": "a/b"}}
    assert r.headers["content-type"] == "application/json"
    event = requests.post(f"{server.url}/v1", data="hi").json()
    assert event["version"] == "1.0" and event["body"] == "hi" and event["resource"] == "/v1"


def test_http_api_errors(serve, tmp_path):
    server = serve(http_api(tmp_path))
    r = requests.get(f"{server.url}/nothing/here")
    assert (r.status_code, r.content) == (404, b'{"message":"Not Found"}')
    assert "x-amzn-ErrorType" not in r.headers
    r = requests.get(f"{server.url}/broken")
    assert (r.status_code, r.content) == (500, b'{"message":"Internal Server Error"}')
