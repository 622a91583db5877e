"""Condition operators: compile a ``Condition`` block once, evaluate it per request.

Implements spec A4: all operators and all keys AND together; the values listed for
one key OR together for positive operators and NOR for negated ones (a negated
operator is NOT of its positive counterpart). A missing key makes every operator
false except negated operators, ``…IfExists`` variants and ``Null``; the set
prefixes ``ForAnyValue:`` (false on a missing/empty key) and ``ForAllValues:``
(vacuously true) apply the operator per request value. Policy values are
validated at load (bad CIDR, date, number, base64, boolean → :class:`PolicyError`)
while an unparseable *request* value simply matches nothing (spec A4 [unconfirmed]).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .arn import arn_pattern_problem, compile_globs, glob_matches
from .errors import PolicyError, describe, join_pointer
from .variables import Template, Variable, parse_template

if TYPE_CHECKING:
    from .request import AuthzRequest, Values

Test = Callable[[str, "AuthzRequest"], bool]
_Values = list[tuple[str, str]]
_Built = tuple[Test, tuple[Variable, ...]]

ANY_VALUE = "ForAnyValue"
ALL_VALUES = "ForAllValues"


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """One base operator of spec A4's table: value family, comparison, negation, variables."""

    family: str
    compare: Callable[[Any, Any], bool] | None = None
    negated: bool = False
    variables: bool = False


def _table() -> dict[str, OperatorSpec]:
    ops: dict[str, OperatorSpec] = {
        "StringEquals": OperatorSpec("string", variables=True),
        "StringNotEquals": OperatorSpec("string", negated=True, variables=True),
        "StringEqualsIgnoreCase": OperatorSpec("string_ci", variables=True),
        "StringNotEqualsIgnoreCase": OperatorSpec("string_ci", negated=True, variables=True),
        "StringLike": OperatorSpec("like", variables=True),
        "StringNotLike": OperatorSpec("like", negated=True, variables=True),
        "Bool": OperatorSpec("bool", variables=True),
        "BinaryEquals": OperatorSpec("binary"),
        "IpAddress": OperatorSpec("ip"), "NotIpAddress": OperatorSpec("ip", negated=True),
        "ArnEquals": OperatorSpec("arn", variables=True), "ArnLike": OperatorSpec("arn", variables=True),
        "ArnNotEquals": OperatorSpec("arn", negated=True, variables=True),
        "ArnNotLike": OperatorSpec("arn", negated=True, variables=True),
        "Null": OperatorSpec("null"),
    }
    comparisons = {"Equals": operator.eq, "LessThan": operator.lt, "LessThanEquals": operator.le,
                   "GreaterThan": operator.gt, "GreaterThanEquals": operator.ge}
    for family, prefix in (("numeric", "Numeric"), ("date", "Date")):
        for suffix, compare in comparisons.items():
            ops[prefix + suffix] = OperatorSpec(family, compare)
        ops[prefix + "NotEquals"] = OperatorSpec(family, operator.eq, negated=True)
    return ops


OPERATORS: dict[str, OperatorSpec] = _table()
_OPERATORS_LOWER = {name.lower(): name for name in OPERATORS}
_OPERATOR_NAME = re.compile(r"(?:(ForAllValues|ForAnyValue):)?(.+?)(IfExists)?")


@dataclass(frozen=True, slots=True)
class ConditionMiss:
    """Why one condition was false: key, operator, policy values, request values (``None`` if absent)."""

    key: str
    operator: str
    expected: tuple[str, ...]
    actual: tuple[str, ...] | None
    reason: str


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """One ``Operator: {key: values}`` pair, ready to evaluate (spec A4)."""

    operator: str
    key: str
    key_lower: str
    expected: tuple[str, ...]
    set_op: str | None
    if_exists: bool
    negated: bool
    is_null: bool
    test: Test
    variables: tuple[Variable, ...]
    pointer: str

    def evaluate(self, request: "AuthzRequest") -> bool:
        """Spec A4 rules 2-5 and set operators: missing keys, NOR for negated, ForAny/ForAll."""
        values = request.values(self.key_lower)
        if self.is_null:
            return self.test(_null_state(values), request)
        if not values:
            return _missing_key_result(self)
        test, negated, set_op = self.test, self.negated, self.set_op
        if set_op is None:  # OR over request values; negated = NOT(positive), i.e. NOR (rule 2, 5)
            for value in values:
                if test(value, request):
                    return not negated
            return negated
        if set_op == ANY_VALUE:  # some request value satisfies the (possibly negated) operator
            for value in values:
                if test(value, request) != negated:
                    return True
            return False
        for value in values:  # ForAllValues: every request value satisfies it
            if test(value, request) == negated:
                return False
        return True

    def explain(self, request: "AuthzRequest") -> ConditionMiss:
        """Describe why this condition is false for ``request`` (slow path, explanations only)."""
        values = request.values(self.key_lower)
        actual = tuple(values) if values is not None else None
        return ConditionMiss(self.key, self.operator, self.expected, actual,
                             _miss_reason(self, actual))


