"""Plain CloudFormation and CDK output as lychgate projects: synthesised documents, identities, problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lychgate.config.cloudformation import convert_template, find_template, is_template

ACCOUNT, REGION = "123456789012", "us-east-1"
TEMPLATES = Path(__file__).resolve().parent / "templates"
CDK = TEMPLATES / "cdk-rest" / "PetsStack.template.json"
MIXED = TEMPLATES / "cfn-mixed" / "template.yaml"


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def fn_uri(name: str) -> str:
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{fn_arn(name)}/invocations"


@pytest.fixture(scope="module")
def cdk():
    return convert_template(CDK)


@pytest.fixture(scope="module")
def mixed():
    return convert_template(MIXED)


def warnings(project) -> list[str]:
    return [p.message for p in project.problems if p.severity == "warning"]


# -- CDK: RestApi from Resource + Method resources ------------------------------------------------

def test_cdk_rest_api_is_synthesised_from_resources_and_methods(cdk):
    assert not cdk.errors
    [api] = cdk.config["apis"]
    assert api == {"id": "petsapie1b3c3d0", "openapi": "apis/petsapie1b3c3d0.json", "protocol": "REST",
                   "stages": {"prod": {"variables": {"upstream": "127.0.0.1:9"}}}}
    doc = cdk.documents[api["openapi"]]
    assert doc["openapi"] == "3.0.1" and doc["info"]["title"] == "PetsApi"
    assert {path: sorted(item) for path, item in doc["paths"].items()} == {
        "/": ["get"], "/pets": ["get", "post"], "/pets/{petId}": ["get"], "/{proxy+}": ["x-amazon-apigateway-any-method"]}


def test_cdk_methods_keep_their_integrations(cdk):
    paths = cdk.documents["apis/petsapie1b3c3d0.json"]["paths"]
    assert paths["/pets"]["get"]["x-amazon-apigateway-integration"] == {
        "type": "aws_proxy", "uri": fn_uri("Handler886CB40B"), "httpMethod": "POST"}
    assert paths["/{proxy+}"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"] == {
        "type": "http_proxy", "uri": "http://${stageVariables.upstream}/{proxy}", "httpMethod": "ANY",
        "requestParameters": {"integration.request.path.proxy": "method.request.path.proxy"}, "timeoutInMillis": 5000}
    mock = paths["/"]["get"]
    assert mock["x-amazon-apigateway-integration"]["responses"] == {
        "default": {"statusCode": "200", "responseTemplates": {"application/json": '{"ok": true}'}}}
    assert mock["responses"] == {"200": {"description": "200 response"}}


def test_cdk_authorization_types_become_security(cdk):
    doc = cdk.documents["apis/petsapie1b3c3d0.json"]
    paths, schemes = doc["paths"], doc["components"]["securitySchemes"]
    name = "PetsStackPetsAuthorizer5E6F7A8B"
    assert paths["/pets"]["get"]["security"] == [{name: []}]
    assert paths["/pets"]["post"]["security"] == [{"api_key": []}]
    assert paths["/pets/{petId}"]["get"]["security"] == [{"sigv4": []}]
    assert "security" not in paths["/"]["get"]
    assert schemes[name] == {
        "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "custom",
        "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": fn_uri("AuthorizerFn3C5A1B7E"),
                                           "authorizerResultTtlInSeconds": 0,
                                           "identitySource": "method.request.header.Authorization"}}
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_cdk_api_properties_and_gateway_responses(cdk):
    doc = cdk.documents["apis/petsapie1b3c3d0.json"]
    assert doc["x-amazon-apigateway-gateway-responses"] == {
        "DEFAULT_4XX": {"responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}}}
    assert doc["x-amazon-apigateway-binary-media-types"] == ["image/png"]  # CloudFormation's ~1 escape undone
    assert doc["x-amazon-apigateway-endpoint-configuration"] == {"types": ["REGIONAL"]}


def test_cdk_functions_come_from_their_asset_folders(cdk):
    assert cdk.config["functions"] == {
        "Handler886CB40B": {"handler": "asset.4f3e2a1b/index.py:handler", "timeout": 15, "memory": 512},
        "AuthorizerFn3C5A1B7E": {"handler": "asset.4f3e2a1b/authorizer.py:handler", "timeout": 15, "memory": 512}}
    assert set(cdk.permissions) == {"Handler886CB40B", "AuthorizerFn3C5A1B7E"}
    assert not [m for m in warnings(cdk) if "Permission" in m]


def test_cdk_metadata_and_roles(cdk):
    assert warnings(cdk) == ["resource type AWS::CDK::Metadata (CDK analytics metadata, no effect on serving): "
                             "ignored: CDKMetadata"]
    details = cdk.documents["iam/authorization-details.json"]
    assert [r["RoleName"] for r in details["RoleDetailList"]] == ["HandlerServiceRoleFCDC14AE",
                                                                "AuthorizerFnServiceRole5B2A0F1C"]
    assert [p["Arn"] for p in details["Policies"]] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    assert cdk.config["identities"] == {"authorization_details": "iam/authorization-details.json"}


def test_a_missing_invoke_permission_is_reported_per_use(tmp_path):
    template = json.loads(CDK.read_text())
    for lid in [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Permission"]:
        del template["Resources"][lid]
    path = tmp_path / "Stack.template.json"
    path.write_text(json.dumps(template))
    found = [m for m in warnings(convert_template(path)) if "Permission" in m]
    assert ('function AuthorizerFn3C5A1B7E is authorizer \'PetsStackPetsAuthorizer5E6F7A8B\' of API petsapie1b3c3d0, '
            'but no AWS::Lambda::Permission lets apigateway.amazonaws.com invoke it: AWS answers 500 '
            '{"message":null} (AUTHORIZER_CONFIGURATION_ERROR)') in found
    assert sum("function Handler886CB40B integrates" in m for m in found) == 3


# -- plain CloudFormation: HTTP API routes, a local BodyS3Location, IAM, usage plans ---------------

def test_http_api_is_synthesised_from_routes(mixed):
    assert not mixed.errors
    apis = {api["id"]: api for api in mixed.config["apis"]}
    assert apis["httpapi"]["stages"] == {"$default": {
        "variables": {"env": "dev"}, "throttle": {"rate_limit": 100, "burst_limit": 50},
        "method_throttle": {"/items/GET": {"rate_limit": 10, "burst_limit": 5}}}}
    doc = mixed.documents["apis/httpapi.json"]
    assert doc["x-amazon-apigateway-importexport-version"] == "1.0"
    assert doc["x-amazon-apigateway-cors"] == {"allowOrigins": ["*"], "allowMethods": ["GET"], "maxAge": 300}
    integration = {"type": "aws_proxy", "uri": fn_arn("items-fn"), "payloadFormatVersion": "2.0",
                   "timeoutInMillis": 10000, "httpMethod": "POST"}
    paths = doc["paths"]
    assert paths["/items"]["get"]["x-amazon-apigateway-integration"] == integration
    assert paths["/items"]["get"]["security"] == [{"jwt": ["items.read"]}]
    assert paths["/items"]["post"]["security"] == [{"lambda": []}]
    assert paths["/admin/{proxy+}"]["get"]["security"] == [{"sigv4": []}]
    assert "security" not in paths["$default"]["x-amazon-apigateway-any-method"]


def test_http_api_authorizers(mixed):
    schemes = mixed.documents["apis/httpapi.json"]["components"]["securitySchemes"]
    assert schemes["jwt"]["x-amazon-apigateway-authorizer"] == {
        "type": "jwt", "identitySource": "$request.header.Authorization",
        "jwtConfiguration": {"issuer": "https://issuer.example.com", "audience": ["items-client"]}}
    assert schemes["lambda"]["x-amazon-apigateway-authorizer"] == {
        "type": "request", "identitySource": "$request.header.X-Token", "authorizerUri": fn_uri("AuthFunction"),
        "authorizerPayloadFormatVersion": "2.0", "enableSimpleResponses": True}


def test_an_authorizer_function_without_permission_is_named(mixed):
    [found] = [m for m in warnings(mixed) if "Permission" in m]
    assert found.startswith("function AuthFunction is authorizer 'lambda' of API httpapi, but no "
                            "AWS::Lambda::Permission lets apigateway.amazonaws.com invoke it")
    assert mixed.permissions["items-fn"] == [
        f"arn:aws:execute-api:{REGION}:{ACCOUNT}:httpapi/*", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:docsapi/*/*/*"]


def test_rest_api_body_from_a_local_file_with_policy_and_stage(mixed):
    doc = mixed.documents["apis/docsapi.json"]
    assert doc["info"]["title"] == "docs"  # the RestApi's Name wins over the file's title, as in AWS
    assert sorted(doc["paths"]) == ["/hello", "/static"]
    assert doc["x-amazon-apigateway-policy"]["Statement"][0]["Resource"] == "execute-api:/*"
    stages = {api["id"]: api["stages"] for api in mixed.config["apis"]}["docsapi"]
    assert stages == {"dev": {"variables": {"greeting": "hello"},
                              "access_log": {"format": "$context.requestId $context.status"},
                              "throttle": {"rate_limit": 50, "burst_limit": 20},  # MethodSettings /* *
                              "method_throttle": {"/hello/GET": {"rate_limit": 5, "burst_limit": 1}}}}


def test_functions_from_local_code_paths(mixed):
    assert mixed.config["functions"] == {
        "items-fn": {"handler": "src/app.py:handler", "timeout": 3, "memory": 128},
        "AuthFunction": {"handler": "src/app.py:authorize", "timeout": 3, "memory": 128}}
    assert mixed.environment["items-fn"] == {"ENV": "dev", "SELF": "cfn-mixed-us-east-1"}


def test_usage_plans_and_api_keys(mixed):
    assert mixed.config["usage_plans"] == [{
        "name": "docs-basic",
        "api_stages": [{"api_id": "docsapi", "stage": "dev",
                        "throttle": {"/hello/GET": {"rate_limit": 1, "burst_limit": 1}}}],
        "throttle": {"rate_limit": 5, "burst_limit": 2}, "quota": {"limit": 100, "period": "WEEK", "offset": 1}}]
    assert mixed.config["api_keys"] == [
        {"name": "partner", "value": "partner-key-0123456789abcdef", "usage_plans": ["docs-basic"]}]


def test_iam_users_get_every_policy_that_applies_to_them(mixed):
    [alice] = mixed.config["identities"]["users"]
    assert alice["name"] == "alice" and alice["tags"] == {"team": "red"}
    resources = [s["Resource"] for doc in alice["policies"] for s in doc["Statement"]]
    assert resources == [f"arn:aws:execute-api:{REGION}:{ACCOUNT}:httpapi/*/GET/items",  # inline
                         "arn:aws:execute-api:*:*:docsapi/*"]  # through group Readers


def test_iam_roles_become_an_authorization_details_document(mixed):
    assert mixed.config["identities"]["authorization_details"] == "iam/authorization-details.json"
    details = mixed.documents["iam/authorization-details.json"]
    [role] = details["RoleDetailList"]
    assert role["RoleName"] == "deployer" and role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/deployer"
    assert role["RolePolicyList"][0]["PolicyName"] == "deployer-extra"
    assert [a["PolicyArn"] for a in role["AttachedManagedPolicies"]] == [
        f"arn:aws:iam::{ACCOUNT}:policy/invoke-admin", "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    by_arn = {p["Arn"]: p for p in details["Policies"]}
    version = by_arn[f"arn:aws:iam::{ACCOUNT}:policy/invoke-admin"]["PolicyVersionList"][0]
    assert version["IsDefaultVersion"] is True
    assert version["Document"]["Statement"][0]["Resource"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:httpapi/*/GET/admin/*"
    assert any("arn:aws:iam::aws:policy/ReadOnlyAccess is not defined in the template" in m for m in warnings(mixed))


def test_unsupported_types_are_one_warning_each(mixed):
    [queue] = [p for p in mixed.problems if "AWS::SQS::Queue" in p.message]
    assert queue.severity == "warning" and queue.pointer == "/Resources/Events"
    assert queue.message == "resource type AWS::SQS::Queue (not supported by lychgate): ignored: Events, MoreEvents"


def test_quick_create_http_api(tmp_path):
    (tmp_path / "template.yaml").write_text("""
