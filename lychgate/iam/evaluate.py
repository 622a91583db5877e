"""The authorization decision: one policy set, and the AWS combination of several.

:func:`evaluate_policies` applies the per-policy rule of spec A6 (Deny if any
applying Deny, else Allow if any applying Allow, else implicit deny).
:func:`authorize` combines policy sets as AWS does for an API Gateway call:
explicit deny anywhere wins (A6 step 1), SCPs and permissions boundaries and
session policies only filter (steps 2, 5, 6), a same-account resource policy may
allow on its own (Table A, with the boundary caveats of the A6 table) while a
cross-account caller needs both sides (Table B), and an anonymous caller can be
allowed only by the resource policy (gateway §1.3). The hot path only records
which statements applied; reasons for the misses are built lazily on access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence

from .policy import DIRECT_GRANTS, CompiledStatement, Policy
from .request import AuthzRequest
from .results import Decision, PolicySource, StatementMatch, StatementMiss

_MissInfo = tuple[str, object]


class _Run:
    """Which statements of one policy set applied to a request (misses are recomputed lazily)."""

    __slots__ = ("label", "kind", "policies", "allows", "denies")

    def __init__(self, label: str, kind: str, policies: Sequence[Policy], request: AuthzRequest) -> None:
        self.label, self.kind, self.policies = label, kind, tuple(policies)
        allows: list[CompiledStatement] = []
        denies: list[CompiledStatement] = []
        service = request.service_key
        for policy in policies:
            for statement in policy.by_service.get(service, policy.universal):
                if statement.check(request) is None:
                    (denies if statement.deny else allows).append(statement)
        self.allows, self.denies = allows, denies

    def missed(self, request: AuthzRequest) -> list[tuple[CompiledStatement, _MissInfo]]:
        """Statements that did not apply, with the failing element (slow path)."""
        checked = ((st, st.check(request)) for policy in self.policies for st in policy.statements)
        return [(st, miss) for st, miss in checked if miss is not None]

    @property
    def decision(self) -> Decision:
        """Per-set result of spec A6: Deny > Allow > not applicable (implicit deny)."""
        if self.denies:
            return Decision.EXPLICIT_DENY
        return Decision.ALLOW if self.allows else Decision.IMPLICIT_DENY


@dataclass(frozen=True)
class PolicySetResult:
    """How one policy set (identity, boundary, resource, …) judged the request."""

    kind: str
    label: str
    decision: Decision
    allows: tuple[StatementMatch, ...]
    denies: tuple[StatementMatch, ...]
    misses: tuple[StatementMiss, ...]
    sources: tuple[PolicySource, ...]


@dataclass(frozen=True, init=False)
class Evaluation:
    """The decision, the statements that decided it, and (lazily) everything that did not apply.

    ``rule`` names the spec rule that produced the decision. ``sets`` breaks the
    evaluation down per policy set; ``misses`` lists every statement that did not
    apply with its reason; ``missing_context_keys`` lists condition keys (and
    policy-variable keys) read by statements whose Action matched but absent from
    the request context, like the simulator's ``MissingContextValues``.
    """

    decision: Decision
    matched: tuple[StatementMatch, ...]
    rule: str
    request: AuthzRequest = field(repr=False, compare=False)
    runs: tuple[_Run, ...] = field(repr=False, compare=False)

    def __init__(self, decision: Decision, matched: tuple[StatementMatch, ...], rule: str,
                 request: AuthzRequest, runs: tuple[_Run, ...]) -> None:
        # Built on every request: fill the instance dict directly (a frozen dataclass's
        # generated __init__ goes through object.__setattr__ per field).
        fields = self.__dict__
        fields["decision"], fields["matched"], fields["rule"] = decision, matched, rule
        fields["request"], fields["runs"] = request, runs

    @cached_property
    def sets(self) -> tuple[PolicySetResult, ...]:
        return tuple(_set_result(run, self.request) for run in self.runs)

    @cached_property
    def misses(self) -> tuple[StatementMiss, ...]:
        return tuple(miss for result in self.sets for miss in result.misses)

    @cached_property
    def missing_context_keys(self) -> tuple[str, ...]:
        return _missing_keys(self.runs, self.request)

    def statement(self, record: StatementMatch | StatementMiss) -> CompiledStatement | None:
        """The compiled statement a match or miss record is about (for explanations)."""
        for run in self.runs:
            for policy in run.policies:
                if policy.source == record.source:
                    found = [st for st in policy.statements if st.index == record.index]
                    if found:
                        return found[0]
        return None


def _set_result(run: _Run, request: AuthzRequest) -> PolicySetResult:
    return PolicySetResult(
        run.kind, run.label, run.decision,
        tuple(st.matched(request) for st in run.allows), tuple(st.matched(request) for st in run.denies),
        tuple(explain_miss(st, info, request) for st, info in run.missed(request)),
        tuple(policy.source for policy in run.policies))


def _missing_keys(runs: Sequence[_Run], request: AuthzRequest) -> tuple[str, ...]:
    """Context keys read by statements whose Action matched, absent from the request."""
    found: dict[str, str] = {}
    for run in runs:
        reached = [*run.allows, *run.denies,
                   *(st for st, (element, _) in run.missed(request) if element not in ("Action", "NotAction"))]
        for statement in reached:
            for lower, display in statement.context_keys:
                if not request.values(lower):
                    found.setdefault(lower, display)
    return tuple(found.values())


# ---------------------------------------------------------------- single policy set

_SINGLE_SET_RULES = {
    Decision.EXPLICIT_DENY: "an applying Deny statement wins (spec A6)",
    Decision.ALLOW: "an Allow statement applies and no Deny does (spec A6)",
    Decision.IMPLICIT_DENY: "no statement applies: implicit deny (spec A6)",
}


def evaluate_policies(request: AuthzRequest, policies: Sequence[Policy]) -> Evaluation:
    """Evaluate one policy set with plain deny-wins logic (spec A6 per-policy result)."""
    kind = policies[0].source.kind if policies else "identity"
    run = _Run("policies", kind, policies, request)
    decision = run.decision
    statements = run.denies if decision is Decision.EXPLICIT_DENY else run.allows
    return Evaluation(decision, tuple([st.matched(request) for st in statements]),
                      _SINGLE_SET_RULES[decision], request, (run,))


# ---------------------------------------------------------------- AWS combination

class _Sides:
    """The policy-set runs of one :func:`authorize` call."""

    __slots__ = ("identity", "filters", "scps", "resource", "runs", "filters_ok")

    def __init__(self, identity: _Run | None, filters: tuple[_Run, ...], scps: tuple[_Run, ...],
                 resource: _Run) -> None:
        self.identity, self.filters, self.scps, self.resource = identity, filters, scps, resource
        self.runs = (resource,) if identity is None else (identity, *filters, *scps, resource)
        # Spec A6 steps 5-6: each attached boundary / session policy must allow.
        self.filters_ok = all(run.allows for run in filters) if filters else True


_RULE_TABLE_A = {
    (True, False): "same account: the identity side allows (gateway §1.3 Table A: either side may allow)",
    (False, True): "same account: the resource policy allows (gateway §1.3 Table A: either side may allow)",
    (True, True): "same account: the identity side and the resource policy allow (gateway §1.3 Table A)",
}
_RULE_TABLE_B = "cross-account: both the identity side and the resource policy allow (gateway §1.3 Table B)"
_RULE_ANONYMOUS = "the resource policy allows the caller; with no identity side it alone decides (gateway §1.3)"


def authorize(request: AuthzRequest, *, identity: Sequence[Policy], resource: Sequence[Policy] = (),
              boundary: Sequence[Policy] | None = None, session: Sequence[Policy] | None = None,
              scps: Sequence[Sequence[Policy]] = (), same_account: bool = True,
              identity_side_present: bool = True) -> Evaluation:
    """Combine identity, boundary, session, SCP and resource policies as AWS does (spec A6, gateway §1.3).

    ``boundary``/``session`` = ``None`` means none is attached (an empty list means
    one is attached that allows nothing). ``scps`` lists one policy sequence per
    level of the organisation chain; each level must allow. With
    ``identity_side_present=False`` (auth NONE) only the resource policy can allow.
    For a Lambda authorizer pass its returned policy as ``identity`` (kind
    ``authorizer``, always same account); its pre-authorizer pass is
    ``evaluate_policies(request, resource).decision is Decision.EXPLICIT_DENY``.
    """
    sides = _run_sides(request, identity, resource, boundary, session, scps, identity_side_present)
    for run in sides.runs:
        if run.denies:
            return _explicit_deny(sides, request)
    if sides.identity is None:
        return _anonymous_decision(sides, request)
    if sides.scps:
        blocked = _scp_gate(sides, request)
        if blocked is not None:
            return blocked
    if same_account:
        return _same_account_decision(sides, request)
    return _cross_account_decision(sides, request)


def _run_sides(request: AuthzRequest, identity: Sequence[Policy], resource: Sequence[Policy],
               boundary: Sequence[Policy] | None, session: Sequence[Policy] | None,
               scps: Sequence[Sequence[Policy]], identity_side_present: bool) -> _Sides:
    resource_run = _Run("resource policy", "resource", resource, request) if resource else _NO_RESOURCE_POLICY
    if not identity_side_present:
        return _Sides(None, (), (), resource_run)
    filters: tuple[_Run, ...] = ()
    if boundary is not None:
        filters += (_Run("permissions boundary", "boundary", boundary, request),)
    if session is not None:
        filters += (_Run("session policy", "session", session, request),)
    levels = tuple(_Run(f"SCP level {i}", "scp", level, request) for i, level in enumerate(scps)) if scps else ()
    return _Sides(_Run("identity policies", "identity", identity, request), filters, levels, resource_run)


def _evaluation(decision: Decision, statements: Sequence[CompiledStatement], rule: str,
                sides: _Sides, request: AuthzRequest) -> Evaluation:
    matched = tuple([st.record if st.principals is None else st.matched(request) for st in statements])
    return Evaluation(decision, matched, rule, request, sides.runs)


def _explicit_deny(sides: _Sides, request: AuthzRequest) -> Evaluation:
    """Spec A6 step 1 / Tables A and B: an explicit Deny in any policy set wins."""
    runs = [run for run in sides.runs if run.denies]
    where = ", ".join(run.label for run in runs)
    return _evaluation(Decision.EXPLICIT_DENY, [st for run in runs for st in run.denies],
                       f"explicit deny in {where} (spec A6 step 1: an explicit Deny anywhere wins)",
                       sides, request)


def _anonymous_decision(sides: _Sides, request: AuthzRequest) -> Evaluation:
    """Gateway §1.3 'resource policy only': an anonymous caller needs an explicit resource Allow."""
    allows = sides.resource.allows
    if allows:
        return _evaluation(Decision.ALLOW, allows, _RULE_ANONYMOUS, sides, request)
    return _evaluation(Decision.IMPLICIT_DENY, (), "no resource policy statement allows the caller and "
                       "there is no identity side to allow it (gateway §1.3): implicit deny", sides, request)


def _scp_gate(sides: _Sides, request: AuthzRequest) -> Evaluation | None:
    """Spec A6 step 2: every SCP level must have an applying Allow (SCPs never grant)."""
    for level in sides.scps:
        if not level.allows:
            return _evaluation(Decision.IMPLICIT_DENY, (), f"{level.label} has no applying Allow "
                               "(spec A6 step 2: SCPs must allow at every level)", sides, request)
    return None


_NO_RESOURCE_POLICY = _Run("resource policy", "resource", (), AuthzRequest("", ""))


def _identity_allows(sides: _Sides) -> bool:
    """Spec A6 steps 4-6: identity policies allow and every filter allows too."""
    return bool(sides.identity and sides.identity.allows) and sides.filters_ok


def _identity_chain(sides: _Sides) -> list[CompiledStatement]:
    """The allows that make up an identity-side grant (identity, filters, SCP levels)."""
    if not sides.filters and not sides.scps and sides.identity is not None:
        return sides.identity.allows
    runs = [sides.identity, *sides.filters, *sides.scps]
    return [st for run in runs if run is not None for st in run.allows]


def usable_resource_allows(sides: _Sides, request: AuthzRequest) -> list[CompiledStatement]:
    """Spec A6 table: a same-account resource grant naming the user/session ARN directly is not
    limited by a boundary/session policy; one naming the role, the account or ``*`` is
    ([unconfirmed] for account/``*``: treated like the role ARN)."""
    if sides.filters_ok:
        return sides.resource.allows
    return [st for st in sides.resource.allows if st.grant_kind(request) in DIRECT_GRANTS]


def _same_account_decision(sides: _Sides, request: AuthzRequest) -> Evaluation:
    """Gateway §1.3 Table A: same account, either the identity side or the resource policy may allow."""
    identity_ok = _identity_allows(sides)
    resource_ok = usable_resource_allows(sides, request)
    if identity_ok or resource_ok:
        statements = _identity_chain(sides) if identity_ok else _scp_allows(sides)
        if resource_ok:
            statements = statements + resource_ok
        return _evaluation(Decision.ALLOW, statements, _RULE_TABLE_A[identity_ok, bool(resource_ok)],
                           sides, request)
    return _evaluation(Decision.IMPLICIT_DENY, (), "same account: " + _why_not(sides, request, True) +
                       " (gateway §1.3 Table A): implicit deny", sides, request)


def _scp_allows(sides: _Sides) -> list[CompiledStatement]:
    return [st for run in sides.scps for st in run.allows]


def _cross_account_decision(sides: _Sides, request: AuthzRequest) -> Evaluation:
    """Gateway §1.3 Table B / spec A6 cross-account: both the caller's side and the resource policy must allow."""
    identity_ok = _identity_allows(sides)
    if identity_ok and sides.resource.allows:
        return _evaluation(Decision.ALLOW, _identity_chain(sides) + sides.resource.allows,
                           _RULE_TABLE_B, sides, request)
    return _evaluation(Decision.IMPLICIT_DENY, (), "cross-account: " + _why_not(sides, request, False) +
                       " (gateway §1.3 Table B: both sides must allow): implicit deny", sides, request)


