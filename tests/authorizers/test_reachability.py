"""`lychgate check`'s JWKS finding against real HTTP servers on 127.0.0.1: a good issuer, a 404,
garbage, JSON that is no JWKS, an empty JWKS, a closed port, a silent server and a trickling one."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from helpers import openapi, proxy_op, write_project
from lychgate.authorizers.reachability import unreachable_jwks
from lychgate.cli.main import main
from lychgate.config.project import load_project
from lychgate.tokens.idp import LocalIdentityProvider

HANDLER = "def handler(event, context):\n    return {'statusCode': 200}\n"
POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Local"


class IssuerServer:
    """OIDC issuers under path prefixes of one real HTTP server: ``/{case}`` is an issuer URL."""

    def __init__(self, jwks: dict):
        documents = {"good": jwks, "garbage": b"<html>Service Unavailable</html>", "notjwks": {"issuer": "x"},
                     "nokeys": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                case, _, rest = self.path.lstrip("/").partition("/")
                base = f"http://127.0.0.1:{self.server.server_address[1]}/{case}"
                if rest == ".well-known/openid-configuration" and case != "nodiscovery":
                    return self._send(200, {"issuer": base, "jwks_uri": f"{base}/jwks.json"})
                if rest == "jwks.json" and case in documents:
                    return self._send(200, documents[case])
                self._send(404, {"message": "Not Found"})

            def _send(self, status, document):
                body = document if isinstance(document, bytes) else json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class Trickle:
    """Accepts connections and sends one byte every 0.1 s, forever: no socket timeout ever fires."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        clients = []
        while not self.stopped.is_set():
            try:
                clients.append(self.sock.accept()[0])
            except TimeoutError:
                pass
            for client in clients:
                try:
                    client.send(b"H")
                except OSError:
                    pass
        for client in clients:
            client.close()

    def stop(self):
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def issuers(tmp_path):
    server = IssuerServer(LocalIdentityProvider(tmp_path / "keys").jwks())
    yield server
    server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jwt_project(folder, issuers: dict[str, str], **config):
    """An HTTP API with one JWT authorizer (and one route) per named issuer."""
    schemes = {name: {"type": "oauth2", "flows": {}, "x-amazon-apigateway-authorizer": {
        "type": "jwt", "identitySource": "$request.header.Authorization",
        "jwtConfiguration": {"issuer": issuer, "audience": ["client"]}}} for name, issuer in issuers.items()}
    paths = {f"/{name}": {"get": {**proxy_op("fn", payloadFormatVersion="2.0"), "security": [{name: []}]}}
             for name in issuers}
    doc = openapi(paths, components={"securitySchemes": schemes}, **{"x-amazon-apigateway-importexport-version": "1.0"})
    return write_project(folder, doc, files={"h.py": HANDLER}, config={
        "apis": [{"id": "jw", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"}, **config})


def by_authorizer(problems) -> dict[str, str]:
    return {p.pointer.split("/")[3]: p.message for p in problems}


def test_every_kind_of_unusable_jwks_is_a_finding_and_a_good_one_is_not(tmp_path, issuers):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    dead = closed_port()
    try:
        project = load_project(jwt_project(tmp_path / "p", {
            "good": f"{issuers.url}/good", "nodiscovery": f"{issuers.url}/nodiscovery",
            "jwks404": f"{issuers.url}/jwks404", "garbage": f"{issuers.url}/garbage",
            "notjwks": f"{issuers.url}/notjwks", "nokeys": f"{issuers.url}/nokeys",
            "closed": f"http://127.0.0.1:{dead}", "silent": f"http://127.0.0.1:{silent.getsockname()[1]}"}))
        started = time.monotonic()
        found = by_authorizer(unreachable_jwks(project, timeout=0.3))
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert elapsed < 1.5, elapsed  # all issuers at once, each under the timeout
    assert "good" not in found and len(found) == 7, found
    url = issuers.url
    assert f"HTTP 404 from {url}/nodiscovery/.well-known/openid-configuration" in found["nodiscovery"]
    assert f"HTTP 404 from {url}/jwks404/jwks.json" in found["jwks404"]
    assert f"{url}/garbage/jwks.json did not answer JSON" in found["garbage"]
    assert f'{url}/notjwks/jwks.json is not a JWKS: no "keys" array' in found["notjwks"]
    assert f"{url}/nokeys/jwks.json lists no usable signing key: keys[0]: kid 'hmac': kty 'oct'" in found["nokeys"]
    assert f"cannot reach http://127.0.0.1:{dead}/.well-known/openid-configuration" in found["closed"]
    assert "refused" in found["closed"].lower()
    assert "timed out" in found["silent"]
    message = found["jwks404"]
    assert message.startswith(f"JWT authorizer jwks404 cannot get the signing keys of issuer {url}/jwks404 "
                              f"(via {url}/jwks404/.well-known/openid-configuration) from this machine now: ")
    assert "every token is refused with 401. Fix: check jwtConfiguration.issuer" in message
    assert "list it under local_idp.issuers" in message and "`lychgate check --offline`" in message


def test_the_finding_points_at_the_issuer(tmp_path):
    dead = closed_port()
    project = load_project(jwt_project(tmp_path, {"auth": f"http://127.0.0.1:{dead}/pool"}))
    [problem] = unreachable_jwks(project, timeout=0.3)
    assert (problem.file, problem.severity) == (str(tmp_path / "openapi.yaml"), "warning")
    assert problem.pointer == "/components/securitySchemes/auth/x-amazon-apigateway-authorizer/jwtConfiguration/issuer"


def test_a_trickling_server_is_given_up_on_at_the_deadline(tmp_path):
    trickle = Trickle()
    try:
        project = load_project(jwt_project(tmp_path, {"slow": trickle.url}))
        started = time.monotonic()
        [problem] = unreachable_jwks(project, timeout=0.3)
        elapsed = time.monotonic() - started
    finally:
        trickle.stop()
    assert 1.0 < elapsed < 2.0, elapsed  # 2 x timeout + 0.5 s, then the probe is abandoned
    assert f"{trickle.url} timed out: no usable answer within 1.1 s" in problem.message


def test_issuers_the_local_identity_provider_stands_in_for_are_not_fetched(tmp_path):
    # Neither the local provider nor the real issuer is running: any fetch would be a finding.
    scheme = {"type": "apiKey", "name": "Authorization", "in": "header",
              "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": [POOL]}}
    doc = openapi({"/me": {"get": {**proxy_op("fn"), "security": [{"pool": []}]}}},
                  components={"securitySchemes": {"pool": scheme}})
    folder = write_project(tmp_path / "cognito", doc, files={"h.py": HANDLER}, config={
        "apis": [{"id": "cog", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"},
        "local_idp": {"port": closed_port(), "user_pools": [POOL]}})
    assert unreachable_jwks(load_project(folder), timeout=0.3) == []
    jwt = jwt_project(tmp_path / "jwt", {"auth": "https://issuer.example.com"},
                      local_idp={"port": closed_port(), "issuers": ["https://issuer.example.com"]})
    assert unreachable_jwks(load_project(jwt), timeout=0.3) == []


def test_check_command_reports_it_and_offline_skips_it(tmp_path, issuers):
    folder = jwt_project(tmp_path, {"good": f"{issuers.url}/good", "missing": f"{issuers.url}/nodiscovery"})
    online = CliRunner().invoke(main, ["check", str(folder)])
    assert online.exit_code == 0, online.output
    assert ("openapi.yaml#/components/securitySchemes/missing/x-amazon-apigateway-authorizer/jwtConfiguration/issuer: "
            f"warning: JWT authorizer missing cannot get the signing keys of issuer {issuers.url}/nodiscovery") \
        in online.stderr
    assert "1 finding(s)" in online.stdout
    offline = CliRunner().invoke(main, ["check", "--offline", str(folder)])
    assert offline.exit_code == 0, offline.output
    assert "JWT authorizer" not in offline.stderr and "0 finding(s)" in offline.stdout
