"""End to end: `lychgate serve` as a real process, real backends, exact status, body and headers."""

import json
import re
import threading
import time
from pathlib import Path

import pytest
import requests

from helpers import openapi, proxy_op, write_project

ROOT = Path(__file__).resolve().parents[2]
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_petstore_example(serve):
    server = serve(ROOT / "examples" / "petstore")
    r = requests.get(f"{server.url}/prod/pets")
    assert r.status_code == 200
    assert r.json()[0] == {"id": "1", "type": "dog", "price": 249.99}
    assert REQUEST_ID.match(r.headers["x-amzn-RequestId"])
    assert len(r.headers["x-amz-apigw-id"]) == 16
    assert r.headers["Content-Type"] == "application/json" and "Date" in r.headers
    r = requests.get(f"{server.url}/prod/pets/2")
    assert r.json()["type"] == "cat"
    r = requests.post(f"{server.url}/prod/pets", json={"type": "fish"})
    assert r.status_code == 201 and r.json()["type"] == "fish"
    r = requests.get(f"{server.url}/prod/")
    assert r.json()["message"] == "Welcome to the petstore" and r.json()["requestId"] == r.headers["x-amzn-RequestId"]
    r = requests.options(f"{server.url}/prod/pets")
    assert r.headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"


def test_unmatched_route_and_method_answer_missing_authentication_token(serve):
    server = serve(ROOT / "examples" / "petstore")
    for method, path in (("GET", "/prod/nowhere"), ("DELETE", "/prod/pets"), ("GET", "/other/pets")):
        r = requests.request(method, server.url + path)
        assert r.status_code == 403
        assert r.content == b'{"message":"Missing Authentication Token"}'
        assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    # The example's DEFAULT_4XX customisation adds a CORS header to every 4xx.
    assert requests.get(server.url + "/prod/nowhere").headers["Access-Control-Allow-Origin"] == "*"


def test_host_style_urls(serve):
    server = serve(ROOT / "examples" / "petstore")
    for host in ("petstore.execute-api.localhost", "petstore.execute-api.us-east-1.amazonaws.com"):
        r = requests.get(f"{server.url}/prod/pets/1", headers={"Host": host})
        assert r.status_code == 200 and r.json()["id"] == "1"
    r = requests.get(f"{server.url}/prod/pets", headers={"Host": "otherapi.execute-api.localhost"})
    assert r.status_code == 403


