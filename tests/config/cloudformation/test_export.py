"""``export_openapi``: the loaded API in get-export's shape, and loading it back gives the same API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lychgate.config.cloudformation import convert_template
from lychgate.config.cloudformation.export import export_openapi
from lychgate.config.project import load_project

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = Path(__file__).resolve().parent / "templates"


def reload(project, api, folder: Path):
    """Write the export of ``api`` as a project (same functions, stages, identities) and load it."""
    folder.mkdir()
    doc = export_openapi(api, next(iter(api.stages)), region=project.region, account_id=project.account_id)
    (folder / "openapi.json").write_text(json.dumps(doc))
    stages = {name: {"variables": dict(stage.variables)} for name, stage in api.stages.items()}
    config = {"region": project.region, "account_id": project.account_id,
              "apis": [{"id": api.id, "openapi": "openapi.json", "stages": stages}],
              "functions": {name: {"handler": str(spec.base_dir / spec.handler.split(":")[0]) + ":"
                                   + spec.handler.split(":")[1]} for name, spec in project.functions.items()}}
    (folder / "lychgate.yaml").write_text(yaml.safe_dump(config))
    [again] = load_project(folder).apis
    return doc, again


def shape(api) -> dict:
    """What must survive a round trip: routes, integrations, authorization, API-wide settings."""
    methods = {(m.http_method, m.resource_path): (
        m.authorization_type, m.authorizer, m.authorization_scopes, m.api_key_required, m.operation_id,
        None if m.integration is None else (
            m.integration.type, m.integration.uri, m.integration.http_method, m.integration.timeout_ms,
            m.integration.payload_format_version, dict(m.integration.request_parameters),
            dict(m.integration.request_templates), m.integration.responses, m.integration.passthrough_behavior))
        for m in api.methods}
    return {"protocol": api.protocol, "methods": methods, "gateway_responses": dict(api.gateway_responses),
            "binary": api.binary_media_types, "key_source": api.api_key_source,
            "authorizers": {k: json.loads(json.dumps(v, default=dict)) for k, v in api.authorizers.items()}}


def test_petstore_round_trips(tmp_path):
    project = load_project(ROOT / "examples" / "petstore")
    [api] = project.apis
    doc, again = reload(project, api, tmp_path / "again")
    assert shape(again) == shape(api)
    assert doc["servers"] == [{"url": "https://petstore.execute-api.us-east-1.amazonaws.com/{basePath}",
                               "variables": {"basePath": {"default": "/prod"}}}]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["sigv4"] == {
        "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4"}
    assert {"sigv4", *api.authorizers} <= set(schemes)
    op = doc["paths"]["/pets/{petId}"]["get"]
    assert op["parameters"] == [{"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}}]
    assert op["x-amazon-apigateway-integration"] == {
        "type": "aws_proxy", "httpMethod": "POST", "passthroughBehavior": "when_no_match", "timeoutInMillis": 29000,
        "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
               "arn:aws:lambda:us-east-1:123456789012:function:pets/invocations"}
    assert doc["paths"]["/orders"]["get"]["security"] == [{"sigv4": []}]


@pytest.mark.parametrize("template", ["sam-rest/template.yaml", "cdk-rest/PetsStack.template.json",
                                      "cfn-mixed/template.yaml", "sam-http/template.yaml"])
def test_converted_templates_round_trip(tmp_path, materialize, template):
    path = TEMPLATES / template
    project = load_project(materialize(convert_template(path), path.parent))
    for i, api in enumerate(project.apis):
        _, again = reload(project, api, tmp_path / f"again-{i}")
        assert shape(again) == shape(api)


def test_resource_policy_is_exported_with_full_arns(tmp_path, materialize):
    path = TEMPLATES / "cfn-mixed" / "template.yaml"
    project = load_project(materialize(convert_template(path), path.parent))
    docs = {api.id: api for api in project.apis}["docsapi"]
    doc = export_openapi(docs, "dev", region="us-east-1", account_id="123456789012")
    assert doc["x-amazon-apigateway-policy"]["Statement"][0]["Resource"] == \
        "arn:aws:execute-api:us-east-1:123456789012:docsapi/*"
    _, again = reload(project, docs, tmp_path / "again")
    assert again.resource_policy is not None


def test_http_api_exports_as_export_api_does(tmp_path, materialize):
    path = TEMPLATES / "cfn-mixed" / "template.yaml"
    project = load_project(materialize(convert_template(path), path.parent))
    http = {api.id: api for api in project.apis}["httpapi"]
    doc = export_openapi(http, "$default", region="us-east-1", account_id="123456789012")
    assert doc["x-amazon-apigateway-importexport-version"] == "1.0"
    assert doc["servers"][0]["variables"]["basePath"]["default"] == ""
    assert doc["paths"]["$default"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"][
        "payloadFormatVersion"] == "2.0"
    assert doc["components"]["securitySchemes"]["jwt"]["x-amazon-apigateway-authorizer"]["type"] == "jwt"
