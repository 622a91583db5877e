"""Route matching with API Gateway's precedence, compiled once per API.

REST APIs pick the most specific resource that *has the requested method* (an explicit method
beats ``ANY`` on the same resource); specificity is literal segment, then ``{param}``, then a
greedy ``{name+}`` that swallows one or more remaining segments. A resource whose methods do not
include the request's falls through to the next candidate (measured on AWS: docs/aws-behaviour.md
"Routing"). HTTP APIs use the same order and then fall back to the ``$default`` route.
A trailing slash is ignored; ``/{proxy+}`` does not match the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, NamedTuple
from urllib.parse import unquote

from lychgate.config.model import Method


class RouteMatch(NamedTuple):
    method: Method
    path_parameters: dict[str, str]


def _route_match(method: Method, path_parameters: dict[str, str]) -> RouteMatch:
    # tuple.__new__ directly: the NamedTuple's own __new__ is a Python call, made on every request
    return tuple.__new__(RouteMatch, (method, path_parameters))


#: The ``literals`` and ``methods`` of every node that has none: one shared empty dict, never written
#: to (a node gets a dict of its own before its first entry). Most nodes of a large API have no
#: literal children or no methods, and an empty dict per node would be most of the router's memory.
_NONE: dict = {}


@dataclass(slots=True)
class _Node:
    literals: dict[str, "_Node"] = field(default_factory=lambda: _NONE)
    param: tuple[str, "_Node"] | None = None
    greedy: tuple[str, "_Node"] | None = None
    methods: dict[str, Method] = field(default_factory=lambda: _NONE)


class Router:
    """Matches (HTTP method, raw path) to a Method and its path parameters."""

    def __init__(self, methods: Iterable[Method]):
        self._root = _Node()
        self._default_route: Method | None = None
        # One key object per distinct segment text, while building (not sys.intern: its table would
        # keep an entry per segment for the life of the process).
        segments: dict[str, str] = {}
        for method in methods:
            self._add(method, segments)

    def _add(self, method: Method, segments: dict[str, str]) -> None:
        if method.resource_path == "$default":
            self._default_route = method
            return
        node = self._root
        for seg in split_path(method.resource_path):
            node = self._child(node, segments.setdefault(seg, seg))
        if node.methods is _NONE:
            node.methods = {}
        node.methods[method.http_method] = method

    @staticmethod
    def _child(node: _Node, seg: str) -> _Node:
        if seg.startswith("{") and seg.endswith("+}"):
            node.greedy = node.greedy or (seg[1:-2], _Node())
            return node.greedy[1]
        if seg.startswith("{") and seg.endswith("}"):
            node.param = node.param or (seg[1:-1], _Node())
            return node.param[1]
        child = node.literals.get(seg)
        if child is None:
            if node.literals is _NONE:
                node.literals = {}
            child = node.literals[seg] = _Node()
        return child

    def match(self, http_method: str, raw_path: str) -> RouteMatch | None:
        """The route serving this request, or None (REST: 403 MAT; HTTP API: 404)."""
        path = raw_path.strip("/")  # split_path, inline: a call less per request
        segments = path.split("/") if path else []
        node, params = self._most_specific(segments)
        if node is not None:  # usually the answer; else search every candidate in order
            method = node.methods.get(http_method) or node.methods.get("ANY")
            if method is not None:
                return _route_match(method, params)
        for node, params in self._candidates(self._root, segments, 0, {}):
            method = node.methods.get(http_method) or node.methods.get("ANY")
            if method is not None:
                return _route_match(method, params)
        if self._default_route is not None:
            return _route_match(self._default_route, {})
        return None

    def near_misses(self, raw_path: str) -> list[str]:
        """Route keys whose resource matches the path, for a method that did not match."""
        keys = []
        for node, _ in self._candidates(self._root, split_path(raw_path), 0, {}):
            keys += [m.route_key for m in node.methods.values()]
        return keys

    def _most_specific(self, segs: list[str]) -> tuple[_Node | None, dict]:
        """The first resource ``_candidates`` would yield, found without backtracking: a literal
        child, else a parameter, else a greedy one; (None, {}) where that walk dead-ends."""
        node, params = self._root, {}
        for i, seg in enumerate(segs):
            child = node.literals.get(unquote(seg) if "%" in seg else seg)
            if child is not None:
                node = child
            elif node.param is not None and seg:
                name, node = node.param
                params[name] = unquote(seg) if "%" in seg else seg
            elif node.greedy is not None:
                name, node = node.greedy
                rest = "/".join(segs[i:])
                params[name] = unquote(rest) if "%" in rest else rest
                return node, params
            else:
                return None, {}
        return node, params

    def _candidates(self, node: _Node, segs: list[str], i: int, params: dict) -> Iterator[tuple[_Node, dict]]:
        """Resources matching the path, most specific first: depth-first, literal before param
        before greedy. An explicit stack, not recursion: a route may have a thousand segments."""
        stack = [(node, i, params)]
        while stack:
            node, i, params = stack.pop()
            if i == len(segs):
                yield node, params
                continue
            seg = segs[i]
            # Pushed in reverse order of precedence, so the literal child is explored first.
            if node.greedy is not None:
                name, child = node.greedy
                stack.append((child, len(segs), {**params, name: unquote("/".join(segs[i:]))}))
            if node.param is not None and seg:
                name, child = node.param
                stack.append((child, i + 1, {**params, name: unquote(seg)}))
            child = node.literals.get(unquote(seg))
            if child is not None:
                stack.append((child, i + 1, params))


def split_path(path: str) -> list[str]:
    """Segments of a path; leading and trailing slashes do not count (``/`` has none)."""
    path = path.strip("/")
    return path.split("/") if path else []
