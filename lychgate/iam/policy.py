"""Parse, validate and compile IAM policy documents into immutable statements.

:func:`compile_policy` checks a document against the grammar of spec A1 (Version,
Id, Statement as object or list, Effect, exactly one of Principal/NotPrincipal in
resource policies and none elsewhere, exactly one of Action/NotAction and of
Resource/NotResource, Condition) and compiles every element once: actions to
case-insensitive globs, resources to case-sensitive ARN-segment globs (spec A2),
the ``execute-api:/…`` shorthand to full ARNs (spec A3), principals to lookup
tables (spec A1 principal table) and conditions via :mod:`.conditions`. Any
defect raises :class:`PolicyError` with a JSON pointer; nothing is skipped, so a
policy that loads is evaluated exactly as written (fail closed).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import unquote

from .arn import (ARN_FIELDS, ApiScope, GlobSet, arn_pattern_problem, compile_glob, compile_globs, expand_shorthand,
                  glob_matches, has_wildcard, is_shorthand, parse_arn)
from .conditions import CompiledCondition, compile_conditions
from .errors import PolicyError, describe, join_pointer
from .results import PolicySource, StatementMatch
from .variables import Template, Text, parse_template

if TYPE_CHECKING:
    from .request import AuthzRequest, Principal

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
KINDS = frozenset({"identity", "boundary", "resource", "authorizer", "scp", "session", "trust"})
RESOURCE_KINDS = frozenset({"resource", "trust"})
_STRICT_KINDS = frozenset({"identity", "boundary"})
_DOCUMENT_MEMBERS = ("Version", "Id", "Statement")
_STATEMENT_MEMBERS = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                      "Resource", "NotResource", "Condition")
_ACTION = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9*?_-]+")
_ACCOUNT = re.compile(r"\d{12}")
_UNIQUE_ID = re.compile(r"(AIDA|AROA)[A-Z0-9]+")
DIRECT_GRANTS = frozenset({"user", "session", "federated"})


# ---------------------------------------------------------------- element matchers

@dataclass(frozen=True, slots=True)
class ActionSet:
    """Action/NotAction patterns, case-insensitive with ``*``/``?`` (spec A2)."""

    patterns: tuple[str, ...]
    any: bool
    exact: frozenset[str]
    prefixes: tuple[str, ...]
    globs: GlobSet | None

    def matches(self, action_key: str) -> bool:
        """``action_key`` is the lower-cased request action."""
        if self.any or action_key in self.exact or action_key.startswith(self.prefixes):
            return True
        return self.globs is not None and self.globs.matches(action_key)

    def first_match(self, action_key: str) -> str | None:
        """The first written pattern matching ``action_key`` (explanations)."""
        return next((p for p in self.patterns if p == "*" or
                     compile_glob(p.lower()).fullmatch(action_key)), None)


@dataclass(frozen=True, slots=True)
class ResourceSet:
    """Resource/NotResource patterns: case-sensitive ARN-segment globs (spec A2, A5)."""

    any: bool
    exact: frozenset[str]
    prefixes: tuple[str, ...]
    globs: GlobSet | None
    dynamic: tuple[Template, ...]
    templates: tuple[Template, ...]  # one per pattern, in the written order
    unresolved_matches: bool = False
    slow: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slow", self.globs is not None or bool(self.dynamic))

    @property
    def patterns(self) -> tuple[str, ...]:
        """The patterns as written (``execute-api:/…`` expanded); derived, not stored: explanations
        alone read them, and thousands of policies would each hold a tuple of them."""
        return tuple(t.raw for t in self.templates)

    def matches(self, resource: str, request: "AuthzRequest") -> bool:
        if self.any or resource in self.exact or resource.startswith(self.prefixes):
            return True
        return self.pattern_match(resource, request)

    def pattern_match(self, resource: str, request: "AuthzRequest") -> bool:
        """The wildcard and variable-bearing patterns (the part not decided by set/prefix tests)."""
        if self.globs is not None and self.globs.matches(resource):
            return True
        unresolved = self.unresolved_matches
        return bool(self.dynamic) and any(template_matches(t, resource, request, unresolved) for t in self.dynamic)

    def first_match(self, resource: str, request: "AuthzRequest") -> str | None:
        for template in self.templates:
            if template.raw == "*" or template_matches(template, resource, request, self.unresolved_matches):
                return template.raw
        return None


def template_matches(template: Template, resource: str, request: "AuthzRequest | None",
                     unresolved: bool = False) -> bool:
    """One ARN pattern against ``resource`` (spec A5 unresolvable variables).

    In Resource a pattern whose variable cannot be resolved matches nothing; in
    NotResource (``unresolved=True``) it counts as matching, so the statement does
    not apply rather than covering every resource ("the statement is invalid").
    """
    pieces = template.glob_pieces(request)
    if pieces is None:
        return unresolved
    return glob_matches(pieces, resource, arn=True)


@dataclass(frozen=True, slots=True)
class PrincipalSet:
    """Principal/NotPrincipal entries as lookup tables (spec A1 principal table).

    Each table maps the lookup value to (entry as written, grant kind); the kind
    tells the evaluator whether the grant names the caller directly (spec A6 table).
    """

    entries: tuple[str, ...]
    any: bool
    arns: Mapping[str, tuple[str, str]]
    roles: Mapping[str, tuple[str, str]]
    unique_ids: Mapping[str, tuple[str, str]]
    accounts: Mapping[str, tuple[str, str]]
    named: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "named", bool(self.arns or self.roles or self.unique_ids or self.accounts))

    def match(self, principal: "Principal | None") -> tuple[str, str] | None:
        """(entry, kind) of the entry naming the caller, preferring direct grants, else ``None``.

        Anonymous callers match only ``*`` (spec A1); a role entry covers every
        session of the role; an account entry covers every principal of it.
        """
        if principal is not None and self.named:
            hit = (self.arns.get(principal.arn) or self.roles.get(principal.role_arn)
                   or self.unique_ids.get(principal.unique_id) or self.accounts.get(principal.account))
            if hit is not None:
                return hit
        return _EVERYONE if self.any else None


_EVERYONE = ("*", "any")


# ---------------------------------------------------------------- compiled statement and policy

@dataclass(frozen=True, slots=True)
class CompiledStatement:
    """One statement, compiled; :meth:`check` says whether it applies to a request."""

    index: int
    sid: str | None
    effect: str
    deny: bool
    pointer: str
    file_pointer: str
    source: PolicySource
    actions: ActionSet
    not_action: bool
    resources: ResourceSet
    not_resource: bool
    principals: PrincipalSet | None
    not_principal: bool
    conditions: tuple[CompiledCondition, ...]
    context_keys: tuple[tuple[str, str], ...]
    record: StatementMatch
    action_miss: tuple[str, None]
    resource_miss: tuple[str, None]
    principal_miss: tuple[str, None]
    # Match records by Principal entry, made on first use (most statements have no Principal).
    via_records: dict[str, StatementMatch] | None = field(default=None, compare=False, hash=False, repr=False)

    def check(self, request: "AuthzRequest") -> tuple[str, CompiledCondition | None] | None:
        """``None`` if the statement applies (spec A6), else (failing element, condition).

        The exact/prefix tests of Action and Resource are inlined: they decide the
        common statement (``Allow execute-api:Invoke`` on a few globs) without a call.
        """
        actions, key = self.actions, request.action_key
        if (actions.any or key in actions.exact or key.startswith(actions.prefixes)
                or actions.globs is not None and actions.globs.matches(key)) is self.not_action:
            return self.action_miss
        resources, arn = self.resources, request.resource
        if (resources.any or arn in resources.exact or arn.startswith(resources.prefixes)
                or resources.slow and resources.pattern_match(arn, request)) is self.not_resource:
            return self.resource_miss
        principals = self.principals
        if principals is not None and (principals.match(request.principal) is None) is not self.not_principal:
            return self.principal_miss
        for condition in self.conditions:
            if not condition.evaluate(request):
                return ("Condition", condition)
        return None

    def matched(self, request: "AuthzRequest") -> StatementMatch:
        """The match record, naming the Principal entry that matched (resource policies)."""
        if self.principals is None or self.not_principal:
            return self.record
        entry = self.principals.match(request.principal)
        via = entry[0] if entry else None
        records = self.via_records
        if records is None:
            records = {}
            object.__setattr__(self, "via_records", records)
        record = records.get(via)
        if record is None:
            record = StatementMatch(self.source, self.index, self.sid, self.effect, self.file_pointer, via)
            if len(records) < 64:
                records[via] = record
        return record

    def grant_kind(self, request: "AuthzRequest") -> str | None:
        """How an applying resource-policy statement names the caller (spec A6 table)."""
        if self.principals is None:
            return None
        if self.not_principal:
            return "notprincipal"
        entry = self.principals.match(request.principal)
        return entry[1] if entry else None


@dataclass(frozen=True, slots=True)
class Policy:
    """A compiled policy document.

    ``by_service`` indexes the statements by the service prefix of their Action
    patterns (a prefix never contains a wildcard, spec A2), each entry keeping
    the statements with ``"*"`` or NotAction (``universal``) in document order;
    a statement outside ``candidates(service)`` cannot match that service's actions.
    """

    source: PolicySource
    statements: tuple[CompiledStatement, ...]
    version: str
    declared_version: str | None = None
    id: str | None = None
    by_service: Mapping[str, tuple[CompiledStatement, ...]] = field(init=False, repr=False, compare=False)
    universal: tuple[CompiledStatement, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_service, universal = _index_by_service(self.statements)
        object.__setattr__(self, "by_service", by_service)
        object.__setattr__(self, "universal", universal)

    def candidates(self, service: str) -> tuple[CompiledStatement, ...]:
        """Statements whose Action can match an action of ``service`` (lower-cased)."""
        return self.by_service.get(service, self.universal)


def _index_by_service(statements: tuple[CompiledStatement, ...]) -> tuple[dict, tuple]:
    """Build :attr:`Policy.by_service` and :attr:`Policy.universal` (service prefixes compare
    case-insensitively and never contain wildcards, spec A2)."""
    def services(st: CompiledStatement) -> set[str] | None:
        if st.not_action or st.actions.any:
            return None
        return {p.split(":", 1)[0].lower() for p in st.actions.patterns}
    tags = [services(st) for st in statements]
    names = set().union(*(t for t in tags if t is not None))
    index = {}
    for name in names:
        candidates = tuple(st for st, t in zip(statements, tags) if t is None or name in t)
        # Usually every statement: the policy's own tuple then, not an equal copy per policy.
        index[name] = statements if candidates == statements else candidates
    return index, tuple(st for st, t in zip(statements, tags) if t is None)


@dataclass(frozen=True, slots=True)
class _Context:
    source: PolicySource
    substitute: bool
    scope: ApiScope | None
    shared: "SharedParts | None" = None


class SharedParts:
    """Compiled parts that policies compiled with the same instance share instead of each holding
    an equal copy: action sets and resource patterns (pointers are interned). A project's identities are thousands
    of policies that mostly differ in a few strings; every part is immutable, so sharing changes
    nothing but memory. Keep one for a batch of compilations (a project load), then drop it."""

    __slots__ = ("actions", "templates")

    def __init__(self) -> None:
        self.actions: dict[tuple[str, ...], ActionSet] = {}
        self.templates: dict[tuple[str, bool], tuple[Template, str | None]] = {}


_NOTHING: frozenset[str] = frozenset()
#: The (element, None) miss records of ``CompiledStatement``, one of each.
_MISSES = {name: (name, None) for name in ("Action", "NotAction", "Resource", "NotResource", "Principal",
                                           "NotPrincipal")}


# ---------------------------------------------------------------- document level

def compile_policy(document: Mapping[str, Any] | str, source: PolicySource, *,
                   scope: ApiScope | None = None, shared: SharedParts | None = None) -> Policy:
    """Validate and compile a policy document (spec A1-A5); raises :class:`PolicyError`.

    ``document`` is a mapping or JSON text (URL-encoded JSON, as the raw IAM API
    returns it, is accepted too, spec A8). ``scope`` is the API a resource policy
    belongs to; it is required to expand ``execute-api:/…`` shorthand (spec A3).
    Policies compiled with the same ``shared`` share their equal parts.
    """
    if source.kind not in KINDS:
        raise ValueError(f"unknown policy kind {source.kind!r}; expected one of {sorted(KINDS)}")
    doc = parse_document(document) if isinstance(document, str) else document
    if not isinstance(doc, Mapping):
        raise PolicyError("", f"a policy must be a JSON object, found {describe(doc)}")
    _check_members(doc, "", _DOCUMENT_MEMBERS, "policy")
    declared = _version(doc)
    policy_id = _policy_id(doc, source)
    ctx = _Context(source, declared == VERSION_2012, scope, shared)
    statements = tuple(_compile_statement(raw, i, ptr, ctx)
                       for i, (raw, ptr) in enumerate(_statement_list(doc)))
    return Policy(source, statements, declared or VERSION_2008, declared, policy_id)


class _Object(dict):
    """A JSON object that remembers keys which appeared more than once."""

    duplicates: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.duplicates = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_document(text: str) -> Any:
    """Parse JSON policy text, rejecting duplicate keys (spec A1) with their pointer."""
    stripped = text.strip()
    if stripped[:3].upper() == "%7B":
        stripped = unquote(stripped)
    try:
        doc = json.loads(stripped, object_pairs_hook=_object_pairs, parse_constant=_reject_constant)
        _reject_duplicates(doc, "")
    except PolicyError:
        raise
    except ValueError as exc:
        raise PolicyError("", f"expected a JSON policy document, found invalid JSON: {exc}") from None
    except RecursionError:  # a policy is a few levels deep; hostile nesting must not crash the loader
        raise PolicyError("", "expected a JSON policy document, found JSON nested too deeply") from None
    return doc


def _reject_duplicates(node: Any, pointer: str) -> None:
    """Duplicate keys inside one object are invalid (spec A1)."""
    if isinstance(node, dict):
        dups = getattr(node, "duplicates", ())
        if dups:
            raise PolicyError(join_pointer(pointer, dups[0]), f"duplicate key {dups[0]!r} in one object")
        for key, value in node.items():
            _reject_duplicates(value, join_pointer(pointer, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _reject_duplicates(value, join_pointer(pointer, i))


def _check_members(obj: Mapping[str, Any], pointer: str, allowed: tuple[str, ...], what: str) -> None:
    for key in obj:
        if key not in allowed:
            raise PolicyError(join_pointer(pointer, key),
                              f"unknown {what} element {key!r}; expected one of {', '.join(allowed)}")


def _version(doc: Mapping[str, Any]) -> str | None:
    """``Version``: 2012-10-17 or 2008-10-17; absent behaves as 2008-10-17 (spec A1)."""
    if "Version" not in doc:
        return None
    version = doc["Version"]
    if version not in (VERSION_2012, VERSION_2008) or not isinstance(version, str):
        raise PolicyError("/Version", f"expected \"{VERSION_2012}\" or \"{VERSION_2008}\", "
                                      f"found {describe(version)}")
    return version


def _policy_id(doc: Mapping[str, Any], source: PolicySource) -> str | None:
    """``Id``: a string, allowed in resource-based but not identity-based policies (spec A1)."""
    if "Id" not in doc:
        return None
    if source.kind in _STRICT_KINDS:
        raise PolicyError("/Id", f"Id is allowed in resource-based policies but not in {source.kind} "
                                 "policies")
    if not isinstance(doc["Id"], str):
        raise PolicyError("/Id", f"expected a string, found {describe(doc['Id'])}")
    return doc["Id"]


def _statement_list(doc: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """``Statement``: one object or a non-empty list of objects (spec A1)."""
    if "Statement" not in doc:
        raise PolicyError("", "missing Statement: expected a statement object or a list of them")
    raw = doc["Statement"]
    if isinstance(raw, Mapping):
        return [(raw, "/Statement")]
    if not isinstance(raw, list) or not raw:
        raise PolicyError("/Statement", f"expected a statement object or a non-empty list of them, "
                                        f"found {describe(raw)}")
    return [(item, f"/Statement/{i}") for i, item in enumerate(raw)]


# ---------------------------------------------------------------- statement level

def _compile_statement(raw: Any, index: int, pointer: str, ctx: _Context) -> CompiledStatement:
    """Compile one statement (spec A1 statement members)."""
    if not isinstance(raw, Mapping):
        raise PolicyError(pointer, f"a statement must be an object, found {describe(raw)}")
    _check_members(raw, pointer, _STATEMENT_MEMBERS, "statement")
    sid = _sid(raw, pointer, ctx.source.kind)
    effect = _effect(raw, pointer)
    act_name, act_raw = _pick(raw, pointer, "Action", "NotAction", required=True)
    res_name, res_raw = _pick(raw, pointer, "Resource", "NotResource", required=ctx.source.kind != "trust")
    principals, not_principal = _principal_element(raw, pointer, ctx.source.kind)
    actions = _shared_actions(act_raw, join_pointer(pointer, act_name), ctx.shared)
    resources = compile_resources(res_raw if res_name else "*", join_pointer(pointer, res_name or "Resource"),
                                  substitute=ctx.substitute, scope=ctx.scope, negated=res_name == "NotResource",
                                  shared=ctx.shared)
    conditions = compile_conditions(raw["Condition"], join_pointer(pointer, "Condition"),
                                    substitute=ctx.substitute) if "Condition" in raw else ()
    file_pointer = ctx.source.pointer + pointer
    if ctx.shared is not None:
        pointer = sys.intern(pointer)
    return CompiledStatement(
        index, sid, effect, effect == "Deny", pointer, file_pointer, ctx.source,
        actions, act_name == "NotAction", resources, res_name == "NotResource",
        principals, not_principal, conditions, _context_keys(resources, conditions),
        StatementMatch(ctx.source, index, sid, effect, file_pointer),
        _MISSES[act_name], _MISSES[res_name or "Resource"], _MISSES["NotPrincipal" if not_principal else "Principal"])


def _sid(raw: Mapping[str, Any], pointer: str, kind: str) -> str | None:
    """``Sid``: a string; alphanumeric only in IAM identity policies (spec A1)."""
    if "Sid" not in raw:
        return None
    sid = raw["Sid"]
    if not isinstance(sid, str):
        raise PolicyError(join_pointer(pointer, "Sid"), f"expected a string, found {describe(sid)}")
    if kind in _STRICT_KINDS and not (sid == "" or sid.isascii() and sid.isalnum()):
        raise PolicyError(join_pointer(pointer, "Sid"),
                          f"an IAM {kind} policy Sid may contain only A-Z, a-z and 0-9, found {sid!r}")
    return sid


def _effect(raw: Mapping[str, Any], pointer: str) -> str:
    """``Effect``: exactly "Allow" or "Deny", case-sensitive (spec A1)."""
    if "Effect" not in raw:
        raise PolicyError(pointer, "missing Effect: expected \"Allow\" or \"Deny\"")
    effect = raw["Effect"]
    if effect not in ("Allow", "Deny") or not isinstance(effect, str):
        raise PolicyError(join_pointer(pointer, "Effect"),
                          f"expected \"Allow\" or \"Deny\", found {describe(effect)}")
    return effect


def _pick(raw: Mapping[str, Any], pointer: str, positive: str, negative: str, *,
          required: bool) -> tuple[str | None, Any]:
    """Exactly one of ``positive``/``negative`` (spec A1: Action/NotAction, Resource/NotResource)."""
    if positive in raw and negative in raw:
        raise PolicyError(join_pointer(pointer, negative),
                          f"a statement must contain exactly one of {positive} or {negative}, found both")
    for name in (positive, negative):
        if name in raw:
            return name, raw[name]
    if required:
        raise PolicyError(pointer, f"missing {positive} or {negative}: a statement needs exactly one")
    return None, None


def string_list(raw: Any, pointer: str, what: str) -> list[tuple[str, str]]:
    """A string or non-empty list of strings, with each value's pointer (spec A1 value lists)."""
    if isinstance(raw, str):
        return [(raw, pointer)]
    if not isinstance(raw, list) or not raw:
        raise PolicyError(pointer, f"expected {what} or a non-empty list of them, found {describe(raw)}")
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise PolicyError(join_pointer(pointer, i), f"expected {what}, found {describe(item)}")
    return [(item, join_pointer(pointer, i)) for i, item in enumerate(raw)]


