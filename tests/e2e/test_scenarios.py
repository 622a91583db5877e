"""The scenario suite: one misconfigured project per classic cause of a refused request.

Each scenario is a request, the status it gets, the cause code ``lychgate explain`` must name
(``cause`` of the JSON) and the offending values its sentence (``because``) must contain. Every
scenario runs twice: through ``lychgate simulate --json`` (in-process) and against a live
``lychgate serve`` of the same project, whose answer is then explained by ``lychgate explain
REQUEST_ID --json``; the two must agree on status, outcome, cause and sentence. Scenarios that
share a project share one server, started on first use and stopped after the last test here.
Simulate stops before the integration, so decisions are compared, never bodies.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from click.testing import CliRunner

from helpers import free_port, lambda_uri, openapi, proxy_op, write_project
from lychgate.cli.main import main

ACCOUNT = "123456789012"
ARN = f"arn:aws:execute-api:us-east-1:{ACCOUNT}"
BACKEND = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"
ISSUER = "https://issuer.example.com"
SIGV4 = {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4"}
API_KEY = {"type": "apiKey", "name": "x-api-key", "in": "header"}
PREFLIGHT = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
SESSION_TOKEN = "scenario-suite-ivan-session-token"

# ------------------------------------------------------------------------------------------- projects


def access_key(name: str) -> str:
    return f"AKIA{name.upper():0<15}"


def secret(name: str) -> str:
    # Distinct from every other test's secrets (the session's secrets ledger matches substrings).
    return f"scenario-suite-{name}-secret"


def user(name: str, *statements: dict) -> dict:
    return {"name": name, "access_keys": [{"id": access_key(name), "secret": secret(name)}],
            "policies": [{"Version": "2012-10-17", "Statement": list(statements)}] if statements else []}


def allow(sid: str, resource: str, action: str = "execute-api:Invoke", effect: str = "Allow") -> dict:
    return {"Sid": sid, "Effect": effect, "Action": action, "Resource": resource}


def iam_project() -> tuple[dict, dict, dict]:
    """AWS_IAM methods, and one user per classic policy mistake."""
    signed = {**proxy_op("fn"), "security": [{"sigv4": []}]}
    doc = openapi({"/pets": {"get": signed, "options": signed}, "/pets/{id}": {"get": signed}},
                  components={"securitySchemes": {"sigv4": SIGV4}})
    users = [
        user("carol", allow("ReadBuckets", "*", "s3:GetObject")),
        user("dave", allow("DevPets", f"{ARN}:iamapi/dev/GET/pets/*")),
        user("erin", allow("WritePets", f"{ARN}:iamapi/prod/POST/pets/*")),
        user("frank", allow("ListPets", f"{ARN}:iamapi/prod/GET/pets")),
        user("grace", allow("ExecutePets", f"{ARN}:iamapi/prod/GET/pets/*", "execute-api:Execute")),
        user("heidi", allow("Everything", "*"),
             allow("NoPetDetails", f"{ARN}:iamapi/prod/GET/pets/*", effect="Deny")),
        user("ivan", allow("AllOfProd", f"{ARN}:iamapi/prod/*")),
    ]
    expired = {"id": "ASIAIVANEXPIRED0001", "secret": secret("ivan-session"), "session_token": SESSION_TOKEN,
               "user": "ivan", "expiration": "2020-01-01T00:00:00Z"}
    config = {"apis": [{"id": "iamapi", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"},
              "identities": {"users": users, "access_keys": [expired]}}
    return doc, config, {"h.py": BACKEND}


def resource_policy_project() -> tuple[dict, dict, dict]:
    """Public methods behind a resource policy: account callers only, /admin only from the office."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountOnly", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
        {"Sid": "AdminFromOfficeOnly", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": "execute-api:/*/GET/admin", "Condition": {"NotIpAddress": {"aws:SourceIp": "10.20.0.0/16"}}}]}
    doc = openapi({"/admin": {"get": proxy_op("fn")}, "/public": {"get": proxy_op("fn")}},
                  **{"x-amazon-apigateway-policy": policy})
    config = {"apis": [{"id": "rpapi", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"}}
    return doc, config, {"h.py": BACKEND}


LAMBDA_AUTHORIZER = '''
def policy(principal, effect, resource):
    return {"principalId": principal, "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}}


def handler(event, context):
    token, arn = event["authorizationToken"], event["methodArn"]
    if token == "deny":
        return policy("nobody", "Deny", arn)
    if token == "narrow":
        return policy("narrow-user", "Allow", arn)  # the classic mistake: only this method, then cached
    if token == "broken":
        return {"principalId": "someone"}  # no policyDocument
    raise Exception("Unauthorized")
'''


def lambda_project() -> tuple[dict, dict, dict]:
    """A TOKEN authorizer on every method, OPTIONS included (as a root-level security default does)."""
    scheme = {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "custom",
              "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": lambda_uri("auth"),
                                                 "identitySource": "method.request.header.Authorization",
                                                 "identityValidationExpression": "^[a-z-]+$",
                                                 "authorizerResultTtlInSeconds": 300}}
    options = {"x-amazon-apigateway-integration": {
        "type": "mock", "requestTemplates": {"application/json": '{"statusCode": 200}'},
        "responses": {"default": {"statusCode": "200", "responseParameters": {
            "method.response.header.Access-Control-Allow-Origin": "'*'",
            "method.response.header.Access-Control-Allow-Methods": "'GET,POST,OPTIONS'"}}}}}
    doc = openapi({"/pets": {"get": proxy_op("fn"), "post": proxy_op("fn"), "options": options}},
                  security=[{"tok": []}], components={"securitySchemes": {"tok": scheme}})
    config = {"apis": [{"id": "lamapi", "openapi": "openapi.yaml"}],
              "functions": {"fn": "h.py:handler", "auth": "auth.py:handler"}}
    return doc, config, {"h.py": BACKEND, "auth.py": LAMBDA_AUTHORIZER}


def jwt_project() -> tuple[dict, dict, dict]:
    """An HTTP API JWT authorizer whose issuer the local identity provider stands in for."""
    scheme = {"type": "oauth2", "flows": {}, "x-amazon-apigateway-authorizer": {
        "type": "jwt", "identitySource": "$request.header.Authorization",
        "jwtConfiguration": {"issuer": ISSUER, "audience": ["lychgate-local-client"]}}}
    route = proxy_op("fn", payloadFormatVersion="2.0")
    doc = openapi({"/orders": {"get": {**route, "security": [{"jwt": ["orders/read"]}]},
                               "options": {**route, "security": [{"jwt": []}]}}},
                  components={"securitySchemes": {"jwt": scheme}}, **{"x-amazon-apigateway-importexport-version": "1.0"})
    config = {"apis": [{"id": "jwtapi", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"},
              "local_idp": {"port": free_port(), "issuers": [ISSUER]}}
    return doc, config, {"h.py": BACKEND}


def usage_project() -> tuple[dict, dict, dict]:
    """API keys and usage plans: a key per mistake, a method throttled to nothing, a tiny quota."""
    keyed = {**proxy_op("fn"), "security": [{"api_key": []}]}
    doc = openapi({"/items": {"get": keyed}, "/limited": {"get": keyed}},
                  components={"securitySchemes": {"api_key": API_KEY}})
    plans = [{"name": "basic", "api_stages": [{"api_id": "shop", "stage": "prod",
                                               "throttle": {"/limited/GET": {"rate_limit": 0, "burst_limit": 0}}}]},
             {"name": "beta-testers", "api_stages": [{"api_id": "shop", "stage": "beta"}]},
             {"name": "trial", "api_stages": [{"api_id": "shop", "stage": "prod"}], "quota": {"limit": 2, "period": "DAY"}}]
    keys = [{"name": "partner", "value": "partner-key-0000000000000", "usage_plans": ["basic"]},
            {"name": "tester", "value": "tester-key-00000000000000", "usage_plans": ["beta-testers"]},
            {"name": "retired", "value": "retired-key-0000000000000", "enabled": False, "usage_plans": ["basic"]},
            {"name": "trial", "value": "trial-key-000000000000000", "usage_plans": ["trial"]}]
    config = {"apis": [{"id": "shop", "openapi": "openapi.yaml", "stages": {"prod": {}, "beta": {}}}],
              "functions": {"fn": "h.py:handler"}, "usage_plans": plans, "api_keys": keys}
    return doc, config, {"h.py": BACKEND}


PROJECTS = {"iam": iam_project, "resource-policy": resource_policy_project, "lambda": lambda_project,
            "jwt": jwt_project, "usage": usage_project}

# ------------------------------------------------------------------------------------------ scenarios


@dataclass(frozen=True)
class Signed:
    """Sign with botocore as this access key; ``secret`` wrong on purpose or ``skew`` off the clock."""

    key: str
    secret: str
    skew: timedelta = timedelta(0)
    session_token: str | None = None


@dataclass(frozen=True)
class Header:
    """The value of one of the request's headers, known only once the request is built."""

    name: str


AMZ_DATE = Header("X-Amz-Date")


@dataclass(frozen=True)
class Scenario:
    """One refused request: what is sent, and the status, cause code and sentence it must get."""

    name: str
    project: str
    method: str
    path: str
    status: int
    cause: str
    says: tuple  # in the cause sentence: the offending values (or a header of the request: Header)
    headers: dict = field(default_factory=dict)
    signed: Signed | None = None
    token: tuple[str, ...] | None = None  # `lychgate token` arguments; sent as Authorization: Bearer ...
    after: tuple[str, ...] = ()  # "METHOD PATH" requests sent first, with the same headers
    marks: tuple = ()


def signed_as(name: str) -> Signed:
    return Signed(access_key(name), secret(name))


class NotRemembered(Exception):
    """`lychgate explain` found no running gateway that remembers the request id."""


PETS_1 = f"{ARN}:iamapi/prod/GET/pets/1"
SCENARIOS = [
    # AWS_IAM: the caller's policies
    Scenario("no-invoke-in-policy", "iam", "GET", "/prod/pets/1", 403, "identity_policy_denies",
             (f"no policy of arn:aws:iam::{ACCOUNT}:user/carol allows execute-api:Invoke on {PETS_1}",),
             signed=signed_as("carol")),
    Scenario("resource-arn-wrong-stage", "iam", "GET", "/prod/pets/1", 403, "identity_policy_denies",
             ("`DevPets`", f"{ARN}:iamapi/dev/GET/pets/*", "its stage is dev, the request's is prod"),
             signed=signed_as("dave")),
    Scenario("resource-arn-wrong-verb", "iam", "GET", "/prod/pets/1", 403, "identity_policy_denies",
             ("`WritePets`", f"{ARN}:iamapi/prod/POST/pets/*", "its verb is POST, the request's is GET"),
             signed=signed_as("erin")),
    Scenario("resource-arn-without-wildcard", "iam", "GET", "/prod/pets/1", 403, "identity_policy_denies",
             ("`ListPets`", "it names /pets without a trailing /*, so it does not cover /pets/1"),
             signed=signed_as("frank")),
    Scenario("execute-instead-of-invoke", "iam", "GET", "/prod/pets/1", 403, "identity_policy_denies",
             ("`ExecutePets`", "allows execute-api:Execute", "use execute-api:Invoke"), signed=signed_as("grace")),
    Scenario("explicit-deny-in-identity-policy", "iam", "GET", "/prod/pets/1", 403, "explicit_deny_identity_policy",
             ("NoPetDetails", f"arn:aws:iam::{ACCOUNT}:user/heidi", PETS_1), signed=signed_as("heidi")),
    # AWS_IAM: the signature
    Scenario("unsigned-request", "iam", "GET", "/prod/pets/1", 403, "missing_signature",
             ("authorization type is AWS_IAM", "no Authorization header")),
    Scenario("wrong-secret", "iam", "GET", "/prod/pets/1", 403, "signature_mismatch",
             (access_key("ivan"),), signed=Signed(access_key("ivan"), secret("not-ivan"))),
    Scenario("x-amz-date-expired", "iam", "GET", "/prod/pets/1", 403, "signature_expired",
             (access_key("ivan"), AMZ_DATE, "min behind server time"),
             signed=Signed(access_key("ivan"), secret("ivan"), timedelta(minutes=-20))),
    Scenario("x-amz-date-in-the-future", "iam", "GET", "/prod/pets/1", 403, "signature_expired",
             (access_key("ivan"), AMZ_DATE, "min ahead of server time"),
             signed=Signed(access_key("ivan"), secret("ivan"), timedelta(minutes=20))),
    Scenario("unknown-access-key", "iam", "GET", "/prod/pets/1", 403, "unknown_access_key",
             ("AKIAMALLORY00000001",), signed=Signed("AKIAMALLORY00000001", secret("mallory"))),
    Scenario("expired-session-credentials", "iam", "GET", "/prod/pets/1", 403, "expired_token",
             ("ASIAIVANEXPIRED0001", "expired at 20200101T000000Z"),
             signed=Signed("ASIAIVANEXPIRED0001", secret("ivan-session"), session_token=SESSION_TOKEN)),
    Scenario("preflight-blocked-by-aws-iam", "iam", "OPTIONS", "/prod/pets", 403, "missing_signature",
             ("authorization type is AWS_IAM", "(OPTIONS /prod/pets) is a CORS preflight"), headers=PREFLIGHT),
    # Routing
    Scenario("unknown-route", "iam", "DELETE", "/prod/pets", 403, "no_route",
             ("DELETE /pets", "this path has only: GET /pets")),
    Scenario("unknown-stage", "iam", "GET", "/staging/pets", 403, "no_stage", ("'staging' is not a stage", "/prod")),
    # Resource policies
    Scenario("resource-policy-denies-source-ip", "resource-policy", "GET", "/prod/admin", 403,
             "explicit_deny_resource_policy", ("AdminFromOfficeOnly", "aws:SourceIp", "127.0.0.1", "10.20.0.0/16")),
    Scenario("resource-policy-implicit-deny-anonymous", "resource-policy", "GET", "/prod/public", 403,
             "resource_policy_denies_anonymous", (f"{ARN}:rpapi/prod/GET/public", "`AccountOnly`")),
    # Lambda authorizers
    Scenario("lambda-authorizer-denies", "lambda", "GET", "/prod/pets", 403, "authorizer_explicitDeny",
             ("authorizer 'tok'", "principal 'nobody'", f"{ARN}:lamapi/prod/GET/pets"), headers={"Authorization": "deny"}),
    Scenario("cached-narrow-authorizer-policy", "lambda", "POST", "/prod/pets", 403, "authorizer_implicitDeny_cached",
             ("cached", f"{ARN}:lamapi/prod/GET/pets", f"{ARN}:lamapi/prod/POST/pets"),
             headers={"Authorization": "narrow"}, after=("GET /prod/pets",)),
    Scenario("authorizer-identity-source-missing", "lambda", "GET", "/prod/pets", 401, "authorizer_unauthorized",
             ("method.request.header.Authorization is missing",)),
    Scenario("authorizer-validation-expression", "lambda", "GET", "/prod/pets", 401, "authorizer_unauthorized",
             ("identityValidationExpression '^[a-z-]+$'",), headers={"Authorization": "Bearer abc"}),
    Scenario("authorizer-answer-unusable", "lambda", "GET", "/prod/pets", 500, "authorizer_error",
             ("policyDocument",), headers={"Authorization": "broken"}),
    Scenario("preflight-blocked-by-authorizer", "lambda", "OPTIONS", "/prod/pets", 401, "authorizer_unauthorized",
             ("(OPTIONS /pets) is a CORS preflight", "method.request.header.Authorization"), headers=PREFLIGHT),
    # JWT authorizers
    Scenario("jwt-missing", "jwt", "GET", "/orders", 401, "token_missing",
             ("no token in the Authorization header", "authorizer jwt")),
    Scenario("preflight-blocked-by-jwt-authorizer", "jwt", "OPTIONS", "/orders", 401, "token_missing",
             ("(OPTIONS /orders) is a CORS preflight", "Authorization header"), headers=PREFLIGHT),
    Scenario("jwt-wrong-audience", "jwt", "GET", "/orders", 401, "token_audience", ("someone-else", "lychgate-local-client"),
             token=("--sub", "bob", "--scope", "orders/read", "--client-id", "someone-else")),
    Scenario("jwt-expired", "jwt", "GET", "/orders", 401, "token_expired", ("token expired", "(exp 20"),
             token=("--sub", "bob", "--scope", "orders/read", "--ttl", "-60")),
    Scenario("jwt-missing-scope", "jwt", "GET", "/orders", 403, "token_insufficient_scope",
             ("['orders/write'] include none of ['orders/read']",),
             token=("--sub", "bob", "--scope", "orders/write")),
    # API keys, usage plans, throttles, quotas
    Scenario("api-key-missing", "usage", "GET", "/prod/items", 403, "api_key_missing", ("x-api-key",)),
    Scenario("api-key-unknown", "usage", "GET", "/prod/items", 403, "api_key_unknown", ("(x-api-key header)",),
             headers={"x-api-key": "made-up-key-0000000000000"}),
    Scenario("api-key-disabled", "usage", "GET", "/prod/items", 403, "api_key_disabled", ("retired",),
             headers={"x-api-key": "retired-key-0000000000000"}),
    Scenario("api-key-of-another-stage", "usage", "GET", "/prod/items", 403, "api_key_not_in_plan",
             ("tester", "shop/prod", "beta-testers"), headers={"x-api-key": "tester-key-00000000000000"}),
    Scenario("method-throttled-to-zero", "usage", "GET", "/prod/limited", 429, "throttle_exceeded",
             ("plan/basic/", "/shop/prod/limited/GET", "burst limit 0"), headers={"x-api-key": "partner-key-0000000000000"}),
    Scenario("quota-exhausted", "usage", "GET", "/prod/items", 429, "quota_exceeded", ("2/2 used this DAY",),
             headers={"x-api-key": "trial-key-000000000000000"}, after=("GET /prod/items",) * 2),
]

# ------------------------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """Project name -> its folder, written on first use."""
    made: dict = {}

    def folder(name: str):
        if name not in made:
            doc, config, files = PROJECTS[name]()
            made[name] = write_project(tmp_path_factory.mktemp(name), doc, config=config, files=files)
        return made[name]
    return folder


@pytest.fixture(scope="module")
def servers(serve_for_module, projects):
    """Project name -> its live gateway, started once."""
    running: dict = {}

    def server(name: str):
        if name not in running:
            running[name] = serve_for_module(projects(name), "--explain")
        return running[name]
    return server


def cli(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def sign(method: str, url: str, signed: Signed) -> dict:
    """botocore's SigV4 signer, at the clock plus ``skew`` (its own add_auth, timestamp chosen)."""
    request = AWSRequest(method=method, url=url, data=b"")
    signer = SigV4Auth(Credentials(signed.key, signed.secret, signed.session_token), "execute-api", "us-east-1")
    moment = datetime.now(timezone.utc) + signed.skew
    request.context["timestamp"] = moment.strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signer._inject_signature_to_request(request, signer.signature(signer.string_to_sign(request, canonical), request))
    return {k: v for k, v in request.headers.items() if k.lower() != "host"}


def request_headers(scenario: Scenario, folder, server) -> dict:
    headers = dict(scenario.headers)
    if scenario.signed:
        headers.update(sign(scenario.method, server.url + scenario.path, scenario.signed))
    if scenario.token:
        minted = cli("token", folder, *scenario.token)
        assert minted.exit_code == 0, minted.output
        headers["Authorization"] = f"Bearer {minted.stdout.strip()}"
    return headers


def simulate(folder, scenario: Scenario, headers: dict, host: str) -> tuple[int, dict]:
    args = ["simulate", folder, scenario.method, scenario.path, "--host", host, "--json"]
    for name, value in headers.items():
        args += ["-H", f"{name}:{value}"]
    for earlier in scenario.after:
        args += ["--after", earlier]
    result = cli(*args)
    return result.exit_code, json.loads(result.stdout)


def explain(response: requests.Response) -> dict:
    request_id = response.headers.get("x-amzn-RequestId") or response.headers["apigw-requestid"]
    for _ in range(10):  # the trace is kept once the response is sent: give it a moment
        result = cli("explain", request_id, "--json")
        if result.exit_code == 0:
            return json.loads(result.stdout)
        time.sleep(0.05)
    raise NotRemembered(f"no running gateway remembers request {request_id}")


def test_the_suite_covers_twenty_classic_causes():
    assert len({s.cause for s in SCENARIOS}) >= 20 and len({s.name for s in SCENARIOS}) == len(SCENARIOS)


@pytest.mark.parametrize("scenario", [pytest.param(s, marks=s.marks, id=s.name) for s in SCENARIOS])
def test_simulate_and_the_live_gateway_explain_the_same_cause(scenario, projects, servers):
    folder, server = projects(scenario.project), servers(scenario.project)
    headers = request_headers(scenario, folder, server)
    says = [headers[v.name] if isinstance(v, Header) else v for v in scenario.says]
    outcome = "failed" if scenario.status >= 500 else "refused"

    code, simulated = simulate(folder, scenario, headers, f"127.0.0.1:{server.port}")
    assert code == 1
    assert (simulated["status"], simulated["outcome"], simulated["cause"]) == (scenario.status, outcome, scenario.cause), \
        simulated["because"]
    for value in says:
        assert value in simulated["because"], simulated["because"]

    for earlier in scenario.after:
        method, path = earlier.split(" ", 1)
        assert requests.request(method, server.url + path, headers=headers).status_code < 400, earlier
    live = requests.request(scenario.method, server.url + scenario.path, headers=headers)
    cause, _, because = live.headers["x-lychgate-explain"].partition(": ")  # serve --explain
    assert (live.status_code, cause) == (scenario.status, scenario.cause), because
    for value in says:
        assert value in because, because

    explained = explain(live)
    assert (explained["status"], explained["outcome"], explained["cause"], explained["because"]) == \
        (live.status_code, outcome, cause, because)