Resources:
  Quick:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: quick, ProtocolType: HTTP, Target: !GetAtt Fn.Arn}
  Proxy:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: proxy, ProtocolType: HTTP, Target: "https://backend.example.com", RouteKey: "ANY /{proxy+}"}
  Fn:
    Type: AWS::Lambda::Function
    Properties: {Code: src, Handler: app.handler, Runtime: python3.12}
""")
    project = convert_template(tmp_path / "template.yaml")
    quick = project.documents["apis/quick.json"]["paths"]["$default"]["x-amazon-apigateway-any-method"]
    assert quick["x-amazon-apigateway-integration"] == {
        "type": "aws_proxy", "httpMethod": "POST", "uri": fn_arn("Fn"), "payloadFormatVersion": "2.0"}
    proxy = project.documents["apis/proxy.json"]["paths"]["/{proxy+}"]["x-amazon-apigateway-any-method"]
    assert proxy["x-amazon-apigateway-integration"]["type"] == "http_proxy"
    assert {api["id"]: api["stages"] for api in project.config["apis"]} == {
        "quick": {"$default": {"variables": {}}}, "proxy": {"$default": {"variables": {}}}}


# -- problems -------------------------------------------------------------------------------------

def test_unresolvable_intrinsics_name_resource_and_property():
    project = convert_template(TEMPLATES / "problems" / "unresolvable.yaml")
    errors = {p.pointer: p.message for p in project.errors}
    base = "/Resources/PetsFunction/Properties/Environment/Variables"
    assert set(errors) == {f"{base}/TABLE", f"{base}/QUEUE_URL", f"{base}/PASSWORD"}
    assert errors[f"{base}/TABLE"] == ("cannot resolve resource PetsFunction, property Environment/Variables/TABLE: "
                                       "Fn::ImportValue reads another stack's exports, which exist only in AWS")
    assert "attribute QueueUrl of Queue (AWS::SQS::Queue) is not known locally" in errors[f"{base}/QUEUE_URL"]
    assert "--parameter-overrides DbPassword=VALUE" in errors[f"{base}/PASSWORD"]
    assert any("dynamic reference" in m for m in warnings(project))
    fixed = convert_template(TEMPLATES / "problems" / "unresolvable.yaml", parameter_overrides={"DbPassword": "pw"})
    assert f"{base}/PASSWORD" not in {p.pointer for p in fixed.errors}


def test_unsupported_resources_and_code_are_listed():
    project = convert_template(TEMPLATES / "problems" / "unsupported.yaml")
    assert not project.errors
    found = warnings(project)
    for expected in ("resource type AWS::SNS::Topic (not supported by lychgate): ignored: Topic, OtherTopic",
                     "resource type AWS::S3::Bucket (not supported by lychgate): ignored: Bucket",
                     "resource type AWS::Events::Rule (not supported by lychgate): ignored: HelloFunctionNightly"):
        assert expected in found
    assert any(m.startswith("AWS::Serverless::Application (a nested application) is not served") for m in found)
    assert any(m.startswith("function Inline has inline code") for m in found)
    assert list(project.config["functions"]) == ["HelloFunction"]


@pytest.mark.parametrize("text, pointer, message", [
    ("Resources: [oops", "", "invalid YAML"),
    ('{"Resources": ', "", "invalid JSON"),
    ("- a list", "", "expected a CloudFormation template"),
    ("Description: nothing", "/Resources", "expected a non-empty mapping of logical ids to resources"),
    ("Resources:\n  Api: {Properties: {}}", "/Resources/Api", "expected a resource with a 'Type' string"),
    ("Resources:\n  Api: {Type: AWS::ApiGateway::RestApi, Properties: [1]}", "/Resources/Api/Properties",
     "expected a mapping of properties"),
    ("Resources:\n  my-api: {Type: AWS::ApiGateway::RestApi}", "/Resources/my-api", "must be alphanumeric"),
    ("Resources:\n  Q: {Type: AWS::SQS::Queue}", "/Resources", "the template defines no REST or HTTP API"),
])
def test_malformed_templates_are_errors(tmp_path, text, pointer, message):
    path = tmp_path / ("template.json" if text.startswith("{") else "template.yaml")
    path.write_text(text)
    project = convert_template(path)
    assert any(p.pointer == pointer and message in p.message for p in project.errors), project.problems


@pytest.mark.parametrize("location, uri", [("{Bucket: my-bucket, Key: api.yaml}", "s3://my-bucket/api.yaml"),
                                           ("s3://my-bucket/api.yaml", "s3://my-bucket/api.yaml")])
def test_an_s3_body_cannot_be_read_and_says_so(tmp_path, location, uri):
    (tmp_path / "template.yaml").write_text(f"""
