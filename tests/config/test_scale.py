"""Large projects (issue #9): the YAML fast path reads exactly what ``yaml.safe_load`` reads, the
schema's IAM-name check answers as its regex did, and what policies and routers share is safe."""

import re
from typing import Annotated

import pytest
import yaml
from pydantic import BaseModel, Field, ValidationError

from lychgate.config import source
from lychgate.config.schema import AccessKeyConfig, UserConfig, _iam_name
from lychgate.config.source import _load_yaml
from lychgate.iam import AuthzRequest, Decision, PolicyError, PolicySource, SharedParts, compile_policy, evaluate_policies

# Documents where libyaml and PyYAML's own parser differ, or where the fast path takes a shortcut.
DOCUMENTS = [
    "a: 1\nb: [1, 2]\n",                              # flow collection: PyYAML parses it
    "a:\n  - {Sid: x, Res?ource: y}\n",               # libyaml accepts '?' in a flow plain scalar; PyYAML does not
    "a: !\nb: 1\n",                                   # empty non-specific tag: '' for libyaml, None for PyYAML
    "a: 1\t\nb: 2\n",                                 # tabs
    "a: 1\n\ufeffb: 2\n",                             # a byte-order mark in the middle
    "a: &x\n  - 1\nb: *x\n",                          # alias of a collection: one object
    "a: &x\n  b: *x\n",                               # recursive
    "base: &b\n  x: 1\nderived:\n  <<: *b\n  y: 2\n",  # merge key
    "a:\n  b: 1\n  b: 2\n",                           # duplicate key: the last wins
    "? - a\n: b\n",                                   # unhashable key
    "d: 2001-12-14\nt: 2001-12-14t21:59:43.10-05:00\nbad: 2001-02-30\n",
    "i: 0x1F\nf: .inf\nn: ~\nb: yes\ns: '1'\ne: []\nm: {}\n",
    "%FOO bar\n---\na: 1\n",                          # an unknown directive: libyaml refuses, PyYAML warns
    "x: " + "[" * 99 + "]" * 99,
    "x:\n" + "".join("  " * i + "- \n" for i in range(1, 150)),
    "x: " + "[" * 600 + "]" * 600,                    # too deep for PyYAML: refused either way
    "a: b: c\n", "- a\nb: c\n", "",
]


def outcome(load, text):
    try:
        return "value", load(text)
    except RecursionError:
        return "error", "RecursionError"
    except Exception as exc:  # noqa: BLE001 - compared below
        return "error", f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("text", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_fast_yaml_reads_what_safe_load_reads(text):
    fast, reference = outcome(_load_yaml, text), outcome(yaml.safe_load, text)
    # repr: the same values, also for a recursive one (which == cannot compare), with their types
    assert (fast[0], repr(fast[1])) == (reference[0], repr(reference[1]))


def test_aliases_keep_one_object():
    loaded = _load_yaml("a: &x\n  - 1\nb: *x\nc: &y\n  d: *y\n")
    assert loaded["a"] is loaded["b"] and loaded["c"]["d"] is loaded["c"]


def test_a_large_block_document_takes_the_fast_path(monkeypatch):
    routes = "".join(f"  /r{n}/items/{{id}}:\n    get:\n      security:\n      - sigv4: []\n      x-amazon-apigateway-integration:\n"
                     f"        type: http_proxy\n        uri: http://b/{n}\n" for n in range(2000))
    text = "openapi: 3.0.1\npaths:\n" + routes
    expected = yaml.safe_load(text)

    def refuse(_text):
        raise AssertionError("the pure-Python parser was used")
    monkeypatch.setattr(source.yaml, "safe_load", refuse)
    loaded = _load_yaml(text)
    assert loaded == expected
    # Equal texts are one object (the copy made once), not the parser's own strings.
    uris = {id(item["get"]["x-amazon-apigateway-integration"]["type"]) for item in loaded["paths"].values()}
    assert len(uris) == 1


def test_iam_names_are_checked_as_the_pattern_did():
    pattern = r"^[\w+=,.@-]{1,64}$"

    class Before(BaseModel):
        name: str = Field(pattern=pattern)

    class After(BaseModel):
        name: Annotated[str, _iam_name(1)]

    def errors(model, value):
        try:
            model(name=value)
        except ValidationError as exc:
            return [{k: e[k] for k in ("type", "loc", "msg", "input", "ctx") if k in e} for e in exc.errors()]
        return []

    for value in ["alice", "a b", "", "x" * 64, "x" * 65, "\ud800", "a\n", "é\u0301", 5, b"ok", b"a b", None, "a_b=c,d.e@f-g+h"]:
        assert errors(Before, value) == errors(After, value), value
    with pytest.raises(ValidationError, match=re.escape(r"^[\w+=,.@-]{2,64}$")):
        AccessKeyConfig(id="AKIAAAAAAAAAAAAAAAAA", secret="s", role="r", session_name="x")
    assert UserConfig(name="bob").name == "bob"


POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                  "Resource": ["arn:aws:execute-api:*:*:api/prod/GET/r{n}/*",
                                                               "arn:aws:execute-api:*:*:api/prod/GET/shared/*"]}]}


def policy(n: int, shared: SharedParts | None):
    doc = {**POLICY, "Statement": [{**POLICY["Statement"][0],
                                    "Resource": [r.format(n=n) for r in POLICY["Statement"][0]["Resource"]]}]}
    return compile_policy(doc, PolicySource(f"p{n}", pointer=f"/p/{n}"), shared=shared)


def test_policies_compiled_together_share_equal_parts_and_decide_alike():
    shared = SharedParts()
    one, two = policy(1, shared), policy(2, shared)
    assert one.statements[0].actions is two.statements[0].actions
    assert one.statements[0].resources.templates[1] is two.statements[0].resources.templates[1]
    for n, arn in [(1, "api/prod/GET/r1/x"), (2, "api/prod/GET/r1/x"), (2, "api/prod/GET/shared/y"), (1, "api/prod/POST/r1/x")]:
        request = AuthzRequest("execute-api:Invoke", f"arn:aws:execute-api:us-east-1:123456789012:{arn}", None, {})
        together = evaluate_policies(request, (one if n == 1 else two,))
        alone = evaluate_policies(request, (policy(n, None),))
        assert together.decision is alone.decision
        assert [m.pointer for m in together.matched] == [m.pointer for m in alone.matched]
    assert evaluate_policies(AuthzRequest("execute-api:Invoke", "arn:aws:execute-api:us-east-1:1:api/prod/GET/r2/x",
                                          None, {}), (two,)).decision is Decision.ALLOW


def test_a_bad_policy_is_reported_at_its_own_pointer_after_a_good_one():
    shared = SharedParts()
    policy(1, shared)
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["execute-api:Invoke", "nope"],
                                                   "Resource": "arn:aws:execute-api:*:*:api/prod/GET/r1/*"}]}
    with pytest.raises(PolicyError) as raised:
        compile_policy(bad, PolicySource("bad"), shared=shared)
    assert raised.value.pointer == "/Statement/0/Action/1"
