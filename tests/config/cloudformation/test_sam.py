"""SAM templates, expanded by aws-sam-translator, as lychgate projects: APIs, auth, stages, functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lychgate.config.cloudformation import convert_template

ACCOUNT, REGION = "123456789012", "us-east-1"
TEMPLATES = Path(__file__).resolve().parent / "templates"


def fn_uri(name: str) -> str:
    return (f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}/invocations")


@pytest.fixture(scope="module")
def rest():
    return convert_template(TEMPLATES / "sam-rest" / "template.yaml")


@pytest.fixture(scope="module")
def http():
    return convert_template(TEMPLATES / "sam-http" / "template.yaml")


def messages(project, severity="warning"):
    return [p.message for p in project.problems if p.severity == severity]


def test_serverless_api_becomes_one_rest_api_with_sams_stages(rest):
    assert not rest.errors
    [api] = rest.config["apis"]
    assert api == {"id": "petsapi", "openapi": "apis/petsapi.json", "protocol": "REST",
                   "stages": {"prod": {"variables": {"backend": "http://127.0.0.1:9"}},
                              "Stage": {"variables": {}}}}  # SAM's deployment stage, as in AWS
    assert rest.config["region"] == REGION and rest.config["account_id"] == ACCOUNT


def test_functions_carry_handler_timeout_and_memory(rest):
    assert rest.config["functions"] == {
        "PetsFunction": {"handler": "src/pets.py:handler", "timeout": 10, "memory": 256},
        "AuthFunction": {"handler": "src/auth.py:handler", "timeout": 3, "memory": 256}}


def test_environment_merges_globals_and_resolves_intrinsics(rest):
    assert rest.environment["PetsFunction"] == {
        "TABLE": "pets", "LOG_LEVEL": "INFO", "TABLE_ARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/pets"}
    assert rest.environment["AuthFunction"] == {"TABLE": "pets", "LOG_LEVEL": "INFO"}


def test_every_sam_authorizer_kind_becomes_a_security_scheme(rest):
    doc = rest.documents["apis/petsapi.json"]
    schemes = doc["securityDefinitions"]
    token = schemes["TokenAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert token == {"type": "token", "authorizerUri": fn_uri("AuthFunction"), "authorizerResultTtlInSeconds": 300,
                     "identityValidationExpression": "^Bearer .+$",
                     "identitySource": "method.request.header.Authorization"}
    request = schemes["RequestAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert request["type"] == "request" and request["authorizerUri"] == fn_uri("AuthFunction")
    assert "method.request.header.X-Client" in request["identitySource"]
    assert "method.request.querystring.tenant" in request["identitySource"]
    cognito = schemes["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert cognito == {"type": "cognito_user_pools",
                       "providerARNs": [f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_UserPool"]}
    assert schemes["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert schemes["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}


def test_methods_use_the_default_and_their_own_authorizers(rest):
    paths = rest.documents["apis/petsapi.json"]["paths"]
    security = {(p, m): op.get("security") for p, item in paths.items() for m, op in item.items()}
    assert security == {
        ("/pets", "get"): [{"TokenAuthorizer": []}],
        ("/pets", "post"): [{"CognitoAuthorizer": ["pets/write"]}],
        ("/pets/{petId}", "get"): [{"RequestAuthorizer": []}],
        ("/pets/{petId}", "delete"): [{"AWS_IAM": []}],
        ("/health", "get"): [{"api_key": []}],
    }
    assert {op["x-amazon-apigateway-integration"]["uri"] for item in paths.values() for op in item.values()} \
        == {fn_uri("PetsFunction")}


def test_resource_policy_has_sams_statements_fully_resolved(rest):
    policy = rest.documents["apis/petsapi.json"]["x-amazon-apigateway-policy"]
    text = json.dumps(policy)
    assert "Fn::" not in text and "Ref" not in text
    statements = policy["Statement"]
    denied_ips = [s for s in statements if s["Effect"] == "Deny" and "IpAddress" in s.get("Condition", {})]
    assert denied_ips and denied_ips[0]["Condition"]["IpAddress"]["aws:SourceIp"] == ["203.0.113.0/24"]
    assert any(s["Effect"] == "Deny" and s["Principal"] == {"AWS": ["111122223333"]} for s in statements)
    assert any(s["Effect"] == "Allow" and s["Principal"] == {"AWS": ["444455556666"]} for s in statements)
    assert {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
            "Resource": "execute-api:/*"} in statements
    assert "execute-api:/prod/GET/pets" in text  # SAM scopes its statements to the stage and route


def test_usage_plan_and_its_api_key(rest):
    assert rest.config["usage_plans"] == [{
        "name": "pets-plan", "api_stages": [{"api_id": "petsapi", "stage": "prod"}],
        "throttle": {"rate_limit": 10, "burst_limit": 5}, "quota": {"limit": 1000, "period": "DAY"}}]
    # SAM's key has no Value: AWS generates one at deployment, the gateway at start-up
    assert rest.config["api_keys"] == [{"name": "PetsApiApiKey", "usage_plans": ["pets-plan"]}]


def test_permissions_are_recorded_and_complete(rest):
    assert set(rest.permissions) == {"PetsFunction", "AuthFunction"}
    assert not [m for m in messages(rest) if "Permission" in m]


def test_unsupported_resources_are_listed(rest):
    assert any(m.startswith("resource type AWS::DynamoDB::Table (not supported by lychgate): ignored: PetsTable")
               for m in messages(rest))
    assert any(m.startswith("resource type AWS::Cognito::UserPool") for m in messages(rest))


def test_parameter_overrides_reach_stages_mappings_and_conditions():
    project = convert_template(TEMPLATES / "sam-rest" / "template.yaml",
                               parameter_overrides={"StageName": "dev", "EnableDebug": "true", "TableName": "t2"})
    assert not project.errors
    assert set(project.config["apis"][0]["stages"]) == {"dev", "Stage"}
    assert project.config["usage_plans"][0]["throttle"] == {"rate_limit": 100, "burst_limit": 50}
    assert project.environment["PetsFunction"]["LOG_LEVEL"] == "DEBUG"
    assert project.environment["PetsFunction"]["TABLE"] == "t2"


def test_env_vars_file_overrides_declared_variables_like_sam_local():
    project = convert_template(TEMPLATES / "sam-rest" / "template.yaml",
                               env_vars_file=TEMPLATES / "sam-rest" / "env.json")
    assert project.environment["PetsFunction"]["TABLE"] == "local-pets"
    assert project.environment["PetsFunction"]["LOG_LEVEL"] == "WARNING"  # "Parameters" applies to all
    assert project.environment["AuthFunction"] == {"TABLE": "pets", "LOG_LEVEL": "WARNING"}
    assert "UNDECLARED" not in project.environment["PetsFunction"]
    assert any("--env-vars sets UNDECLARED for PetsFunction" in m for m in messages(project))


def test_a_broken_env_vars_file_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "env.json"
    bad.write_text("{not json")
    project = convert_template(TEMPLATES / "sam-rest" / "template.yaml", env_vars_file=bad)
    [error] = project.errors
    assert error.file == str(bad) and "expected sam's --env-vars JSON" in error.message


def test_http_api_with_jwt_authorizer_and_cors(http):
    assert not http.errors
    apis = {api["id"]: api for api in http.config["apis"]}
    assert apis["itemsapi"]["protocol"] == "HTTP"
    assert apis["itemsapi"]["stages"] == {"v1": {"variables": {"color": "blue"}}}
    doc = http.documents["apis/itemsapi.json"]
    assert doc["x-amazon-apigateway-cors"] == {
        "allowOrigins": ["https://app.example.com"], "allowHeaders": ["authorization", "content-type"],
        "allowMethods": ["GET", "POST"], "maxAge": 600}
    jwt = doc["components"]["securitySchemes"]["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert jwt == {"type": "jwt", "identitySource": "$request.header.Authorization",
                   "jwtConfiguration": {"issuer": "https://issuer.example.com", "audience": ["my-client"]}}
    assert doc["paths"]["/items"]["get"]["security"] == [{"JwtAuthorizer": ["items.read"]}]
    assert doc["paths"]["/public"]["get"]["security"] == []  # SAM's {NONE: []}, read as AWS imports it
    integration = doc["paths"]["/items"]["get"]["x-amazon-apigateway-integration"]
    assert integration["payloadFormatVersion"] == "2.0" and integration["uri"] == fn_uri("ItemsFunction")


def test_implicit_apis_come_from_function_events(http):
    apis = {api["id"]: api for api in http.config["apis"]}
    assert apis["serverlessrestapi"]["stages"] == {"Prod": {"variables": {}}, "Stage": {"variables": {}}}
    assert apis["serverlesshttpapi"] == {"id": "serverlesshttpapi", "openapi": "apis/serverlesshttpapi.json",
                                         "protocol": "HTTP", "stages": {"$default": {"variables": {}}}}
    assert list(http.documents["apis/serverlessrestapi.json"]["paths"]) == ["/legacy"]
    assert list(http.documents["apis/serverlesshttpapi.json"]["paths"]) == ["/ping"]


def test_non_python_functions_are_warnings_not_dropped_silently(http):
    assert "NodeFunction" not in http.config["functions"]
    [warning] = [p for p in http.problems if "NodeFunction" in p.message]
    assert warning.pointer == "/Resources/NodeFunction/Properties/Runtime"
    assert "runtime 'nodejs20.x': not served" in warning.message


def test_sam_validation_errors_name_the_resource(tmp_path):
    (tmp_path / "template.yaml").write_text("""
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.11
      Events:
        E: {Type: Api, Properties: {Method: get}}
