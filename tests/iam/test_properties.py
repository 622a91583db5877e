"""Property-based tests of the evaluation algorithm (spec A6) with hypothesis."""

from __future__ import annotations

import math
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lychgate.iam import (AuthzRequest, Decision, Policy, PolicySource, Principal, authorize,
                          authorizer_denial_message, compile_policy, denial_message, evaluate_policies)

API = "arn:aws:execute-api:us-east-1:111122223333:a1b2c3d4e5"
ACTIONS = ["execute-api:Invoke", "execute-api:*", "*", "execute-api:Inv*", "s3:GetObject",
           "execute-api:InvalidateCache", "EXECUTE-API:invoke"]
RESOURCES = ["*", f"{API}/*", f"{API}/prod/*", f"{API}/prod/GET/pets", f"{API}/*/GET/*", f"{API}/dev/*",
             "arn:aws:s3:::bucket/*", f"{API}/prod/GET/users/${{aws:username}}", f"{API}/prod/GET/p?ts"]
CONDITIONS = [
    {"StringEquals": {"aws:PrincipalTag/team": ["blue", "red"]}},
    {"StringNotLike": {"aws:UserAgent": "curl/*"}},
    {"StringEqualsIgnoreCase": {"aws:username": "ALICE"}},
    {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
    {"DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}},
    {"DateLessThanEquals": {"aws:EpochTime": 1800000000}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
    {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}},
    {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:*"}},
    {"ArnNotEquals": {"aws:SourceArn": "arn:aws:s3:::${aws:username}"}},
    {"Null": {"aws:TokenIssueTime": "true"}},
    {"BinaryEquals": {"custom:blob": "aGVsbG8="}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
    {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-a/*"}},
    {"StringEquals": {"aws:PrincipalTag/owner": "${aws:username, 'nobody'}"}},
    {"NumericEqualsIfExists": {"custom:n": 7}},
]
CONTEXT_KEYS = sorted({key for block in CONDITIONS for keys in block.values() for key in keys} | {"aws:username"})
REQUEST_RESOURCES = [f"{API}/prod/GET/pets", f"{API}/dev/POST/pets", f"{API}/prod/GET/users/alice",
                     f"{API}/prod/GET/", "arn:aws:s3:::bucket/x"]
PRINCIPALS = [None, Principal("arn:aws:iam::111122223333:user/alice", userid="AIDAALICEEXAMPLE0001"),
              Principal("arn:aws:sts::111122223333:assumed-role/R/s", role_arn="arn:aws:iam::111122223333:role/R"),
              Principal("arn:aws:iam::444455556666:user/carol")]
PRINCIPAL_VALUES = ["*", {"AWS": "111122223333"}, {"AWS": "arn:aws:iam::111122223333:user/alice"},
                    {"AWS": "arn:aws:iam::111122223333:role/R"}, {"AWS": "444455556666"}]


@st.composite
def statements(draw: st.DrawFn, *, resource_policy: bool = False, effect: str | None = None) -> dict:
    out: dict = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    out["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = draw(
        st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2))
    out["NotResource" if draw(st.integers(0, 4)) == 0 else "Resource"] = draw(
        st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=2))
    if resource_policy:
        out["NotPrincipal" if draw(st.integers(0, 5)) == 0 else "Principal"] = draw(
            st.sampled_from(PRINCIPAL_VALUES[1:]))
        if "Principal" in out and draw(st.booleans()):
            out["Principal"] = draw(st.sampled_from(PRINCIPAL_VALUES))
    blocks = draw(st.lists(st.sampled_from(CONDITIONS), max_size=2))
    if blocks:
        out["Condition"] = {k: v for block in blocks for k, v in block.items()}
    return out


def compile_all(docs: list[list[dict]], kind: str, prefix: str) -> list[Policy]:
    return [compile_policy({"Version": "2012-10-17", "Statement": stmts}, PolicySource(f"{prefix}{i}", kind=kind))
            for i, stmts in enumerate(docs)]


def policy_docs(**kwargs: object) -> st.SearchStrategy[list[list[dict]]]:
    return st.lists(st.lists(statements(**kwargs), min_size=1, max_size=4), max_size=3)


scalars = st.one_of(st.none(), st.text(max_size=12), st.integers(), st.floats(allow_nan=True),
                    st.booleans(), st.binary(max_size=8), st.datetimes(),
                    st.sampled_from(["203.0.113.5", "2001:db8::1", "true", "alice", "2024-06-01T12:00:00Z",
                                     "1717243200", "o-a/r/ou/", "env", "aGVsbG8=", "hello", "nan", "-0"]))
context_values = st.one_of(scalars, st.lists(scalars, max_size=3), st.tuples(scalars, scalars),
                           st.frozensets(st.text(max_size=4), max_size=3),
                           st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
contexts = st.dictionaries(st.one_of(st.sampled_from(CONTEXT_KEYS), st.sampled_from(CONTEXT_KEYS).map(str.upper),
                                     st.text(max_size=10)), context_values, max_size=8)


@st.composite
def requests(draw: st.DrawFn) -> AuthzRequest:
    return AuthzRequest(draw(st.sampled_from(["execute-api:Invoke", "execute-api:invoke", "s3:GetObject",
                                              "execute-api:InvalidateCache"])),
                        draw(st.sampled_from(REQUEST_RESOURCES)), draw(st.sampled_from(PRINCIPALS)), draw(contexts))


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decide(request: AuthzRequest, identity: list[Policy], resource: list[Policy], boundary: list[Policy] | None,
           same_account: bool, identity_side: bool) -> Decision:
    return authorize(request, identity=identity, resource=resource, boundary=boundary, same_account=same_account,
                     identity_side_present=identity_side).decision


@SETTINGS
@given(requests(), policy_docs(), policy_docs(resource_policy=True), st.booleans(), st.booleans(),
       st.booleans(), st.integers(0, 2))
def test_explicit_deny_always_wins(request: AuthzRequest, identity_docs: list, resource_docs: list,
                                   with_boundary: bool, same_account: bool, identity_side: bool, where: int) -> None:
    """Spec A6 step 1: an applying Deny in any policy set decides, whatever else applies."""
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    if where == 1:
        deny = {**deny, "Principal": "*"}
    identity = compile_all(identity_docs + ([[deny]] if where == 0 else []), "identity", "id")
    resource = compile_all(resource_docs + ([[deny]] if where == 1 else []), "resource", "rp")
    boundary = compile_all([[deny]] if where == 2 else [], "boundary", "b") if with_boundary or where == 2 else None
    # The identity side must be present for an identity/boundary deny to be evaluated at all.
    decision = decide(request, identity, resource, boundary, same_account, identity_side if where == 1 else True)
    assert decision is Decision.EXPLICIT_DENY
    assert evaluate_policies(request, identity + resource + (boundary or [])).decision is Decision.EXPLICIT_DENY


@SETTINGS
@given(requests(), policy_docs(), policy_docs(resource_policy=True), st.booleans(), st.booleans(),
       statements(effect="Allow"), statements(resource_policy=True, effect="Allow"))
def test_adding_an_allow_never_removes_an_allow(request: AuthzRequest, identity_docs: list, resource_docs: list,
                                                same_account: bool, identity_side: bool, extra: dict,
                                                extra_rp: dict) -> None:
    """Allows are monotone: an extra Allow statement (identity or resource side) cannot turn ALLOW into a deny."""
    identity = compile_all(identity_docs, "identity", "id")
    resource = compile_all(resource_docs, "resource", "rp")
    before = decide(request, identity, resource, None, same_account, identity_side)
    more_identity = identity + compile_all([[extra]], "identity", "extra")
    more_resource = resource + compile_all([[extra_rp]], "resource", "extra-rp")
    for after_identity, after_resource in ((more_identity, resource), (identity, more_resource)):
        after = decide(request, after_identity, after_resource, None, same_account, identity_side)
        if before is Decision.ALLOW:
            assert after is Decision.ALLOW
        if before is Decision.EXPLICIT_DENY:
            assert after is Decision.EXPLICIT_DENY


@SETTINGS
@given(requests(), policy_docs(), policy_docs(resource_policy=True), st.booleans(), st.booleans(), st.randoms())
def test_order_never_matters(request: AuthzRequest, identity_docs: list, resource_docs: list, same_account: bool,
                             identity_side: bool, rnd: object) -> None:
    """Statement order and policy order change neither the decision nor the deciding statements (spec A6)."""
    def shuffled(docs: list[list[dict]]) -> list[list[dict]]:
        out = [list(stmts) for stmts in docs]
        for stmts in out:
            rnd.shuffle(stmts)  # type: ignore[attr-defined]
        rnd.shuffle(out)  # type: ignore[attr-defined]
        return out

    def signature(docs_id: list, docs_rp: list) -> tuple:
        """The decision plus the deciding statements identified by their text, not their position."""
        identity = compile_all(docs_id, "identity", "id")
        resource = compile_all(docs_rp, "resource", "rp")
        result = authorize(request, identity=identity, resource=resource, same_account=same_account,
                           identity_side_present=identity_side)
        docs = {"identity": docs_id, "resource": docs_rp}
        deciding = [(m.source.kind, docs[m.source.kind][int(m.source.name[2:])][m.index]) for m in result.matched]
        return result.decision, sorted(repr((kind, sorted(body.items()))) for kind, body in deciding)

    assert signature(identity_docs, resource_docs) == signature(shuffled(identity_docs), shuffled(resource_docs))


@SETTINGS
@given(requests(), policy_docs(), policy_docs(resource_policy=True), st.one_of(st.none(), policy_docs()),
       st.booleans(), st.booleans())
def test_evaluation_never_raises(request: AuthzRequest, identity_docs: list, resource_docs: list,
                                 boundary_docs: list | None, same_account: bool, identity_side: bool) -> None:
    """Any context value (None, bytes, NaN, datetimes, nested containers …) is evaluated without raising."""
    identity = compile_all(identity_docs, "identity", "id")
    resource = compile_all(resource_docs, "resource", "rp")
    boundary = None if boundary_docs is None else compile_all(boundary_docs, "boundary", "b")
    result = authorize(request, identity=identity, resource=resource, boundary=boundary,
                       same_account=same_account, identity_side_present=identity_side)
    assert isinstance(result.rule, str)
    for miss in result.misses:
        assert miss.reason and miss.element
    assert all(isinstance(k, str) for k in result.missing_context_keys)
    assert len(result.sets) >= 1
    if result.decision is not Decision.ALLOW:
        assert denial_message(result).startswith("User: ")
        assert authorizer_denial_message(result).startswith("User is not authorized")


def test_context_normalisation_edge_values() -> None:
    """Explicit edge values hypothesis might not hit: NaN/inf numbers, naive datetimes, nested lists."""
    policy = compile_all([[{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": block}]
                          for block in CONDITIONS], "identity", "p")
    for value in (math.nan, math.inf, -math.inf, datetime(2024, 6, 1, 12), [["x"]], {"a": 1}, b"\xff\xfe", object()):
        context = {key: value for key in CONTEXT_KEYS}
        result = evaluate_policies(AuthzRequest("execute-api:Invoke", f"{API}/prod/GET/pets", None, context), policy)
        assert result.misses is not None
