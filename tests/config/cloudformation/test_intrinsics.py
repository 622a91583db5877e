"""Intrinsic functions, conditions, parameters and overrides, evaluated locally (no AWS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lychgate.config.cloudformation.intrinsics import NO_VALUE
from lychgate.config.cloudformation.parameters import parameter_values, parse_parameter_overrides
from lychgate.config.cloudformation.stack import Stack
from lychgate.config.cloudformation.template import parse_text
from lychgate.config.source import Problems

TEMPLATE = """
Parameters:
  Env: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Zones: {Type: CommaDelimitedList, Default: "a, b"}
  Size: {Type: Number, Default: 3}
  Secret: {Type: String}
Mappings:
  Sizes:
    dev: {Memory: 128}
    prod: {Memory: 1024}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals [!Ref Size, 3]]
  Either: !Or [!Condition IsProd, !Equals ["x", "y"]]
  Loop: !Condition Loop
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties: {FunctionName: !Sub "pets-${Env}", Handler: app.handler}
  Api:
    Type: AWS::ApiGateway::RestApi
  Role:
    Type: AWS::IAM::Role
    Properties: {Path: /service/}
  Table:
    Type: AWS::DynamoDB::Table
  OnlyInProd:
    Type: AWS::SQS::Queue
    Condition: IsProd
