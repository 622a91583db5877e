"""`lychgate check`'s findings: one project per classic misconfiguration, and a clean one."""

import subprocess
import sys

import pytest

from helpers import lambda_uri, openapi, proxy_op, write_project
from lychgate.config.check import findings
from lychgate.config.project import load_project

HANDLER = "def handler(event, context):\n    return {'statusCode': 200}\n"
SIGV4 = {"sigv4": {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4"}}


def iam_user(resource: str, action: str = "execute-api:Invoke") -> dict:
    return {"users": [{"name": "alice", "access_keys": [{"id": "AKIAALICE0000000001", "secret": "s"}],
                       "policies": [{"Version": "2012-10-17", "Statement": [
                           {"Sid": "Read", "Effect": "Allow", "Action": action, "Resource": resource}]}]}]}


def project(tmp_path, paths, extra_config=None, **root):
    config = {"apis": [{"id": "api1", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"},
              **(extra_config or {})}
    return load_project(write_project(tmp_path, openapi(paths, **root), config=config, files={"h.py": HANDLER}))


def messages(proj) -> str:
    return "\n".join(f"{p.file}#{p.pointer}: {p.message}" for p in findings(proj))


IAM_GET = {"/pets/{id}": {"get": {**proxy_op("fn"), "security": [{"sigv4": []}]}}}

SCENARIOS = [
    ("wrong-stage", IAM_GET, {"identities": iam_user("arn:aws:execute-api:*:*:api1/dev/GET/pets/*")}, {},
     ["no declared identity can invoke AWS_IAM method GET /pets/{id}", "matches no route of any stage"]),
    ("missing-wildcard", IAM_GET, {"identities": iam_user("arn:aws:execute-api:*:*:api1/prod/GET/pets")}, {},
     ["no declared identity can invoke", "a Resource needs a trailing /*"]),
    ("action-typo", IAM_GET, {"identities": iam_user("*", "execute-api:Execute")}, {},
     ["action execute-api:execute does not exist"]),
    ("preflight-behind-authorizer", {"/pets": {"options": {**proxy_op("fn"), "security": [{"sigv4": []}]}}}, {}, {},
     ["browsers send CORS preflights without credentials"]),
    ("api-key-without-plan", {"/pets": {"get": {**proxy_op("fn"), "security": [{"api_key": []}]}}}, {},
     {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
     ["requires an API key but no usage plan in lychgate.yaml covers stage prod"]),
    ("resource-policy-denies-all", {"/pets": {"get": proxy_op("fn")}}, {}, {"__policy__": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
                                               "Resource": "execute-api:/*"}]}},
     ["the resource policy denies every route"]),
    ("coarse-authorizer-cache", {"/pets": {"get": {**proxy_op("fn"), "security": [{"req": []}]}}}, {},
     {"req": {"type": "apiKey", "name": "x", "in": "header", "x-amazon-apigateway-authorizer": {
         "type": "request", "authorizerUri": lambda_uri("fn"), "identitySource": "stageVariables.tenant",
         "authorizerResultTtlInSeconds": 300}}},
     ["every caller shares one cached decision"]),
    ("cors-missing-on-errors", {"/pets": {"options": {"x-amazon-apigateway-integration": {
        "type": "mock", "requestTemplates": {"application/json": '{"statusCode": 200}'},
        "responses": {"default": {"statusCode": "200", "responseParameters": {
            "method.response.header.Access-Control-Allow-Origin": "'*'"}}}}}}}, {}, {},
     ["CORS is set up on OPTIONS methods but not on the DEFAULT_4XX and DEFAULT_5XX gateway responses"]),
]


@pytest.mark.parametrize("name,paths,config,schemes,expected", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_classic_misconfigurations_are_found(tmp_path, name, paths, config, schemes, expected):
    root = {}
    policy = schemes.pop("__policy__", None)
    if policy:
        root["x-amazon-apigateway-policy"] = policy
    schemes = {**SIGV4, **schemes}
    found = messages(project(tmp_path, paths, config, components={"securitySchemes": schemes}, **root))
    for fragment in expected:
        assert fragment in found, found
    assert "Fix: " in found


def test_a_sound_project_has_no_findings(tmp_path):
    proj = project(tmp_path, IAM_GET, {"identities": iam_user("arn:aws:execute-api:*:*:api1/prod/GET/pets/*")},
                   components={"securitySchemes": SIGV4})
    assert findings(proj) == []


def test_check_command_prints_findings(tmp_path):
    write_project(tmp_path, openapi(IAM_GET, components={"securitySchemes": SIGV4}),
                  config={"apis": [{"id": "api1", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"},
                          "identities": iam_user("arn:aws:execute-api:*:*:api1/dev/GET/pets/*")},
                  files={"h.py": HANDLER})
    proc = subprocess.run([sys.executable, "-m", "lychgate", "check", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "lychgate.yaml#/identities/users/0/policies/0/Statement/0: warning:" in proc.stderr
    assert "2 finding(s)" in proc.stdout
