"""Reading configuration files and reporting problems at a JSON pointer.

Loaders walk plain dicts from YAML/JSON and record every problem they find in a ``Problems``
collector (file, JSON pointer, expected vs found) instead of stopping at the first one, so
``lychgate check`` can list them all at once.
"""

from __future__ import annotations

import contextlib
import gc
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


@contextlib.contextmanager
def collector_paused():
    """The cyclic garbage collector off for a while (back on after, if it was on). Loading a large
    document or project allocates millions of objects and frees almost none: the collector's
    passes over them, ever longer, would take most of the time (for a 10,000-route document,
    three quarters of libyaml's). Garbage made meanwhile is collected afterwards as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: Documents nested deeper than this are left to the pure-Python parser, whose recursion limit
#: (a few hundred levels) decides whether they load: libyaml has none.
FAST_MAX_NESTING = 100


class _Reference(Exception):
    """The document is one for the pure-Python parser to read."""


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_SPECIAL_KEYS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})  # ``<<`` and ``=``


if hasattr(yaml, "CSafeLoader"):
    class _FastLoader(yaml.CSafeLoader):
        """libyaml's parser under PyYAML's safe constructor and resolver (the same code as
        ``yaml.safe_load``), for block-style documents nested at most ``FAST_MAX_NESTING`` deep.

        libyaml builds the whole node graph first (for a 10,000-route document, about thirty
        times the text's size), with every scalar's text among the nodes: the values the
        document's strings are built from are equal copies, one per distinct text, so that
        nothing kept from the document holds the graph's memory once it is freed.

        Plain documents (every mapping key a scalar, no ``<<`` merge or ``=`` key, no node
        reached twice through an alias) are built without the constructor's per-node machinery:
        dicts and lists filled in the constructor's order, strings as it makes them, any other
        scalar by the constructor itself. Anything unusual goes through ``construct_document``;
        any error, through the pure-Python loader (``_load_yaml``)."""

        def __init__(self, stream):
            super().__init__(stream)
            self._texts: dict[str, str] = {}
            self._tags: dict[str, str] = {}

        def get_single_data(self):
            node = self.get_single_node()
            if node is None:
                return None
            plain = _check(node, FAST_MAX_NESTING, self._texts)
            if plain is None:
                raise _Reference
            return self._construct_plain(node) if plain else self.construct_document(node)

        def resolve(self, kind, value, implicit):
            # The tag of a plain scalar depends on its text only (SafeLoader has no path resolvers).
            if kind is yaml.ScalarNode and implicit[0] and not self.yaml_path_resolvers:
                tag = self._tags.get(value)
                if tag is None:
                    tag = self._tags[value] = super().resolve(kind, value, implicit)
                return tag
            return super().resolve(kind, value, implicit)

        def construct_scalar(self, node):
            value = super().construct_scalar(node)
            return self._texts.get(value, value) if type(value) is str else value

        def _construct_plain(self, root: yaml.Node) -> Any:
            texts = self._texts

            def scalar(node):
                if node.tag == _STR:  # construct_yaml_str
                    return texts.get(node.value, node.value)
                return self.construct_object(node)

            if isinstance(root, yaml.ScalarNode):
                data = scalar(root)
            else:
                data = {} if isinstance(root, yaml.MappingNode) else []
                stack = [(root, data)]
                while stack:
                    node, out = stack.pop()
                    if isinstance(out, dict):
                        pairs = node.value
                    else:
                        pairs = ((None, item) for item in node.value)
                    for key_node, value_node in pairs:
                        if isinstance(value_node, yaml.ScalarNode):
                            value = scalar(value_node)
                        else:
                            value = {} if isinstance(value_node, yaml.MappingNode) else []
                            stack.append((value_node, value))
                        if key_node is None:
                            out.append(value)
                        else:
                            out[scalar(key_node)] = value
            self.constructed_objects = {}
            return data
else:  # PyYAML built without libyaml
    _FastLoader = None


def _check(root: yaml.Node, limit: int, texts: dict[str, str]) -> bool | None:
    """None if the document is one for the pure-Python parser: it has a flow collection with
    content (inside ``[…]`` and ``{…}`` libyaml's scanner accepts text PyYAML's refuses; the
    empty ``[]`` and ``{}`` are common and safe) or nests collections more than ``limit`` levels
    deep. Else whether it is plain (see ``_FastLoader``). Fills ``texts`` with a copy of each
    distinct scalar text. The node graph is walked in document order, each node once: an alias
    reaches a node already seen at its (earlier) definition, so the depth found is that of the
    text, as PyYAML's parser recurses."""
    seen: set[int] = set()
    plain = True
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return None
        if isinstance(node, yaml.ScalarNode):
            value = node.value
            if len(value) > 1 and value not in texts:
                texts[value] = value[:1] + value[1:]  # a new object, next to the other copies
            continue
        if id(node) in seen:
            plain = False  # an alias of a collection: the same object twice (or a cycle)
            continue
        if node.flow_style and node.value:
            return None
        seen.add(id(node))
        depth += 1
        if isinstance(node, yaml.MappingNode):
            plain = plain and node.tag == _MAP
            for key, value in reversed(node.value):
                plain = plain and isinstance(key, yaml.ScalarNode) and key.tag not in _SPECIAL_KEYS
                stack.append((value, depth))
                stack.append((key, depth))
        else:
            plain = plain and node.tag == _SEQ
            stack.extend((child, depth) for child in reversed(node.value))
    return plain


#: Characters of documents left to the pure-Python parser (see ``_load_yaml``).
_REFERENCE_ONLY = ("\t", "\ufeff", "!")


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, about ten times faster on large documents (a 10,000-route export)
    when PyYAML has libyaml. The constructor and resolver are the same code either way; where the
    two parsers may differ, PyYAML's decides: documents with a tab, a byte-order mark (libyaml skips
    one at the start of any line), a ``!`` (tags: libyaml reads an empty ``!`` scalar as ``''``,
    PyYAML as null) or a non-empty flow collection (libyaml's scanner is more lenient with tabs
    and inside ``[…]``, ``{…}``), nested deeper than ``FAST_MAX_NESTING``, or that libyaml
    refuses are parsed by it, so what loads, and the message saying why something does not, stay
    exactly those of ``yaml.safe_load``."""
    with collector_paused():
        if _FastLoader is not None and not any(char in text for char in _REFERENCE_ONLY):
            try:
                return yaml.load(text, Loader=_FastLoader)  # noqa: S506 - the safe constructor
            except Exception:  # noqa: BLE001 - the reference parser below gives the verdict
                pass
        return yaml.safe_load(text)


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
        return _load_yaml(text)
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