def test_access_log_lines_and_redaction(serve, tmp_path):
    server = serve(ROOT / "examples" / "petstore")
    requests.get(f"{server.url}/prod/pets/1?x=1", headers={"Authorization": "Bearer secret-token-123",
                                                          "X-Api-Key": "key-value-secret-0000000"})
    requests.get(f"{server.url}/prod/missing")
    _, out, _ = server.stop()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(l["httpMethod"], l["resourcePath"], l["status"]) for l in lines] == [
        ("GET", "/pets/{petId}", "200"), ("GET", "-", "403")]
    assert lines[0]["caller"] == "-" and lines[0]["protocol"] == "HTTP/1.1"
    assert re.match(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", lines[0]["requestTime"])
    assert "secret-token-123" not in out and "key-value-secret" not in out


HANDLERS = '''
import asyncio, json, time

def echo(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"event": event, "context": {
                "aws_request_id": context.aws_request_id, "function_name": context.function_name,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "remaining": context.get_remaining_time_in_millis()}})}

def boom(event, context):
    raise ValueError("kaboom")

def malformed(event, context):
    return {"statusCode": 200, "body": "x", "unexpected": True}

def slow(event, context):
    time.sleep(float(event["queryStringParameters"]["s"]))
    return {"statusCode": 200, "body": "slow done"}

async def async_echo(event, context):
    await asyncio.sleep(0)
    return {"statusCode": 202, "body": event["path"]}
'''


@pytest.fixture
def functions_project(tmp_path):
    ops = {"/echo/{id}": {"post": proxy_op("echo")}, "/boom": {"get": proxy_op("boom")},
           "/malformed": {"get": proxy_op("malformed")}, "/slow": {"get": proxy_op("slow", timeoutInMillis=1500)},
           "/fnslow": {"get": proxy_op("fnslow")}, "/async": {"get": proxy_op("async_echo")}}
    config = {"apis": [{"id": "fnapi", "openapi": "openapi.yaml", "stages": {"test": {"variables": {"color": "blue"}}}}],
              "functions": {"echo": "h.py:echo", "boom": "h.py:boom", "malformed": "h.py:malformed",
                            "slow": "h.py:slow", "fnslow": {"handler": "h.py:slow", "timeout": 0.5, "memory": 512},
                            "async_echo": "h.py:async_echo"}}
    return write_project(tmp_path, openapi(ops), config=config, files={"h.py": HANDLERS})


def test_lambda_proxy_event_and_context(serve, functions_project):
    server = serve(functions_project)
    r = requests.post(f"{server.url}/test/echo/a%20b?q=1&q=2", data=b'{"k":"v"}',
                      headers={"X-Multi": "1", "User-Agent": "pytest"})
    assert r.status_code == 200
    event, context = r.json()["event"], r.json()["context"]
    assert event["resource"] == "/echo/{id}" and event["path"] == "/echo/a b" and event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"id": "a b"} and event["stageVariables"] == {"color": "blue"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]} and event["body"] == '{"k":"v"}'
    rc = event["requestContext"]
    assert rc["stage"] == "test" and rc["path"] == "/test/echo/a%20b" and rc["apiId"] == "fnapi"
    assert rc["requestId"] == r.headers["x-amzn-RequestId"] == context["aws_request_id"]
    assert rc["extendedRequestId"] == r.headers["x-amz-apigw-id"]
    assert rc["identity"]["userAgent"] == "pytest" and rc["identity"]["sourceIp"] == "127.0.0.1"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:echo"
    assert context["function_name"] == "echo" and context["memory_limit_in_mb"] == "128"
    assert 0 < context["remaining"] <= 29000


def test_function_failures_are_502_and_logged(serve, functions_project):
    server = serve(functions_project)
    for path in ("/test/boom", "/test/malformed", "/test/fnslow?s=2"):
        r = requests.get(server.url + path)
        assert (r.status_code, r.content) == (502, b'{"message":"Internal server error"}'), path
        assert r.headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    boom_id = requests.get(server.url + "/test/boom").headers["x-amzn-RequestId"]
    assert requests.post(server.url + "/test/echo/1").status_code == 200  # still healthy
    _, _, err = server.stop()
    assert re.search(re.escape(boom_id) + r".*customer function error: ValueError: kaboom", err)
    assert "Malformed Lambda proxy response" in err


def test_integration_timeout_is_504(serve, functions_project):
    server = serve(functions_project)
    r = requests.get(server.url + "/test/slow?s=3")
    assert (r.status_code, r.content) == (504, b'{"message":"Endpoint request timed out"}')


def test_slow_sync_handler_does_not_block_others(serve, functions_project):
    server = serve(functions_project)
    slow = threading.Thread(target=requests.get, args=(server.url + "/test/slow?s=1.2",))
    slow.start()
    time.sleep(0.2)
    r = requests.get(server.url + "/test/async")
    assert r.status_code == 202 and r.text == "/async"
    assert slow.is_alive()  # answered while the slow handler was still running
    slow.join()


def http_proxy_project(tmp_path, backend, **integration):
    integ = {"type": "http_proxy", "httpMethod": "ANY", "uri": "${stageVariables.backend}/{proxy}",
             "requestParameters": {"integration.request.path.proxy": "method.request.path.proxy"}, **integration}
    doc = openapi({"/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": integ}}})
    config = {"apis": [{"id": "px", "openapi": "openapi.yaml",
                        "stages": {"dev": {"variables": {"backend": backend}}}}]}
    return write_project(tmp_path, doc, config=config)


