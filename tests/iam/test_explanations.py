"""ARN helpers, denial messages and the explanation data of an Evaluation (spec A3, A6; gateway §2.3, §4)."""

from __future__ import annotations

import pytest

from lychgate.iam import (ApiScope, AuthzRequest, Decision, PolicySource, Principal, authorize,
                          authorizer_denial_message, compile_policy, denial_message, evaluate_policies,
                          execute_api_arn, expand_shorthand, explain, mask_account, parse_arn)

API = "arn:aws:execute-api:us-west-2:123456782543:vd2gh6uqw3"
ALICE = Principal("arn:aws:iam::123456782543:user/alice")


def policy(statements: list[dict], name: str = "p", kind: str = "identity", **source: str):
    return compile_policy({"Version": "2012-10-17", "Statement": statements},
                          PolicySource(name, source.get("file"), source.get("pointer", ""), kind),
                          scope=ApiScope("us-west-2", "123456782543", "vd2gh6uqw3"))


def test_execute_api_arn_root_and_path() -> None:
    assert execute_api_arn("us-west-2", "123456782543", "vd2gh6uqw3", "api", "GET", "/") == f"{API}/api/GET/"
    assert execute_api_arn("us-west-2", "123456782543", "vd2gh6uqw3", "prod", "GET", "/pets/a1b2") == \
        f"{API}/prod/GET/pets/a1b2"
    assert execute_api_arn("cn-north-1", "1", "x", "$default", "POST", "a", partition="aws-cn") == \
        "arn:aws-cn:execute-api:cn-north-1:1:x/$default/POST/a"


def test_shorthand_and_masking() -> None:
    scope = ApiScope("us-west-2", "123456782543", "vd2gh6uqw3")
    assert expand_shorthand("execute-api:/*", scope) == f"{API}/*"
    assert expand_shorthand("execute-api:/prod/GET/pets", scope) == f"{API}/prod/GET/pets"
    assert expand_shorthand(f"{API}/*", scope) == f"{API}/*"
    assert mask_account(f"{API}/api/GET/") == "arn:aws:execute-api:us-west-2:********2543:vd2gh6uqw3/api/GET/"
    assert mask_account("not an arn") == "not an arn"
    assert parse_arn("arn:aws:s3:::b/k:with:colons").resource == "b/k:with:colons"
    assert parse_arn("arn:aws:s3") is None


def test_principal_derives_account_and_type() -> None:
    assert ALICE.account == "123456782543" and ALICE.principal_type == "User"
    session = Principal("arn:aws:sts::1:assumed-role/R/s", userid="AROAX:s")
    assert session.principal_type == "AssumedRole" and session.unique_id == "AROAX"


def test_denial_messages() -> None:
    deny = policy([{"Effect": "Deny", "Action": "*", "Resource": "*"}])
    request = AuthzRequest("execute-api:Invoke", f"{API}/api/GET/", ALICE)
    explicit = authorize(request, identity=[deny])
    assert denial_message(explicit) == ("User: arn:aws:iam::123456782543:user/alice is not authorized to perform: "
                                        "execute-api:Invoke on resource: arn:aws:execute-api:us-west-2:"
                                        "********2543:vd2gh6uqw3/api/GET/ with an explicit deny")
    assert authorizer_denial_message(explicit) == "User is not authorized to access this resource with an explicit deny"
    anonymous = AuthzRequest("execute-api:Invoke", f"{API}/api/GET/")
    implicit = authorize(anonymous, identity=[], identity_side_present=False)
    assert denial_message(implicit).startswith("User: anonymous is not authorized")
    assert authorizer_denial_message(implicit) == "User is not authorized to access this resource"
    allowed = authorize(request, identity=[policy([{"Effect": "Allow", "Action": "*", "Resource": "*"}])])
    with pytest.raises(ValueError):
        denial_message(allowed)


