"""The IAM policy simulator: AWS CLI ``simulate-custom-policy`` / ``simulate-principal-policy`` offline.

Takes policy documents as text (as the AWS CLI does), evaluates every (action, resource) pair
with the same engine the gateway uses, and returns the AWS ``EvaluationResults`` shape:
``EvalActionName``, ``EvalResourceName``, ``EvalDecision`` (``allowed`` / ``explicitDeny`` /
``implicitDeny``), ``MatchedStatements`` with ``SourcePolicyId``, ``SourcePolicyType`` and the
statement's ``StartPosition`` / ``EndPosition`` (1-based line and column in the input text), and
``MissingContextValues``. lychgate adds ``lychgateExplanation`` with the reason for every
statement that did not apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from .evaluate import Evaluation, authorize
from .messages import explain
from .policy import Policy, compile_policy
from .request import AuthzRequest, Principal
from .results import PolicySource

CONTEXT_TYPES = {"string", "stringList", "numeric", "numericList", "boolean", "booleanList",
                 "ip", "ipList", "binary", "binaryList", "date", "dateList"}


@dataclass(frozen=True)
class PolicyInput:
    """One policy given to the simulator: its id in the output, its text, its kind."""

    policy_id: str  # "PolicyInputList.1", "ResourcePolicy", or a policy name/ARN
    text: str
    kind: str = "identity"  # identity, boundary, resource
    policy_type: str = "IAM Policy"  # AWS SourcePolicyType: "IAM Policy", "Resource Policy", "User", "Group", …


def compile_input(item: PolicyInput) -> Policy:
    """Compile one input; raises PolicyError naming the problem."""
    source = PolicySource(name=item.policy_id, file=None, pointer="", kind=item.kind)
    return compile_policy(item.text, source)


def parse_context_entries(entries: Sequence[str | dict]) -> dict[str, Any]:
    """``ContextKeyName=k,ContextKeyValues=v1,v2,ContextKeyType=t`` shorthand or JSON objects -> context."""
    context: dict[str, Any] = {}
    for entry in entries:
        item = entry if isinstance(entry, dict) else _shorthand(entry)
        name, values, kind = item.get("ContextKeyName"), item.get("ContextKeyValues"), item.get("ContextKeyType")
        if not name or values is None:
            raise ValueError(f"a context entry needs ContextKeyName and ContextKeyValues, found {entry!r}")
        if kind not in CONTEXT_TYPES:
            raise ValueError(f"ContextKeyType must be one of {sorted(CONTEXT_TYPES)}, found {kind!r}")
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        context[name] = values if kind.endswith("List") else values[0]
    return context


def _shorthand(text: str) -> dict:
    if text.lstrip().startswith(("{", "[")):
        return json.loads(text)
    item: dict[str, Any] = {}
    key = None
    for part in text.split(","):
        if "=" in part and part.split("=", 1)[0] in ("ContextKeyName", "ContextKeyValues", "ContextKeyType"):
            key, value = part.split("=", 1)
            item[key] = [value] if key == "ContextKeyValues" else value
        elif key == "ContextKeyValues":
            item[key].append(part)
        else:
            raise ValueError(f"cannot read context entry {text!r}")
    return item


def simulate(*, identity: Sequence[Policy], actions: Sequence[str], resources: Sequence[str],
             resource_policy: Policy | None = None, boundary: Sequence[Policy] | None = None,
             principal: Principal | None = None, context: dict[str, Any] | None = None,
             same_account: bool = True, inputs: Sequence[PolicyInput] = ()) -> dict:
    """Evaluate every action on every resource; the AWS CLI's JSON output shape.

    ``inputs`` are the texts policies were compiled from, to locate matched statements.
    """
    texts = {p.policy_id: p for p in inputs}
    results = []
    for action in actions:
        for resource in resources or ["*"]:
            request = AuthzRequest(action, resource, principal, context or {})
            evaluation = authorize(request, identity=identity, resource=[resource_policy] if resource_policy else [],
                                   boundary=boundary, same_account=same_account)
            results.append(_result(action, resource, evaluation, texts))
    return {"EvaluationResults": results}


def _result(action: str, resource: str, evaluation: Evaluation, inputs: dict[str, PolicyInput]) -> dict:
    return {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": evaluation.decision.value,
        "MatchedStatements": [_matched(m, inputs) for m in evaluation.matched],
        "MissingContextValues": list(evaluation.missing_context_keys),
        "lychgateExplanation": explain(evaluation).splitlines(),
    }


def _matched(match, inputs: dict[str, PolicyInput]) -> dict:
    item = inputs.get(match.source.name)
    out = {"SourcePolicyId": match.source.name,
           "SourcePolicyType": item.policy_type if item else "IAM Policy"}
    if item is not None:
        span = statement_span(item.text, match.index)
        if span is not None:
            out["StartPosition"], out["EndPosition"] = span
    return out


def statement_span(text: str, index: int) -> tuple[dict, dict] | None:
    """1-based line/column of the start and end of statement ``index`` in a policy's JSON text."""
    decoder = json.JSONDecoder()
    start = text.find('"Statement"')
    if start < 0:
        return None
    pos = text.index(":", start) + 1
    while text[pos].isspace():
        pos += 1
    if text[pos] == "{":
        return _position(text, pos), _position(text, decoder.raw_decode(text, pos)[1] - 1)
    pos += 1
    for i in range(index + 1):
        while text[pos] in " \t\r\n,":
            pos += 1
        end = decoder.raw_decode(text, pos)[1]
        if i == index:  # the end position is the statement's closing brace
            return _position(text, pos), _position(text, end - 1)
        pos = end
    return None


def _position(text: str, offset: int) -> dict:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return {"Line": line, "Column": column}