def _context_keys(resources: ResourceSet, conditions: tuple[CompiledCondition, ...]) -> tuple[tuple[str, str], ...]:
    """Context keys a statement reads: condition keys and default-less variables (spec A4/A5)."""
    keys: dict[str, str] = {}
    for template in resources.dynamic:
        keys.update((v.lower, v.key) for v in template.variables if v.default is None)
    for cond in conditions:
        keys.setdefault(cond.key_lower, cond.key)
        keys.update((v.lower, v.key) for v in cond.variables if v.default is None)
    return tuple(keys.items())


# ---------------------------------------------------------------- Action

def _shared_actions(raw: Any, pointer: str, shared: SharedParts | None) -> ActionSet:
    """``compile_actions``, one ActionSet per distinct list of actions of ``shared``'s policies."""
    if shared is None:
        return compile_actions(raw, pointer)
    try:
        key = (raw,) if isinstance(raw, str) else tuple(raw) if isinstance(raw, list) else None
        found = shared.actions.get(key) if key is not None else None
    except TypeError:  # a list with unhashable items: compile_actions reports it
        key = found = None
    if found is None:
        found = compile_actions(raw, pointer)
        if key is not None:
            shared.actions[key] = found
    return found


def compile_actions(raw: Any, pointer: str) -> ActionSet:
    """Compile Action/NotAction: ``service:action`` globs, case-insensitive (spec A2)."""
    values = string_list(raw, pointer, "an action such as \"execute-api:Invoke\"")
    for text, ptr in values:
        if text != "*" and not _ACTION.fullmatch(text):
            raise PolicyError(ptr, f"expected \"*\" or an action 'service:ActionName' (wildcards * and ? "
                                   f"allowed in the name), found {text!r}")
    texts = tuple(text for text, _ in values)
    lowered = [t.lower() for t in texts if t != "*"]
    exact = frozenset(t for t in lowered if not has_wildcard(t)) or _NOTHING
    prefixes = tuple(t[:-1] for t in lowered if _is_prefix_glob(t))
    globs = [t for t in lowered if has_wildcard(t) and not _is_prefix_glob(t)]
    return ActionSet(texts, "*" in texts, exact, prefixes, compile_globs([[(g, True)] for g in globs], arn=False))