def test_http_proxy_passes_request_and_response_through(serve, backend, tmp_path):
    server = serve(http_proxy_project(tmp_path, backend))
    r = requests.post(f"{server.url}/dev/a/b%20c?x=1&x=2", data=b"payload",
                      headers={"X-Custom": "v", "X-Forwarded-For": "1.2.3.4"})
    assert r.status_code == 200 and r.headers["X-Backend"] == "echo"
    seen = r.json()
    assert seen["method"] == "POST" and seen["path"] == "/a/b%20c" and seen["query"] == "x=1&x=2"
    assert seen["body"] == "payload"
    headers = {k.lower(): v for k, v in seen["headers"]}
    assert headers["host"] == backend.removeprefix("http://")
    assert headers["x-custom"] == "v" and headers["x-forwarded-for"] == "1.2.3.4, 127.0.0.1"
    # REST APIs rename some backend headers (Date, Server) to x-amzn-Remapped-*.
    assert "x-amzn-Remapped-Server" in r.headers and "x-amzn-Remapped-Date" in r.headers
    assert requests.get(f"{server.url}/dev/status/418").status_code == 418


def test_backend_failures(serve, backend, tmp_path):
    server = serve(http_proxy_project(tmp_path, backend, timeoutInMillis=500))
    r = requests.get(f"{server.url}/dev/slow/2")
    assert (r.status_code, r.content) == (504, b'{"message":"Endpoint request timed out"}')
    for path in ("/dev/garbage", "/dev/reset"):
        r = requests.get(server.url + path)
        assert (r.status_code, r.content) == (500, b'{"message":"Internal server error"}'), path
    assert requests.get(f"{server.url}/dev/fine").status_code == 200  # healthy afterwards


def test_backend_refusing_connections(serve, tmp_path):
    server = serve(http_proxy_project(tmp_path, "http://127.0.0.1:9"))
    r = requests.get(f"{server.url}/dev/x")
    assert (r.status_code, r.content) == (500, b'{"message":"Internal server error"}')
    assert r.headers["x-amzn-ErrorType"] == "InternalServerErrorException"


def test_execution_log_at_error_level(serve, tmp_path):
    doc = openapi({"/ok": {"get": proxy_op("fn")}})
    config = {"apis": [{"id": "ex", "openapi": "openapi.yaml", "stages": {"prod": {"logging_level": "ERROR",
                                                                               "access_log": False}}}],
              "functions": {"fn": "h.py:handler"}}
    server = serve(write_project(tmp_path, doc, config=config,
                                 files={"h.py": "def handler(e, c):\n    return {'statusCode': 200}\n"}))
    ok = requests.get(f"{server.url}/prod/ok").headers["x-amzn-RequestId"]
    refused = requests.get(f"{server.url}/prod/nope").headers["x-amzn-RequestId"]
    _, _, err = server.stop()
    assert f"({refused}) Starting execution for request: {refused}" in err
    assert f"({refused}) Method completed with status: 403" in err
    assert f"({refused}) Gateway response type: MISSING_AUTHENTICATION_TOKEN with status code: 403" in err
    assert ok not in err  # ERROR level: only refused or failed requests


def test_access_log_carries_the_compact_trace(serve, tmp_path):
    doc = openapi({"/ok": {"get": proxy_op("fn")}})
    log = tmp_path / "access.log"
    fmt = '{"id":"$context.requestId","cause":"$context.lychgate.cause","trace":"$context.lychgate.trace"}'
    config = {"apis": [{"id": "al", "openapi": "openapi.yaml", "stages": {"prod": {
                  "access_log": {"format": fmt, "destination": str(log)}}}}],
              "functions": {"fn": "h.py:handler"}}
    server = serve(write_project(tmp_path, doc, config=config,
                                 files={"h.py": "def handler(e, c):\n    return {'statusCode': 200}\n"}))
    requests.get(f"{server.url}/prod/ok")
    requests.get(f"{server.url}/prod/nope")
    server.stop()
    first, second = [json.loads(line) for line in log.read_text().splitlines()]
    assert first["cause"] == "-" and first["trace"].endswith("integrate:answered")
    assert second["cause"] == "no_route" and second["trace"].endswith("gateway_response:MISSING_AUTHENTICATION_TOKEN")
