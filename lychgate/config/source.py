"""Reading configuration files and reporting problems at a JSON pointer.

Loaders walk plain dicts from YAML/JSON and record every problem they find in a ``Problems``
collector (file, JSON pointer, expected vs found) instead of stopping at the first one, so
``lychgate check`` can list them all at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from lychgate.errors import ConfigError, Problem


def pointer(*parts: object) -> str:
    """A JSON pointer (RFC 6901) from path parts: ``pointer("paths", "/pets", "get")`` -> ``/paths/~1pets/get``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def describe(value: Any) -> str:
    """How a found value is shown in a message: short, with its type."""
    try:
        text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    except (TypeError, ValueError, RecursionError):  # YAML date keys, ints over 4300 digits, deep nesting
        text = "..."
    if len(text) > 60:
        text = text[:57] + "..."
    kind = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)
    return f"{text} ({kind})"


class Problems:
    """Collects problems for one file."""

    def __init__(self, file: str | Path):
        self.file = str(file)
        self.items: list[Problem] = []

    def error(self, ptr: str, message: str) -> None:
        self.items.append(Problem(self.file, ptr, message))

    def warning(self, ptr: str, message: str) -> None:
        self.items.append(Problem(self.file, ptr, message, "warning"))

    def expected(self, ptr: str, what: str, found: Any) -> None:
        self.error(ptr, f"expected {what}, found {describe(found)}")

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]


def load_document(path: Path, label: str | None = None) -> Any:
    """Parse a YAML or JSON file; a missing file or a syntax error is a ConfigError naming it."""
    name = label or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(name, "", f"cannot read file: {exc}")]) from None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([Problem(name, "", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(name, "", f"invalid YAML{where}: {reason}")]) from None
    except ValueError as exc:  # an integer with more digits than int() converts
        raise ConfigError([Problem(name, "", f"unreadable value: {exc}")]) from None
    except RecursionError:
        raise ConfigError([Problem(name, "", "nested too deeply to read")]) from None