def _is_prefix_glob(text: str, min_colons: int = 1) -> bool:
    """A glob whose only wildcard is a trailing ``*`` (beyond ``min_colons`` colons) is a prefix test."""
    return text.endswith("*") and not has_wildcard(text[:-1]) and text.count(":") >= min_colons


# ---------------------------------------------------------------- Resource

def compile_resources(raw: Any, pointer: str, *, substitute: bool, scope: ApiScope | None,
                      negated: bool = False, shared: SharedParts | None = None) -> ResourceSet:
    """Compile Resource/NotResource patterns (spec A2 segment rule, A3 shorthand, A5 variables)."""
    values = string_list(raw, pointer, "a resource ARN or \"*\"")
    patterns, templates, prefixes = [], [], []
    for text, ptr in values:
        expanded = _expand(text, ptr, scope)
        patterns.append(expanded)
        template, prefix = _shared_template(expanded, ptr, substitute, shared)
        templates.append(template)
        if prefix is not None:
            prefixes.append(prefix)
    static = [t for t in templates if t.is_static and t.raw != "*"]
    exact = frozenset(t.literal() for t in static if not _active_wildcards(t)) or _NOTHING
    globs = compile_globs([t.glob_pieces() for t in static if _active_wildcards(t) and not _is_plain_prefix(t)],
                          arn=True)
    dynamic = tuple(t for t in templates if not t.is_static)
    return ResourceSet("*" in patterns, exact, tuple(prefixes), globs, dynamic, tuple(templates),
                       unresolved_matches=negated)


