"""End to end: Cognito user-pool (REST) and JWT (HTTP API) authorizers against the local identity provider."""

import subprocess
import sys

import requests

from helpers import openapi, proxy_op, write_project

POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"
ISSUER = "https://issuer.example.com"
HANDLER = "import json\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps(event['requestContext'].get('authorizer'))}\n"


def mint(project, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "lychgate", "token", str(project), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def cognito_project(tmp_path, port):
    scheme = {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "cognito_user_pools",
              "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": [POOL]}}
    doc = openapi({"/profile": {"get": {**proxy_op("fn"), "security": [{"pool": []}]}},
                   "/pets": {"post": {**proxy_op("fn"), "security": [{"pool": ["pets/write"]}]}}},
                  components={"securitySchemes": {"pool": scheme}})
    config = {"apis": [{"id": "cog", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"},
              "local_idp": {"port": port, "user_pools": [POOL]}}
    return write_project(tmp_path, doc, config=config, files={"h.py": HANDLER})


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cognito_id_and_access_tokens(serve, tmp_path):
    project = cognito_project(tmp_path, free_port())
    server = serve(project)
    id_token = mint(project, "--sub", "alice", "--groups", "admins,dev")
    r = requests.get(f"{server.url}/prod/profile", headers={"Authorization": id_token})
    assert r.status_code == 200, r.text
    claims = r.json()["claims"]
    assert claims["sub"] == "alice" and claims["token_use"] == "id" and claims["cognito:groups"] == "admins,dev"
    # A method with scopes needs an access token carrying one of them.
    assert requests.post(f"{server.url}/prod/pets", headers={"Authorization": id_token}).status_code == 401
    access = mint(project, "--sub", "alice", "--scope", "pets/write")
    assert requests.post(f"{server.url}/prod/pets", headers={"Authorization": access}).status_code == 200
    other = mint(project, "--sub", "alice", "--scope", "pets/read")
    r = requests.post(f"{server.url}/prod/pets", headers={"Authorization": other})
    assert (r.status_code, r.content) == (401, b'{"message":"Unauthorized"}')


def test_cognito_failures_are_aws_exact(serve, tmp_path):
    project = cognito_project(tmp_path, free_port())
    server = serve(project)
    r = requests.get(f"{server.url}/prod/profile")
    assert (r.status_code, r.content) == (401, b'{"message":"Unauthorized"}')
    assert r.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    expired = mint(project, "--sub", "alice", "--ttl", "-10")
    r = requests.get(f"{server.url}/prod/profile", headers={"Authorization": expired})
    assert (r.status_code, r.content) == (401, b'{"message":"The incoming token has expired"}')
    token = mint(project, "--sub", "alice")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert requests.get(f"{server.url}/prod/profile", headers={"Authorization": tampered}).status_code == 401


def test_local_idp_serves_discovery_and_jwks(serve, tmp_path):
    port = free_port()
    serve(cognito_project(tmp_path, port))
    discovery = requests.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == f"http://127.0.0.1:{port}"
    keys = requests.get(discovery["jwks_uri"]).json()["keys"]
    assert {k["kty"] for k in keys} >= {"RSA"}


def test_http_api_jwt_authorizer_scopes(serve, tmp_path):
    port = free_port()
    scheme = {"type": "oauth2", "flows": {},
              "x-amazon-apigateway-authorizer": {"type": "jwt", "identitySource": "$request.header.Authorization",
                                                 "jwtConfiguration": {"issuer": ISSUER, "audience": ["lychgate-local-client"]}}}
    doc = openapi({"/orders": {"get": {**proxy_op("fn", payloadFormatVersion="2.0"), "security": [{"jwt": ["orders/read"]}]}}},
                  components={"securitySchemes": {"jwt": scheme}},
                  **{"x-amazon-apigateway-importexport-version": "1.0"})
    config = {"apis": [{"id": "hj", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"},
              "local_idp": {"port": port, "issuers": [ISSUER]}}
    project = write_project(tmp_path, doc, config=config, files={"h.py": HANDLER})
    server = serve(project)
    good = mint(project, "--sub", "bob", "--scope", "orders/read")
    r = requests.get(f"{server.url}/orders", headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 200, r.text
    assert r.json()["jwt"]["claims"]["sub"] == "bob" and r.json()["jwt"]["scopes"] == ["orders/read"]
    wrong_scope = mint(project, "--sub", "bob", "--scope", "orders/write")
    r = requests.get(f"{server.url}/orders", headers={"Authorization": f"Bearer {wrong_scope}"})
    assert (r.status_code, r.content) == (403, b'{"message":"Forbidden"}')
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    wrong_aud = mint(project, "--sub", "bob", "--scope", "orders/read", "--client-id", "someone-else")
    r = requests.get(f"{server.url}/orders", headers={"Authorization": f"Bearer {wrong_aud}"})
    assert (r.status_code, r.content) == (401, b'{"message":"Unauthorized"}')
    assert 'error_description="the token does not have a valid audience"' in r.headers["www-authenticate"]
