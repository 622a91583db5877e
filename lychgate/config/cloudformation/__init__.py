"""AWS SAM and CloudFormation templates (and so CDK output) -> what a ``lychgate.yaml`` project is.

``convert_template`` reads a template, expands SAM with AWS's own translator, resolves intrinsics
locally, and returns a ``ConvertedProject``: the ``lychgate.yaml``-shaped dict, the OpenAPI
documents it names (one per REST or HTTP API, plus an IAM authorization-details dump when the
template has roles), each function's environment, and every problem found: unsupported resource
types (warnings, one per type), unresolvable intrinsics and malformed templates (errors naming
the resource and property by JSON pointer). Nothing calls AWS.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lychgate.config.cloudformation import functions as _functions
from lychgate.config.cloudformation import http as _http
from lychgate.config.cloudformation import iam as _iam
from lychgate.config.cloudformation import rest as _rest
from lychgate.config.cloudformation import usage as _usage
from lychgate.config.cloudformation.documents import ApiOut
from lychgate.config.cloudformation.parameters import parameter_values, parse_parameter_overrides, read_env_vars
from lychgate.config.cloudformation.permissions import check_permissions
from lychgate.config.cloudformation.sam import expand_sam
from lychgate.config.cloudformation.stack import Stack, stack_name as _stack_name
from lychgate.config.cloudformation.template import (SAM_TRANSFORM, TEMPLATE_NAMES, check_resources, is_sam,
                                                     load_template, read_file, serves_apis, transforms)
from lychgate.config.source import Problems, pointer
from lychgate.errors import Problem

__all__ = ["ConvertedProject", "convert_template", "find_template", "is_template", "parse_parameter_overrides"]

CONSUMED = _functions.CONSUMED | _rest.CONSUMED | _http.CONSUMED | _usage.CONSUMED | _iam.CONSUMED
#: Why a resource type that is not served is not; anything else gets the generic sentence.
UNSUPPORTED_WHY = {
    "AWS::CDK::Metadata": "CDK analytics metadata, no effect on serving",
    "AWS::ApiGateway::Model": "request models are not used: requests are not validated",
    "AWS::ApiGateway::Account": "the account's CloudWatch role has no local effect",
    "AWS::Cognito::UserPool": "user pools are not emulated: authorizers see their ARN only",
    "AWS::Cognito::UserPoolClient": "user pool clients are not emulated",
    "AWS::ApiGateway::DomainName": "custom domains are not served: use the execute-api URLs",
    "AWS::ApiGateway::BasePathMapping": "custom domains are not served: use the execute-api URLs",
    "AWS::ApiGatewayV2::DomainName": "custom domains are not served: use the execute-api URLs",
    "AWS::ApiGatewayV2::ApiMapping": "custom domains are not served: use the execute-api URLs",
    "AWS::Lambda::LayerVersion": "layers are not added to handlers' import path",
    "AWS::Lambda::Url": "function URLs are not served",
}


@dataclass
class ConvertedProject:
    """A template as a lychgate project: ``config`` is the lychgate.yaml shape, naming ``documents``."""

    config: dict
    documents: dict[str, dict]
    environment: dict[str, dict[str, str]]
    problems: list[Problem]
    permissions: dict[str, list[str]] = field(default_factory=dict)
    """Function name -> SourceArn patterns of permissions letting API Gateway invoke it ("*": any)."""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def write(self, folder: Path) -> Path:
        """Write ``lychgate.yaml`` and the documents (JSON) into ``folder``; returns the lychgate.yaml path.

        The functions' code is not copied: handler paths are relative to the template's folder.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, document in self.documents.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        (folder / "lychgate.yaml").write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")
        return folder / "lychgate.yaml"


def is_template(path: Path) -> bool:
    """A template lychgate can serve: named like one, with Resources, SAM or API Gateway resources."""
    path = Path(path)
    if not path.is_file() or not (path.name in TEMPLATE_NAMES or path.name.endswith(".template.json")):
        return False
    try:
        return serves_apis(read_file(path))
    except ValueError:
        return False


