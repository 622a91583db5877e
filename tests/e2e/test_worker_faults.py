"""End to end: Python handlers and Lambda authorizers that raise, exit, hang or answer garbage.

Every such answer fails closed with AWS's response (authorizers: 500 ``{"message":null}``, never
the protected integration; handlers: 502), the gateway keeps serving, one function's hung calls
do not take workers from another function, a function's exhausted pool recovers once its calls
end, and a handler that never returns does not keep a stopped gateway alive.
"""

import threading
import time

import pytest
import requests

from helpers import lambda_uri, openapi, proxy_op, write_project

HANDLERS = '''
import asyncio, os, sys, time

def ok(event, context):
    return {"statusCode": 200, "body": "ok"}

def protected(event, context):
    # Reaching this handler through a failed authorizer would be an allow: leave a trace of it.
    with open(os.path.join(os.path.dirname(__file__), "protected.log"), "a") as log:
        log.write(event["path"] + "\\n")
    return {"statusCode": 200, "body": "protected"}

def hang(event, context):
    time.sleep(float(event["queryStringParameters"]["s"]))
    return {"statusCode": 200, "body": "woke"}

def forever(event, context):
    while True:
        time.sleep(0.2)

async def async_hang(event, context):
    await asyncio.sleep(3600)

def exits(event, context):
    sys.exit(3)

def interrupted(event, context):
    raise KeyboardInterrupt

async def async_exits(event, context):
    raise SystemExit(4)

def object_body(event, context):
    return {"statusCode": 200, "body": object()}

def set_result(event, context):
    return {"statusCode", 200}

def bytes_body(event, context):
    return {"statusCode": 200, "body": b"raw"}

ALLOW = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}]}

def auth_raises(event, context):
    raise ValueError("authorizer bug")

def auth_exits(event, context):
    sys.exit("Unauthorized")  # not a 401: Lambda reports the runtime's exit, not this text

def auth_hangs(event, context):
    time.sleep(5)
    return {"principalId": "late", "policyDocument": ALLOW}

def auth_string(event, context):
    return "Allow"

def auth_not_json(event, context):
    return {"principalId": "u", "policyDocument": ALLOW, "context": {"when": object()}}

def auth_no_policy(event, context):
    return {"principalId": "u"}

def auth_bad_effect(event, context):
    return {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Maybe", "Action": "execute-api:Invoke", "Resource": "*"}]}}

def auth_principal_not_string(event, context):
    return {"principalId": ["u"], "policyDocument": ALLOW}

def auth_simple_not_boolean(event, context):
    return {"isAuthorized": "true"}
'''

BROKEN_AUTHORIZERS = ("auth_raises", "auth_exits", "auth_hangs", "auth_string", "auth_not_json",
                      "auth_no_policy", "auth_bad_effect", "auth_principal_not_string")
FAILING_HANDLERS = ("exits", "interrupted", "async_exits", "object_body", "set_result", "bytes_body", "async_hang")
POOL_SIZE = 16  # lychgate.functions.invoke.POOL_SIZE: calls beyond it wait for a worker
FUNCTION_TIMEOUT_S = 0.3


def token_scheme(function: str) -> dict:
    return {"type": "apiKey", "name": "Authorization", "in": "header",
            "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": lambda_uri(function),
                                               "identitySource": "method.request.header.Authorization",
                                               "authorizerResultTtlInSeconds": 300}}


@pytest.fixture
def faulty(tmp_path):
    paths = {f"/{name}": {"get": proxy_op(name)} for name in ("ok", "hang", "forever", *FAILING_HANDLERS)}
    paths.update({f"/guarded/{name}": {"get": {**proxy_op("protected"), "security": [{name: []}]}}
                  for name in BROKEN_AUTHORIZERS})
    doc = openapi(paths, components={"securitySchemes": {name: token_scheme(name) for name in BROKEN_AUTHORIZERS}})
    functions = {name: f"h.py:{name}" for name in ("ok", "protected", *FAILING_HANDLERS, *BROKEN_AUTHORIZERS)}
    for name in ("hang", "forever", "async_hang", "auth_hangs"):
        functions[name] = {"handler": f"h.py:{name}", "timeout": FUNCTION_TIMEOUT_S}
    config = {"apis": [{"id": "faults", "openapi": "openapi.yaml", "stages": {"prod": {"access_log": False}}}],
              "functions": functions}
    return write_project(tmp_path, doc, config=config, files={"h.py": HANDLERS})


