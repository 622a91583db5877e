"""The cause sentences of AWS_IAM denials: which part of the closest Resource is wrong, an action that
does not exist, the condition of a deciding Deny with the request's value, a preflight, the access key."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lychgate.authorizers.iam import Caller, authenticate, denial_reason
from lychgate.config.identities import AccessKey, Identity, IdentityStore
from lychgate.iam import ApiScope, AuthzRequest, PolicySource, Principal, authorize, compile_policy
from lychgate.messages import Request
from lychgate.sigv4 import SigningCredentials, sign_headers

API = "arn:aws:execute-api:us-east-1:123456789012:shop"
REQUEST_ARN = f"{API}/prod/GET/pets/1"
ALICE = Principal("arn:aws:iam::123456789012:user/alice")


def identity_policy(*statements: dict):
    return compile_policy({"Version": "2012-10-17", "Statement": list(statements)}, PolicySource("alice/inline-0"),
                          scope=ApiScope("us-east-1", "123456789012", "shop"))


def sentence(*statements: dict, arn: str = REQUEST_ARN) -> tuple[str, str]:
    evaluation = authorize(AuthzRequest("execute-api:Invoke", arn, ALICE, {"aws:SourceIp": "203.0.113.7"}),
                           identity=[identity_policy(*statements)])
    return denial_reason(evaluation)


def allow(resource: str, action: str = "execute-api:Invoke") -> dict:
    return {"Sid": "Closest", "Effect": "Allow", "Action": action, "Resource": resource}


@pytest.mark.parametrize("resource,hint", [
    ("arn:aws:execute-api:eu-west-1:123456789012:shop/prod/GET/pets/*",
     "its region is eu-west-1, the request's is us-east-1"),
    ("arn:aws:execute-api:us-east-1:210987654321:shop/prod/GET/pets/*",
     "its account is 210987654321, the request's is 123456789012"),
    ("arn:aws:execute-api:*:*:shop2/prod/GET/pets/*", "its API id is shop2, the request's is shop"),
    (f"{API}/dev/GET/pets/*", "its stage is dev, the request's is prod"),
    (f"{API}/*/POST/pets/*", "its verb is POST, the request's is GET"),
    (f"{API}/prod/GET/pets", "it names /pets without a trailing /*, so it does not cover /pets/1"),
    (f"{API}/prod/GET/orders", "its path is /orders, the request's is /pets/1"),
    (f"{API}/prod/GET/orders/*", "its path /orders/* does not cover /pets/1"),
    (f"{API}/prod/P*", "its verb/path P* does not cover GET/pets/1"),
    (f"{API}/prod", "it ends at the stage without a trailing /*, so it does not cover shop/prod/GET/pets/1"),
])
def test_the_closest_resource_names_the_part_that_differs(resource, hint):
    cause, text = sentence(allow(resource))
    assert cause == "identity_policy_denies"
    assert text.endswith(f"does not match {resource} ({hint})"), text


def test_a_resource_pattern_with_a_policy_variable_gets_no_guess():
    _, text = sentence(allow(f"{API}/prod/GET/${{aws:username}}/*"))
    assert "the closest statement `Closest`" in text and "(its " not in text and "(it " not in text, text


def test_an_action_that_does_not_exist_is_named():
    _, text = sentence(allow(f"{API}/prod/GET/pets/*", "execute-api:Execute"))
    assert "the closest statement `Closest` in /Statement/0 allows execute-api:Execute, and execute-api:Execute is " \
           "not an action API Gateway knows" in text and text.endswith("use execute-api:Invoke")
    _, text = sentence(allow(f"{API}/*", "execute-api:Invalidate*"))
    assert text.endswith("allows execute-api:Invalidate*, which does not match execute-api:Invoke")
    _, text = sentence(allow("*", "s3:GetObject"))
    assert text.endswith("; no statement allows this action at all")


def test_a_deciding_deny_shows_its_condition_and_the_requests_value():
    cause, text = sentence(allow("*"), {"Sid": "OfficeOnly", "Effect": "Deny", "Action": "execute-api:Invoke",
                                        "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}})
    assert cause == "explicit_deny_identity_policy"
    assert "statement OfficeOnly of alice/inline-0" in text
    assert text.endswith("; its condition NotIpAddress aws:SourceIp [10.0.0.0/8] holds for the request's "
                         "aws:SourceIp 203.0.113.7")


NOW = datetime.now(timezone.utc)


def request(method: str, headers: list[tuple[str, str]], query: str = "") -> Request:
    return Request(method, "/prod/pets", query, [("Host", "127.0.0.1:8080"), *headers], b"", "127.0.0.1", "1.1", 0.0)


def test_an_unsigned_preflight_is_called_a_preflight():
    preflight = request("OPTIONS", [("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET")])
    error = authenticate(preflight, IdentityStore(), "us-east-1")
    assert error.cause == "missing_signature"
    assert "this request (OPTIONS /prod/pets) is a CORS preflight" in error.detail
    plain = authenticate(request("OPTIONS", []), IdentityStore(), "us-east-1")
    assert plain.detail.startswith("the method's authorization type is AWS_IAM but the request is not signed")


def test_signature_failures_name_the_access_key():
    day, stamp = NOW.strftime("%Y%m%d"), NOW.strftime("%Y%m%dT%H%M%SZ")
    header = (f"AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000001/{day}/us-east-1/execute-api/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
    error = authenticate(request("GET", [("Authorization", header), ("X-Amz-Date", stamp)]), IdentityStore(), "us-east-1")
    assert error.cause == "unknown_access_key" and error.detail.count("AKIAEXAMPLE000000001") == 1, error.detail
    # A key the verifier does not name itself: the stale date is the cause, the key is named first.
    stale = header.replace(day, "20200101")
    error = authenticate(request("GET", [("Authorization", stale), ("X-Amz-Date", "20200101T000000Z")]),
                         IdentityStore(), "us-east-1")
    assert error.cause == "signature_expired" and error.detail.startswith("access key AKIAEXAMPLE000000001: ")
    presigned = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE000000002%2F20200101%2Fus-east-1"
                 "%2Fexecute-api%2Faws4_request&X-Amz-Date=20200101T000000Z&X-Amz-Expires=60"
                 "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0" * 64)
    error = authenticate(request("GET", [], presigned), IdentityStore(), "us-east-1")
    assert error.detail.startswith("access key AKIAEXAMPLE000000002: "), error.detail


def test_a_callers_key_gets_its_owner_again_after_a_reload():
    """One ``Caller`` per access key is reused, but only while the store's record of the key is the same."""
    def store(name: str) -> IdentityStore:
        owner = Identity(arn=f"arn:aws:iam::123456789012:user/{name}", principal_arn="", account="123456789012",
                         userid=name, username=name, tags={}, policies=())
        return IdentityStore(keys={"AKIAKEY": AccessKey(SigningCredentials("AKIAKEY", "s"), owner)})

    signed = sign_headers("GET", "/prod/pets", "", [("Host", "h")], b"", access_key_id="AKIAKEY",
                          secret_access_key="s", region="us-east-1")
    before, after = store("alice"), store("bob")
    first, again = (authenticate(Request("GET", "/prod/pets", "", signed), before, "us-east-1") for _ in range(2))
    reloaded = authenticate(Request("GET", "/prod/pets", "", signed), after, "us-east-1")
    assert isinstance(first, Caller) and again is first and first.identity.username == "alice"
    assert reloaded.identity.username == "bob" and reloaded.access_key_id == "AKIAKEY"