def _shared_template(text: str, pointer: str, substitute: bool,
                     shared: SharedParts | None) -> tuple[Template, str | None]:
    """A pattern's template, and the prefix it tests if it is a plain ``…/*`` pattern (else None);
    one of each per distinct pattern of ``shared``'s policies."""
    found = shared.templates.get((text, substitute)) if shared is not None else None
    if found is None:
        template = _resource_template(text, pointer, substitute)
        plain = template.is_static and template.raw != "*" and _is_plain_prefix(template)
        found = (template, template.raw[:-1] if plain else None)
        if shared is not None:
            shared.templates[text, substitute] = found
    return found


def _is_plain_prefix(template: Template) -> bool:
    """``arn:…:api/prod/*``: one plain text piece whose only wildcard is a trailing ``*`` in the
    resource part (after the fifth ``:``), where ``*`` spans everything (spec A2)."""
    pieces = template.pieces
    return (len(pieces) == 1 and isinstance(pieces[0], Text)
            and _is_prefix_glob(pieces[0].text, min_colons=ARN_FIELDS - 1))


def _expand(text: str, pointer: str, scope: ApiScope | None) -> str:
    """Expand the ``execute-api:/…`` shorthand of resource policies (spec A3, gateway §1.3)."""
    if is_shorthand(text):
        if scope is None:
            raise PolicyError(pointer, f"the shorthand {text!r} needs the API's region, account and id: "
                                       "compile the resource policy with scope=ApiScope(...)")
        return expand_shorthand(text, scope)
    if text.startswith("execute-api:"):
        raise PolicyError(pointer, f"expected the shorthand form 'execute-api:/stage/VERB/path' or a full "
                                   f"ARN, found {text!r}")
    return text


