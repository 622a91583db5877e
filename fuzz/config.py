"""Fuzz target: the project loader (``lychgate.yaml`` + OpenAPI document + IAM export).

Input: up to three files separated by ``SEPARATOR`` lines: ``lychgate.yaml``, ``openapi.yaml``
(the file the seeds' projects name) and ``iam/authorization-details.json``. They are written to
one scratch folder, which is loaded with ``load_project`` as ``lychgate serve`` would.

Contract (``load_project``: "raises ConfigError listing every error found"):
* loading returns a ``Project`` or raises ``ConfigError`` and nothing else; every problem names a
  file, a JSON pointer ("" or "/...") and a message, and a ConfigError holds at least one error;
* a loaded project's methods use API Gateway's verbs and their paths start with ``/`` (or are
  ``$default``); ``lychgate check``'s static findings on it never raise.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from itertools import zip_longest
from pathlib import Path
from typing import Iterator

import yaml
from hypothesis import strategies as st

from fuzz import ROOT, corpus
from fuzz.mutate import byte_mutations, hostile_values, mutated_tree, to_json, to_yaml
from lychgate.config.check import findings
from lychgate.config.model import HTTP_METHODS, Project
from lychgate.config.project import load_project
from lychgate.errors import ConfigError, Problem

SEPARATOR = b"\n#%%\n"
FILES = ("lychgate.yaml", "openapi.yaml", "iam/authorization-details.json")
VERBS = frozenset(HTTP_METHODS) | {"ANY"}

_FOLDER = Path(tempfile.mkdtemp(prefix="lychgate-fuzz-config-"))
atexit.register(shutil.rmtree, _FOLDER, True)


def _write(sections: list[bytes]) -> None:
    for name, content in zip_longest(FILES, sections[:len(FILES)]):
        path = _FOLDER / name
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(content)


def _check_problem(problem: object) -> None:
    assert type(problem) is Problem, problem
    assert isinstance(problem.file, str) and isinstance(problem.message, str), problem
    assert problem.pointer == "" or problem.pointer.startswith("/"), problem
    assert problem.severity in ("error", "warning"), problem


def fuzz_one(data: bytes) -> None:
    _write(data.split(SEPARATOR))
    try:
        project = load_project(_FOLDER)
    except ConfigError as error:
        for problem in error.problems:
            _check_problem(problem)
        assert any(p.severity == "error" for p in error.problems), error.problems
        return
    assert type(project) is Project
    for problem in project.warnings:
        _check_problem(problem)
    for api in project.apis:
        for method in api.methods:
            assert method.http_method in VERBS, method
            assert method.resource_path == "$default" or method.resource_path.startswith("/"), method
    for problem in findings(project):
        _check_problem(problem)


# ---------------------------------------------------------------- generation

@st.composite
def _mutated_project(draw, seeds: list[bytes]) -> bytes:
    """A seed project with a few subtrees of one file replaced by hostile values (type confusion)."""
    sections = draw(st.sampled_from(seeds)).split(SEPARATOR)
    index = draw(st.integers(0, len(sections) - 1))
    try:
        tree = yaml.safe_load(sections[index])
    except yaml.YAMLError:
        return SEPARATOR.join(sections)
    mutated = draw(mutated_tree(tree, hostile_values()))
    sections[index] = to_json(mutated) if FILES[index].endswith(".json") else to_yaml(mutated)
    return SEPARATOR.join(sections)


def inputs() -> st.SearchStrategy[bytes]:
    seeds = corpus("config") or [b"apis: [{id: a, openapi: openapi.yaml}]\n" + SEPARATOR + b"openapi: 3.0.1\n"]
    return st.one_of(_mutated_project(seeds), byte_mutations(seeds))


# An HTTP API with the extensions only HTTP APIs have: CORS, a JWT authorizer, payload format 2.0.
_HTTP_API = {
    "openapi": "3.0.1", "info": {"title": "http", "version": "1"},
    "x-amazon-apigateway-importexport-version": "1.0",
    "x-amazon-apigateway-cors": {"allowOrigins": ["https://example.com"], "allowMethods": ["GET"], "maxAge": 60},
    "components": {"securitySchemes": {"jwt": {
        "type": "oauth2", "x-amazon-apigateway-authorizer": {
            "type": "jwt", "identitySource": "$request.header.Authorization",
            "jwtConfiguration": {"issuer": "https://issuer.example.com", "audience": ["client"]}}}}},
    "paths": {
        "/items/{id}": {"get": {"security": [{"jwt": ["read"]}], "x-amazon-apigateway-integration": {
            "type": "aws_proxy", "payloadFormatVersion": "2.0", "timeoutInMillis": 3000,
            "uri": "arn:aws:lambda:us-east-1:123456789012:function:items"}}},
        "$default": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "httpMethod": "ANY", "uri": "https://backend.example.com/{proxy}"}}}},
}


def seeds() -> Iterator[tuple[str, bytes]]:
    """The example and bench projects, a CloudFormation test's API document, an HTTP API."""
    for folder in ("examples/petstore", "examples/proxy", "bench/projects/lambda", "bench/projects/proxy"):
        files = [ROOT / folder / name for name in FILES]
        yield folder.replace("/", "-"), SEPARATOR.join(path.read_bytes() for path in files if path.exists())
    minimal = b"apis:\n  - id: api\n    openapi: openapi.yaml\nfunctions:\n  items-fn: h.py:handler\n"
    document = ROOT / "tests/config/cloudformation/templates/cfn-mixed/api.yaml"
    yield "cfn-mixed-api", minimal + SEPARATOR + document.read_bytes()
    http = b"apis:\n  - id: http\n    openapi: openapi.yaml\nfunctions:\n  items: h.py:handler\n"
    yield "http-api", http + SEPARATOR + to_yaml(_HTTP_API)
