"""Malformed policy documents are rejected at compile time with the exact JSON pointer (spec A1-A5)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from lychgate.iam import ApiScope, PolicyError, PolicySource, compile_policy

API = "arn:aws:execute-api:us-east-1:111122223333:a1b2c3d4e5"
OK = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}
RP_OK = {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": f"{API}/*"}


def doc(*statements: dict, version: str | None = "2012-10-17") -> dict:
    out: dict = {"Statement": list(statements)}
    if version is not None:
        out["Version"] = version
    return out


def stmt(**changes: object) -> dict:
    """OK with some members replaced; a value of None removes the member."""
    out = {**OK, **changes}
    return {k: v for k, v in out.items() if v is not None}


def rp(**changes: object) -> dict:
    out = {**RP_OK, **changes}
    return {k: v for k, v in out.items() if v is not None}


def cond(block: dict) -> dict:
    return doc(OK, stmt(Condition=block))


CASES = [
    # document level
    ("top-level-list", [OK], "identity", "", "must be a JSON object, found a list"),
    ("unknown-top-level", {"Version": "2012-10-17", "Statements": [OK]}, "identity", "/Statements",
     "unknown policy element 'Statements'"),
    ("missing-statement", {"Version": "2012-10-17"}, "identity", "", "missing Statement"),
    ("bad-version", doc(OK, version="2012-10-18"), "identity", "/Version", 'found the string "2012-10-18"'),
    ("version-number", {"Version": 2012, "Statement": OK}, "identity", "/Version", "found the number 2012"),
    ("empty-statement-list", doc(), "identity", "/Statement", "non-empty list"),
    ("statement-string", {"Statement": "Allow"}, "identity", "/Statement", "found the string"),
    ("statement-item-not-object", doc(OK, "x"), "identity", "/Statement/1", "must be an object"),
    ("id-in-identity-policy", {"Id": "x", "Statement": [OK]}, "identity", "/Id", "not in identity policies"),
    ("id-in-boundary", {"Id": "x", "Statement": [OK]}, "boundary", "/Id", "not in boundary policies"),
    ("id-not-string", {"Id": 5, "Statement": [RP_OK]}, "resource", "/Id", "expected a string"),
    # statement members
    ("unknown-statement-element", doc(stmt(Actions="x")), "identity", "/Statement/0/Actions",
     "unknown statement element 'Actions'"),
    ("element-names-case-sensitive", doc({"effect": "Allow", "Action": "a:b", "Resource": "*"}), "identity",
     "/Statement/0/effect", "unknown statement element"),
    ("missing-effect", doc(OK, stmt(Effect=None)), "identity", "/Statement/1", "missing Effect"),
    ("effect-lowercase", doc(stmt(Effect="allow")), "identity", "/Statement/0/Effect",
     'expected "Allow" or "Deny", found the string "allow"'),
    ("effect-single-object-statement", {"Statement": stmt(Effect="Permit")}, "identity", "/Statement/Effect",
     "Permit"),
    ("sid-not-string", doc(stmt(Sid=1)), "identity", "/Statement/0/Sid", "expected a string"),
    ("sid-dash-identity", doc(stmt(Sid="read-pets")), "identity", "/Statement/0/Sid", "only A-Z, a-z and 0-9"),
    # Action
    ("action-and-notaction", doc(stmt(NotAction="s3:*")), "identity", "/Statement/0/NotAction",
     "exactly one of Action or NotAction, found both"),
    ("missing-action", doc(stmt(Action=None)), "identity", "/Statement/0", "missing Action or NotAction"),
    ("action-empty-list", doc(stmt(Action=[])), "identity", "/Statement/0/Action", "non-empty list"),
    ("action-not-string", doc(stmt(Action=["a:b", 3])), "identity", "/Statement/0/Action/1", "found the number 3"),
    ("action-without-service", doc(stmt(Action="Invoke")), "identity", "/Statement/0/Action",
     "'service:ActionName'"),
    ("action-service-wildcard", doc(stmt(Action=["a:b", "execute-*:Invoke"])), "identity",
     "/Statement/0/Action/1", "'execute-*:Invoke'"),
    ("notaction-bad", doc(stmt(Action=None, NotAction="iam")), "identity", "/Statement/0/NotAction", "'iam'"),
    # Resource
    ("resource-and-notresource", doc(stmt(NotResource="*")), "identity", "/Statement/0/NotResource", "found both"),
    ("missing-resource", doc(stmt(Resource=None)), "identity", "/Statement/0", "missing Resource or NotResource"),
    ("resource-short-arn", doc(stmt(Resource="arn:aws:execute-api:*")), "identity", "/Statement/0/Resource",
     "six fields"),
    ("resource-not-arn", doc(stmt(Resource=["*", "pets"])), "identity", "/Statement/0/Resource/1", "'pets'"),
    ("resource-service-wildcard", doc(stmt(Resource="arn:aws:execute-*:us-east-1:1:x")), "identity",
     "/Statement/0/Resource", "service field"),
    ("resource-not-string", doc(stmt(Resource={"arn": "x"})), "identity", "/Statement/0/Resource", "an object"),
    ("bad-shorthand-form", doc(rp(Resource="execute-api:prod/GET/pets")), "resource", "/Statement/0/Resource",
     "execute-api:/stage/VERB/path"),
    ("variable-in-account-field", doc(stmt(Resource="arn:aws:execute-api:us-east-1:${aws:PrincipalAccount}:a/*")),
     "identity", "/Statement/0/Resource", "only in the resource part"),
    ("unterminated-variable", doc(stmt(Resource=f"{API}/prod/GET/users/${{aws:username")), "identity",
     "/Statement/0/Resource", "unterminated policy variable"),
    ("unquoted-variable-default", doc(stmt(Resource=f"{API}/prod/GET/${{aws:username, nobody}}")), "identity",
     "/Statement/0/Resource", "malformed policy variable"),
    # Principal
    ("principal-in-identity-policy", doc(stmt(Principal="*")), "identity", "/Statement/0/Principal",
     "not allowed in identity policies"),
    ("notprincipal-in-boundary", doc(stmt(NotPrincipal={"AWS": "111122223333"})), "boundary",
     "/Statement/0/NotPrincipal", "not allowed"),
    ("principal-missing-in-resource-policy", doc(rp(Principal=None)), "resource", "/Statement/0",
     "missing Principal or NotPrincipal"),
    ("principal-and-notprincipal", doc(rp(NotPrincipal={"AWS": "111122223333"})), "resource",
     "/Statement/0/NotPrincipal", "found both"),
    ("principal-plain-string", doc(rp(Principal="alice")), "resource", "/Statement/0/Principal",
     'expected "*" or an object'),
    ("principal-unknown-type", doc(rp(Principal={"User": "x"})), "resource", "/Statement/0/Principal/User",
     "unknown principal type 'User'"),
    ("principal-partial-wildcard", doc(rp(Principal={"AWS": "arn:aws:iam::*:role/x"})), "resource",
     "/Statement/0/Principal/AWS", "wildcards are not allowed"),
    ("principal-session-wildcard-in-list", doc(rp(Principal={"AWS": [
        "111122223333", "arn:aws:sts::111122223333:assumed-role/R/*"]})), "resource",
     "/Statement/0/Principal/AWS/1", "wildcards are not allowed"),
    ("principal-group-arn", doc(rp(Principal={"AWS": "arn:aws:iam::111122223333:group/devs"})), "resource",
     "/Statement/0/Principal/AWS", "group/devs"),
    ("principal-short-account", doc(rp(Principal={"AWS": "12345678901"})), "resource",
     "/Statement/0/Principal/AWS", "12-digit account id"),
    ("principal-session-without-name", doc(rp(Principal={"AWS": "arn:aws:sts::111122223333:assumed-role/R"})),
     "resource", "/Statement/0/Principal/AWS", "assumed-role/ROLE/SESSION"),
    ("principal-empty-object", doc(rp(Principal={})), "resource", "/Statement/0/Principal", "an object"),
    ("notprincipal-star", doc(rp(Principal=None, NotPrincipal="*")), "resource", "/Statement/0/NotPrincipal",
     'found the string "*"'),
    ("notprincipal-aws-star", doc(rp(Principal=None, NotPrincipal={"AWS": "*"})), "resource",
     "/Statement/0/NotPrincipal/AWS", "not allowed in NotPrincipal"),
    ("service-principal-partial-wildcard", doc(rp(Principal={"Service": "*.amazonaws.com"})), "resource",
     "/Statement/0/Principal/Service", "wildcards are not allowed"),
    # Condition
    ("condition-not-object", doc(stmt(Condition=["x"])), "identity", "/Statement/0/Condition", "found a list"),
    ("unknown-operator", cond({"StringEqualz": {"a:b": "c"}}), "identity", "/Statement/1/Condition/StringEqualz",
     "unknown condition operator 'StringEqualz'"),
    ("operator-wrong-case", cond({"stringequals": {"a:b": "c"}}), "identity", "/Statement/1/Condition/stringequals",
     "did you mean StringEquals?"),
    ("operator-wrong-case-prefix", cond({"forallvalues:StringEquals": {"a:b": "c"}}), "identity",
     "/Statement/1/Condition/forallvalues:StringEquals", "did you mean ForAllValues:StringEquals?"),
    ("null-if-exists", cond({"NullIfExists": {"a:b": "true"}}), "identity", "/Statement/1/Condition/NullIfExists",
     "Null cannot be combined"),
    ("operator-block-not-object", cond({"StringEquals": "x"}), "identity", "/Statement/1/Condition/StringEquals",
     "non-empty object"),
    ("operator-block-empty", cond({"StringEquals": {}}), "identity", "/Statement/1/Condition/StringEquals",
     "non-empty object"),
    ("bad-cidr", cond({"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}), "identity",
     "/Statement/1/Condition/IpAddress/aws:SourceIp", "CIDR block such as 203.0.113.0/24, found '10.0.0.0/33'"),
    ("bad-cidr-in-list", cond({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "300.1.1.1"]}}), "identity",
     "/Statement/1/Condition/NotIpAddress/aws:SourceIp/1", "'300.1.1.1'"),
    ("bad-date", cond({"DateGreaterThan": {"aws:CurrentTime": "2024-13-01T00:00:00Z"}}), "identity",
     "/Statement/1/Condition/DateGreaterThan/aws:CurrentTime", "ISO 8601"),
    ("date-with-variable", cond({"DateLessThan": {"aws:CurrentTime": "${aws:TokenIssueTime}"}}), "identity",
     "/Statement/1/Condition/DateLessThan/aws:CurrentTime", "ISO 8601"),
    ("bad-number", cond({"NumericLessThan": {"aws:PrincipalTag/level": "ten"}}), "identity",
     "/Statement/1/Condition/NumericLessThan/aws:PrincipalTag~1level", "integer or decimal"),
    ("numeric-boolean", cond({"NumericEquals": {"a:b": True}}), "identity",
     "/Statement/1/Condition/NumericEquals/a:b", "'true'"),
    ("bad-bool", cond({"Bool": {"aws:SecureTransport": "yes"}}), "identity",
     "/Statement/1/Condition/Bool/aws:SecureTransport", "true or false"),
    ("bad-null", cond({"Null": {"aws:SourceIp": "maybe"}}), "identity", "/Statement/1/Condition/Null/aws:SourceIp",
     "true or false"),
    ("bad-base64", cond({"BinaryEquals": {"a:b": "not base64!"}}), "identity",
     "/Statement/1/Condition/BinaryEquals/a:b", "base64"),
    ("condition-value-null", cond({"StringEquals": {"a:b": None}}), "identity",
     "/Statement/1/Condition/StringEquals/a:b", "found null"),
    ("condition-value-nested", cond({"StringEquals": {"a:b": ["x", ["y"]]}}), "identity",
     "/Statement/1/Condition/StringEquals/a:b/1", "found a list"),
    ("condition-value-empty-list", cond({"StringEquals": {"a:b": []}}), "identity",
     "/Statement/1/Condition/StringEquals/a:b", "empty list"),
    ("arn-like-short-value", cond({"ArnLike": {"aws:SourceArn": "arn:aws:s3"}}), "identity",
     "/Statement/1/Condition/ArnLike/aws:SourceArn", "six fields"),
    ("condition-key-with-tilde-escaped", cond({"StringEquals": {"a~b": None}}), "identity",
     "/Statement/1/Condition/StringEquals/a~0b", "found null"),
]


@pytest.mark.parametrize(("document", "kind", "pointer", "fragment"),
                         [pytest.param(d, k, p, f, id=i) for i, d, k, p, f in CASES])
def test_rejected_with_pointer(document: object, kind: str, pointer: str, fragment: str) -> None:
    source = PolicySource("test", None, "", kind)
    with pytest.raises(PolicyError) as info:
        compile_policy(document, source)  # type: ignore[arg-type]
    assert info.value.pointer == pointer, info.value.message
    assert fragment in info.value.message
    assert str(info.value).startswith(f"{pointer or '/'}: ")


JSON_TEXT_CASES = [
    ("invalid-json", '{"Statement": [', "", "invalid JSON"),
    ("nan-constant", '{"Statement": {"Effect": "Allow", "Action": "a:b", "Resource": NaN}}', "", "invalid JSON"),
    ("duplicate-effect", '{"Statement": [{"Effect": "Allow", "Effect": "Deny", "Action": "a:b", "Resource": "*"}]}',
     "/Statement/0/Effect", "duplicate key 'Effect'"),
    ("duplicate-top-level", '{"Statement": [], "Statement": {"Effect": "Allow", "Action": "a:b", "Resource": "*"}}',
     "/Statement", "duplicate key"),
    ("duplicate-condition-key", '{"Statement": {"Effect": "Allow", "Action": "a:b", "Resource": "*", "Condition": '
     '{"StringEquals": {"a/b": "1", "a/b": "2"}}}}', "/Statement/Condition/StringEquals/a~1b", "duplicate key"),
]


@pytest.mark.parametrize(("text", "pointer", "fragment"),
                         [pytest.param(t, p, f, id=i) for i, t, p, f in JSON_TEXT_CASES])
def test_json_text_rejected(text: str, pointer: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        compile_policy(text, PolicySource("test"))
    assert info.value.pointer == pointer
    assert fragment in info.value.message


def test_shorthand_needs_scope() -> None:
    document = doc(rp(Resource="execute-api:/prod/GET/pets"))
    with pytest.raises(PolicyError) as info:
        compile_policy(document, PolicySource("rp", kind="resource"))
    assert info.value.pointer == "/Statement/0/Resource"
    assert "scope" in info.value.message
    policy = compile_policy(document, PolicySource("rp", kind="resource"),
                            scope=ApiScope("us-east-1", "111122223333", "a1b2c3d4e5"))
    assert policy.statements[0].resources.patterns == (f"{API}/prod/GET/pets",)


def test_one_bad_statement_rejects_the_whole_policy() -> None:
    """Fail closed: nothing is skipped at request time."""
    with pytest.raises(PolicyError) as info:
        compile_policy(doc(OK, OK, stmt(Effect="Deny", Action="execute-api:Invoke", Resource="bad")),
                       PolicySource("p"))
    assert info.value.pointer == "/Statement/2/Resource"


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown policy kind"):
        compile_policy(doc(OK), PolicySource("p", kind="user"))


def test_accepted_documents() -> None:
    """Laxer rules that must not be rejected: resource-policy Id and Sid, URL-encoded text, JSON numbers."""
    compile_policy({"Id": "x", "Statement": rp(Sid="allow-all_1")}, PolicySource("rp", kind="resource"))
    compile_policy(quote(json.dumps(doc(OK))), PolicySource("p"))
    compile_policy(json.dumps(doc(stmt(Condition={"NumericLessThan": {"a:b": 1.5}, "Bool": {"c:d": True}}))),
                   PolicySource("p"))
    compile_policy(doc(stmt(Resource="arn:aws:s3:::bucket/${aws:username}/*")), PolicySource("p"))
    compile_policy(doc(stmt(Action="Execute-API:Inv*"), version=None), PolicySource("p"))
    compile_policy(doc(rp(Principal={"AWS": ["AIDAALICEEXAMPLE0001", "arn:aws:sts::111122223333:federated-user/f"],
                                     "Federated": "arn:aws:iam::111122223333:saml-provider/X"})),
                   PolicySource("rp", kind="resource"))


# Found by fuzzing (fuzz/iam.py, issue #8): hostile documents used to escape as RecursionError,
# ValueError or TypeError instead of PolicyError. Mappings come from YAML (lychgate.yaml, OpenAPI),
# whose keys may be numbers or null and whose integers may be arbitrarily long.
HUGE = 10 ** 5000  # more digits than int/str conversion allows (sys.get_int_max_str_digits)


HOSTILE = [
    ("deep-json", '{"Statement": ' + "[" * 100_000 + "]" * 100_000 + "}", "", "nested too deeply"),
    ("number-operator", cond({1: {"a:b": "x"}}), "/Statement/1/Condition/1", "unknown condition operator 1"),
    ("null-operator", cond({None: {"a:b": "x"}}), "/Statement/1/Condition/None", "unknown condition operator None"),
    ("huge-value", cond({"NumericEquals": {"a:b": HUGE}}), "/Statement/1/Condition/NumericEquals/a:b", "too long"),
    ("huge-block", cond({"StringEquals": HUGE}), "/Statement/1/Condition/StringEquals", "too long to show"),
    ("huge-version", {"Version": HUGE, "Statement": OK}, "/Version", "too long to show"),
    ("huge-effect", doc(stmt(Effect=HUGE)), "/Statement/0/Effect", "too long to show"),
]


@pytest.mark.parametrize(("document", "pointer", "fragment"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_documents_raise_policy_error(document: object, pointer: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        compile_policy(document, PolicySource("p"))
    assert info.value.pointer == pointer
    assert fragment in info.value.message