def _resource_template(text: str, pointer: str, substitute: bool) -> Template:
    """Parse one pattern; variables only in the resource part of the ARN (spec A5)."""
    template = parse_template(text, pointer, substitute=substitute)
    if text == "*":
        return template
    skeleton = template.skeleton()
    problem = arn_pattern_problem(skeleton.replace("\x00", "_"))
    if problem:
        raise PolicyError(pointer, problem)
    first_var = skeleton.find("\x00")
    if 0 <= first_var < _nth_colon(skeleton, 5):
        raise PolicyError(pointer, f"policy variables are allowed only in the resource part of an ARN "
                                   f"(after the fifth ':'), found {text!r}")
    return template


def _nth_colon(text: str, n: int) -> int:
    pos = -1
    for _ in range(n):
        pos = text.find(":", pos + 1)
    return pos


def _active_wildcards(template: Template) -> bool:
    return any(active and has_wildcard(text) for text, active in template.glob_pieces())


# ---------------------------------------------------------------- Principal

def _principal_element(raw: Mapping[str, Any], pointer: str, kind: str) -> tuple[PrincipalSet | None, bool]:
    """Principal/NotPrincipal: exactly one in resource policies, none elsewhere (spec A1)."""
    present = [name for name in ("Principal", "NotPrincipal") if name in raw]
    if kind not in RESOURCE_KINDS:
        if present:
            raise PolicyError(join_pointer(pointer, present[0]),
                              f"{present[0]} is not allowed in {kind} policies (only in resource policies)")
        return None, False
    name, value = _pick(raw, pointer, "Principal", "NotPrincipal", required=True)
    negated = name == "NotPrincipal"
    return compile_principals(value, join_pointer(pointer, name), negated=negated), negated


