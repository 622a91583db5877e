"""Scenarios with authorization on every request, each against the same HTTP_PROXY API as (c).

(e) AWS_IAM: SigV4 verification and IAM evaluation, 20 distinct signed callers in turn;
(f) a Lambda TOKEN authorizer, result cached; (g) a Cognito user-pool authorizer (local identity
provider), the verified token cached; (h) an API key with a usage-plan throttle and quota, memory
state. Each builds its project as a copy of (c)'s with security added, and the header sets wrk
sends (signed requests are valid for the 5 minutes SigV4 allows, longer than a scenario runs).
"""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from harness.scenarios import proxy_project

PATH, QUERY = "/prod/api/v1/items/42", "limit=10"
USERS = 20
API_KEY = "bench-api-key-000000000000000000"
POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Bench"
AUTHORIZER = '''def handler(event, context):
    api = event["methodArn"].split("/", 1)[0]
    return {"principalId": "bench", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api + "/*"}]}}
'''
SCHEMES = {
    "iam": {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4"},
    "token": {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authorizer": {
        "type": "token", "identitySource": "method.request.header.Authorization", "authorizerResultTtlInSeconds": 300,
        "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                         "arn:aws:lambda:us-east-1:123456789012:function:authz/invocations"}},
    "jwt": {"type": "apiKey", "name": "Authorization", "in": "header",
            "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": [POOL]}},
    "apikey": {"type": "apiKey", "name": "x-api-key", "in": "header"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def auth_project(work: Path, backend_port: int, kind: str, state: str = "memory") -> Path:
    project = proxy_project(work, backend_port)
    doc_file = project / "openapi.yaml"
    doc = yaml.safe_load(doc_file.read_text())
    for item in doc["paths"].values():
        for operation in item.values():
            operation["security"] = [{kind: []}]
    doc.setdefault("components", {})["securitySchemes"] = {kind: SCHEMES[kind]}
    doc_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    config_file = project / "lychgate.yaml"
    config = yaml.safe_load(config_file.read_text())
    config.update(_config(kind, project))
    config["state"] = state
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return project


def _config(kind: str, project: Path) -> dict:
    if kind == "iam":
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                          "Resource": "arn:aws:execute-api:*:*:bench-proxy/prod/*"}]}
        return {"identities": {"users": [{"name": f"user{n}", "policies": [policy],
                                          "access_keys": [{"id": _key_id(n), "secret": f"secret-{n}"}]}
                                         for n in range(USERS)]}}
    if kind == "token":
        (project / "authz.py").write_text(AUTHORIZER)
        return {"functions": {"authz": "authz.py:handler"}}
    if kind == "jwt":
        return {"local_idp": {"port": _free_port(), "user_pools": [POOL]}}
    return {"usage_plans": [{"name": "bench", "api_stages": [{"api_id": "bench-proxy", "stage": "prod"}],
                             "throttle": {"rate_limit": 1e9, "burst_limit": 1_000_000_000},
                             "quota": {"limit": 1_000_000_000, "period": "DAY"}}],
            "api_keys": [{"name": "bench", "value": API_KEY, "usage_plans": ["bench"]}]}


def _key_id(n: int) -> str:
    return f"AKIABENCH{n:011d}"


def header_sets(work: Path, port: int, kind: str) -> list[dict[str, str]]:
    """What wrk sends, one dict per distinct request."""
    host = f"127.0.0.1:{port}"
    if kind == "iam":
        from lychgate.sigv4 import sign_headers
        return [dict(sign_headers("GET", PATH, QUERY, [("Host", host)], b"", access_key_id=_key_id(n),
                                  secret_access_key=f"secret-{n}", region="us-east-1")) for n in range(USERS)]
    if kind == "token":
        return [{"Host": host, "Authorization": "allow-bench"}]
    if kind == "jwt":
        return [{"Host": host, "Authorization": _mint(work)}]
    return [{"Host": host, "x-api-key": API_KEY}]


def unique_signed_requests(port: int, count: int) -> list[tuple[str, dict[str, str]]]:
    """``count`` requests as (path and query, headers), each signed once (a query of its own), by
    the USERS callers in turn: unlike ``header_sets``'s, none repeats within a cycle of ``count``."""
    from lychgate.sigv4 import sign_headers
    host = f"127.0.0.1:{port}"
    requests = []
    for i in range(count):
        query, n = f"{QUERY}&n={i}", i % USERS
        headers = sign_headers("GET", PATH, query, [("Host", host)], b"", access_key_id=_key_id(n),
                               secret_access_key=f"secret-{n}", region="us-east-1")
        requests.append((f"{PATH}?{query}", dict(headers)))
    return requests


def _mint(work: Path) -> str:
    from lychgate.tokens.idp import LocalIdentityProvider
    project = work / "proxy-project"
    port = yaml.safe_load((project / "lychgate.yaml").read_text())["local_idp"]["port"]
    idp = LocalIdentityProvider(project / ".lychgate" / "idp", issuer=f"http://127.0.0.1:{port}",
                                client_id="lychgate-local-client")
    return idp.mint("bench", ttl=3600)