def find_template(folder: Path) -> Path | None:
    """``template.yaml`` / ``.yml`` / ``.json`` of a SAM app folder; in a cdk.out folder, its only ``*.template.json``."""
    folder = Path(folder)
    for name in TEMPLATE_NAMES:
        if (folder / name).is_file():
            return folder / name
    cdk = sorted(folder.glob("*.template.json")) if folder.is_dir() else []
    return cdk[0] if len(cdk) == 1 else None


def convert_template(path: Path, *, parameter_overrides: dict[str, str] | None = None,
                     env_vars_file: Path | None = None, region: str = "us-east-1",
                     account_id: str = "123456789012", stack_name: str | None = None) -> ConvertedProject:
    """The project a template describes, with every problem found (never raises for a bad template)."""
    path = Path(path)
    problems = Problems(path)
    name = _stack_name(path, stack_name)
    template = load_template(path, problems)
    if template is None:
        return _project(problems, region, account_id)
    parameters = parameter_values(template, dict(parameter_overrides or {}), problems)
    _check_transforms(template, problems)
    if is_sam(template):
        template = expand_sam(template, base_dir=path.parent, parameters=parameters, region=region,
                              account_id=account_id, stack_name=name, problems=problems)
        if template is None:
            return _project(problems, region, account_id)
    stack = Stack(template, check_resources(template, problems), file=path, parameters=parameters,
                  region=region, account_id=account_id, name=name, problems=problems)
    env_overrides = read_env_vars(Path(env_vars_file), problems) if env_vars_file else {}
    return _convert(stack, env_overrides)


def _convert(stack: Stack, env_overrides: dict[str, dict[str, str]]) -> ConvertedProject:
    functions = _functions.read_functions(stack, env_overrides)
    apis = _rest.rest_apis(stack) + _http.http_apis(stack)
    plans, keys = _usage.usage_plans(stack)
    identities, details = _iam.identities(stack)
    check_permissions(stack, apis, functions)
    _report_unsupported(stack)
    if not apis:
        stack.problems.error("/Resources", "the template defines no REST or HTTP API to serve")
    documents = {_document_name(api): api.document for api in apis}
    config = _config(stack, apis, functions, plans, keys, identities)
    if details is not None:
        documents[_iam.DETAILS_DOCUMENT] = details
    return ConvertedProject(config, documents, functions.environment, stack.problems.items, functions.permissions)


def _config(stack: Stack, apis: list[ApiOut], functions: _functions.Functions, plans: list, keys: list,
            identities: dict | None) -> dict:
    config: dict = {"region": stack.region, "account_id": stack.account_id,
                    "apis": [_api_config(api) for api in apis], "functions": functions.config}
    if plans:
        config["usage_plans"] = plans
    if keys:
        config["api_keys"] = keys
    if identities:
        config["identities"] = identities
    return config


def _api_config(api: ApiOut) -> dict:
    entry: dict = {"id": api.api_id, "openapi": _document_name(api), "protocol": api.protocol}
    if api.stages:
        entry["stages"] = api.stages
    return entry


def _document_name(api: ApiOut) -> str:
    return f"apis/{api.api_id}.json"


def _project(problems: Problems, region: str, account_id: str) -> ConvertedProject:
    config = {"region": region, "account_id": account_id, "apis": [], "functions": {}}
    return ConvertedProject(config, {}, {}, problems.items)


def _check_transforms(template: dict, problems: Problems) -> None:
    for name in transforms(template):
        if name != SAM_TRANSFORM:
            problems.warning("/Transform", f"transform {name} is not applied locally: the template is read as written")


def _report_unsupported(stack: Stack) -> None:
    """One warning per resource type that is not served, listing its resources."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for lid, resource in stack.active():
        if resource["Type"] not in CONSUMED:
            by_type[resource["Type"]].append(lid)
    for kind, lids in by_type.items():
        why = UNSUPPORTED_WHY.get(kind, "not supported by lychgate")
        stack.problems.warning(pointer("Resources", lids[0]), f"resource type {kind} ({why}): ignored: "
                                                              f"{', '.join(lids)}")
