"""Loading projects: the accepted shapes, and a corpus of broken ones whose errors name file + pointer."""

import json
import subprocess
import sys

import pytest
import yaml

from helpers import openapi, proxy_op, write_project
from lychgate.config.model import HTTP, REST
from lychgate.config.project import load_project
from lychgate.errors import ConfigError

GOOD_DOC = openapi({"/pets": {"get": proxy_op("pets")}})
HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"


def test_issue_shape_loads_with_defaults(tmp_path):
    config = {"region": "us-east-1", "account_id": "123456789012",
              "apis": [{"id": "petstore", "openapi": "openapi.yaml",
                        "stages": {"prod": {"variables": {"backend": "http://127.0.0.1:9000"}}}}],
              "functions": {"pets": "handlers/pets.py:handler"}}
    project = load_project(write_project(tmp_path, GOOD_DOC, config=config, files={"handlers/pets.py": HANDLER}))
    api = project.apis[0]
    assert (project.region, project.account_id, api.id, api.protocol) == ("us-east-1", "123456789012", "petstore", REST)
    assert dict(api.stages["prod"].variables) == {"backend": "http://127.0.0.1:9000"}
    assert project.functions["pets"].handler == "handlers/pets.py:handler"


def test_defaults_and_function_arn_keys(tmp_path):
    config = {"apis": [{"id": "a", "openapi": "openapi.yaml"}],
              "functions": {"arn:aws:lambda:us-east-1:123456789012:function:pets": {"handler": "h.py:handler", "timeout": 3}}}
    project = load_project(write_project(tmp_path, GOOD_DOC, config=config, files={"h.py": HANDLER}))
    assert (project.region, project.account_id) == ("us-east-1", "123456789012")
    assert list(project.apis[0].stages) == ["prod"]
    assert project.functions["pets"].timeout_s == 3


def test_http_api_detected_from_document(tmp_path):
    doc = openapi({"/pets": {"get": proxy_op("pets", payloadFormatVersion="2.0")}},
                  **{"x-amazon-apigateway-importexport-version": "1.0"})
    config = {"apis": [{"id": "h", "openapi": "openapi.yaml"}], "functions": {"pets": "h.py:handler"}}
    api = load_project(write_project(tmp_path, doc, config=config, files={"h.py": HANDLER})).apis[0]
    assert api.protocol == HTTP and list(api.stages) == ["$default"]
    assert api.methods[0].integration.payload_format_version == "2.0"


def test_unknown_extensions_are_warnings(tmp_path):
    doc = openapi({"/pets": {"get": {**proxy_op("pets"), "x-amazon-apigateway-bogus": 1}}},
                  **{"x-amazon-apigateway-whatever": True, "x-amazon-apigateway-request-validators": {}})
    project = load_project(write_project(tmp_path, doc, config={"apis": [{"id": "a", "openapi": "openapi.yaml"}],
                                                                "functions": {"pets": "h.py:handler"}},
                                         files={"h.py": HANDLER}))
    pointers = {w.pointer for w in project.warnings}
    assert "/x-amazon-apigateway-whatever" in pointers
    assert "/paths/~1pets/get/x-amazon-apigateway-bogus" in pointers
    assert "/x-amazon-apigateway-request-validators" in pointers


