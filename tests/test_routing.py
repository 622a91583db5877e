"""Route precedence: literal > {param} > {greedy+}, falling through when a resource lacks the method."""

import pytest
from hypothesis import given, settings, strategies as st

from lychgate.config.model import Method, Source
from lychgate.routing import Router


def router(*routes: str) -> Router:
    methods = []
    for route in routes:
        verb, path = route.split(" ", 1) if " " in route else ("ANY", route)
        methods.append(Method(verb, path, Source("t", ""), None))
    return Router(methods)


REST_TREE = router("GET /", "GET /pets", "POST /pets", "GET /pets/{petId}", "PATCH /users/me",
                   "GET /users/{userId}", "POST /roles/provision", "GET /roles/{roleId}",
                   "GET /things/real", "ANY /things/{proxy+}", "ANY /files/{path+}", "DELETE /pets/{petId}/tags/{tag}")

CASES = [
    ("GET", "/", "GET /", {}),
    ("GET", "/pets", "GET /pets", {}),
    ("GET", "/pets/", "GET /pets", {}),  # a trailing slash is ignored
    ("POST", "/pets", "POST /pets", {}),
    ("GET", "/pets/42", "GET /pets/{petId}", {"petId": "42"}),
    ("GET", "/pets/a%20b", "GET /pets/{petId}", {"petId": "a b"}),
    ("DELETE", "/pets/7/tags/red", "DELETE /pets/{petId}/tags/{tag}", {"petId": "7", "tag": "red"}),
    # Measured on AWS (docs/aws-behaviour.md "Routing"): the most specific resource *with the method*.
    ("GET", "/users/me", "GET /users/{userId}", {"userId": "me"}),
    ("PATCH", "/users/me", "PATCH /users/me", {}),
    ("POST", "/roles/provision", "POST /roles/provision", {}),
    ("GET", "/roles/provision", "GET /roles/{roleId}", {"roleId": "provision"}),
    ("GET", "/things/real", "GET /things/real", {}),
    ("POST", "/things/real", "ANY /things/{proxy+}", {"proxy": "real"}),
    ("GET", "/things/a/b/c", "ANY /things/{proxy+}", {"proxy": "a/b/c"}),
    ("GET", "/files/x/y.txt", "ANY /files/{path+}", {"path": "x/y.txt"}),
]


@pytest.mark.parametrize("verb,path,route_key,params", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_rest_precedence(verb, path, route_key, params):
    match = REST_TREE.match(verb, path)
    assert match is not None
    assert match.method.route_key == route_key
    assert match.path_parameters == params


@pytest.mark.parametrize("verb,path", [("POST", "/users/me"), ("PUT", "/pets"), ("GET", "/nothing"),
                                       ("GET", "/things"), ("HEAD", "/pets"), ("GET", "/pets/1/2")])
def test_rest_no_match(verb, path):
    assert REST_TREE.match(verb, path) is None


def test_explicit_method_beats_any_on_same_resource():
    r = router("ANY /pets", "GET /pets")
    assert r.match("GET", "/pets").method.http_method == "GET"
    assert r.match("DELETE", "/pets").method.http_method == "ANY"


def test_greedy_does_not_match_root():
    assert router("ANY /{proxy+}").match("GET", "/") is None
    assert router("ANY /{proxy+}", "ANY /").match("GET", "/").method.resource_path == "/"


def test_http_api_order_and_default_route():
    # The example of AWS's HTTP API routing documentation.
    r = router("GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "ANY $default")
    assert r.match("GET", "/pets/dog/1").method.route_key == "GET /pets/dog/1"
    assert r.match("GET", "/pets/dog/2").method.route_key == "GET /pets/dog/{id}"
    assert r.match("GET", "/pets/cat/1").method.route_key == "GET /pets/{proxy+}"
    assert r.match("POST", "/pets/dog/1").method.route_key == "ANY /{proxy+}"
    assert r.match("GET", "/").method.route_key == "$default"


def test_parameter_cannot_be_empty():
    assert router("GET /a/{id}/b").match("GET", "/a//b") is None


def _exhaustive_match(r: Router, http_method: str, path: str):
    """The reference: every candidate resource in precedence order, no shortcut."""
    from lychgate.routing import split_path
    for node, params in r._candidates(r._root, split_path(path), 0, {}):
        method = node.methods.get(http_method) or node.methods.get("ANY")
        if method is not None:
            return method.route_key, params
    return None


_SEGMENTS = st.sampled_from(["a", "b", "me", "{id}", "{proxy+}", "x%20y", ""])
_ROUTES = st.lists(st.tuples(st.sampled_from(["GET", "POST", "ANY"]),
                             st.lists(_SEGMENTS.filter(bool), min_size=0, max_size=4)), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(routes=_ROUTES, method=st.sampled_from(["GET", "POST", "PUT"]),
       path=st.lists(st.sampled_from(["a", "b", "me", "x y", "x%20y", "", "42"]), max_size=5))
def test_fast_path_agrees_with_exhaustive_search(routes, method, path):
    # Greedy segments only last (as API Gateway requires); duplicates collapse like a real API's.
    keys = {f"{verb} /" + "/".join(s for i, s in enumerate(segs) if "+" not in s or i == len(segs) - 1)
            for verb, segs in routes}
    r = router(*keys)
    raw = "/" + "/".join(path)
    found = r.match(method, raw)
    assert (None if found is None else (found.method.route_key, found.path_parameters)) == \
        _exhaustive_match(r, method, raw)


def test_deep_route_does_not_exhaust_the_stack():
    # Found by fuzzing (issue #8): the search once recursed per segment.
    deep = "/" + "/".join(["a"] * 1200)
    assert router("GET " + deep).match("GET", deep + "/b") is None


def test_nodes_without_children_share_one_empty_map_that_stays_empty():
    # Issue #9: a large API's leaves would otherwise hold two empty dicts each.
    from lychgate import routing
    tree = router("GET /a", "GET /a/b", "GET /c/{id}", "POST /c/{id}", "ANY /d/{p+}", "GET /a/b/c")
    assert routing._NONE == {}
    assert tree.match("GET", "/a/b/c").method.route_key == "GET /a/b/c"
    assert tree.match("POST", "/c/7").path_parameters == {"id": "7"}
    assert tree.match("GET", "/a/x") is None and tree.match("GET", "/nope") is None
    assert routing._NONE == {}