""")
    [error] = convert_template(tmp_path / "template.yaml").errors
    assert error.pointer == "/Resources/Fn"
    assert error.message == ("SAM: Resource with id [Fn] is invalid. Event with id [E] is invalid. "
                             "Property 'Path' is required.")


def test_misspelt_resource_policy_keys_are_reported(tmp_path):
    (tmp_path / "template.yaml").write_text("""
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth: {ResourcePolicy: {IpRangeDenylist: ["10.0.0.0/8"]}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Runtime: python3.11
      Events: {E: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /x, Method: get}}}
""")
    project = convert_template(tmp_path / "template.yaml")
    [warning] = [p for p in project.problems if "ResourcePolicy" in p.message]
    assert warning.pointer == "/Resources/Api/Properties/Auth/ResourcePolicy/IpRangeDenylist"
    assert "unknown ResourcePolicy key 'IpRangeDenylist': SAM ignores it" in warning.message
    assert project.config["functions"] == {"Fn": {"handler": "app.py:handler", "timeout": 3, "memory": 128}}


def test_local_definition_uri_is_read_into_the_api(tmp_path):
    (tmp_path / "api.yaml").write_text("""
openapi: "3.0.1"
info: {title: from-file, version: "1"}
paths:
  /hello:
    get:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: {"Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"}
""")
    (tmp_path / "template.yaml").write_text("""
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {StageName: prod, DefinitionUri: api.yaml}
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: code, Handler: app.handler, Runtime: python3.11}
""")
    project = convert_template(tmp_path / "template.yaml")
    assert not project.errors
    op = project.documents["apis/api.json"]["paths"]["/hello"]["get"]
    assert op["x-amazon-apigateway-integration"]["uri"] == fn_uri("Fn")
    assert project.config["functions"]["Fn"]["handler"] == "code/app.py:handler"



def test_expansion_never_touches_the_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access during conversion: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    project = convert_template(TEMPLATES / "sam-rest" / "template.yaml", region="eu-central-1", account_id="210987654321")
    assert not project.errors
    assert project.config["region"] == "eu-central-1"
    uri = project.documents["apis/petsapi.json"]["paths"]["/pets"]["get"]["x-amazon-apigateway-integration"]["uri"]
    assert uri == ("arn:aws:apigateway:eu-central-1:lambda:path/2015-03-31/functions/"
                   "arn:aws:lambda:eu-central-1:210987654321:function:PetsFunction/invocations")
