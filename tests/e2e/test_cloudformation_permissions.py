"""A CloudFormation template without AWS::Lambda::Permission: API Gateway may not invoke the functions."""

import requests
import yaml

HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n"
AUTHORIZER = ("def handler(event, context):\n    return {'principalId': 'u', 'policyDocument': {'Version': '2012-10-17',"
              " 'Statement': [{'Action': 'execute-api:Invoke', 'Effect': 'Allow', 'Resource': '*'}]}}\n")


def uri(fn: str) -> dict:
    return {"Fn::Sub": f"arn:aws:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{fn}.Arn}}/invocations"}


def template(with_permissions: bool) -> dict:
    body = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
            "paths": {"/open": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                                            "uri": uri("Fn")}}},
                      "/guarded": {"get": {"security": [{"auth": []}], "x-amazon-apigateway-integration": {
                          "type": "aws_proxy", "httpMethod": "POST", "uri": uri("Fn")}}}},
            "components": {"securitySchemes": {"auth": {"type": "apiKey", "name": "Authorization", "in": "header",
                                                        "x-amazon-apigateway-authorizer": {
                                                            "type": "token", "authorizerUri": uri("Auth"),
                                                            "identitySource": "method.request.header.Authorization"}}}}}
    resources = {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "t", "Body": body}},
        "Deployment": {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "prod"}},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "python3.12", "Handler": "app.handler",
                                                               "Code": "src", "Role": "arn:aws:iam::123456789012:role/r"}},
        "Auth": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "python3.12", "Handler": "auth.handler",
                                                                 "Code": "src", "Role": "arn:aws:iam::123456789012:role/r"}},
    }
    if with_permissions:
        for fn in ("Fn", "Auth"):
            resources[f"{fn}Permission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
                "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": fn}, "Principal": "apigateway.amazonaws.com",
                "SourceArn": {"Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*"}}}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


def project(tmp_path, with_permissions):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(HANDLER)
    (tmp_path / "src" / "auth.py").write_text(AUTHORIZER)
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(template(with_permissions)))
    return tmp_path


def test_missing_permissions_give_aws_errors(serve, tmp_path):
    server = serve(project(tmp_path, with_permissions=False))
    r = requests.get(f"{server.url}/prod/open")
    assert (r.status_code, r.content) == (500, b'{"message":"Internal server error"}')
    r = requests.get(f"{server.url}/prod/guarded", headers={"Authorization": "t"})
    assert (r.status_code, r.content) == (500, b'{"message":null}')


def test_permissions_allow_invocation(serve, tmp_path):
    server = serve(project(tmp_path, with_permissions=True))
    assert requests.get(f"{server.url}/prod/open").text == "ok"
    assert requests.get(f"{server.url}/prod/guarded", headers={"Authorization": "t"}).text == "ok"