def _why_not(sides: _Sides, request: AuthzRequest, same_account: bool) -> str:
    """Name the missing allows for an implicit deny."""
    parts = []
    if sides.identity is not None and not sides.identity.allows:
        parts.append("no identity-based policy allows")
    parts += [f"the {run.label} does not allow" for run in sides.filters if not run.allows]
    if not sides.resource.policies:
        parts.append("there is no resource policy")
    elif not sides.resource.allows:
        parts.append("no resource policy statement allows the caller")
    elif same_account and not usable_resource_allows(sides, request):
        parts.append("the resource policy grant names the role, account or * and is limited by "
                     "the permissions boundary / session policy (spec A6 table)")
    return "; ".join(parts) or "nothing allows"


# ---------------------------------------------------------------- explanations (slow path)

def explain_miss(statement: CompiledStatement, info: _MissInfo, request: AuthzRequest) -> StatementMiss:
    """Build the :class:`StatementMiss` for a statement that did not apply."""
    element, condition = info
    detail = condition.explain(request) if condition is not None else None  # type: ignore[attr-defined]
    reason = (f"condition {detail.reason}" if detail is not None
              else _REASONS[element](statement, request))
    return StatementMiss(statement.source, statement.index, statement.sid, statement.effect,
                         statement.file_pointer, element, reason, detail)


