"""Fuzz target: route matching (``lychgate.routing.Router``) over routes the loader accepts.

Input: route lines (``VERB /path/{param}/{greedy+}``, ``ANY /x`` or ``$default``), a
``SEPARATOR`` line, then request lines (``VERB /raw/path``). The routes are read from an
OpenAPI document by ``config.openapi.parse_api`` (so only loader-accepted paths reach the
router, as in the gateway); requests are matched exactly as received.

Contract (``Router.match``: "the route serving this request, or None"):
* ``match`` and ``near_misses`` never raise; a match's path parameters are strings named by the
  route's template, and its method is the request's verb, ANY, or the ``$default`` route;
* every route is reachable: its own path (literals percent-encoded, every parameter filled in)
  matches something for its verb, and a route without parameters is matched by its own path.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Iterator
from urllib.parse import quote

from hypothesis import strategies as st

from fuzz import ROOT, corpus
from fuzz.mutate import byte_mutations
from lychgate.config.model import HTTP, HTTP_METHODS, REST, Method
from lychgate.config.openapi import OPERATION_KEYS, parse_api
from lychgate.config.source import Problems
from lychgate.routing import RouteMatch, Router, split_path

SEPARATOR = b"\n%%\n"
MAX_LINES = 64
_PARAM = re.compile(r"\{([^{}/]*?)\+?\}")
_VERB_KEYS = {verb: key for key, verb in OPERATION_KEYS.items()}


def load_routes(lines: list[str]) -> list[Method]:
    """The methods ``parse_api`` builds from these route lines (invalid ones are left out by it)."""
    paths: dict[str, dict] = {}
    for line in lines[:MAX_LINES]:
        verb, _, path = line.strip().partition(" ")
        if verb == "$default":
            verb, path = "ANY", "$default"
        key = _VERB_KEYS.get(verb)
        if key is not None:
            paths.setdefault(path, {})[key] = {"x-amazon-apigateway-integration": {"type": "mock"}}
    protocol = HTTP if "$default" in paths else REST
    api = parse_api({"openapi": "3.0.1", "paths": paths}, api_id="fuzz", file="openapi.yaml",
                    stages=MappingProxyType({}), protocol=protocol, problems=Problems("openapi.yaml"))
    return list(api.methods) if api is not None else []


def _spellable(path: str) -> bool:
    """False for a path with a lone surrogate (a JSON escape can make one): no request spells it."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_match(found: object, verb: str) -> None:
    if found is None:
        return
    assert type(found) is RouteMatch, found
    method, params = found.method, found.path_parameters
    if method.resource_path == "$default":
        assert params == {}, found
        return
    assert method.http_method in (verb, "ANY"), found
    assert set(params) == set(_PARAM.findall(method.resource_path)), found
    assert all(isinstance(value, str) for value in params.values()), found


def fuzz_one(data: bytes) -> None:
    routes_text, _, requests_text = data.decode("utf-8", "surrogateescape").partition(SEPARATOR.decode())
    methods = load_routes(routes_text.split("\n"))
    router = Router(methods)
    for line in requests_text.split("\n")[:MAX_LINES]:
        verb, _, path = line.partition(" ")
        _check_match(router.match(verb, path), verb)
        assert all(isinstance(key, str) for key in router.near_misses(path))
    for method in methods:
        if method.resource_path == "$default" or not _spellable(method.resource_path):
            continue
        verb = "GET" if method.http_method == "ANY" else method.http_method
        filled = _PARAM.sub("v", method.resource_path)
        # A literal is compared with the decoded request segment, so the request encodes it.
        found = router.match(verb, "/".join(quote(segment, safe="") for segment in filled.split("/")))
        _check_match(found, verb)
        assert found is not None, f"{method.route_key} is not reachable by {verb} {filled}"
        if filled == method.resource_path and method.http_method != "ANY":
            assert split_path(found.method.resource_path) == split_path(filled), (method.route_key, found)
            assert found.method.http_method == verb, (method.route_key, found)


# ---------------------------------------------------------------- generation

_SEGMENTS = st.sampled_from(["pets", "a", "{id}", "{id}", "{petId}", "{proxy+}", "{x+}", "%20", "%2F", "..",
                             ".", "", "é", "{", "}", "{}", "{+}", "{a}b", "a b", "*", "$default", "{id.v_1-2}"])
_VERBS = st.sampled_from([*HTTP_METHODS, "ANY", "get", "", "GET "])


def _path(segments: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(segments, max_size=5).map(lambda parts: "/" + "/".join(parts)) | st.sampled_from(["/", "", "//"])


@st.composite
def _generated(draw) -> bytes:
    routes = [f"{draw(_VERBS)} {draw(_path(_SEGMENTS))}" for _ in range(draw(st.integers(1, 8)))]
    if draw(st.booleans()):
        routes.append("$default")
    request_segments = st.one_of(_SEGMENTS, st.sampled_from(["42", "v", "a%2Fb", "%", "%zz", "\udcff"]),
                                 st.text(max_size=6))
    requests = [f"{draw(_VERBS)} {draw(_path(request_segments))}" for _ in range(draw(st.integers(0, 8)))]
    return ("\n".join(routes) + SEPARATOR.decode() + "\n".join(requests)).encode("utf-8", "surrogateescape")


def inputs() -> st.SearchStrategy[bytes]:
    seeds = corpus("routing") or [b"GET /pets" + SEPARATOR + b"GET /pets"]
    return st.one_of(_generated(), byte_mutations(seeds))


def seeds() -> Iterator[tuple[str, bytes]]:
    """The route trees and requests of ``tests/test_routing.py``, and the example APIs' routes."""
    import importlib.util

    import yaml
    spec = importlib.util.spec_from_file_location("routing_cases", ROOT / "tests" / "test_routing.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    routes = sorted({route for _, _, route, _ in cases.CASES})
    requests = [f"{verb} {path}" for verb, path, _, _ in cases.CASES]
    yield "rest-precedence", ("\n".join(routes) + SEPARATOR.decode() + "\n".join(requests)).encode()
    http = ["GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default"]
    yield "http-default-route", ("\n".join(http) + SEPARATOR.decode() +
                                 "GET /pets/dog/1\nGET /pets/dog/2\nGET /pets/cat/1\nPOST /pets/dog/1\nGET /").encode()
    for name in ("petstore", "proxy"):
        document = yaml.safe_load((ROOT / "examples" / name / "openapi.yaml").read_text())
        lines = [f"{OPERATION_KEYS[key]} {path}" for path, item in document["paths"].items()
                 for key in item if key in OPERATION_KEYS]
        filled = [_PARAM.sub("v", line) for line in lines]
        yield f"example-{name}", ("\n".join(lines) + SEPARATOR.decode() + "\n".join(filled)).encode()

