"""IAM decisions remembered per (caller, resource policy, method ARN): only where no policy reads
the request's context, so a remembered decision is always the one a fresh evaluation would make."""

from lychgate.authorizers.iam import Caller, DecisionMemo, authorize
from lychgate.config.identities import Identity
from lychgate.iam import Decision, PolicySource, compile_policy, execute_api_arn
from lychgate.messages import Request

ACCOUNT = "123456789012"


def policy(*statements, kind="identity"):
    return compile_policy({"Version": "2012-10-17", "Statement": list(statements)},
                          PolicySource("p", kind=kind))


def allow(resource, **extra):
    return {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": resource, **extra}


def caller(*policies):
    identity = Identity(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", principal_arn=f"arn:aws:iam::{ACCOUNT}:user/alice",
                        account=ACCOUNT, userid="AIDAALICE", username="alice", tags={}, policies=policies)
    return Caller(identity, "AKIAALICE")


def arn(path):
    return execute_api_arn("us-east-1", ACCOUNT, "api1", "prod", "GET", path)


def decide(memo, who, path, source_ip="10.0.0.1", resource_policy=None):
    request = Request("GET", f"/prod{path}", "", [("Host", "h")], b"", source_ip, "1.1", 1_700_000_000.0)
    return authorize(method_arn=arn(path), request=request, region="us-east-1", account_id=ACCOUNT,
                     caller=who, resource_policy=resource_policy, memo=memo)


def test_context_free_policies_are_decided_once_per_arn():
    memo, alice = DecisionMemo(), caller(policy(allow(arn("/pets"))))
    first = decide(memo, alice, "/pets")
    assert first.decision is Decision.ALLOW and decide(memo, alice, "/pets") is first
    other = decide(memo, alice, "/orders")
    assert other.decision is Decision.IMPLICIT_DENY and decide(memo, alice, "/orders") is other


def test_a_condition_in_the_identity_policy_is_evaluated_on_every_request():
    memo = DecisionMemo()
    alice = caller(policy(allow("*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/24"}})))
    assert decide(memo, alice, "/pets", "10.0.0.1").decision is Decision.ALLOW
    assert decide(memo, alice, "/pets", "192.0.2.9").decision is Decision.IMPLICIT_DENY
    assert decide(memo, alice, "/pets", "10.0.0.1").decision is Decision.ALLOW


def test_a_condition_in_the_resource_policy_is_evaluated_on_every_request():
    memo, alice = DecisionMemo(), caller(policy(allow("*")))
    deny_outside = policy({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*",
                           "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/24"}}},
                          allow("*", Principal="*"), kind="resource")
    assert decide(memo, alice, "/pets", "10.0.0.1", deny_outside).decision is Decision.ALLOW
    assert decide(memo, alice, "/pets", "192.0.2.9", deny_outside).decision is Decision.EXPLICIT_DENY


def test_a_policy_variable_is_resolved_on_every_request():
    memo = DecisionMemo()
    alice = caller(policy(allow(f"arn:aws:execute-api:us-east-1:{ACCOUNT}:api1/prod/GET/users/${{aws:username}}")))
    assert decide(memo, alice, "/users/alice").decision is Decision.ALLOW
    assert decide(memo, alice, "/users/bob").decision is Decision.IMPLICIT_DENY
    assert not memo.is_static(alice.identity, None)


def test_callers_do_not_share_decisions():
    memo = DecisionMemo()
    alice, bob = caller(policy(allow("*"))), caller(policy(allow(arn("/other"))))
    assert decide(memo, alice, "/pets").decision is Decision.ALLOW
    assert decide(memo, bob, "/pets").decision is Decision.IMPLICIT_DENY
