"""End to end: Lambda authorizers through the running gateway (the petstore's, and a narrow-policy one)."""

import json
import subprocess
import sys
from pathlib import Path

import requests

from helpers import lambda_uri, openapi, proxy_op, write_project

ROOT = Path(__file__).resolve().parents[2]

COUNTING_AUTHORIZER = '''
import os
def handler(event, context):
    with open(os.path.join(os.path.dirname(__file__), "calls.log"), "a") as log:
        log.write(event["methodArn"] + "\\n")
    # The classic mistake: allow only the method being called, while results are cached.
    return {"principalId": "u1", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}]}}
'''
BACKEND = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"


def test_petstore_token_request_and_cognito_routes(serve):
    server = serve(ROOT / "examples" / "petstore")
    url = f"{server.url}/prod/adoptions"
    r = requests.get(url, headers={"Authorization": "allow-alice"})
    assert r.status_code == 200 and r.json()["authorizer"]["principalId"] == "alice"
    assert r.json()["authorizer"]["tier"] == "gold"
    r = requests.get(url, headers={"Authorization": "deny"})
    assert (r.status_code, r.content) == (403, b'{"Message":"User is not authorized to access this resource with an explicit deny"}')
    for headers in ({}, {"Authorization": "Bearer x"}, {"Authorization": "who"}):
        r = requests.get(url, headers=headers)
        assert (r.status_code, r.content) == (401, b'{"message":"Unauthorized"}'), headers
    assert requests.post(url + "?tenant=acme", headers={"X-User": "alice"}).json()["authorizer"]["tenant"] == "acme"
    assert requests.post(url + "?tenant=acme").status_code == 401  # an identity source is missing
    token = subprocess.run([sys.executable, "-m", "lychgate", "token", str(ROOT / "examples" / "petstore"), "--sub", "alice"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert requests.get(f"{server.url}/prod/me", headers={"Authorization": token}).json()["authorizer"]["claims"]["sub"] == "alice"


def test_cached_narrow_policy_pitfall_is_reproduced_and_explained(serve, tmp_path):
    scheme = {"type": "apiKey", "name": "Authorization", "in": "header",
              "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": lambda_uri("auth"),
                                                 "identitySource": "method.request.header.Authorization",
                                                 "authorizerResultTtlInSeconds": 300}}
    doc = openapi({"/pets": {m: {**proxy_op("fn"), "security": [{"tok": []}]} for m in ("get", "post")}},
                  components={"securitySchemes": {"tok": scheme}})
    project = write_project(tmp_path, doc, config={"apis": [{"id": "pit", "openapi": "openapi.yaml"}],
                                                   "functions": {"fn": "b.py:handler", "auth": "a.py:handler"}},
                            files={"a.py": COUNTING_AUTHORIZER, "b.py": BACKEND})
    server = serve(project)
    for _ in range(5):
        assert requests.get(f"{server.url}/prod/pets", headers={"Authorization": "t1"}).status_code == 200
    assert len((tmp_path / "calls.log").read_text().splitlines()) == 1  # invoked once, then cached
    denied = requests.post(f"{server.url}/prod/pets", headers={"Authorization": "t1"})
    assert (denied.status_code, denied.content) == (403, b'{"Message":"User is not authorized to access this resource"}')
    assert len((tmp_path / "calls.log").read_text().splitlines()) == 1  # the cached policy decided
    assert requests.post(f"{server.url}/prod/pets", headers={"Authorization": "t2"}).status_code == 200
    proc = subprocess.run([sys.executable, "-m", "lychgate", "explain", denied.headers["x-amzn-RequestId"], "--json"],
                          capture_output=True, text=True)
    expl = json.loads(proc.stdout)
    assert expl["cause"] == "authorizer_implicitDeny_cached"
    authenticate = next(s for s in expl["steps"] if s["stage"] == "authenticate")
    assert "cached" in authenticate["detail"] and "/prod/GET/pets" in authenticate["detail"]
