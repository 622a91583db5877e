"""What AWS_IAM keeps between requests follows the identity store in use and the resource policy.

``authenticate`` keeps each key's credentials and ``Caller`` per identity store: a reload (a new
store) uses the new secret and owner at once. ``DecisionMemo`` may remember a decision under a key
that names the method ARN (the authorize stage's (API, stage, verb, path)); a hit still needs the
same caller and the same resource policy.
"""

from __future__ import annotations

from datetime import datetime, timezone

from lychgate.authorizers.iam import Caller, DecisionMemo, authenticate, authorize
from lychgate.config.identities import AccessKey, Identity, IdentityStore
from lychgate.errors import GatewayError
from lychgate.iam import Decision, PolicySource, compile_policy, execute_api_arn
from lychgate.messages import Request
from lychgate.sigv4 import SigningCredentials, sign_headers

ACCOUNT, KEY, HOST = "123456789012", "AKIAMEMORYKEY0000001", "api1.execute-api.us-east-1.amazonaws.com"
NOW = datetime(2024, 5, 22, 12, 10, 19, tzinfo=timezone.utc).timestamp()


def identity(name: str, *policies) -> Identity:
    arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    return Identity(arn=arn, principal_arn=arn, account=ACCOUNT, userid=f"AIDA{name.upper()}", username=name, tags={},
                    policies=policies)


def store(secret: str, owner: Identity) -> IdentityStore:
    return IdentityStore(keys={KEY: AccessKey(SigningCredentials(KEY, secret), owner)})


def signed_request(secret: str) -> Request:
    headers = sign_headers("GET", "/prod/pets", "", [("Host", HOST)], b"", access_key_id=KEY,
                           secret_access_key=secret, region="us-east-1", now=NOW)
    return Request("GET", "/prod/pets", "", headers, b"", "10.0.0.1", "1.1", NOW)


def test_a_reloaded_store_gives_the_key_its_new_secret_and_owner():
    alice, bob = identity("alice"), identity("bob")
    before, after = store("secret-one", alice), store("secret-two", bob)
    first = authenticate(signed_request("secret-one"), before, "us-east-1", now=NOW)
    assert isinstance(first, Caller) and first.identity is alice
    assert authenticate(signed_request("secret-one"), before, "us-east-1", now=NOW) is first
    assert isinstance(authenticate(signed_request("secret-one"), after, "us-east-1", now=NOW), GatewayError)
    second = authenticate(signed_request("secret-two"), after, "us-east-1", now=NOW)
    assert isinstance(second, Caller) and second.identity is bob
    assert isinstance(authenticate(signed_request("secret-two"), None, "us-east-1", now=NOW), GatewayError)


def policy(*statements, kind="identity"):
    return compile_policy({"Version": "2012-10-17", "Statement": list(statements)}, PolicySource("p", kind=kind))


def test_a_decision_remembered_under_a_key_needs_the_same_caller_and_resource_policy():
    arn = execute_api_arn("us-east-1", ACCOUNT, "api1", "prod", "GET", "/pets")
    key = ("api1", "prod", "GET", "/pets")
    alice = Caller(identity("alice", policy({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": arn})), KEY)
    resource = policy({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*"},
                      kind="resource")
    memo, request = DecisionMemo(), signed_request("secret-one")
    decided = authorize(method_arn=arn, request=request, region="us-east-1", account_id=ACCOUNT, caller=alice,
                        resource_policy=None, memo=memo, memo_key=key)
    assert decided.decision is Decision.ALLOW and decided.request.resource == arn
    assert memo.get(alice.identity, None, key) is decided
    assert memo.get(alice.identity, None, arn) is None  # remembered under the key given
    assert memo.get(alice.identity, resource, key) is None
    assert memo.get(identity("alice"), None, key) is None  # an equal identity is another caller