def test_broken_authorizers_fail_closed_and_never_reach_the_integration(serve, faulty):
    server = serve(faulty)
    for name in BROKEN_AUTHORIZERS:
        for attempt in range(2):  # a failure is never cached as an answer
            r = requests.get(f"{server.url}/prod/guarded/{name}", headers={"Authorization": "token-1"}, timeout=10)
            assert (r.status_code, r.content) == (500, b'{"message":null}'), (name, attempt)
            assert r.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException", name
    assert not (faulty / "protected.log").exists()
    assert requests.get(f"{server.url}/prod/ok").status_code == 200  # sys.exit() in one stopped nothing
    code, _, _ = server.stop()
    assert code == 0


def test_http_api_simple_response_that_is_not_a_boolean_fails_closed(serve, tmp_path):
    scheme = {"type": "apiKey", "name": "Authorization", "in": "header",
              "x-amazon-apigateway-authorizer": {"type": "request", "authorizerUri": lambda_uri("auth_simple_not_boolean"),
                                                 "identitySource": "$request.header.Authorization",
                                                 "authorizerPayloadFormatVersion": "2.0", "enableSimpleResponses": True}}
    doc = openapi({"/guarded": {"get": {**proxy_op("protected", payloadFormatVersion="2.0"), "security": [{"simple": []}]}}},
                  components={"securitySchemes": {"simple": scheme}}, **{"x-amazon-apigateway-importexport-version": "1.0"})
    config = {"apis": [{"id": "simple", "openapi": "openapi.yaml"}],
              "functions": {"protected": "h.py:protected", "auth_simple_not_boolean": "h.py:auth_simple_not_boolean"}}
    server = serve(write_project(tmp_path, doc, config=config, files={"h.py": HANDLERS}))
    r = requests.get(f"{server.url}/guarded", headers={"Authorization": "token-1"})
    assert (r.status_code, r.content) == (500, b'{"message":"Internal Server Error"}')
    assert not (tmp_path / "protected.log").exists()


def test_handlers_that_exit_hang_or_answer_garbage_are_502_and_the_gateway_survives(serve, faulty):
    server = serve(faulty)
    for name in FAILING_HANDLERS:
        started = time.monotonic()
        r = requests.get(f"{server.url}/prod/{name}", timeout=10)
        assert (r.status_code, r.content) == (502, b'{"message":"Internal server error"}'), name
        assert r.headers["x-amzn-ErrorType"] == "InternalServerErrorException", name
        assert time.monotonic() - started < FUNCTION_TIMEOUT_S + 1.0, name
        assert requests.get(f"{server.url}/prod/ok").status_code == 200, f"the gateway did not survive {name}"
    code, _, err = server.stop()
    assert code == 0
    assert "Runtime exited with error: exit status 3 (SystemExit)" in err
    assert "Runtime exited with error: exit status 1 (KeyboardInterrupt)" in err
    assert "Runtime exited with error: exit status 4 (SystemExit)" in err


def test_a_hung_function_starves_no_other_function_and_its_pool_recovers(serve, faulty):
    server = serve(faulty)
    hung: list[int] = []

    def call_hang():
        hung.append(requests.get(f"{server.url}/prod/hang?s=2", timeout=10).status_code)

    started = time.monotonic()
    callers = [threading.Thread(target=call_hang) for _ in range(POOL_SIZE + 4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    # Each call times out on its own (those beyond the pool while waiting for a worker): 502, not a hang.
    assert hung == [502] * (POOL_SIZE + 4)
    assert time.monotonic() - started < 1.5
    # All of the function's workers are still asleep; another function is served at once...
    for _ in range(10):
        before = time.monotonic()
        assert requests.get(f"{server.url}/prod/ok", timeout=5).status_code == 200
        assert time.monotonic() - before < 0.5
    # ...and the exhausted function fails closed quickly instead of queueing without end.
    r = requests.get(f"{server.url}/prod/hang?s=0", timeout=5)
    assert (r.status_code, r.content) == (502, b'{"message":"Internal server error"}')
    assert time.monotonic() - started < 1.9, "the checks above must run while the workers are asleep"
    # Once the sleeping calls end (2 s after they began), the same function answers again.
    deadline = started + 6
    while (status := requests.get(f"{server.url}/prod/hang?s=0", timeout=5).status_code) != 200:
        assert status == 502 and time.monotonic() < deadline, "the pool never recovered"
        time.sleep(0.1)
    assert time.monotonic() - started >= 1.9


def test_a_handler_that_never_returns_does_not_keep_a_stopped_gateway_alive(serve, faulty):
    server = serve(faulty)
    assert requests.get(f"{server.url}/prod/forever", timeout=5).status_code == 502
    assert requests.get(f"{server.url}/prod/ok").status_code == 200
    started = time.monotonic()
    code, _, _ = server.stop()
    assert code == 0 and time.monotonic() - started < 5
