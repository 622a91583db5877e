"""Converted templates through the existing loader and the real server, compared with OpenAPI projects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import requests
import yaml

from lychgate.config.cloudformation import convert_template
from lychgate.config.project import load_project

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = Path(__file__).resolve().parent / "templates"
SAM_APP = ROOT / "examples" / "sam-app"
ACCOUNT, REGION = "123456789012", "us-east-1"


def routes(api) -> dict:
    """(method, path) -> (authorization type, authorizer, scopes, api key required, integration type, uri)."""
    return {(m.http_method, m.resource_path): (m.authorization_type, m.authorizer, m.authorization_scopes,
                                               m.api_key_required, m.integration.type, m.integration.uri)
            for m in api.methods}


def fn_uri(name: str) -> str:
    return (f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}/invocations")


def test_sam_rest_api_loads_with_its_auth_and_stages(load_converted):
    project = load_converted(convert_template(TEMPLATES / "sam-rest" / "template.yaml"), TEMPLATES / "sam-rest")
    [api] = project.apis
    pets = fn_uri("PetsFunction")
    assert routes(api) == {
        ("GET", "/pets"): ("CUSTOM", "TokenAuthorizer", (), False, "AWS_PROXY", pets),
        ("POST", "/pets"): ("COGNITO_USER_POOLS", "CognitoAuthorizer", ("pets/write",), False, "AWS_PROXY", pets),
        ("GET", "/pets/{petId}"): ("CUSTOM", "RequestAuthorizer", (), False, "AWS_PROXY", pets),
        ("DELETE", "/pets/{petId}"): ("AWS_IAM", None, (), False, "AWS_PROXY", pets),
        ("GET", "/health"): ("NONE", None, (), True, "AWS_PROXY", pets),
    }
    assert dict(api.stages["prod"].variables) == {"backend": "http://127.0.0.1:9"}
    assert set(api.stages) == {"prod", "Stage"}
    assert api.resource_policy is not None
    assert project.functions["PetsFunction"].handler == "src/pets.py:handler"
    assert project.functions["PetsFunction"].timeout_s == 10 and project.functions["PetsFunction"].memory_mb == 256
    assert set(api.authorizers) == {"TokenAuthorizer", "RequestAuthorizer", "CognitoAuthorizer"}


def test_sam_http_apis_load(load_converted):
    project = load_converted(convert_template(TEMPLATES / "sam-http" / "template.yaml"), TEMPLATES / "sam-http")
    apis = {api.id: api for api in project.apis}
    assert {api_id: api.protocol for api_id, api in apis.items()} == {
        "serverlessrestapi": "REST", "itemsapi": "HTTP", "serverlesshttpapi": "HTTP"}
    items = routes(apis["itemsapi"])
    assert items[("GET", "/items")][:3] == ("JWT", "JwtAuthorizer", ("items.read",))
    assert items[("GET", "/public")][0] == "NONE"
    assert apis["itemsapi"].methods[0].integration.payload_format_version == "2.0"
    assert dict(apis["itemsapi"].stages["v1"].variables) == {"color": "blue"}


def test_cdk_rest_api_loads(load_converted):
    project = load_converted(convert_template(TEMPLATES / "cdk-rest" / "PetsStack.template.json"),
                             TEMPLATES / "cdk-rest")
    [api] = project.apis
    got = {key: value[:5] for key, value in routes(api).items()}
    assert got == {
        ("GET", "/"): ("NONE", None, (), False, "MOCK"),
        ("GET", "/pets"): ("CUSTOM", "PetsStackPetsAuthorizer5E6F7A8B", (), False, "AWS_PROXY"),
        ("POST", "/pets"): ("NONE", None, (), True, "AWS_PROXY"),
        ("GET", "/pets/{petId}"): ("AWS_IAM", None, (), False, "AWS_PROXY"),
        ("ANY", "/{proxy+}"): ("NONE", None, (), False, "HTTP_PROXY"),
    }
    assert dict(api.stages["prod"].variables) == {"upstream": "127.0.0.1:9"}
    assert api.binary_media_types == ("image/png",)
    assert api.gateway_responses["DEFAULT_4XX"].response_parameters == {
        "gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}
    assert project.functions["Handler886CB40B"].handler == "asset.4f3e2a1b/index.py:handler"


def test_cloudformation_http_api_rest_api_and_identities_load(load_converted):
    project = load_converted(convert_template(MIXED := TEMPLATES / "cfn-mixed" / "template.yaml"), MIXED.parent)
    apis = {api.id: api for api in project.apis}
    http = routes(apis["httpapi"])
    assert {key: value[:3] for key, value in http.items()} == {
        ("GET", "/items"): ("JWT", "jwt", ("items.read",)),
        ("POST", "/items"): ("CUSTOM", "lambda", ()),
        ("GET", "/admin/{proxy+}"): ("AWS_IAM", None, ()),
        ("ANY", "$default"): ("NONE", None, ()),
    }
    assert http[("GET", "/items")][5] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:items-fn"
    assert apis["docsapi"].stages["dev"].access_log.format == "$context.requestId $context.status"
    principals = project.identities.principals
    assert f"arn:aws:iam::{ACCOUNT}:user/alice" in principals
    assert f"arn:aws:iam::{ACCOUNT}:role/deployer" in principals
    assert len(principals[f"arn:aws:iam::{ACCOUNT}:role/deployer"].policies) == 3  # inline, invoke-admin, basic


def test_sam_app_example_loads(load_converted):
    project = load_converted(convert_template(SAM_APP / "template.yaml"), SAM_APP)
    [api] = project.apis
    assert api.id == "serverlessrestapi" and set(api.stages) == {"Prod", "Stage"}
    assert set(routes(api)) == {("GET", "/hello"), ("GET", "/hello/{name}")}
    assert project.functions["HelloFunction"].handler == "src/app.py:hello"


def openapi_twin(folder: Path) -> Path:
    """The sam-app's API written by hand as an OpenAPI project, the way lychgate.yaml users write it."""
    shutil.copytree(SAM_APP / "src", folder / "src")
    op = {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": fn_uri("HelloFunction")}}
    doc = {"openapi": "3.0.1", "info": {"title": "sam-app", "version": "1"},
           "paths": {"/hello": {"get": op}, "/hello/{name}": {"get": op}}}
    (folder / "openapi.yaml").write_text(yaml.safe_dump(doc))
    config = {"apis": [{"id": "serverlessrestapi", "openapi": "openapi.yaml", "stages": {"Prod": {}}}],
              "functions": {"HelloFunction": "src/app.py:hello"}}
    (folder / "lychgate.yaml").write_text(yaml.safe_dump(config))
    return folder


def answer(url: str) -> tuple[int, dict | str, str | None]:
    response = requests.get(url, timeout=10)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, body, response.headers.get("x-amzn-ErrorType")


def test_a_sam_route_answers_like_the_same_api_written_in_openapi(serve, materialize, tmp_path):
    sam = serve(materialize(convert_template(SAM_APP / "template.yaml"), SAM_APP))
    twin = serve(openapi_twin(tmp_path / "twin"))
    for path in ("/Prod/hello", "/Prod/hello/alice"):
        status, body, _ = answer(sam.url + path)
        assert (status, body) == answer(twin.url + path)[:2]
        assert status == 200 and body["path"] == path.removeprefix("/Prod") and body["stage"] == "Prod"
    unmatched = answer(sam.url + "/Prod/nope")
    assert unmatched == answer(twin.url + "/Prod/nope")
    assert unmatched == (403, {"message": "Missing Authentication Token"}, "MissingAuthenticationTokenException")


def test_documents_are_json_the_loader_reads(materialize):
    folder = materialize(convert_template(TEMPLATES / "sam-rest" / "template.yaml"), TEMPLATES / "sam-rest")
    config = yaml.safe_load((folder / "lychgate.yaml").read_text())
    for api in config["apis"]:
        assert json.loads((folder / api["openapi"]).read_text())["paths"]
    assert load_project(folder).apis


def test_template_authorizers_answer_as_aws_does(serve, materialize):
    sam = serve(materialize(convert_template(TEMPLATES / "sam-rest" / "template.yaml"), TEMPLATES / "sam-rest", "sam"))
    ok = requests.get(sam.url + "/prod/pets", headers={"Authorization": "Bearer abc"}, timeout=10)
    assert ok.status_code == 200 and ok.json()["resource"] == "/pets"
    for headers in ({"Authorization": "not-a-bearer"}, {}):  # ValidationExpression mismatch; no identity source
        refused = requests.get(sam.url + "/prod/pets", headers=headers, timeout=10)
        assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})
    cdk = serve(materialize(convert_template(TEMPLATES / "cdk-rest" / "PetsStack.template.json"),
                            TEMPLATES / "cdk-rest", "cdk"))
    refused = requests.get(cdk.url + "/prod/pets", headers={"Authorization": "token"}, timeout=10)
    assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})  # the function raised it
    assert refused.headers["Access-Control-Allow-Origin"] == "*"  # the template's DEFAULT_4XX gateway response
    mock = requests.get(cdk.url + "/prod/", timeout=10)
    assert (mock.status_code, mock.json()) == (200, {"ok": True})
