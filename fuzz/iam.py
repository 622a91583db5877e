"""Fuzz target: IAM policy parsing and compilation, condition evaluation, decision combination.

Input: sections separated by ``SEPARATOR`` lines. The first is the request as JSON
(``action``, ``resource``, ``principal`` object or null, ``context`` of any JSON values, and
``authorize``'s ``same_account`` and ``identity_side_present``); a request that is
not valid JSON falls back to a default one. Every further section is a policy: its first line
is the policy kind (identity, resource, boundary, ...), the rest the policy JSON text, passed to
``compile_policy`` as text; with ``yaml`` after the kind, the text is YAML and ``compile_policy``
gets the mapping, as the project loader passes policies written in lychgate.yaml or OpenAPI.

Contract:
* ``compile_policy`` raises only ``PolicyError``, whose pointer is a JSON pointer ("" or "/...");
* evaluating the policies that compiled (``evaluate_policies`` and ``authorize``) never raises,
  whatever the context values; the decision is a ``Decision``; ``matched`` agrees with it
  (an Allow names Allow statements, an explicit deny names Deny statements, an implicit deny
  names none); ``authorize`` answers explicitDeny exactly when a Deny applies in a policy it
  looked at (an explicit Deny anywhere wins);
* the explanations (misses, missing context keys, ``explain``, denial messages) never raise.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import yaml
from hypothesis import strategies as st

from fuzz import ROOT, corpus
from fuzz.mutate import byte_mutations, hostile_values, mutated_tree, to_json, to_yaml
from lychgate.iam import (ApiScope, AuthzRequest, Decision, Evaluation, Policy, PolicyError, PolicySource,
                          Principal, authorize, authorizer_denial_message, compile_policy, denial_message,
                          evaluate_policies, explain)
from lychgate.iam.conditions import OPERATORS
from lychgate.iam.policy import KINDS

SEPARATOR = b"\n%%\n"
MAX_POLICIES = 8
SCOPE = ApiScope("us-east-1", "111122223333", "a1b2c3d4e5")
API = "arn:aws:execute-api:us-east-1:111122223333:a1b2c3d4e5"
DEFAULT_REQUEST = {"action": "execute-api:Invoke", "resource": f"{API}/prod/GET/pets",
                   "principal": {"arn": "arn:aws:iam::111122223333:user/alice", "userid": "AIDAALICEEXAMPLE0001"}}
_PRINCIPAL_FIELDS = ("arn", "account", "role_arn", "userid", "principal_type")


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


def parse_request(head: bytes) -> tuple[AuthzRequest, dict]:
    """The request and the call options of the first section (a default when it is not JSON)."""
    try:
        spec = json.loads(head.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        spec = DEFAULT_REQUEST
    if not isinstance(spec, dict):
        spec = DEFAULT_REQUEST
    raw = spec.get("principal", DEFAULT_REQUEST["principal"])
    principal = Principal(**{k: raw.get(k) if isinstance(raw.get(k), str) else None for k in _PRINCIPAL_FIELDS}) \
        if isinstance(raw, dict) else None
    context = spec.get("context")
    request = AuthzRequest(_text(spec.get("action"), "execute-api:Invoke"),
                           _text(spec.get("resource"), DEFAULT_REQUEST["resource"]),
                           principal, context if isinstance(context, dict) else {})
    return request, spec


def _document(text: bytes, form: str) -> Any:
    """The policy as ``compile_policy`` receives it: JSON text, or (``yaml``) the mapping a loader
    read from lychgate.yaml or an OpenAPI document, whose keys may be numbers, null, dates..."""
    if form != "yaml":
        return text.decode("utf-8", "surrogateescape")
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):  # the loader reports these itself
        return None


def compile_sections(sections: list[bytes]) -> list[Policy]:
    policies = []
    for index, section in enumerate(sections[:MAX_POLICIES]):
        kind_line, _, text = section.partition(b"\n")
        kind, _, form = kind_line.decode("utf-8", "replace").strip().partition(" ")
        source = PolicySource(f"p{index}", kind=kind if kind in KINDS else "identity")
        try:
            policies.append(compile_policy(_document(text, form), source, scope=SCOPE))
        except PolicyError as error:
            assert error.pointer == "" or error.pointer.startswith("/"), error.pointer
            assert isinstance(error.message, str)
    return policies


def _check_matched(evaluation: Evaluation) -> None:
    decision, effects = evaluation.decision, {m.effect for m in evaluation.matched}
    assert isinstance(decision, Decision), decision
    if decision is Decision.ALLOW:
        assert effects == {"Allow"}, evaluation
    elif decision is Decision.EXPLICIT_DENY:
        assert effects == {"Deny"}, evaluation
    else:
        assert not effects, evaluation


def _explain(evaluation: Evaluation, request: AuthzRequest) -> None:
    assert all(isinstance(miss.reason, str) for miss in evaluation.misses)
    assert all(isinstance(key, str) for key in evaluation.missing_context_keys)
    assert isinstance(explain(evaluation), str)
    if evaluation.decision is not Decision.ALLOW:
        assert denial_message(evaluation, request).startswith("User: ")
        assert authorizer_denial_message(evaluation).startswith("User is not authorized")


def fuzz_one(data: bytes) -> None:
    head, *sections = data.split(SEPARATOR)
    request, options = parse_request(head)
    policies = compile_sections(sections)
    evaluation = evaluate_policies(request, policies)
    _check_matched(evaluation)
    assert evaluate_policies(request, policies).decision is evaluation.decision  # caches change nothing
    _explain(evaluation, request)
    by_kind: dict[str, list[Policy]] = {}
    for policy in policies:
        by_kind.setdefault(policy.source.kind, []).append(policy)
    identity_side = options.get("identity_side_present") is not False
    combined = authorize(
        request, identity=by_kind.get("identity", []) + by_kind.get("authorizer", []),
        resource=by_kind.get("resource", []), boundary=by_kind.get("boundary"), session=by_kind.get("session"),
        scps=[by_kind["scp"]] if "scp" in by_kind else (),
        same_account=options.get("same_account") is not False, identity_side_present=identity_side)
    # An explicit Deny in any policy authorize looked at wins, and only then is the answer explicitDeny.
    looked_at = [p for p in policies if p.source.kind != "trust" and (identity_side or p.source.kind == "resource")]
    denied = evaluate_policies(request, looked_at).decision is Decision.EXPLICIT_DENY
    assert (combined.decision is Decision.EXPLICIT_DENY) == denied, (combined.decision, combined.rule)
    _explain(combined, request)


# ---------------------------------------------------------------- generation

CONTEXT_KEYS = ("aws:SourceIp", "aws:CurrentTime", "aws:EpochTime", "aws:username", "aws:PrincipalTag/team",
                "aws:SecureTransport", "aws:userid", "aws:PrincipalArn", "k", "K")
_VALUES = st.one_of(
    st.sampled_from(["203.0.113.7", "203.0.113.0/24", "::1", "2001:db8::/32", "300.1.1.1", "1.2.3.4/99",
                     "2024-01-31T12:00:00Z", "2024-13-01", "0000-01-01", "1700000000", "9" * 40, "2024",
                     "1.5", "-0", ".5", "1e3", "true", "False", "", "*", "?", "a*b?c", "${aws:username}",
                     "${aws:PrincipalTag/team, 'x'}", "${*}", "${", "${bad key}", "aGVsbG8=", "not base64!",
                     f"{API}/*", "arn:aws:iam::111122223333:user/*", "arn:*:*", "é", "\x00"]),
    st.text(max_size=10), st.integers(), st.booleans(), st.floats(allow_nan=False))


@st.composite
def _operator(draw) -> str:
    name = draw(st.sampled_from(sorted(OPERATORS)))
    name = draw(st.sampled_from(["", "ForAnyValue:", "ForAllValues:", "forallvalues:"])) + name
    name += draw(st.sampled_from(["", "", "IfExists"]))
    return name if draw(st.integers(0, 9)) else name.lower()


def _one_or_list(values: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(values, st.lists(values, min_size=0, max_size=3))


@st.composite
def _statement(draw) -> dict:
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny", "allow"]))}
    action = draw(st.sampled_from(["Action", "NotAction"]))
    statement[action] = draw(_one_or_list(st.sampled_from(
        ["*", "execute-api:Invoke", "execute-api:*", "execute-api:Inv?ke", "s3:GetObject", "*:*", "bad"])))
    resource = draw(st.sampled_from(["Resource", "NotResource"]))
    statement[resource] = draw(_one_or_list(st.one_of(_VALUES, st.sampled_from(
        ["*", f"{API}/prod/GET/pets", f"{API}/*/GET/*", "execute-api:/prod/GET/*", f"{API}/${{aws:username}}/*",
         "arn:aws:execute-api:*:*:*", "arn:aws:execute-api:us-east-1:111122223333:a1b2c3d4e5/prod/*"]))))
    if draw(st.booleans()):
        statement[draw(st.sampled_from(["Principal", "NotPrincipal"]))] = draw(st.one_of(
            st.just("*"), st.dictionaries(st.sampled_from(["AWS", "Service", "Federated", "Bogus"]), _one_or_list(
                st.sampled_from(["*", "111122223333", "arn:aws:iam::111122223333:root", "AIDAALICEEXAMPLE0001",
                                 "arn:aws:iam::111122223333:user/alice", "arn:aws:sts::1:assumed-role/R/S",
                                 "arn:aws:iam::1:role/*", "x"])), max_size=2)))
    if draw(st.booleans()):
        statement["Condition"] = draw(st.dictionaries(
            _operator(), st.dictionaries(st.sampled_from(CONTEXT_KEYS), _one_or_list(_VALUES), max_size=2),
            max_size=3))
    return statement


@st.composite
def _generated(draw) -> bytes:
    request = dict(DEFAULT_REQUEST, context=draw(st.dictionaries(
        st.sampled_from(CONTEXT_KEYS), st.one_of(_VALUES, st.lists(_VALUES, max_size=3), st.none()), max_size=4)))
    request["same_account"] = draw(st.booleans())
    sections = [to_json(request)]
    for _ in range(draw(st.integers(1, 3))):
        document = {"Version": draw(st.sampled_from(["2012-10-17", "2008-10-17"])),
                    "Statement": draw(st.lists(_statement(), min_size=1, max_size=3))}
        if draw(st.integers(0, 3)) == 0:
            document = draw(mutated_tree(document))
        kind = draw(st.sampled_from(sorted(KINDS)))
        if draw(st.booleans()):
            sections.append(kind.encode() + b" yaml\n" + to_yaml(document))
        else:
            sections.append(kind.encode() + b"\n" + to_json(document))
    return SEPARATOR.join(sections)


_HOSTILE_OR_TYPED = st.one_of(hostile_values(), _VALUES)


@st.composite
def _mutated_seed(draw, seeds: list[bytes]) -> bytes:
    """A seed whose request or one policy had subtrees replaced by hostile values."""
    sections = draw(st.sampled_from(seeds)).split(SEPARATOR)
    index = draw(st.integers(0, len(sections) - 1))
    kind, _, text = sections[index].partition(b"\n") if index else (b"", b"", sections[0])
    try:
        tree = json.loads(text)
    except ValueError:
        return SEPARATOR.join(sections)
    mutated = to_json(draw(mutated_tree(tree, _HOSTILE_OR_TYPED)))
    sections[index] = kind + b"\n" + mutated if index else mutated
    return SEPARATOR.join(sections)


def inputs() -> st.SearchStrategy[bytes]:
    seeds = corpus("iam") or [to_json(DEFAULT_REQUEST)]
    return st.one_of(_generated(), _mutated_seed(seeds), byte_mutations(seeds))


def seeds() -> Iterator[tuple[str, bytes]]:
    """Every case of the hand-written evaluation corpus ``tests/iam/cases/*.json``."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("iam_cases", ROOT / "tests" / "iam" / "test_corpus.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)  # its helpers turn a case into policy documents and a request
    for param in cases._load():
        data, case = param.values
        request = cases._request(data, case)
        principal = request.principal
        head = {"action": request.action, "resource": request.resource, "context": dict(request.context),
                "principal": None if principal is None else
                {k: getattr(principal, k) for k in _PRINCIPAL_FIELDS if getattr(principal, k) is not None}}
        for option in ("same_account", "identity_side_present"):
            if option in case:
                head[option] = case[option]
        sections = [to_json(head)]
        for policy in cases._policy_specs(data, case):
            document = policy.get("document") or {"Version": "2012-10-17", "Statement": policy["statements"]}
            sections.append(policy.get("kind", "identity").encode() + b"\n" + json.dumps(document).encode())
        yield param.id.replace(":", "-").replace("/", "_"), SEPARATOR.join(sections)