def _action_reason(statement: CompiledStatement, request: AuthzRequest) -> str:
    patterns = ", ".join(statement.actions.patterns)
    return f"action {request.action} does not match {patterns}"


def _not_action_reason(statement: CompiledStatement, request: AuthzRequest) -> str:
    pattern = statement.actions.first_match(request.action_key)
    return f"action {request.action} matches NotAction pattern {pattern}"


def _unresolved(statement: CompiledStatement, request: AuthzRequest) -> list[str]:
    """``${key}`` references of the statement's resource patterns that have no value (spec A5)."""
    return [f"${{{v.key}}}" for t in statement.resources.dynamic if t.glob_pieces(request) is None
            for v in t.variables if v.default is None and len(request.values(v.lower) or ()) != 1]


def _resource_reason(statement: CompiledStatement, request: AuthzRequest) -> str:
    patterns = ", ".join(statement.resources.patterns)
    text = f"resource {request.resource} does not match {patterns}"
    unresolved = _unresolved(statement, request)
    if unresolved:
        text += f" (policy variable {', '.join(unresolved)} has no value in the request context)"
    return text


def _not_resource_reason(statement: CompiledStatement, request: AuthzRequest) -> str:
    unresolved = _unresolved(statement, request)
    if unresolved:
        return (f"NotResource uses policy variable {', '.join(unresolved)}, which has no value in the request "
                "context: the statement does not apply (spec A5)")
    pattern = statement.resources.first_match(request.resource, request)
    return f"resource {request.resource} matches NotResource pattern {pattern}"


def _caller(request: AuthzRequest) -> str:
    principal = request.principal
    return principal.arn if principal is not None and principal.arn else "anonymous"


def _principal_reason(statement: CompiledStatement, request: AuthzRequest) -> str:
    entries = ", ".join(statement.principals.entries) if statement.principals else ""
    text = f"caller {_caller(request)} is not named by Principal [{entries}]"
    if request.principal is None:
        text += " (an anonymous caller matches only \"*\")"
    return text


def _not_principal_reason(statement: CompiledStatement, request: AuthzRequest) -> str:
    entry = statement.principals.match(request.principal) if statement.principals else None
    return f"caller {_caller(request)} is listed in NotPrincipal (as {entry[0] if entry else '?'})"


_REASONS = {"Action": _action_reason, "NotAction": _not_action_reason, "Resource": _resource_reason,
            "NotResource": _not_resource_reason, "Principal": _principal_reason,
            "NotPrincipal": _not_principal_reason}
