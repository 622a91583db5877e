"""Runs the hand-written evaluation corpus in ``tests/iam/cases/*.json``.

Each file holds ``defaults`` (principal, action, resource, context), a library of
named ``policies`` and a list of ``cases``. Expectations were written from the
spec (iam-and-sigv4.md PART A, gateway-behavior.md §1.3/§2.3) and AWS docs, not
from the engine's output. Case fields:

* ``policies``: names from the file library, or inline ``{"name", "kind", "statements"|"document"}``;
  shorthands ``statement`` / ``statements`` (policy ``p``) and ``condition`` (policy ``p`` =
  ``effect`` (default Allow) execute-api:Invoke on ``*`` with that Condition; with ``"effect": "Deny"``
  a policy ``base`` allowing execute-api:Invoke on ``*`` is added first).
* ``principal``: a name from :data:`PRINCIPALS`, ``"anonymous"`` or an object; ``action``,
  ``resource``; ``context`` merges over the defaults (``null`` removes a key).
* ``call``: ``"authorize"`` (default) or ``"evaluate"``; ``same_account`` (default: caller's account
  equals the resource ARN's account) and ``identity_side_present`` (default: caller is signed or an
  identity/authorizer policy is given).
* ``expect``: ``allowed`` | ``explicitDeny`` | ``implicitDeny``; ``deciding``: ``["policy#index"`` or
  ``"policy#Sid"]`` compared as a set with ``Evaluation.matched``; optional ``misses``
  (``{"policy#i": element}``), ``missing_keys``, ``message``, ``authorizer_message``.

Strings may use ``$API`` (= arn:aws:execute-api:us-east-1:111122223333:a1b2c3d4e5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lychgate.iam import (ApiScope, AuthzRequest, Decision, Policy, PolicySource, Principal, authorize,
                          authorizer_denial_message, compile_policy, denial_message, evaluate_policies,
                          parse_arn)

CASES = Path(__file__).parent / "cases"
ACCOUNT = "111122223333"
API_ID = "a1b2c3d4e5"
API = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{API_ID}"
SCOPE = ApiScope("us-east-1", ACCOUNT, API_ID)

PRINCIPALS: dict[str, Principal | None] = {
    "anonymous": None,
    "alice": Principal("arn:aws:iam::111122223333:user/alice", userid="AIDAALICEEXAMPLE0001"),
    "bob": Principal("arn:aws:iam::111122223333:user/division/bob", userid="AIDABOBEXAMPLE000002"),
    "dev-session": Principal("arn:aws:sts::111122223333:assumed-role/DevRole/alice-laptop",
                             role_arn="arn:aws:iam::111122223333:role/team/DevRole",
                             userid="AROADEVROLEEXAMPLE01:alice-laptop"),
    "dev-session-2": Principal("arn:aws:sts::111122223333:assumed-role/DevRole/ci-run",
                               role_arn="arn:aws:iam::111122223333:role/team/DevRole",
                               userid="AROADEVROLEEXAMPLE01:ci-run"),
    "ops-session": Principal("arn:aws:sts::111122223333:assumed-role/OpsRole/s1",
                             role_arn="arn:aws:iam::111122223333:role/OpsRole",
                             userid="AROAOPSROLEEXAMPLE01:s1"),
    "fred": Principal("arn:aws:sts::111122223333:federated-user/fred", userid="111122223333:fred"),
    "root": Principal("arn:aws:iam::111122223333:root", userid="111122223333"),
    "carol": Principal("arn:aws:iam::444455556666:user/carol", userid="AIDACAROLEXAMPLE0003"),
    "partner-session": Principal("arn:aws:sts::444455556666:assumed-role/Partner/p1",
                                 role_arn="arn:aws:iam::444455556666:role/Partner",
                                 userid="AROAPARTNEREXAMPLE01:p1"),
}
IDENTITY_SIDE_KINDS = {"identity", "authorizer"}


def _expand(value: Any) -> Any:
    """Replace the ``$API`` placeholder everywhere in a JSON value."""
    if isinstance(value, str):
        return value.replace("$API", API)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {_expand(k): _expand(v) for k, v in value.items()}
    return value


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.json")):
        data = _expand(json.loads(path.read_text()))
        ids = [case["id"] for case in data["cases"]]
        assert len(ids) == len(set(ids)), f"duplicate case ids in {path.name}"
        for case in data["cases"]:
            params.append(pytest.param(data, case, id=f"{path.stem}:{case['id']}"))
    return params


def _policy_specs(data: dict, case: dict) -> list[dict]:
    specs = [data["policies"][p] | {"name": p} if isinstance(p, str) else p for p in case.get("policies", [])]
    if "condition" in case:
        effect = case.get("effect", "Allow")
        if effect == "Deny":
            specs.append({"name": "base", "statements": [
                {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}]})
        specs.append({"name": "p", "kind": case.get("kind", "identity"), "statements": [
            {"Effect": effect, "Action": "execute-api:Invoke", "Resource": "*", "Condition": case["condition"]}]})
    if "statement" in case or "statements" in case:
        statements = case.get("statements") or [case["statement"]]
        specs.append({"name": "p", "kind": case.get("kind", "identity"), "statements": statements})
    return specs


def _compile(spec: dict) -> Policy:
    document = spec.get("document") or {"Version": "2012-10-17", "Statement": spec["statements"]}
    source = PolicySource(spec["name"], f"cases/{spec['name']}.json", "", spec.get("kind", "identity"))
    return compile_policy(document, source, scope=SCOPE)


def _request(data: dict, case: dict) -> AuthzRequest:
    defaults = data.get("defaults", {})
    principal = case.get("principal", defaults.get("principal", "alice"))
    if isinstance(principal, dict):
        principal = Principal(**principal)
    else:
        principal = PRINCIPALS[principal]
    context = {**defaults.get("context", {}), **case.get("context", {})}
    context = {k: v for k, v in context.items() if v is not None}
    return AuthzRequest(case.get("action", defaults.get("action", "execute-api:Invoke")),
                        case.get("resource", defaults.get("resource", f"{API}/prod/GET/pets")),
                        principal, context)


def _evaluate(case: dict, request: AuthzRequest, policies: list[Policy], levels: list[int]):
    if case.get("call") == "evaluate":
        return evaluate_policies(request, policies)
    by_kind: dict[str, list[Policy]] = {}
    for policy in policies:
        by_kind.setdefault(policy.source.kind, []).append(policy)
    scps: dict[int, list[Policy]] = {}
    for policy, level in zip(policies, levels):
        if policy.source.kind == "scp":
            scps.setdefault(level, []).append(policy)
    principal = request.principal
    same_account = principal is None or principal.account == parse_arn(request.resource).account
    identity_present = principal is not None or any(k in by_kind for k in IDENTITY_SIDE_KINDS)
    return authorize(
        request,
        identity=by_kind.get("identity", []) + by_kind.get("authorizer", []),
        resource=by_kind.get("resource", []),
        boundary=by_kind.get("boundary"), session=by_kind.get("session"),
        scps=[scps[k] for k in sorted(scps)],
        same_account=case.get("same_account", same_account),
        identity_side_present=case.get("identity_side_present", identity_present))


def _statement_ref(policies: list[Policy], ref: str) -> tuple[str, int]:
    name, _, which = ref.partition("#")
    policy = next(p for p in policies if p.source.name == name)
    if which.isdigit():
        return name, int(which)
    return name, next(st.index for st in policy.statements if st.sid == which)


@pytest.mark.parametrize(("data", "case"), _load())
def test_case(data: dict, case: dict) -> None:
    specs = _policy_specs(data, case)
    policies = [_compile(spec) for spec in specs]
    request = _request(data, case)
    result = _evaluate(case, request, policies, [spec.get("level", 0) for spec in specs])
    assert result.decision is Decision(case["expect"]), result.rule
    deciding = {_statement_ref(policies, ref) for ref in case["deciding"]}
    assert {(m.source.name, m.index) for m in result.matched} == deciding, result.rule
    _check_optional(case, policies, request, result)


def _check_optional(case: dict, policies: list[Policy], request: AuthzRequest, result: Any) -> None:
    for ref, element in case.get("misses", {}).items():
        name, index = _statement_ref(policies, ref)
        found = [m for m in result.misses if (m.source.name, m.index) == (name, index)]
        assert found and found[0].element == element, [(m.source.name, m.index, m.element) for m in result.misses]
        assert found[0].reason
    if "missing_keys" in case:
        assert sorted(k.lower() for k in result.missing_context_keys) == sorted(
            k.lower() for k in case["missing_keys"])
    if "message" in case:
        assert denial_message(result, request) == case["message"]
    if "authorizer_message" in case:
        assert authorizer_denial_message(result) == case["authorizer_message"]


def test_corpus_is_large_enough() -> None:
    assert len(_load()) >= 300