"""


def stack(overrides: dict | None = None, text: str = TEMPLATE) -> Stack:
    template = parse_text(text)
    problems = Problems("template.yaml")
    values = parameter_values(template, overrides or {}, problems)
    return Stack(template, template["Resources"], file=Path("/app/template.yaml"), parameters=values,
                 region="eu-west-1", account_id="111122223333", name="shop", problems=problems)


def value(node, overrides=None):
    return stack(overrides).resolver.value(node, "/Resources/X/Properties/P")


@pytest.mark.parametrize("node, expected", [
    ({"Ref": "Env"}, "dev"),
    ({"Ref": "Zones"}, ["a", "b"]),
    ({"Ref": "Size"}, "3"),
    ({"Ref": "AWS::Region"}, "eu-west-1"),
    ({"Ref": "AWS::AccountId"}, "111122223333"),
    ({"Ref": "AWS::StackName"}, "shop"),
    ({"Ref": "AWS::Partition"}, "aws"),
    ({"Ref": "AWS::URLSuffix"}, "amazonaws.com"),
    ({"Ref": "AWS::NoValue"}, NO_VALUE),
    ({"Ref": "Fn"}, "pets-dev"),
    ({"Ref": "Api"}, "api"),
    ({"Ref": "Table"}, "Table"),
    ({"Fn::GetAtt": ["Fn", "Arn"]}, "arn:aws:lambda:eu-west-1:111122223333:function:pets-dev"),
    ({"Fn::GetAtt": "Role.Arn"}, "arn:aws:iam::111122223333:role/service/Role"),
    ({"Fn::GetAtt": ["Api", "RootResourceId"]}, "root:Api"),
    ({"Fn::GetAtt": ["Table", "Arn"]}, "arn:aws:dynamodb:eu-west-1:111122223333:table/Table"),
    ({"Fn::Sub": "${AWS::StackName}-${Env}-${Fn.Arn}-${!Literal}"},
     "shop-dev-arn:aws:lambda:eu-west-1:111122223333:function:pets-dev-${Literal}"),
    ({"Fn::Sub": ["${Name}.${AWS::Region}", {"Name": {"Ref": "Env"}}]}, "dev.eu-west-1"),
    ({"Fn::Join": [":", ["a", {"Ref": "Env"}, 3]]}, "a:dev:3"),
    ({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}, "y"),
    ({"Fn::Select": ["0", {"Ref": "Zones"}]}, "a"),
    ({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}, 128),
    ({"Fn::FindInMap": ["Sizes", "test", "Memory", {"DefaultValue": 256}]}, 256),
    ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ({"Fn::Base64": "hi"}, "aGk="),
    ({"Fn::If": ["IsProd", "big", "small"]}, "small"),
    ({"Fn::If": ["Both", "both", "no"]}, "both"),
    ({"Fn::If": ["Either", "yes", {"Ref": "AWS::NoValue"}]}, NO_VALUE),
    ({"Fn::ToJsonString": {"a": [1, {"Ref": "Env"}]}}, '{"a":[1,"dev"]}'),
    ({"Fn::Length": [1, 2, 3]}, 3),
    ({"k": [{"Ref": "AWS::NoValue"}, "v"], "gone": {"Ref": "AWS::NoValue"}}, {"k": ["v"]}),
])
def test_intrinsics_evaluate_like_a_deployment(node, expected):
    assert value(node) == expected


def test_overrides_change_parameters_and_conditions():
    assert value({"Fn::If": ["IsProd", "big", "small"]}, {"Env": "prod"}) == "big"
    assert value({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}, {"Env": "prod"}) == 1024
    assert value({"Ref": "Secret"}, {"Secret": "s3cret"}) == "s3cret"


def test_china_regions_have_their_partition_and_suffix():
    s = stack()
    s.region = "cn-north-1"
    assert s.resolver.value({"Fn::Sub": "${AWS::Partition} ${AWS::URLSuffix}"}, "") == "aws-cn amazonaws.com.cn"


def test_resources_whose_condition_is_false_do_not_exist():
    s = stack()
    assert [lid for lid, _ in s.active()] == ["Fn", "Api", "Role", "Table"]
    problems = s.problems
    assert s.resolver.resolve({"Ref": "OnlyInProd"}, "/Resources/Fn/Properties/Q") is None
    assert "OnlyInProd is not created (its Condition is false)" in problems.items[-1].message
    assert [lid for lid, _ in stack({"Env": "prod"}).active("AWS::SQS::Queue")] == ["OnlyInProd"]


@pytest.mark.parametrize("node, reason", [
    ({"Fn::ImportValue": "shared-table"}, "Fn::ImportValue reads another stack's exports"),
    ({"Ref": "Secret"}, "parameter Secret has no Default and no override (give one with --parameter-overrides Secret=VALUE)"),
    ({"Ref": "Nothing"}, "no parameter or resource named 'Nothing'"),
    ({"Fn::GetAtt": ["Table", "StreamArn"]}, "attribute StreamArn of Table (AWS::DynamoDB::Table) is not known locally"),
    ({"Fn::If": ["Loop", 1, 2]}, "condition Loop refers to itself"),
    ({"Fn::If": ["Missing", 1, 2]}, "no condition named 'Missing' under Conditions"),
    ({"Fn::FindInMap": ["Sizes", "qa", "Memory"]}, "Mappings has no Sizes/qa/Memory"),
    ({"Fn::Select": [5, ["a"]]}, "index 5 is not in the list"),
    ({"Fn::Transform": {"Name": "Macro"}}, "Fn::Transform runs a CloudFormation macro"),
])
def test_unresolvable_intrinsics_are_errors_naming_resource_and_property(node, reason):
    s = stack()
    ptr = "/Resources/Fn/Properties/Environment/Variables/TABLE"
    assert s.resolver.resolve({"keep": "me", "TABLE": node}, ptr[:-len("/TABLE")]) == {"keep": "me", "TABLE": None}
    [problem] = s.problems.items
    assert problem.severity == "error"
    assert problem.pointer == ptr
    assert problem.message.startswith("cannot resolve resource Fn, property Environment/Variables/TABLE: ")
    assert reason in problem.message


def test_each_unresolvable_intrinsic_is_reported_and_the_rest_resolved():
    s = stack()
    resolved = s.resolver.resolve({"A": {"Ref": "Secret"}, "B": {"Ref": "Env"}, "C": [{"Fn::ImportValue": "x"}]},
                                  "/Resources/Fn/Properties/Environment")
    assert resolved == {"A": None, "B": "dev", "C": [None]}
    assert [p.pointer for p in s.problems.items] == ["/Resources/Fn/Properties/Environment/A",
                                                     "/Resources/Fn/Properties/Environment/C/0"]


def test_parameter_values_check_allowed_values_and_unknown_overrides():
    s = stack({"Env": "qa", "Bogus": "1"})
    messages = [(p.severity, p.message) for p in s.problems.items]
    assert ("warning", "parameter override 'Bogus' names no parameter of the template: ignored") in messages
    assert ("error", "value 'qa' of parameter Env is not one of its AllowedValues ['dev', 'prod']") in messages


@pytest.mark.parametrize("given, expected", [
    ("Env=prod Size=5", {"Env": "prod", "Size": "5"}),
    ('Greeting="Hello there" Empty=', {"Greeting": "Hello there", "Empty": ""}),
    ("ParameterKey=Env,ParameterValue=prod ParameterKey=Url,ParameterValue=a=b,c",
     {"Env": "prod", "Url": "a=b,c"}),
    (["Env=prod", "ParameterKey=Size,ParameterValue=7"], {"Env": "prod", "Size": "7"}),
    (None, {}),
])
def test_parse_parameter_overrides_takes_sams_syntax(given, expected):
    assert parse_parameter_overrides(given) == expected


def test_parse_parameter_overrides_names_a_bad_entry():
    with pytest.raises(ValueError, match="'oops' is neither Key=Value nor ParameterKey=Key,ParameterValue=Value"):
        parse_parameter_overrides("Env=prod oops")


def test_short_form_tags_and_dates_read_as_cloudformation_does():
    doc = parse_text("""
Version: 2012-10-17
A: !Ref X
B: !GetAtt Fn.Arn
C: !Sub ["${a}", {a: !Ref Y}]
D: !If [Cond, !Join ["", [a, b]], !Ref AWS::NoValue]
E: !ImportValue shared
""")
    assert doc == {"Version": "2012-10-17", "A": {"Ref": "X"}, "B": {"Fn::GetAtt": ["Fn", "Arn"]},
                   "C": {"Fn::Sub": ["${a}", {"a": {"Ref": "Y"}}]},
                   "D": {"Fn::If": ["Cond", {"Fn::Join": ["", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]},
                   "E": {"Fn::ImportValue": "shared"}}