def test_misses_explain_each_element() -> None:
    identity = policy([
        {"Sid": "Cache", "Effect": "Allow", "Action": "execute-api:InvalidateCache", "Resource": "*"},
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/dev/*"},
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}},
    ], name="alice/inline-0", file="iam.json", pointer="/UserDetailList/0/UserPolicyList/0/PolicyDocument")
    request = AuthzRequest("execute-api:Invoke", f"{API}/prod/GET/pets", ALICE, {"aws:SourceIp": "192.0.2.1"})
    result = authorize(request, identity=[identity])
    assert result.decision is Decision.IMPLICIT_DENY and result.matched == ()
    cache, resource, ip, tag = result.misses
    assert (cache.element, cache.sid, cache.index) == ("Action", "Cache", 0)
    assert cache.pointer == "/UserDetailList/0/UserPolicyList/0/PolicyDocument/Statement/0"
    assert resource.element == "Resource" and f"{API}/dev/*" in resource.reason
    assert ip.element == "Condition" and ip.condition is not None
    assert (ip.condition.key, ip.condition.operator, ip.condition.expected, ip.condition.actual) == \
        ("aws:SourceIp", "IpAddress", ("10.0.0.0/8",), ("192.0.2.1",))
    assert tag.condition is not None and tag.condition.actual is None and "absent" in tag.condition.reason
    assert result.missing_context_keys == ("aws:PrincipalTag/team",)
    assert "no identity-based policy allows" in result.rule


def test_resource_policy_breakdown_and_principal_entry() -> None:
    rp = policy([{"Effect": "Allow", "Principal": {"AWS": ["111111111111", "arn:aws:iam::123456782543:user/alice"]},
                  "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
                 {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
                  "Condition": {"Bool": {"aws:SecureTransport": "false"}}}], name="resource policy", kind="resource")
    request = AuthzRequest("execute-api:Invoke", f"{API}/prod/GET/pets", ALICE, {"aws:SecureTransport": True})
    result = authorize(request, identity=[], resource=[rp])
    assert result.decision is Decision.ALLOW
    assert [m.principal for m in result.matched] == ["arn:aws:iam::123456782543:user/alice"]
    identity_set, resource_set = result.sets
    assert (identity_set.kind, identity_set.decision) == ("identity", Decision.IMPLICIT_DENY)
    assert (resource_set.kind, resource_set.decision) == ("resource", Decision.ALLOW)
    assert [m.element for m in resource_set.misses] == ["Condition"]
    assert "Table A" in result.rule


def test_not_elements_reasons() -> None:
    p = policy([{"Effect": "Allow", "NotAction": "execute-api:Inv*", "Resource": "*"},
                {"Effect": "Allow", "Action": "*", "NotResource": f"{API}/prod/*"}])
    result = evaluate_policies(AuthzRequest("execute-api:Invoke", f"{API}/prod/GET/pets", ALICE), [p])
    assert [(m.element, m.reason) for m in result.misses] == [
        ("NotAction", "action execute-api:Invoke matches NotAction pattern execute-api:Inv*"),
        ("NotResource", f"resource {API}/prod/GET/pets matches NotResource pattern {API}/prod/*")]


def test_unresolved_variable_reason() -> None:
    p = policy([{"Effect": "Allow", "Action": "*", "Resource": f"{API}/*/GET/users/${{aws:username}}"}])
    role = Principal("arn:aws:sts::123456782543:assumed-role/R/s")
    result = evaluate_policies(AuthzRequest("execute-api:Invoke", f"{API}/prod/GET/users/x", role), [p])
    assert "${aws:username} has no value" in result.misses[0].reason
    assert result.missing_context_keys == ("aws:username",)
    deny = policy([{"Effect": "Deny", "Action": "*", "NotResource": f"{API}/*/GET/users/${{aws:username}}"}])
    result = evaluate_policies(AuthzRequest("execute-api:Invoke", f"{API}/prod/GET/users/x", role), [deny])
    assert result.decision is Decision.IMPLICIT_DENY
    assert "the statement does not apply" in result.misses[0].reason


def test_identity_policies_are_skipped_by_service_index() -> None:
    """Statements for other services never apply, yet still appear in the misses with reason Action."""
    p = policy([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Allow", "Action": ["s3:GetObject", "execute-api:Invoke"], "Resource": "*"},
                {"Effect": "Deny", "NotAction": "s3:*", "Resource": f"{API}/dev/*"}])
    assert [st.index for st in p.candidates("execute-api")] == [1, 2]
    assert [st.index for st in p.candidates("lambda")] == [2]
    result = evaluate_policies(AuthzRequest("Execute-API:Invoke", f"{API}/prod/GET/pets"), [p])
    assert result.decision is Decision.ALLOW
    assert [(m.index, m.element) for m in result.misses] == [(0, "Action"), (2, "Resource")]


def test_explain_text() -> None:
    p = policy([{"Sid": "Pets", "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API}/prod/*"},
                {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
                 "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}],
               name="alice/inline-0", file="iam.json", pointer="/UserDetailList/0/UserPolicyList/0/PolicyDocument")
    text = explain(authorize(AuthzRequest("execute-api:Invoke", f"{API}/prod/GET/pets", ALICE), identity=[p]))
    assert text.splitlines()[0] == "decision: allowed"
    assert "Allow Sid Pets statement 0 of alice/inline-0 (iam.json#/UserDetailList/0/UserPolicyList/0/" \
           "PolicyDocument/Statement/0)" in text
    assert "Condition: condition StringEquals: key aws:PrincipalTag/team is absent" in text
    assert text.splitlines()[-1] == "missing context keys: aws:PrincipalTag/team"
