"""End to end: a JWT authorizer whose issuer's JWKS endpoint goes down or becomes slow.

The issuers are real HTTP servers on 127.0.0.1 (OIDC discovery + JWKS) that the test stops or
slows down; tokens are signed with joserfc and fresh for every call, so each one is verified
against the gateway's cached keys rather than answered from its verified-token cache. Keys once
fetched keep verifying while the endpoint is down or slow; a token whose kid is not among them is
refused (401, never an allow) after at most one fetch per refresh interval, and a slow fetch holds
up only the requests waiting for it, never longer than the fetch timeout.
"""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from helpers import free_port, openapi, proxy_op, write_project
from lychgate.tokens import FETCH_TIMEOUT, MIN_REFRESH_INTERVAL

AUDIENCE = "jwks-fault-client"
HANDLER = "import json\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps(event['requestContext'].get('authorizer'))}\n"
UNKNOWN_KID = (401, b'{"message":"Unauthorized"}',
               'Bearer scope="" error="invalid_token" '
               'error_description="the token\'s key id does not match any of the issuer\'s keys"')


class Issuer:
    """An OIDC issuer on 127.0.0.1 publishing ``keys``; ``delay`` holds each JWKS answer back."""

    def __init__(self, *keys: RSAKey):
        self.keys = list(keys)
        self.delay = 0.0
        self.jwks_requests = 0
        self.slow_answer_started = threading.Event()
        self._stopped = threading.Event()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_requests += 1
                    if issuer.delay:
                        issuer.slow_answer_started.set()
                        issuer._stopped.wait(issuer.delay)
                    body = {"keys": [key.as_dict(private=False) for key in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Down: the port refuses connections from now on (a slow answer in progress is dropped)."""
        if not self._stopped.is_set():
            self._stopped.set()
            self.httpd.shutdown()
            self.httpd.server_close()
            self._thread.join(5)


def signing_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def token(key: RSAKey, issuer: str) -> str:
    """A fresh token (its own sub and jti), valid for 10 minutes."""
    now = int(time.time())
    claims = {"iss": issuer, "aud": AUDIENCE, "sub": f"user-{uuid.uuid4().hex[:8]}", "jti": uuid.uuid4().hex,
              "iat": now, "exp": now + 600}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def jwt_project(folder, issuers: dict[str, str]):
    """An HTTP API: GET /<name> behind a JWT authorizer trusting issuers[name]; GET /open without one."""
    schemes, paths = {}, {"/open": {"get": proxy_op("fn", payloadFormatVersion="2.0")}}
    for name, issuer in issuers.items():
        schemes[name] = {"type": "oauth2", "flows": {}, "x-amazon-apigateway-authorizer": {
            "type": "jwt", "identitySource": "$request.header.Authorization",
            "jwtConfiguration": {"issuer": issuer, "audience": [AUDIENCE]}}}
        paths[f"/{name}"] = {"get": {**proxy_op("fn", payloadFormatVersion="2.0"), "security": [{name: []}]}}
    doc = openapi(paths, components={"securitySchemes": schemes}, **{"x-amazon-apigateway-importexport-version": "1.0"})
    config = {"apis": [{"id": "jwks", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"}}
    return write_project(folder, doc, config=config, files={"h.py": HANDLER})


def call(server, route: str, bearer: str) -> requests.Response:
    return requests.get(f"{server.url}/{route}", headers={"Authorization": f"Bearer {bearer}"}, timeout=30)


def answer(r: requests.Response) -> tuple:
    return r.status_code, r.content, r.headers.get("www-authenticate")


def test_cached_keys_outlive_a_down_or_slow_jwks_endpoint_and_unknown_kids_fail_closed(serve, tmp_path):
    down_old, down_new = signing_key("down-1"), signing_key("down-2")
    slow_old, slow_new = signing_key("slow-1"), signing_key("slow-2")
    down, slow = Issuer(down_old), Issuer(slow_old)
    never = f"http://127.0.0.1:{free_port()}"  # an issuer whose endpoint is down from the start
    try:
        server = serve(jwt_project(tmp_path, {"down": down.url, "slow": slow.url, "never": never}), "--explain")
        # Keys are fetched on first use.
        assert call(server, "down", token(down_old, down.url)).status_code == 200
        assert call(server, "slow", token(slow_old, slow.url)).status_code == 200
        loaded_at = time.monotonic()
        assert (down.jwks_requests, slow.jwks_requests) == (1, 1)
        assert answer(call(server, "never", token(down_old, never))) == UNKNOWN_KID

        down.stop()
        slow.keys.append(slow_new)  # published, but too slowly: the gateway gives up first
        slow.delay = FETCH_TIMEOUT + 20
        # Within the refresh interval an unknown kid costs no fetch; known kids keep verifying.
        assert answer(call(server, "slow", token(slow_new, slow.url))) == UNKNOWN_KID
        assert slow.jwks_requests == 1
        for _ in range(3):
            assert call(server, "down", token(down_old, down.url)).status_code == 200
            assert call(server, "slow", token(slow_old, slow.url)).status_code == 200

        time.sleep(max(0.0, loaded_at + MIN_REFRESH_INTERVAL + 0.3 - time.monotonic()))
        # Down: the refresh an unknown kid triggers fails, the kid stays unknown, the old keys stay.
        refused = call(server, "down", token(down_new, down.url))
        assert answer(refused) == UNKNOWN_KID
        because = refused.headers["x-lychgate-explain"]  # `serve --explain`: the cause of a refusal
        assert because.startswith("token_kid: kid 'down-2' not in the JWKS") and "the last JWKS fetch failed" in because
        assert call(server, "down", token(down_old, down.url)).status_code == 200

        # Slow: one request waits for the refresh; everything else is answered meanwhile.
        waited: list = []

        def wait_for_slow_refresh():
            started = time.monotonic()
            waited.append(answer(call(server, "slow", token(slow_new, slow.url))))
            waited.append(time.monotonic() - started)

        waiting = threading.Thread(target=wait_for_slow_refresh)
        waiting.start()
        assert slow.slow_answer_started.wait(10), "the unknown kid did not trigger a refresh"
        for route, bearer in (("slow", token(slow_old, slow.url)), ("down", token(down_old, down.url)),
                              ("open", "-")):
            started = time.monotonic()
            assert call(server, route, bearer).status_code == 200, route
            assert time.monotonic() - started < 1.0, f"{route} was held up by the slow JWKS fetch"
        assert waiting.is_alive(), "the refresh should still be waiting for the slow endpoint"
        waiting.join(FETCH_TIMEOUT + 10)
        status, elapsed = waited[0], waited[1]
        assert status == UNKNOWN_KID  # the key was published, but not within the fetch timeout
        assert FETCH_TIMEOUT - 0.5 < elapsed < FETCH_TIMEOUT + 3
        # The failed attempt counts: the next unknown kid is refused at once, without a new fetch.
        started = time.monotonic()
        assert answer(call(server, "slow", token(slow_new, slow.url))) == UNKNOWN_KID
        assert time.monotonic() - started < 1.0 and slow.jwks_requests == 2
        assert call(server, "slow", token(slow_old, slow.url)).status_code == 200
    finally:
        down.stop()
        slow.stop()
