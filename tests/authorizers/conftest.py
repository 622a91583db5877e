"""Fixtures for the Lambda authorizer tests: real handler files, request facts, a real HTTP authorizer.

Handlers are written to ``tmp_path`` and loaded through ``LocalFunction`` exactly as the gateway
loads them; each keeps the events it received in a module-level ``CALLS`` list (see ``calls``).
The HTTP authorizer is a real ``http.server`` on 127.0.0.1 answering by path.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lychgate.config.model import FunctionSpec
from lychgate.functions.events import InvocationFacts
from lychgate.functions.invoke import LocalFunction
from lychgate.iam import execute_api_arn
from lychgate.messages import Request

REGION = "us-east-1"
ACCOUNT = "123456789012"
API = "a1b2c3"
EPOCH = 1_583_349_317.123  # 04/Mar/2020:19:15:17 +0000


@pytest.fixture
def make_function(tmp_path):
    """``make(source, name=..., timeout_s=...)`` -> a LocalFunction running ``auth.py:handler``."""
    made: list[LocalFunction] = []

    def make(source: str, name: str = "auth", timeout_s: float | None = None) -> LocalFunction:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "auth.py").write_text(textwrap.dedent(source))
        spec = FunctionSpec(name, "auth.py:handler", folder, timeout_s=timeout_s)
        function = LocalFunction(spec, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
        made.append(function)
        return function

    yield make
    for function in made:
        function.close()


@pytest.fixture
def calls():
    """``calls(function)`` -> the events the handler received (its module's CALLS list)."""
    return lambda function: function.handler.__globals__["CALLS"]


@pytest.fixture
def facts():
    """``facts(method, path, ...)`` -> (InvocationFacts, method ARN) for a request."""
    def build(method: str = "GET", path: str = "/pets", *, headers=(("Host", "h"),), query: str = "",
              stage: str = "prod", api_id: str = API, resource_path: str | None = None,
              route_key: str | None = None, stage_variables=None, path_parameters=None, rest: bool = True):
        stage_path = f"/{stage}{path}" if rest or stage != "$default" else path
        request = Request(method, stage_path, query, list(headers), b"ignored body", "10.1.2.3", "1.1", EPOCH)
        resource = resource_path or path
        built = InvocationFacts(
            request=request, api_id=api_id, account_id=ACCOUNT, stage=stage,
            domain_name=f"{api_id}.execute-api.{REGION}.amazonaws.com", request_id="rid-1",
            extended_request_id="ext=", http_method=method, resource_path=resource, resource_id="res1",
            route_key=route_key or f"{method} {resource}", path=path, stage_path=stage_path,
            path_parameters=path_parameters or {}, stage_variables=stage_variables or {})
        return built, execute_api_arn(REGION, ACCOUNT, api_id, stage, method, path)
    return build


# ---------------------------------------------------------------- a real HTTP authorizer

def _policy(effect: str, resource: str) -> dict:
    return {"Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}


class _Authorizer(BaseHTTPRequestHandler):
    """Answers by path: /allow, /deny, /status401, /unauthorized, /boom, /garbage, /slow."""

    received: list[dict] = []

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append({"path": self.path, "content_type": self.headers["Content-Type"], "event": event})
        arn = event.get("methodArn") or event.get("routeArn")
        answers = {
            "/allow": (200, {"principalId": "http-user", "policyDocument": _policy("Allow", arn),
                             "context": {"lang": "go", "n": 7}}),
            "/deny": (200, {"principalId": "http-user", "policyDocument": _policy("Deny", arn)}),
            "/status401": (401, {"message": "nope"}),
            "/unauthorized": (500, {"errorMessage": "Unauthorized", "errorType": "Error"}),
            "/boom": (500, {"errorMessage": "database down"}),
        }
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/garbage":
            self._send(200, b"<html>not json</html>")
        else:
            status, body = answers.get(self.path, (404, {"message": "no such path"}))
            self._send(status, json.dumps(body).encode())

    def _send(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the /slow timeout test)


@pytest.fixture(scope="module")
def http_authorizer():
    """(base URL, list of received requests) of a real HTTP authorizer on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Authorizer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Authorizer.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}", _Authorizer.received
    server.shutdown()
    server.server_close()
    thread.join(5)
