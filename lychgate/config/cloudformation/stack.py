"""One template as a deployed stack would see it: active resources, parameter values, physical ids.

A ``Stack`` is the ``Scope`` the intrinsics resolver works in. Physical ids are chosen the way a
local deployment can know them: a resource's explicit name property (``FunctionName``, ``RoleName``
…) or else its logical id; REST and HTTP API ids are the logical id in lower case (they appear in
ARNs and host-style URLs); ARNs are built with the stack's region, account and partition. An
attribute lychgate does not model is ``Unresolvable``, never guessed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from lychgate.config.identities import unique_id
from lychgate.config.cloudformation.intrinsics import NO_VALUE, Resolver, Unresolvable
from lychgate.config.source import Problems, pointer

REST_API, HTTP_API = "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api"
ROOT_RESOURCE = "root:"  # RootResourceId of a RestApi: "root:<api logical id>", never a logical id

NAME_PROPERTY = {
    "AWS::Lambda::Function": "FunctionName", "AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": "PolicyName", "AWS::ApiGateway::Stage": "StageName",
    "AWS::ApiGatewayV2::Stage": "StageName", "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName", "AWS::SQS::Queue": "QueueName", "AWS::SNS::Topic": "TopicName",
}


class Stack:
    """The template's resources with their intrinsics resolvable against region, account and parameters."""

    def __init__(self, template: dict, resources: dict[str, dict], *, file: Path, parameters: dict[str, Any],
                 region: str, account_id: str, name: str, problems: Problems):
        self.template, self.resources = template, resources
        self.file, self.base_dir = file, file.parent
        self.parameters, self.region, self.account_id, self.name = parameters, region, account_id, name
        self.problems = problems
        self.resolver = Resolver(self, problems)
        self._conditions: dict[str, bool | None] = {}
        self._props: dict[tuple[str, str], Any] = {}
        self.api_ids = _api_ids(resources)

    @property
    def partition(self) -> str:
        return "aws-cn" if self.region.startswith("cn-") else "aws-us-gov" if self.region.startswith("us-gov") else "aws"

    def arn(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        region = self.region if region is None else region
        account = self.account_id if account is None else account
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    # -- what the converters read ------------------------------------------------------------

    def active(self, *types: str) -> list[tuple[str, dict]]:
        """(logical id, resource) of the given types whose Condition holds, in template order."""
        return [(lid, r) for lid, r in self.resources.items()
                if (not types or r["Type"] in types) and self.exists(lid)]

    def exists(self, logical_id: str) -> bool:
        cond = self.resources[logical_id].get("Condition")
        if cond is None:
            return True
        try:
            return self.condition(cond, pointer("Resources", logical_id, "Condition"))
        except Unresolvable as exc:
            self.problems.error(exc.pointer, f"cannot evaluate condition: {exc.reason}")
            return True

    def prop(self, logical_id: str, key: str, default: Any = None) -> Any:
        """A property with its intrinsics resolved (errors recorded once); ``default`` when absent."""
        if (logical_id, key) not in self._props:
            raw = self.resources[logical_id].get("Properties", {}).get(key, NO_VALUE)
            ptr = pointer("Resources", logical_id, "Properties", key)
            self._props[logical_id, key] = NO_VALUE if raw is NO_VALUE else self.resolver.resolve(raw, ptr)
        value = self._props[logical_id, key]
        return default if value is NO_VALUE or value is None else value

    def has(self, logical_id: str, key: str) -> bool:
        return key in self.resources[logical_id].get("Properties", {})

    def type_of(self, logical_id: str) -> str | None:
        resource = self.resources.get(logical_id)
        return resource["Type"] if resource else None

    # -- Scope -------------------------------------------------------------------------------

    def mappings(self) -> dict:
        mappings = self.template.get("Mappings")
        return mappings if isinstance(mappings, dict) else {}

    def condition(self, name: str, ptr: str) -> bool:
        if name in self._conditions:
            if self._conditions[name] is None:
                raise Unresolvable(ptr, f"condition {name} refers to itself")
            return bool(self._conditions[name])
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise Unresolvable(ptr, f"no condition named {name!r} under Conditions")
        self._conditions[name] = None
        try:
            self._conditions[name] = self.resolver.condition_value(conditions[name], pointer("Conditions", name))
        finally:
            if self._conditions[name] is None:
                del self._conditions[name]
        return bool(self._conditions[name])

    def ref(self, name: str, ptr: str) -> Any:
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in (self.template.get("Parameters") or {}):
            if name not in self.parameters:
                raise Unresolvable(ptr, f"parameter {name} has no Default and no override "
                                        f"(give one with --parameter-overrides {name}=VALUE)")
            return self.parameters[name]
        return physical_id(self, self._resource(name, ptr), ptr)

    def get_att(self, name: str, attribute: str, ptr: str) -> Any:
        return attribute_value(self, self._resource(name, ptr), attribute, ptr)

    def _resource(self, name: str, ptr: str) -> str:
        if name not in self.resources:
            raise Unresolvable(ptr, f"no parameter or resource named {name!r}")
        if not self.exists(name):
            raise Unresolvable(ptr, f"resource {name} is not created (its Condition is false)")
        return name

    def _pseudo(self, name: str) -> Any:
        suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        stack_id = self.arn("cloudformation", f"stack/{self.name}/{_uuid(self.name)}")
        return {"AWS::Region": self.region, "AWS::AccountId": self.account_id, "AWS::StackName": self.name,
                "AWS::StackId": stack_id, "AWS::Partition": self.partition, "AWS::URLSuffix": suffix,
                "AWS::NotificationARNs": []}.get(name)

    def named(self, logical_id: str) -> str:
        """Like ``name_of``, but an unresolvable name is recorded as an error and the logical id used."""
        key = NAME_PROPERTY.get(self.resources[logical_id]["Type"])
        name = self.prop(logical_id, key) if key else None
        return str(name) if name not in (None, "") else logical_id

    def name_of(self, logical_id: str, ptr: str = "") -> str:
        """The resource's explicit name property, else its logical id."""
        key = NAME_PROPERTY.get(self.resources[logical_id]["Type"])
        raw = self.resources[logical_id].get("Properties", {}).get(key) if key else None
        if raw is None:
            return logical_id
        return self.resolver.text(raw, pointer("Resources", logical_id, "Properties", key))


def physical_id(stack: Stack, logical_id: str, ptr: str) -> Any:
    """What ``Ref`` returns for a resource."""
    kind = stack.resources[logical_id]["Type"]
    if kind in (REST_API, HTTP_API):
        return stack.api_ids[logical_id]
    if kind == "AWS::IAM::ManagedPolicy":
        return f"arn:{stack.partition}:iam::{stack.account_id}:policy/{stack.name_of(logical_id)}"
    if kind == "AWS::Lambda::Alias":
        return f"{_function_arn(stack, logical_id, ptr)}:{stack.resolver.text(_raw(stack, logical_id, 'Name'), ptr)}"
    if kind == "AWS::Lambda::Version":
        return f"{_function_arn(stack, logical_id, ptr)}:1"
    if kind == "AWS::SNS::Topic":
        return stack.arn("sns", stack.name_of(logical_id))
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.{stack.region}.amazonaws.com/{stack.account_id}/{stack.name_of(logical_id)}"
    if kind == "AWS::Cognito::UserPool":
        return f"{stack.region}_{logical_id}"
    return stack.name_of(logical_id)


def _raw(stack: Stack, logical_id: str, key: str) -> Any:
    return stack.resources[logical_id].get("Properties", {}).get(key)


def _function_arn(stack: Stack, logical_id: str, ptr: str) -> str:
    """The function an alias or version belongs to, as an ARN."""
    name = stack.resolver.text(_raw(stack, logical_id, "FunctionName"), ptr)
    return name if name.startswith("arn:") else stack.arn("lambda", f"function:{name}")


def attribute_value(stack: Stack, logical_id: str, attribute: str, ptr: str) -> Any:
    """What ``Fn::GetAtt`` returns; attributes lychgate does not model are Unresolvable."""
    kind = stack.resources[logical_id]["Type"]
    table = _attributes(stack, logical_id, kind)
    if attribute not in table:
        raise Unresolvable(ptr, f"attribute {attribute} of {logical_id} ({kind}) is not known locally")
    return table[attribute]()


def _attributes(stack: Stack, lid: str, kind: str) -> dict:
    name = lambda: stack.name_of(lid)  # noqa: E731 - evaluated only for the attribute asked for
    iam = lambda what: f"arn:{stack.partition}:iam::{stack.account_id}:{what}/{_path(stack, lid)}{name()}"  # noqa: E731
    api_id = lambda: stack.api_ids[lid]  # noqa: E731
    pool = f"{stack.region}_{lid}"
    return {
        "AWS::Lambda::Function": {"Arn": lambda: stack.arn("lambda", f"function:{name()}")},
        "AWS::Lambda::Version": {"Version": lambda: "1"},
        REST_API: {"RootResourceId": lambda: ROOT_RESOURCE + lid, "RestApiId": api_id},
        HTTP_API: {"ApiId": api_id, "ApiEndpoint": lambda: f"https://{api_id()}.execute-api.{stack.region}.amazonaws.com"},
        "AWS::ApiGateway::Resource": {"ResourceId": lambda: lid},
        "AWS::ApiGateway::Authorizer": {"AuthorizerId": lambda: lid},
        "AWS::ApiGatewayV2::Integration": {"IntegrationId": lambda: lid},
        "AWS::ApiGatewayV2::Authorizer": {"AuthorizerId": lambda: lid},
        "AWS::ApiGateway::ApiKey": {"APIKeyId": lambda: lid},
        "AWS::IAM::Role": {"Arn": lambda: iam("role"), "RoleId": lambda: unique_id("AROA", lid)},
        "AWS::IAM::User": {"Arn": lambda: iam("user")},
        "AWS::IAM::Group": {"Arn": lambda: iam("group")},
        "AWS::IAM::ManagedPolicy": {"PolicyArn": lambda: physical_id(stack, lid, "")},
        "AWS::Cognito::UserPool": {"Arn": lambda: stack.arn("cognito-idp", f"userpool/{pool}"),
                                   "UserPoolId": lambda: pool,
                                   "ProviderName": lambda: f"cognito-idp.{stack.region}.amazonaws.com/{pool}",
                                   "ProviderURL": lambda: f"https://cognito-idp.{stack.region}.amazonaws.com/{pool}"},
        "AWS::Cognito::UserPoolClient": {"ClientId": lambda: lid},
        "AWS::DynamoDB::Table": {"Arn": lambda: stack.arn("dynamodb", f"table/{name()}")},
        "AWS::S3::Bucket": {"Arn": lambda: f"arn:{stack.partition}:s3:::{name()}"},
        "AWS::SQS::Queue": {"Arn": lambda: stack.arn("sqs", name()), "QueueName": name},
        "AWS::SNS::Topic": {"TopicArn": lambda: stack.arn("sns", name()), "TopicName": name},
    }.get(kind, {})


def _path(stack: Stack, logical_id: str) -> str:
    path = stack.prop(logical_id, "Path", "/")
    return path[1:] if isinstance(path, str) and path.startswith("/") else ""


def _uuid(name: str) -> str:
    h = hashlib.sha256(name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _api_ids(resources: dict[str, dict]) -> dict[str, str]:
    """API ids for REST and HTTP APIs: the logical id in lower case, made unique."""
    ids: dict[str, str] = {}
    for lid, resource in resources.items():
        if resource["Type"] not in (REST_API, HTTP_API):
            continue
        base = re.sub(r"[^a-z0-9-]", "", lid.lower())[:60] or "api"
        candidate, n = base, 2
        while candidate in ids.values():
            candidate, n = f"{base}-{n}", n + 1
        ids[lid] = candidate
    return ids


def stack_name(path: Path, given: str | None) -> str:
    """The stack name: the one given, else the template folder's name when it is a valid stack name."""
    if given:
        return given
    folder = path.resolve().parent.name
    return folder if re.fullmatch(r"[A-Za-z][-A-Za-z0-9]{0,127}", folder) else "lychgate-stack"