def _null_state(values: "Values | None") -> str:
    """``"true"`` when the key is absent, null or empty (spec A4 ``Null``), else ``"false"``."""
    return "true" if not values or all(v == "" for v in values) else "false"


def _missing_key_result(cond: CompiledCondition) -> bool:
    """Spec A4 rule 3-4 and set operators: result of a condition whose key is absent/empty."""
    if cond.if_exists or cond.set_op == ALL_VALUES:
        return True
    if cond.set_op == ANY_VALUE:
        return False
    return cond.negated


def _miss_reason(cond: CompiledCondition, actual: tuple[str, ...] | None) -> str:
    """Human text for a false condition."""
    expected = ", ".join(cond.expected)
    if cond.is_null:
        state = "absent" if actual is None or not any(actual) else f"present ({', '.join(actual)})"
        return f"Null {cond.key} expects {expected} but the key is {state}"
    if not actual:
        what = "absent from" if actual is None else "empty in"
        return f"{cond.operator}: key {cond.key} is {what} the request context"
    shown = ", ".join(actual)
    if cond.set_op == ALL_VALUES:
        return f"{cond.operator}: not every value of {cond.key} ({shown}) satisfies it against [{expected}]"
    if cond.set_op == ANY_VALUE:
        return f"{cond.operator}: no value of {cond.key} ({shown}) satisfies it against [{expected}]"
    if cond.negated:
        return f"{cond.operator}: {cond.key} value {shown} matches one of [{expected}]"
    return f"{cond.operator}: {cond.key} value {shown} matches none of [{expected}]"


# ---------------------------------------------------------------- compilation

def compile_conditions(block: Any, pointer: str, *, substitute: bool) -> tuple[CompiledCondition, ...]:
    """Compile a statement's ``Condition`` object (spec A4 structure: operator → key → values)."""
    if not isinstance(block, dict):
        raise PolicyError(pointer, f"Condition must be an object of operators, found {describe(block)}")
    compiled: list[CompiledCondition] = []
    for op_name, keys in block.items():
        op_pointer = join_pointer(pointer, op_name)
        set_op, base, if_exists = parse_operator(op_name, op_pointer)
        if not isinstance(keys, dict) or not keys:
            raise PolicyError(op_pointer, f"{op_name} must be a non-empty object of condition keys, "
                                          f"found {describe(keys)}")
        for key, raw in keys.items():
            key_pointer = join_pointer(op_pointer, key)
            compiled.append(_compile_one(op_name, set_op, base, if_exists, key, raw,
                                         key_pointer, substitute))
    return tuple(compiled)


def parse_operator(name: str, pointer: str) -> tuple[str | None, str, bool]:
    """Split ``ForAnyValue:StringLikeIfExists`` into (set prefix, base, IfExists) (spec A4).

    Operator names are case-sensitive (spec A2 [unconfirmed]: be strict).
    """
    match = _OPERATOR_NAME.fullmatch(name) if isinstance(name, str) else None  # YAML keys may be numbers
    set_op, base, if_exists = match.groups() if match else (None, name, None)
    if base not in OPERATORS:
        raise PolicyError(pointer, f"unknown condition operator {name!r}{_suggest(name)}")
    if base == "Null" and (if_exists or set_op):
        raise PolicyError(pointer, f"Null cannot be combined with IfExists or a set prefix, found {name!r}")
    return set_op, base, bool(if_exists)


_SET_PREFIXES = {"forallvalues": ALL_VALUES + ":", "foranyvalue": ANY_VALUE + ":", "": ""}


def _suggest(name: str) -> str:
    """'; did you mean X' when ``name`` only differs in case from a known operator."""
    prefix, _, rest = str(name).rpartition(":")
    has_if_exists = rest.lower().endswith("ifexists")
    canonical = _OPERATORS_LOWER.get(rest[:-8].lower() if has_if_exists else rest.lower())
    fixed_prefix = _SET_PREFIXES.get(prefix.lower())
    if canonical is None or fixed_prefix is None:
        return (" (expected e.g. StringEquals, StringLike, NumericLessThan, DateGreaterThan, Bool, IpAddress, "
                "ArnLike, Null, optionally with IfExists or a ForAnyValue:/ForAllValues: prefix)")
    suffix = "IfExists" if has_if_exists else ""
    return f"; operator names are case-sensitive, did you mean {fixed_prefix}{canonical}{suffix}?"


