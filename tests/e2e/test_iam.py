"""End to end: AWS_IAM methods and resource policies, with requests signed by botocore's SigV4 signer."""

from pathlib import Path

import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from helpers import openapi, proxy_op, write_project

ROOT = Path(__file__).resolve().parents[2]
PETSTORE = ROOT / "examples" / "petstore"
ALICE = Credentials("AKIAEXAMPLEALICE0001", "alice-secret-key-000000000000000000000")
BOB = Credentials("AKIAEXAMPLEBOB000001", "bob-secret-key-0000000000000000000000000")
CI = Credentials("ASIAEXAMPLECI0000001", "ci-secret-key-00000000000000000000000000", "ci-session-token")
ARN = "arn:aws:execute-api:us-east-1:********9012:petstore/prod"


def signed(method: str, url: str, creds: Credentials, body: bytes = b"", headers=None, query_auth=False):
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    (SigV4QueryAuth(creds, "execute-api", "us-east-1") if query_auth else SigV4Auth(creds, "execute-api", "us-east-1")).add_auth(request)
    prepared = request.prepare()
    return requests.request(method, prepared.url, headers=dict(prepared.headers), data=body)


@pytest.fixture
def petstore(serve):
    return serve(PETSTORE)


def test_unsigned_call_to_iam_method_is_missing_token(petstore):
    r = requests.get(f"{petstore.url}/prod/orders")
    assert (r.status_code, r.content) == (403, b'{"message":"Missing Authentication Token"}')
    assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_signed_and_allowed_caller_reaches_the_function(petstore):
    r = signed("GET", f"{petstore.url}/prod/orders", ALICE)
    assert r.status_code == 200, r.text
    assert r.json()["calledBy"] == {"caller": r.json()["calledBy"]["caller"], "user": r.json()["calledBy"]["user"],
                                    "userArn": "arn:aws:iam::123456789012:user/alice", "accountId": "123456789012",
                                    "accessKey": "AKIAEXAMPLEALICE0001"}
    assert r.json()["calledBy"]["caller"].startswith("AIDA")
    assert signed("GET", f"{petstore.url}/prod/orders", ALICE, query_auth=True).status_code == 200


def test_implicit_deny_has_aws_text(petstore):
    r = signed("POST", f"{petstore.url}/prod/orders", ALICE, body=b"{}")
    assert r.status_code == 403
    assert r.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert r.json() == {"Message": "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: "
                                   f"execute-api:Invoke on resource: {ARN}/POST/orders"}


def test_group_managed_policy_and_role_session(petstore):
    assert signed("GET", f"{petstore.url}/prod/orders?page=2", BOB).status_code == 200
    assert signed("POST", f"{petstore.url}/prod/orders", BOB).status_code == 403
    r = signed("POST", f"{petstore.url}/prod/orders", CI, body=b'{"a":1}')
    assert r.status_code == 201
    assert r.json()["calledBy"]["userArn"] == "arn:aws:sts::123456789012:assumed-role/deployer/ci"
    assert r.json()["calledBy"]["caller"] == "AROAEXAMPLEDEPLOYER01:ci"


def test_signature_failures(petstore):
    wrong = Credentials(ALICE.access_key, "not-the-secret")
    r = signed("GET", f"{petstore.url}/prod/orders", wrong)
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert r.json()["message"].startswith("The request signature we calculated does not match the signature you provided.")
    r = signed("GET", f"{petstore.url}/prod/orders", Credentials("AKIAUNKNOWNKEY000001", "x"))
    assert r.json() == {"message": "The security token included in the request is invalid."}
    assert r.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    r = requests.get(f"{petstore.url}/prod/orders", headers={"Authorization": "Bearer abc"})
    assert r.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    assert r.json() == {"message": "'abc' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer abc'."}


def test_unmatched_route_with_authorization_header_reports_the_sigv4_parse_error(petstore):
    r = requests.get(f"{petstore.url}/prod/nowhere", headers={"Authorization": "Bearer abc"})
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    assert requests.get(f"{petstore.url}/prod/nowhere").json() == {"message": "Missing Authentication Token"}


POLICY_HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"


def resource_policy_project(tmp_path, policy):
    doc = openapi({"/open": {"get": proxy_op("fn")}, "/private": {"get": proxy_op("fn")}},
                  **{"x-amazon-apigateway-policy": policy})
    config = {"apis": [{"id": "rp", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"}}
    return write_project(tmp_path, doc, config=config, files={"h.py": POLICY_HANDLER})


def test_resource_policy_with_anonymous_callers(serve, tmp_path):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/prod/GET/open"},
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*/GET/private",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]}
    server = serve(resource_policy_project(tmp_path, policy))
    assert requests.get(f"{server.url}/prod/open").text == "ok"
    r = requests.get(f"{server.url}/prod/private")
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert r.content == (b'{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: '
                         b'arn:aws:execute-api:us-east-1:********9012:rp/prod/GET/private with an explicit deny"}')


def test_resource_policy_implicit_deny_for_anonymous(serve, tmp_path):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "execute-api:Invoke",
         "Resource": "execute-api:/*"}]}
    server = serve(resource_policy_project(tmp_path, policy))
    r = requests.get(f"{server.url}/prod/open")
    assert r.json() == {"Message": "User: anonymous is not authorized to perform: execute-api:Invoke on resource: "
                                   "arn:aws:execute-api:us-east-1:********9012:rp/prod/GET/open"}


def test_bad_resource_policy_is_a_config_error(tmp_path):
    from lychgate.config.project import load_project
    from lychgate.errors import ConfigError
    project = resource_policy_project(tmp_path, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}}}]})
    with pytest.raises(ConfigError) as info:
        load_project(project)
    problem = info.value.problems[0]
    assert problem.file.endswith("openapi.yaml")
    assert problem.pointer.startswith("/x-amazon-apigateway-policy/Statement/0/Condition/IpAddress")


def test_http_api_iam_caller_in_v2_event(serve, tmp_path):
    handler = "import json\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps(event['requestContext'])}\n"
    doc = openapi({"/me": {"get": {**proxy_op("fn", payloadFormatVersion="2.0"), "security": [{"sigv4": []}]}}},
                  components={"securitySchemes": {"sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
                                                            "x-amazon-apigateway-authtype": "awsSigv4"}}},
                  **{"x-amazon-apigateway-importexport-version": "1.0"})
    config = {"apis": [{"id": "hapi", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"},
              "identities": {"users": [{"name": "alice", "access_keys": [{"id": ALICE.access_key, "secret": ALICE.secret_key}],
                                        "policies": [{"Version": "2012-10-17", "Statement": [
                                            {"Effect": "Allow", "Action": "execute-api:Invoke",
                                             "Resource": "arn:aws:execute-api:us-east-1:123456789012:hapi/$default/GET/me"}]}]}]}}
    server = serve(write_project(tmp_path, doc, config=config, files={"h.py": handler}))
    context = signed("GET", f"{server.url}/me", ALICE).json()
    assert context["authorizer"]["iam"]["userArn"] == "arn:aws:iam::123456789012:user/alice"
    assert context["authorizer"]["iam"]["accessKey"] == ALICE.access_key
    r = requests.get(f"{server.url}/me")
    assert (r.status_code, r.content) == (403, b'{"message":"Forbidden"}')
    r = signed("GET", f"{server.url}/me", Credentials(ALICE.access_key, "wrong"))
    assert (r.status_code, r.content) == (403, b'{"message":"Forbidden"}')