def compile_principals(raw: Any, pointer: str, *, negated: bool = False) -> PrincipalSet:
    """Compile a Principal/NotPrincipal value in all its forms (spec A1 principal forms)."""
    if raw == "*" and not negated:
        return PrincipalSet(("*",), True, {}, {}, {}, {})
    if not isinstance(raw, Mapping) or not raw:
        expected = "an object such as {\"AWS\": [...]}" if negated else "\"*\" or an object such as {\"AWS\": [...]}"
        raise PolicyError(pointer, f"expected {expected}, found {describe(raw)}")
    tables: dict[str, dict[str, tuple[str, str]]] = {k: {} for k in ("arns", "roles", "unique_ids", "accounts")}
    entries: list[str] = []
    any_caller = False
    for ptype, values in raw.items():
        type_pointer = join_pointer(pointer, ptype)
        if ptype not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise PolicyError(type_pointer, f"unknown principal type {ptype!r}; expected AWS, Service, "
                                            "Federated or CanonicalUser")
        for text, ptr in string_list(values, type_pointer, "a principal string"):
            entries.append(text if ptype == "AWS" else f"{ptype}:{text}")
            any_caller |= _add_principal(ptype, text, ptr, negated, tables)
    return PrincipalSet(tuple(entries), any_caller, tables["arns"], tables["roles"],
                        tables["unique_ids"], tables["accounts"])