def _compile_one(op_name: str, set_op: str | None, base: str, if_exists: bool, key: str,
                 raw: Any, pointer: str, substitute: bool) -> CompiledCondition:
    """Compile one key of one operator block; variables only where spec A5 allows them."""
    spec = OPERATORS[base]
    if not isinstance(key, str) or not key:
        raise PolicyError(pointer, f"condition key names must be non-empty strings, found {describe(key)}")
    values = condition_values(raw, pointer)
    test, variables = _BUILDERS[spec.family](values, spec, substitute and spec.variables)
    expected = tuple(text for text, _ in values)
    return CompiledCondition(op_name, key, key.lower(), expected, set_op, if_exists, spec.negated,
                             spec.family == "null", test, variables, pointer)


def condition_values(raw: Any, pointer: str) -> list[tuple[str, str]]:
    """Condition values as (string form, pointer); numbers/booleans compare as text (spec A1)."""
    if isinstance(raw, list):
        if not raw:
            raise PolicyError(pointer, "expected a value or a non-empty list of values, found an empty list")
        return [(_scalar_value(item, join_pointer(pointer, i)), join_pointer(pointer, i))
                for i, item in enumerate(raw)]
    return [(_scalar_value(raw, pointer), pointer)]


def _scalar_value(item: Any, pointer: str) -> str:
    """JSON booleans as ``true``/``false``, numbers as their decimal text (spec A1)."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, (str, int, float)):
        try:
            return item if isinstance(item, str) else str(item)
        except ValueError:  # an int with more digits than Python prints (sys.get_int_max_str_digits)
            raise PolicyError(pointer, "expected a condition value, found a number too long to use") from None
    raise PolicyError(pointer, f"expected a string, number or boolean condition value, found {describe(item)}")


# ---------------------------------------------------------------- value tests per family

def _templates(values: list[tuple[str, str]], substitute: bool) -> list[Template]:
    return [parse_template(text, ptr, substitute=substitute) for text, ptr in values]


def _all_variables(templates: Iterable[Template]) -> tuple[Variable, ...]:
    return tuple(v for t in templates for v in t.variables)


def _string_test(values: _Values, spec: OperatorSpec, substitute: bool) -> _Built:
    """StringEquals / StringEqualsIgnoreCase: exact or simple-lowercase equality (spec A4)."""
    templates = _templates(values, substitute)
    fold = spec.family == "string_ci"
    static = frozenset(_fold(t.literal(), fold) for t in templates if t.is_static)
    dynamic = tuple(t for t in templates if not t.is_static)

    def test(value: str, request: "AuthzRequest") -> bool:
        probe = value.lower() if fold else value
        if probe in static:
            return True
        return any(_fold(t.literal(request), fold) == probe for t in dynamic)
    return test, _all_variables(templates)


def _fold(text: str | None, fold: bool) -> str | None:
    return text.lower() if fold and text is not None else text


def _like_test(values: _Values, spec: OperatorSpec, substitute: bool) -> _Built:
    """StringLike: whole-string glob with ``*``/``?``, case-sensitive (spec A4)."""
    templates = _templates(values, substitute)
    return _glob_test(templates, arn=False), _all_variables(templates)


def _arn_test(values: _Values, spec: OperatorSpec, substitute: bool) -> _Built:
    """ArnEquals/ArnLike: ARN segment glob, ``"*"`` alone matches any value (spec A2/A4)."""
    templates = _templates(values, substitute)
    for template, (text, ptr) in zip(templates, values):
        problem = None if text == "*" else arn_pattern_problem(template.skeleton("_"))
        if problem:
            raise PolicyError(ptr, problem)
    if any(t.raw == "*" and t.is_static for t in templates):
        return (lambda value, request: True), ()
    return _glob_test(templates, arn=True), _all_variables(templates)


def _glob_test(templates: list[Template], *, arn: bool) -> Test:
    """Compile static patterns into one matcher; match variable-bearing ones per request."""
    static = compile_globs([t.glob_pieces() for t in templates if t.is_static], arn=arn)
    dynamic = tuple(t for t in templates if not t.is_static)

    def test(value: str, request: "AuthzRequest") -> bool:
        if static is not None and static.matches(value):
            return True
        for template in dynamic:
            pieces = template.glob_pieces(request)
            if pieces is not None and glob_matches(pieces, value, arn=arn):
                return True
        return False
    return test


def _bool_test(values: _Values, spec: OperatorSpec, substitute: bool) -> _Built:
    """Bool: compare ``true``/``false`` case-insensitively (spec A4 [unconfirmed])."""
    templates = _templates(values, substitute)
    for template, (text, ptr) in zip(templates, values):
        if template.is_static and text.lower() not in ("true", "false"):
            raise PolicyError(ptr, f"Bool expects true or false, found {text!r}")
    return _string_test(values, OperatorSpec("string_ci"), substitute)[0], _all_variables(templates)


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_number(text: str) -> Decimal | None:
    """An integer or decimal (spec A4 Numeric*); ``None`` if it is not one."""
    return Decimal(text) if _NUMBER.fullmatch(text) else None


def _numeric_test(values: _Values, spec: OperatorSpec, substitute: bool) -> _Built:
    """Numeric*: compare request number to policy numbers; no variables (spec A4)."""
    numbers = [_parsed(parse_number, text, ptr, "an integer or decimal number") for text, ptr in values]
    return _compare_test(numbers, parse_number, spec.compare), ()


_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
                   r"(Z|[+-]\d{2}:\d{2})?)?)?)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_instant(text: str) -> int | None:
    """Microseconds since the epoch for a W3C ISO 8601 date or epoch seconds (spec A4 dates).

    All-digit values are epoch seconds, except exactly four digits which is the
    W3C ``YYYY`` form; a missing timezone means UTC (spec A4 [unconfirmed]).
    """
    if text.isascii() and text.isdigit() and len(text) != 4:
        try:
            return int(text) * 1_000_000
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits): not a date
            return None
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    try:
        return (_datetime(match.groups()) - _EPOCH) // timedelta(microseconds=1)
    except (ValueError, OverflowError):
        return None


def _datetime(groups: tuple[str | None, ...]) -> datetime:
    year, month, day, hour, minute, second, fraction, zone = groups
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    return datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                    int(second or 0), micro, tzinfo=tz)


def _date_test(values: _Values, spec: OperatorSpec, substitute: bool) -> _Built:
    """Date*: compare instants, ISO 8601 or epoch on both sides; no variables (spec A4)."""
    instants = [_parsed(parse_instant, text, ptr, "an ISO 8601 date (e.g. 2024-01-31T12:00:00Z) "
                        "or epoch seconds") for text, ptr in values]
    return _compare_test(instants, parse_instant, spec.compare), ()


def _parsed(parse: Callable[[str], Any], text: str, pointer: str, expected: str) -> Any:
    parsed = parse(text)
    if parsed is None:
        raise PolicyError(pointer, f"expected {expected}, found {text!r}")
    return parsed


def _compare_test(policy_values: list[Any], parse: Callable[[str], Any],
                  compare: Callable[[Any, Any], bool]) -> Test:
    def test(value: str, request: "AuthzRequest") -> bool:
        parsed = parse(value)
        return parsed is not None and any(compare(parsed, p) for p in policy_values)
    return test


def _binary_test(values: _Values, spec: OperatorSpec, substitute: bool) -> _Built:
    """BinaryEquals: policy value is base64; compare bytes (spec A4)."""
    expected = frozenset(_decode_base64(text, ptr) for text, ptr in values)

    def test(value: str, request: "AuthzRequest") -> bool:
        return value.encode("utf-8", "surrogateescape") in expected
    return test, ()


def _decode_base64(text: str, pointer: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PolicyError(pointer, f"BinaryEquals expects a base64 value, found {text!r}") from None


def _ip_test(values: _Values, spec: OperatorSpec, substitute: bool) -> _Built:
    """IpAddress: request IP inside any CIDR; bare address = /32 or /128 (spec A4)."""
    networks = tuple(_network(text, ptr) for text, ptr in values)

    def test(value: str, request: "AuthzRequest") -> bool:
        address = parse_ip(value)
        if address is None:
            return False
        version, number = address
        for net_version, net, mask in networks:
            if net_version == version and number & mask == net:
                return True
        return False
    return test, ()


def _network(text: str, pointer: str) -> tuple[int, int, int]:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise PolicyError(pointer, f"expected an IPv4/IPv6 address or CIDR block such as 203.0.113.0/24, "
                                   f"found {text!r}") from None
    return net.version, int(net.network_address), int(net.netmask)


@lru_cache(maxsize=4096)
def parse_ip(text: str) -> tuple[int, int] | None:
    """(version, integer) of an IP address string, ``None`` if it is not one."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.version, int(address)


def _null_test(values: _Values, spec: OperatorSpec, substitute: bool) -> _Built:
    """Null: ``true`` ⇔ key absent/empty, ``false`` ⇔ present (spec A4)."""
    wanted = set()
    for text, ptr in values:
        if text.lower() not in ("true", "false"):
            raise PolicyError(ptr, f"Null expects true or false, found {text!r}")
        wanted.add(text.lower())
    return (lambda state, request: state in wanted), ()


_BUILDERS: dict[str, Callable[[_Values, OperatorSpec, bool], _Built]] = {
    "string": _string_test, "string_ci": _string_test, "like": _like_test, "arn": _arn_test,
    "bool": _bool_test, "numeric": _numeric_test, "date": _date_test, "binary": _binary_test,
    "ip": _ip_test, "null": _null_test,
}