Resources:
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties:
      BodyS3Location: {location}
""")
    [error] = convert_template(tmp_path / "template.yaml").errors[:1]
    assert error.pointer == "/Resources/Api/Properties/BodyS3Location"
    assert error.message.startswith(f"{uri} cannot be read locally")


def test_a_file_uri_body_and_an_inline_json_string_body(tmp_path):
    (tmp_path / "api.json").write_text(json.dumps({"openapi": "3.0.1", "info": {"title": "f", "version": "1"},
                                                   "paths": {"/a": {"get": {}}}}))
    (tmp_path / "template.yaml").write_text("""
Resources:
  FromFile:
    Type: AWS::ApiGateway::RestApi
    Properties: {BodyS3Location: "file://api.json"}
  FromText:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Body: '{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/b": {"get": {}}}}'
""")
    project = convert_template(tmp_path / "template.yaml")
    assert list(project.documents["apis/fromfile.json"]["paths"]) == ["/a"]
    assert list(project.documents["apis/fromtext.json"]["paths"]) == ["/b"]


def test_other_transforms_are_reported(tmp_path):
    (tmp_path / "template.yaml").write_text("Transform: [AWS::LanguageExtensions]\nResources:\n"
                                            "  Api: {Type: AWS::ApiGateway::RestApi}\n")
    assert "transform AWS::LanguageExtensions is not applied locally: the template is read as written" \
        in warnings(convert_template(tmp_path / "template.yaml"))


# -- finding templates ----------------------------------------------------------------------------

def test_is_template_and_find_template(tmp_path):
    assert is_template(TEMPLATES / "sam-rest" / "template.yaml")
    assert is_template(CDK)
    assert is_template(MIXED)
    assert not is_template(TEMPLATES / "cfn-mixed" / "api.yaml")
    assert not is_template(TEMPLATES / "sam-rest" / "env.json")
    (tmp_path / "template.yaml").write_text("Resources:\n  Q: {Type: AWS::SQS::Queue}\n")
    assert not is_template(tmp_path / "template.yaml")  # no API to serve
    (tmp_path / "template.yaml").write_text("Resources: [")
    assert not is_template(tmp_path / "template.yaml")
    assert find_template(TEMPLATES / "sam-rest") == TEMPLATES / "sam-rest" / "template.yaml"
    assert find_template(TEMPLATES / "cdk-rest") == CDK
    assert find_template(TEMPLATES / "problems") is None
