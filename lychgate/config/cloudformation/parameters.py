"""Template parameters and the inputs ``sam local`` takes: ``--parameter-overrides`` and ``--env-vars``.

``parse_parameter_overrides`` accepts sam's two spellings (``Key=Value`` pairs separated by spaces,
values optionally quoted, and CloudFormation's ``ParameterKey=K,ParameterValue=V``). Parameter
values are the overrides, else each parameter's ``Default``; list-typed parameters become lists,
as ``Ref`` returns them. The env-vars file is sam's JSON: ``{"FunctionLogicalId": {"VAR": "v"},
"Parameters": {"VAR": "v"}}``, the latter applying to every function.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any, Iterable

from lychgate.config.source import Problems, pointer

LONG_FORM = re.compile(r"^ParameterKey=(?P<key>[^,]+),ParameterValue=(?P<value>.*)$", re.DOTALL)
LIST_TYPES = ("CommaDelimitedList", "List<")


def parse_parameter_overrides(text_or_list: str | Iterable[str] | None) -> dict[str, str]:
    """``"A=1 B='two words'"`` or ``["ParameterKey=A,ParameterValue=1"]`` -> ``{"A": "1", ...}``.

    Raises ValueError naming the first entry that is neither form.
    """
    if text_or_list is None:
        return {}
    texts = [text_or_list] if isinstance(text_or_list, str) else list(text_or_list)
    out: dict[str, str] = {}
    for text in texts:
        for token in shlex.split(text):
            key, value = _override(token)
            out[key] = value
    return out


def _override(token: str) -> tuple[str, str]:
    match = LONG_FORM.match(token)
    if match:
        return match.group("key"), match.group("value")
    key, sep, value = token.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9]+", key):
        raise ValueError(f"parameter override {token!r} is neither Key=Value nor "
                         "ParameterKey=Key,ParameterValue=Value")
    return key, value


def parameter_values(template: dict, overrides: dict[str, str], problems: Problems) -> dict[str, Any]:
    """Each parameter's value (override, else Default); parameters with neither are left out."""
    declared = template.get("Parameters") or {}
    if not isinstance(declared, dict):
        problems.expected("/Parameters", "a mapping of parameter declarations", declared)
        declared = {}
    for key in overrides:
        if key not in declared:
            problems.warning("/Parameters", f"parameter override {key!r} names no parameter of the template: ignored")
    values = {}
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            continue
        values[name] = _typed(name, spec, value, problems)
    return values


def _typed(name: str, spec: dict, value: Any, problems: Problems) -> Any:
    kind = str(spec.get("Type", "String"))
    allowed = spec.get("AllowedValues")
    if isinstance(allowed, list) and str(value) not in [str(a) for a in allowed]:
        problems.error(pointer("Parameters", name), f"value {value!r} of parameter {name} is not one of "
                                                    f"its AllowedValues {allowed}")
    if kind.startswith(LIST_TYPES):
        return value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # Ref to a Number parameter returns its text, as CloudFormation does
    return value


def read_env_vars(path: Path, problems: Problems) -> dict[str, dict[str, str]]:
    """sam's ``--env-vars`` JSON: function (or ``Parameters``) -> variable -> value."""
    env_problems = Problems(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        env_problems.error("", "file not found")
        raw = None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        env_problems.error("", f"expected sam's --env-vars JSON: {exc}")
        raw = None
    out: dict[str, dict[str, str]] = {}
    if raw is not None and not isinstance(raw, dict):
        env_problems.expected("", 'a mapping like {"MyFunction": {"VAR": "value"}, "Parameters": {...}}', raw)
    for key, variables in (raw if isinstance(raw, dict) else {}).items():
        if not isinstance(variables, dict):
            env_problems.expected(pointer(key), "a mapping of variable names to values", variables)
            continue
        out[key] = {name: _env_text(value) for name, value in variables.items()}
    problems.items.extend(env_problems.items)
    return out


def _env_text(value: Any) -> str:
    """Lambda environment values are strings; sam stringifies booleans in lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)

