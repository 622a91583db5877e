"""Route precedence: literal > {param} > {greedy+}, falling through when a resource lacks the method."""

import pytest

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