def _add_principal(ptype: str, text: str, pointer: str, negated: bool,
                   tables: dict[str, dict[str, tuple[str, str]]]) -> bool:
    """Classify one entry into the lookup tables; True if it is the everyone wildcard (spec A1)."""
    if text == "*":
        if negated:
            raise PolicyError(pointer, "wildcards are not allowed in NotPrincipal")
        return ptype == "AWS"
    if has_wildcard(text):
        raise PolicyError(pointer, f"wildcards are not allowed inside principal values (only \"*\" "
                                   f"alone), found {text!r}")
    if ptype == "AWS":
        table, key, kind = _aws_principal(text, pointer)
        tables[table][key] = (text, kind)
    return False


def _aws_principal(text: str, pointer: str) -> tuple[str, str, str]:
    """(table, lookup key, grant kind) of an ``AWS`` principal entry (spec A1 matching table)."""
    if _ACCOUNT.fullmatch(text):
        return "accounts", text, "account"
    if _UNIQUE_ID.fullmatch(text):
        return "unique_ids", text, "user" if text.startswith("AIDA") else "role"
    arn = parse_arn(text)
    if arn is not None:
        found = _arn_principal(arn.service, arn.resource)
        if found is not None:
            table, kind = found
            return table, arn.account if table == "accounts" else text, kind
    raise PolicyError(pointer, "expected \"*\", a 12-digit account id, an IAM ARN (:root, user/…, role/…), "
                               "an STS ARN (assumed-role/ROLE/SESSION, federated-user/NAME) or a unique id "
                               f"(AIDA…/AROA…), found {text!r}")


def _arn_principal(service: str, resource: str) -> tuple[str, str] | None:
    if service == "iam":
        if resource == "root":
            return "accounts", "account"
        prefix = resource.split("/", 1)[0]
        if "/" in resource and prefix in ("user", "role"):
            return ("arns", "user") if prefix == "user" else ("roles", "role")
    if service == "sts":
        parts = resource.split("/")
        if parts[0] == "assumed-role" and len(parts) == 3 and all(parts):
            return "arns", "session"
        if parts[0] == "federated-user" and len(parts) == 2 and parts[1]:
            return "arns", "federated"
    return None
