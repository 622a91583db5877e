"""Hypothesis strategies shared by the targets: hostile values and mutations of real inputs.

Two kinds of mutation, so that hypothesis explores near the real inputs the way a
coverage-guided fuzzer does:

* ``byte_mutations(seeds)``: a seed with a few byte-level edits (insert, delete, overwrite,
  duplicate, splice with another seed), biased towards tokens that break parsers;
* ``mutated_tree(tree)``: a parsed document (JSON/YAML tree) with a few subtrees replaced by
  ``hostile_values()``: wrong types, non-string keys, huge numbers, deep nesting.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Sequence

import yaml
from hypothesis import strategies as st

#: Byte strings that tend to break parsers: delimiters, escapes, huge or deep tokens.
INTERESTING = (
    b"", b"\x00", b"\xff", b"\xed\xa0\x80", b"%", b"%00", b"%ZZ", b"%C3", b"+", b"&", b"=", b";", b",",
    b":", b"/", b"//", b"/../", b"{", b"}", b"${", b"[", b"]", b'"', b"'", b"\\", b"\\u0000", b"\n", b"\r\n",
    b" ", b"\t", b"*", b"?", b"-1", b"0", b"1e999", b"9" * 5000, b"[" * 1000, b"{\"a\":" * 1000,
    b"- " * 1000, b"&a [*a, *a]", b"!!binary", b"!!python/object", b"~", b"null", b"true", b"NaN",
)


def _edit(data: bytes, kind: int, start: int, length: int, piece: bytes, other: bytes) -> bytes:
    start = min(start, len(data))
    end = min(start + length, len(data))
    if kind == 0:  # insert
        return data[:start] + piece + data[start:]
    if kind == 1:  # delete
        return data[:start] + data[end:]
    if kind == 2:  # overwrite
        return data[:start] + piece + data[end:]
    if kind == 3:  # duplicate a range
        return data[:end] + data[start:end] + data[end:]
    return data[:start] + other[start:]  # splice: our head, another seed's tail


@st.composite
def byte_mutations(draw, seeds: Sequence[bytes], max_edits: int = 4) -> bytes:
    """A seed with 0 to ``max_edits`` byte-level edits."""
    data = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(0, max_edits))):
        piece = draw(st.one_of(st.sampled_from(INTERESTING), st.binary(max_size=8)))
        data = _edit(data, draw(st.integers(0, 4)), draw(st.integers(0, max(len(data), 1))),
                     draw(st.integers(0, 32)), piece, draw(st.sampled_from(seeds)))
    return data


# Values no serializer can write (json/yaml refuse ints over 4300 digits and recurse on depth),
# planted as placeholders and expanded in the text: see ``to_json``/``to_yaml``. Nesting deep
# enough to exhaust Python's stack takes ~1000 levels of JSON but ~500 of YAML, whose parser is
# also quadratic in depth (1000 levels take over a second).
DEEP, HUGE = "@@deep@@", "@@huge@@"


def _expand(text: str, depth: int) -> str:
    for placeholder, replacement in ((DEEP, "[" * depth + "]" * depth), (HUGE, "9" * 5000)):
        for form in (f'"{placeholder}"', f"'{placeholder}'", placeholder):
            text = text.replace(form, replacement)
    return text


def to_json(tree: Any) -> bytes:
    """JSON text of a (mutated) tree; non-string keys become strings, as ``json`` does."""
    return _expand(json.dumps(tree, default=str), 1000).encode("utf-8", "surrogateescape")


def to_yaml(tree: Any) -> bytes:
    """YAML text of a (mutated) tree; non-string keys stay what they are."""
    text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
    return _expand(text, 600).encode("utf-8", "surrogateescape")


@functools.cache  # one strategy object: hypothesis re-derives a new one's internals on every use
def hostile_values() -> st.SearchStrategy[Any]:
    """Values a YAML/JSON document may hold where a loader expects something else."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.just(DEEP), st.just(HUGE),
        st.sampled_from(["", "*", "${", "/", "{x+}", "GET", "AWS_IAM", "2012-10-17", "arn:aws:iam::1:root",
                         "x-amazon-apigateway-integration", "\x00", "é", "9" * 5000]),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.none(), st.booleans()),
                            children, max_size=3)),
        max_leaves=6)


def _paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """Every node's path (keys/indexes from the root), the root included; not below depth 40,
    so that a deep document does not exhaust our own stack."""
    found = [prefix]
    if len(prefix) >= 40:
        return found
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += _paths(value, prefix + (index,))
    return found


def _replace(tree: Any, path: tuple, value: Any, add_key: Any = None) -> Any:
    """A copy of ``tree`` with the node at ``path`` replaced (or, for a dict, a key added)."""
    if not path:
        if add_key is not None and isinstance(tree, dict):
            return {**tree, add_key: value}
        return value
    head, rest = path[0], path[1:]
    if isinstance(tree, dict) and head in tree:
        return {**tree, head: _replace(tree[head], rest, value, add_key)}
    if isinstance(tree, list) and isinstance(head, int) and head < len(tree):
        return [*tree[:head], _replace(tree[head], rest, value, add_key), *tree[head + 1:]]
    return tree  # the path vanished under an earlier edit


@st.composite
def mutated_tree(draw, tree: Any, values: st.SearchStrategy[Any] | None = None, max_edits: int = 3) -> Any:
    """``tree`` with 1..max_edits nodes replaced by (or dict keys added with) hostile values."""
    values = values if values is not None else hostile_values()
    for _ in range(draw(st.integers(1, max_edits))):
        path = draw(st.sampled_from(_paths(tree)))
        add_key = draw(st.one_of(st.none(), st.text(max_size=12), st.integers()))
        tree = _replace(tree, path, draw(values), add_key)
    return tree
