"""End to end: no secret in what the gateway writes, in its explanations, or in its refusals.

One gateway with every kind of secret (IAM secret keys and a session token, API keys declared
and generated, a Redis state store with a password, a local identity provider's private keys,
bearer tokens for a Lambda and a Cognito authorizer, its own admin token) runs with everything
that writes switched on: ``--execution-log``, ``--explain`` (console lines), and an access log
to a file carrying the identity, authorizer and decision-trace variables. Valid and refused
requests carry secrets; then nothing it wrote, no explanation of any request and no error body
may hold a secret, except an error body repeating what its own request sent (AWS echoes a
malformed Authorization header back to its sender). The session-wide check of the same kind is
``secrets_never_leak`` in tests/conftest.py (tests/secrets_ledger.py); the last tests here show
that it is wired to every gateway and can fail, and pin two known leaks with strict xfails.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import RedisServer, free_port, lambda_uri, openapi, proxy_op, write_project
from lychgate.server.admin import REGISTRY
from lychgate.tokens.idp import LocalIdentityProvider
from secrets_ledger import LEDGER, Output, authorization_secrets, current_test, find_leaks, trackable

POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Secrets"
CAROL = Credentials("AKIASECRETSTEST00001", "carol-secret-key-0000000000000000000000")
CAROL_SESSION = Credentials("ASIASECRETSTEST00002", "carol-temporary-secret-00000000000000000",
                            "carol-session-token-0000000000")
DECLARED_KEY = "declared-api-key-value-000000000001"
REDIS_PASSWORD = "redis-password-for-the-secrets-test"
HANDLERS = '''
def handler(event, context):
    return {"statusCode": 200, "body": "ok"}

def authorizer(event, context):
    token = event["authorizationToken"]
    effect = "Allow" if token.startswith("allow-") else "Deny" if token.startswith("deny-") else None
    if effect is None:
        raise Exception("Unauthorized")
    return {"principalId": "carol", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": "execute-api:Invoke", "Resource": event["methodArn"]}]}}
'''
ACCESS_LOG_FORMAT = json.dumps({name: f"$context.{name}" for name in (
    "requestId", "httpMethod", "path", "resourcePath", "status", "identity.sourceIp", "identity.caller",
    "identity.user", "identity.userArn", "identity.accessKey", "identity.apiKeyId", "authorizer.principalId",
    "authorizer.claims.sub", "error.responseType", "lychgate.cause", "lychgate.trace")})
GENERATED_KEY = re.compile(r"API key 'generated' was generated; its value, shown only this once: (\S+)")


def secrets_project(folder, redis_port: int, idp_port: int, access_log: str | None = ACCESS_LOG_FORMAT):
    schemes = {
        "iam": {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4"},
        "lambda": {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authorizer": {
            "type": "token", "authorizerUri": lambda_uri("auth"), "identitySource": "method.request.header.Authorization",
            "authorizerResultTtlInSeconds": 300}},
        "pool": {"type": "apiKey", "name": "Authorization", "in": "header",
                 "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": [POOL]}},
        "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
    }
    paths = {"/open": {"get": proxy_op("fn")}}
    paths.update({f"/{name}": {"get": {**proxy_op("fn"), "security": [{name: []}]}} for name in schemes})
    allow_all = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:sec/prod/GET/iam"}]}
    stage = {"access_log": {"format": access_log, "destination": str(folder / "access.log")}} if access_log else {}
    config = {
        "region": "us-east-1", "account_id": "123456789012",
        "apis": [{"id": "sec", "openapi": "openapi.yaml", "stages": {"prod": stage}}],
        "functions": {"fn": "h.py:handler", "auth": "h.py:authorizer"},
        "identities": {
            "authorization_details": "iam.json",
            "users": [{"name": "carol", "policies": [allow_all],
                       "access_keys": [{"id": CAROL.access_key, "secret": CAROL.secret_key}]}],
            "access_keys": [{"id": CAROL_SESSION.access_key, "secret": CAROL_SESSION.secret_key,
                             "session_token": CAROL_SESSION.token, "role": "caller", "session_name": "carol"}]},
        "usage_plans": [{"name": "plan", "api_stages": [{"api_id": "sec", "stage": "prod"}]}],
        "api_keys": [{"name": "declared", "value": DECLARED_KEY, "usage_plans": ["plan"]},
                     {"name": "generated", "usage_plans": ["plan"]}],
        "local_idp": {"port": idp_port, "user_pools": [POOL]},
        "state": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0",
    }
    role = {"Path": "/", "RoleName": "caller", "RoleId": "AROASECRETSCALLER001",
            "Arn": "arn:aws:iam::123456789012:role/caller", "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
            "RolePolicyList": [{"PolicyName": "invoke", "PolicyDocument": allow_all}], "AttachedManagedPolicies": [], "Tags": []}
    iam = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [role], "Policies": []}
    return write_project(folder, openapi(paths, components={"securitySchemes": schemes}), config=config,
                         files={"h.py": HANDLERS, "iam.json": json.dumps(iam)})


@pytest.fixture
def redis_with_password(tmp_path):
    server = RedisServer(tmp_path, "--requirepass", REDIS_PASSWORD).start()
    yield server
    server.stop()


def signed(url: str, creds: Credentials, *, query: bool = False) -> tuple[str, dict]:
    request = AWSRequest(method="GET", url=url)
    (SigV4QueryAuth(creds, "execute-api", "us-east-1") if query else SigV4Auth(creds, "execute-api", "us-east-1")).add_auth(request)
    prepared = request.prepare()
    return prepared.url, dict(prepared.headers)


def sent_secrets(url: str, headers: dict) -> set[str]:
    """What this request carried that counts as secret (as the ledger sees it)."""
    found = {v for k, v in headers.items() if k.lower() in ("x-api-key", "x-amz-security-token")}
    for k, v in headers.items():
        if k.lower() == "authorization":
            found |= {part for part, _ in authorization_secrets(v)}
    found |= set(re.findall(r"X-Amz-(?:Signature|Security-Token)=([^&]+)", url))
    return {s for s in found if trackable(s)}


def leaks_in(text: str, allowed: set[str] = frozenset()) -> list[str]:
    return [f"{what}: {secret[:12]}…" for secret, what in LEDGER.secrets.items()
            if secret in text and secret not in allowed]


def test_no_secret_in_logs_explanations_or_refusals(serve, tmp_path, redis_with_password):
    idp_port = free_port()
    project = secrets_project(tmp_path, redis_with_password.port, idp_port)
    server = serve(project, "--execution-log", "--explain")
    generated = GENERATED_KEY.search(server.proc.startup_output).group(1)
    idp = LocalIdentityProvider(project / ".lychgate" / "idp", issuer=f"http://127.0.0.1:{idp_port}",
                                client_id="lychgate-local-client")
    good_jwt = idp.mint("carol")
    base = f"{server.url}/prod"
    calls = [
        (f"{base}/open", {}),
        signed(f"{base}/iam", CAROL),
        signed(f"{base}/iam", CAROL_SESSION),
        signed(f"{base}/iam", Credentials(CAROL.access_key, "not-carols-secret-000000000000000000")),
        signed(f"{base}/iam", Credentials(CAROL_SESSION.access_key, "wrong-temporary-secret-000000000000",
                                          CAROL_SESSION.token)),
        signed(f"{base}/iam", Credentials(CAROL_SESSION.access_key, CAROL_SESSION.secret_key, "forged-session-token-00")),
        (f"{base}/iam", {"Authorization": f"Bearer {good_jwt}"}),
        (f"{base}/iam", {"Authorization": good_jwt}),
        (f"{base}/lambda", {"Authorization": "allow-carol-token-0001"}),
        (f"{base}/lambda", {"Authorization": "deny-carol-token-0002"}),
        (f"{base}/lambda", {"Authorization": "unknown-carol-token-0003"}),
        (f"{base}/pool", {"Authorization": good_jwt}),
        (f"{base}/pool", {"Authorization": good_jwt[:-6] + "AAAAAA"}),
        (f"{base}/pool", {"Authorization": idp.mint("carol", ttl=-60)}),
        (f"{base}/api_key", {"x-api-key": DECLARED_KEY}),
        (f"{base}/api_key", {"x-api-key": generated}),
        (f"{base}/api_key", {"x-api-key": "not-a-key-of-this-gateway-0001"}),
        (f"{base}/nowhere", {"Authorization": f"Bearer {good_jwt}", "x-api-key": DECLARED_KEY}),
    ]
    answers = []
    for url, headers in calls:
        r = requests.get(url, headers=headers, timeout=10)
        answers.append((r, sent_secrets(url, headers)))
    assert [r.status_code for r, _ in answers] == [200, 200, 200, 403, 403, 403, 403, 403, 200, 403, 401,
                                                   200, 401, 401, 200, 200, 403, 403]
    for r, own in answers:
        if r.status_code >= 400:  # a refusal may repeat what its own request sent, nothing else
            assert leaks_in(r.text, own) == [], (r.url, r.text)
        assert leaks_in(str(r.headers), own) == [], (r.url, r.headers)

    admin = json.loads((REGISTRY / f"{server.proc.pid}.json").read_text())  # what `lychgate explain` uses
    for r, _ in answers:
        explanation = requests.get(f"{admin['admin']}/explain/{r.headers['x-amzn-RequestId']}",
                                   headers={"Authorization": f"Bearer {admin['token']}"}, timeout=5)
        assert explanation.status_code == 200
        assert leaks_in(explanation.text) == [], explanation.json()
    for flags in (["--json"], []):  # the command's own output, JSON and text
        shown = subprocess.run([sys.executable, "-m", "lychgate", "explain", answers[6][0].headers["x-amzn-RequestId"],
                                *flags], capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0 and "not_sigv4" in shown.stdout, shown.stderr
        assert leaks_in(shown.stdout + shown.stderr) == []

    code, out, err = server.stop()
    assert code == 0
    access_log = (project / "access.log").read_text()
    assert len(access_log.splitlines()) == len(calls) and "Starting execution for request" in err
    this_test = [o for o in LEDGER.outputs if o.test == current_test()]
    assert {o.source for o in this_test} >= {"stdout", "stderr", f"access log {project / 'access.log'}"}
    assert find_leaks(LEDGER.secrets, this_test) == []
    # The one line that shows a secret on purpose: the generated key, once, at start-up.
    assert (server.proc.startup_output + out).count(generated) == 1


def test_the_ledger_records_every_gateway_and_its_check_can_fail(serve, tmp_path, redis_with_password):
    idp_port = free_port()
    project = secrets_project(tmp_path, redis_with_password.port, idp_port, access_log=None)
    server = serve(project)
    requests.get(f"{server.url}/prod/lambda", headers={"Authorization": "allow-ledger-token-0001"})
    url, headers = signed(f"{server.url}/prod/iam", CAROL_SESSION)
    requests.get(url, headers=headers)
    server.stop()
    used = set(LEDGER.secrets)
    # From the project: keys, session token, API key value, store password, the IdP's private keys...
    assert {CAROL.secret_key, CAROL_SESSION.secret_key, CAROL_SESSION.token, DECLARED_KEY, REDIS_PASSWORD} <= used
    assert any("private key member 'd'" in what for what in LEDGER.secrets.values())
    assert any(what.startswith("the admin token") for what in LEDGER.secrets.values())
    # ...and from the requests: bearer-less tokens, the SigV4 signature and the session token header.
    signature = re.search(r"Signature=([0-9a-f]{64})", headers["Authorization"]).group(1)
    assert {"allow-ledger-token-0001", signature, CAROL_SESSION.token} <= used
    outputs = [o for o in LEDGER.outputs if o.test == current_test()]
    assert "stdout" in {o.source for o in outputs} and find_leaks(LEDGER.secrets, outputs) == []
    # The check finds a secret planted in what this gateway wrote, and says where.
    planted = Output(current_test(), "stderr", outputs[-1].text + f"\nDEBUG signing with {CAROL.secret_key}\n")
    leaks = find_leaks(LEDGER.secrets, [planted])
    assert [leak.secret for leak in leaks] == [CAROL.secret_key]
    assert "stderr contains secret in" in str(leaks[0]) and "DEBUG signing with <<" in str(leaks[0])
    # Short or repetitive values are not tracked: they would be found by chance.
    assert not trackable("t1") and not trackable("0" * 64) and trackable("allow-ledger-token-0001")


def test_presigned_url_secrets_stay_out_of_the_execution_log(serve, tmp_path, redis_with_password):
    project = secrets_project(tmp_path, redis_with_password.port, free_port(), access_log=None)
    server = serve(project, "--execution-log")
    url, headers = signed(f"{server.url}/prod/iam", CAROL_SESSION, query=True)
    assert requests.get(url, headers=headers).status_code == 200
    _, _, err = server.stop()
    assert "Method request query string" in err
    assert leaks_in(err) == []


def test_error_messages_in_access_logs_hold_no_token(serve, tmp_path, redis_with_password):
    project = secrets_project(tmp_path, redis_with_password.port, free_port(),
                              access_log='{"status":"$context.status","error":"$context.error.message"}')
    server = serve(project)
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYXJvbCJ9.c2lnbmF0dXJlLXNlY3JldC0wMDAx"
    assert requests.get(f"{server.url}/prod/iam", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    server.stop()
    assert token not in (project / "access.log").read_text()