# (case id, lychgate.yaml, document, file the error is in, pointer, a fragment of the message)
BROKEN = [
    ("not-a-mapping", "just text", GOOD_DOC, "lychgate.yaml", "", "expected a mapping"),
    ("no-apis", {"region": "us-east-1"}, GOOD_DOC, "lychgate.yaml", "/apis", "required key is missing"),
    ("typo-key", {"apis": [{"id": "a", "openapi": "openapi.yaml", "stagez": {}}]}, GOOD_DOC,
     "lychgate.yaml", "/apis/0/stagez", "unknown key"),
    ("bad-region", {"region": "mars", "apis": [{"id": "a", "openapi": "openapi.yaml"}]}, GOOD_DOC,
     "lychgate.yaml", "/region", "found 'mars'"),
    ("bad-account", {"account_id": "12", "apis": [{"id": "a", "openapi": "openapi.yaml"}]}, GOOD_DOC,
     "lychgate.yaml", "/account_id", "found '12'"),
    ("bad-api-id", {"apis": [{"id": "Bad Id!", "openapi": "openapi.yaml"}]}, GOOD_DOC,
     "lychgate.yaml", "/apis/0/id", "string should match pattern"),
    ("bad-stage-var", {"apis": [{"id": "a", "openapi": "openapi.yaml", "stages": {"p": {"variables": {"x-y": "1"}}}}]},
     GOOD_DOC, "lychgate.yaml", "/apis/0/stages/p/variables", "may only contain"),
    ("bad-handler", {"apis": [{"id": "a", "openapi": "openapi.yaml"}], "functions": {"pets": "nocolon"}}, GOOD_DOC,
     "lychgate.yaml", "/functions/pets/handler", "string should match pattern"),
    ("missing-doc", {"apis": [{"id": "a", "openapi": "missing.yaml"}]}, GOOD_DOC, "missing.yaml", "", "file not found"),
    ("dup-api", {"apis": [{"id": "a", "openapi": "openapi.yaml"}, {"id": "a", "openapi": "openapi.yaml"}],
                 "functions": {"pets": "h.py:handler"}}, GOOD_DOC, "lychgate.yaml", "/apis/1/id", "duplicate API id"),
    ("no-version", None, {"paths": {}}, "openapi.yaml", "/openapi", "expected an 'openapi: 3.x'"),
    ("paths-not-map", None, openapi([]), "openapi.yaml", "/paths", "expected a mapping of paths"),
    ("bad-segment", None, openapi({"/pets/{id": {"get": proxy_op("pets")}}), "openapi.yaml", "/paths/~1pets~1{id",
     "invalid path segment"),
    ("greedy-not-last", None, openapi({"/{proxy+}/x": {"get": proxy_op("pets")}}), "openapi.yaml",
     "/paths/~1{proxy+}~1x", "must be the last segment"),
    ("bad-integration-type", None, openapi({"/pets": {"get": {"x-amazon-apigateway-integration": {"type": "ftp"}}}}),
     "openapi.yaml", "/paths/~1pets/get/x-amazon-apigateway-integration/type", "expected one of aws_proxy"),
    ("no-uri", None, openapi({"/pets": {"get": {"x-amazon-apigateway-integration": {"type": "http_proxy"}}}}),
     "openapi.yaml", "/paths/~1pets/get/x-amazon-apigateway-integration/uri", "needs a uri"),
    ("timeout-range", None, openapi({"/pets": {"get": proxy_op("pets", timeoutInMillis=40000)}}),
     "openapi.yaml", "/paths/~1pets/get/x-amazon-apigateway-integration/timeoutInMillis", "from 50 to 29000"),
    ("unmapped-function", None, openapi({"/pets": {"get": proxy_op("other")}}), "openapi.yaml",
     "/paths/~1pets/get/x-amazon-apigateway-integration/uri", "'other' is not mapped"),
    ("bad-http-uri", None, openapi({"/p": {"get": {"x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "ftp:x"}}}}),
     "openapi.yaml", "/paths/~1p/get/x-amazon-apigateway-integration/uri", "expected an http:// or https:// URL"),
    ("unknown-scheme", None, openapi({"/pets": {"get": {**proxy_op("pets"), "security": [{"nope": []}]}}}),
     "openapi.yaml", "/paths/~1pets/get/security/0/nope", "is not defined"),
    ("bad-gateway-response", None, openapi({"/pets": {"get": proxy_op("pets")}},
                                           **{"x-amazon-apigateway-gateway-responses": {"NOPE": {}}}),
     "openapi.yaml", "/x-amazon-apigateway-gateway-responses/NOPE", "unknown gateway response type"),
    ("bad-status", None, openapi({"/pets": {"get": proxy_op("pets")}},
                                 **{"x-amazon-apigateway-gateway-responses": {"DEFAULT_4XX": {"statusCode": "99x"}}}),
     "openapi.yaml", "/x-amazon-apigateway-gateway-responses/DEFAULT_4XX/statusCode", "HTTP status code"),
    ("bad-selection-regex", None, openapi({"/p": {"get": {"x-amazon-apigateway-integration": {
        "type": "mock", "responses": {"([": {"statusCode": "200"}}}}}}),
     "openapi.yaml", "/paths/~1p/get/x-amazon-apigateway-integration/responses/([", "not a valid regular expression"),
    ("yaml-syntax", None, "paths: [unclosed", "openapi.yaml", "", "invalid YAML at line"),
]


@pytest.mark.parametrize("case", BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_projects_name_file_and_pointer(tmp_path, case):
    _, config, doc, file, ptr, fragment = case
    config = config if config is not None else {"apis": [{"id": "a", "openapi": "openapi.yaml"}],
                                                "functions": {"pets": "h.py:handler"}}
    write_project(tmp_path, {}, config={"apis": []}, files={"h.py": HANDLER})
    (tmp_path / "lychgate.yaml").write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    (tmp_path / "openapi.yaml").write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    errors = [p for p in info.value.problems if p.severity == "error"]
    assert any(p.file.endswith(file) and p.pointer == ptr and fragment in p.message for p in errors), \
        "\n".join(map(str, info.value.problems))


def test_check_command_lists_every_problem_and_exits_2(tmp_path):
    doc = openapi({"/a": {"get": proxy_op("missing1")}, "/b": {"get": proxy_op("missing2")}})
    write_project(tmp_path, doc, config={"apis": [{"id": "a", "openapi": "openapi.yaml"}]})
    result = subprocess.run([sys.executable, "-m", "lychgate", "check", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    lines = [l for l in result.stderr.splitlines() if "error:" in l and "#/paths" in l]
    assert len(lines) == 2 and "openapi.yaml#/paths/~1a/get" in lines[0] and "'missing1'" in lines[0]


def test_check_reports_handler_import_errors(tmp_path):
    write_project(tmp_path, GOOD_DOC, config={"apis": [{"id": "a", "openapi": "openapi.yaml"}],
                                              "functions": {"pets": "h.py:handler"}},
                  files={"h.py": "raise RuntimeError('boom at import')\n"})
    result = subprocess.run([sys.executable, "-m", "lychgate", "check", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "lychgate.yaml#/functions/pets" in result.stderr and "boom at import" in result.stderr


def test_check_ok_exits_0_and_prints_warnings(tmp_path):
    doc = openapi({"/pets": {"get": proxy_op("pets")}}, **{"x-amazon-apigateway-strange": 1})
    write_project(tmp_path, doc, config={"apis": [{"id": "a", "openapi": "openapi.yaml"}],
                                         "functions": {"pets": "h.py:handler"}}, files={"h.py": HANDLER})
    result = subprocess.run([sys.executable, "-m", "lychgate", "check", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "openapi.yaml#/x-amazon-apigateway-strange: warning: unknown extension" in result.stderr


def test_iam_without_identities_is_reported(tmp_path):
    doc = openapi({"/a": {"get": {**proxy_op("pets"), "security": [{"api_key": []}]}},
                   "/b": {"get": {**proxy_op("pets"), "security": [{"sigv4": []}]}}},
                  components={"securitySchemes": {
                      "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
                      "sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
                                "x-amazon-apigateway-authtype": "awsSigv4"}}})
    project = load_project(write_project(tmp_path, doc, config={"apis": [{"id": "a", "openapi": "openapi.yaml"}],
                                                                "functions": {"pets": "h.py:handler"}},
                                         files={"h.py": HANDLER}))
    messages = {w.pointer: w.message for w in project.warnings}
    assert "/paths/~1a/get/security" not in messages  # API keys are enforced
    assert "declares no identities" in messages["/paths/~1b/get"]


# Found by fuzzing (fuzz/config.py, issue #8): documents that used to crash the loader with
# ValueError, RecursionError, AttributeError, TypeError or OverflowError instead of a ConfigError.
JWT_SCHEME = {"components": {"securitySchemes": {"jwt": {
    "type": "oauth2", "x-amazon-apigateway-authorizer": {"type": "jwt", "identitySource": "$request.header.A"}}}}}
HOSTILE = [
    ("huge-integer", None, "openapi: 3.0.1\nx: " + "9" * 5000, "openapi.yaml", "", "unreadable value"),
    ("deep-nesting", None, "openapi: 3.0.1\nx: " + "[" * 600 + "]" * 600, "openapi.yaml", "", "nested too deeply"),
    ("info-not-a-map", None, {**openapi({"/pets": {"get": proxy_op("pets")}}), "info": "pets"}, "openapi.yaml",
     "/info", "expected a mapping"),
    ("endpoint-config-not-a-map", None, openapi({"/pets": {"get": proxy_op("pets")}}, **{
        "x-amazon-apigateway-endpoint-configuration": [1]}), "openapi.yaml",
     "/x-amazon-apigateway-endpoint-configuration", "expected a mapping"),
    ("binary-types-not-a-list", None, openapi({"/pets": {"get": proxy_op("pets")}}, **{
        "x-amazon-apigateway-binary-media-types": "image/png"}), "openapi.yaml",
     "/x-amazon-apigateway-binary-media-types", "a list of strings"),
    ("scopes-not-a-list", None, openapi({"/pets": {"get": {**proxy_op("pets"), "security": [{"jwt": 5}]}}},
                                        **JWT_SCHEME), "openapi.yaml", "/paths/~1pets/get/security/0/jwt",
     "a list of strings"),
    ("pattern-not-a-string", None, openapi({"/p": {"get": {"x-amazon-apigateway-integration": {
        "type": "mock", "responses": {1: {"statusCode": "200"}}}}}}), "openapi.yaml",
     "/paths/~1p/get/x-amazon-apigateway-integration/responses/1", "a selection pattern"),
    ("infinite-status", None, openapi({"/pets": {"get": proxy_op("pets")}}, **{
        "x-amazon-apigateway-gateway-responses": {"DEFAULT_4XX": {"statusCode": float("inf")}}}),
     "openapi.yaml", "/x-amazon-apigateway-gateway-responses/DEFAULT_4XX/statusCode", "HTTP status code"),
    ("map-with-number-key", None, openapi({"/pets": {"get": proxy_op("pets", requestParameters={1: "x"})}}),
     "openapi.yaml", "/paths/~1pets/get/x-amazon-apigateway-integration/requestParameters", "strings to strings"),
    # The router keeps one variable name per position: the second sibling's parameter would be renamed.
    ("sibling-variables", None, openapi({"/pets/{id}": {"get": proxy_op("pets")},
                                         "/pets/{petId}": {"put": proxy_op("pets")}}),
     "openapi.yaml", "/paths/~1pets~1{petId}", "a sibling ({id}) of this resource already has a variable"),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_projects_name_file_and_pointer(tmp_path, case):
    test_broken_projects_name_file_and_pointer(tmp_path, case)


def test_keys_of_any_type_are_ignored_or_warned(tmp_path):
    doc = {**openapi({"/pets": {1: "x", "get": {**proxy_op("pets"), 2: "y"}}}, components=[1]), None: 3, 4: 5}
    write_project(tmp_path, doc, config={"apis": [{"id": "a", "openapi": "openapi.yaml"}],
                                         "functions": {"pets": "h.py:handler"}}, files={"h.py": HANDLER})
    project = load_project(tmp_path)
    assert [m.route_key for m in project.apis[0].methods] == ["GET /pets"]
    assert any(w.pointer == "/paths/~1pets/1" and "unknown path item key 1" in w.message for w in project.warnings)


def test_json_document_with_an_escaped_lone_surrogate_loads(tmp_path):
    write_project(tmp_path, {}, config={"apis": [{"id": "a", "openapi": "openapi.json"}],
                                        "functions": {"pets": "h.py:handler"}}, files={"h.py": HANDLER})
    (tmp_path / "openapi.json").write_text('{"openapi": "3.0.1", "paths": {"/p\\udc80": {"get": '
                                           + json.dumps(proxy_op("pets")) + "}}}")
    assert load_project(tmp_path).apis[0].methods[0].resource_path == "/p\udc80"
