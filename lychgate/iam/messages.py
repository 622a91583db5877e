"""AWS's denial texts for an :class:`~.evaluate.Evaluation` (gateway §2.3, spec A6 "Resulting error").

IAM-evaluated denials read ``User: <caller-arn|anonymous> is not authorized to
perform: <action> on resource: <method ARN with masked account>`` and a Lambda
authorizer's policy denial reads ``User is not authorized to access this
resource``; both gain `` with an explicit deny`` when an explicit Deny decided.
The account inside the caller ARN is left unmasked (gateway §2.3 [?]).
:func:`explain` renders the whole evaluation as plain text for operators.
"""

from __future__ import annotations

from .arn import mask_account
from .evaluate import Evaluation
from .request import AuthzRequest, Principal
from .results import Decision

EXPLICIT_SUFFIX = " with an explicit deny"


def caller_name(principal: Principal | None) -> str:
    """The caller as AWS prints it: user/session ARN, or ``anonymous`` (spec A6)."""
    return principal.arn if principal is not None and principal.arn else "anonymous"


def _suffix(evaluation: Evaluation) -> str:
    if evaluation.decision is Decision.ALLOW:
        raise ValueError("an allowed request has no denial message")
    return EXPLICIT_SUFFIX if evaluation.decision is Decision.EXPLICIT_DENY else ""


def denial_message(evaluation: Evaluation, request: AuthzRequest | None = None) -> str:
    """``User: … is not authorized to perform: … on resource: …`` (gateway §2.3 ACCESS_DENIED)."""
    req = request if request is not None else evaluation.request
    return (f"User: {caller_name(req.principal)} is not authorized to perform: {req.action} "
            f"on resource: {mask_account(req.resource)}{_suffix(evaluation)}")


def authorizer_denial_message(evaluation: Evaluation) -> str:
    """``User is not authorized to access this resource`` for a Lambda authorizer policy (gateway §2.3)."""
    return f"User is not authorized to access this resource{_suffix(evaluation)}"


def _where(source_name: str, file: str | None, pointer: str) -> str:
    return f"{source_name} ({file}#{pointer})" if file else f"{source_name} ({pointer or '/'})"


def explain(evaluation: Evaluation) -> str:
    """A multi-line, human-readable account of a decision: rule, deciding statements, misses, missing keys."""
    lines = [f"decision: {evaluation.decision.value}", f"rule: {evaluation.rule}"]
    for match in evaluation.matched:
        sid = f" Sid {match.sid}" if match.sid else ""
        via = f" (Principal {match.principal})" if match.principal else ""
        lines.append(f"  {match.effect}{sid} statement {match.index} of "
                     f"{_where(match.source.name, match.source.file, match.pointer)}{via}")
    for miss in evaluation.misses:
        lines.append(f"  not applied: statement {miss.index} of "
                     f"{_where(miss.source.name, miss.source.file, miss.pointer)}: {miss.element}: {miss.reason}")
    if evaluation.missing_context_keys:
        lines.append(f"missing context keys: {', '.join(evaluation.missing_context_keys)}")
    return "\n".join(lines)
