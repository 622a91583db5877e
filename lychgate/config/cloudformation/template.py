"""Reading a CloudFormation or SAM template file: YAML with the short intrinsic tags, or JSON.

CloudFormation's YAML dialect writes intrinsics as tags (``!Ref X``, ``!GetAtt A.B``, ``!Sub …``);
they are read here into the long form (``{"Ref": "X"}``) the rest of the converter works on, with
a loader of our own so PyYAML's global loaders are left untouched. Dates stay strings, as
CloudFormation reads ``Version: 2012-10-17``. Problems name the file and a JSON pointer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from lychgate.config.source import Problems, pointer

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json")
API_TYPE = re.compile(r"^AWS::ApiGateway(V2)?::")


class TemplateLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short-form intrinsic tags; timestamps stay strings."""


def _intrinsic(loader: TemplateLoader, suffix: str, node: yaml.Node) -> dict:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


TemplateLoader.add_multi_constructor("!", _intrinsic)
TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_text(text: str, json_only: bool = False) -> Any:
    """Parse template or document text; raises ValueError with a located message."""
    try:
        return json.loads(text) if json_only else yaml.load(text, Loader=TemplateLoader)  # noqa: S506
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ValueError(f"invalid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None


def read_file(path: Path) -> Any:
    """A YAML or JSON file's content; raises ValueError saying why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    return parse_text(text, json_only=path.suffix == ".json")


def load_template(path: Path, problems: Problems) -> dict | None:
    """The template as a dict with a ``Resources`` mapping, or None (with an error recorded)."""
    try:
        template = read_file(path)
    except ValueError as exc:
        problems.error("", str(exc))
        return None
    if not isinstance(template, dict):
        problems.expected("", "a CloudFormation template (a mapping with 'Resources')", template)
        return None
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        problems.expected("/Resources", "a non-empty mapping of logical ids to resources", resources)
        return None
    return template


def check_resources(template: dict, problems: Problems) -> dict[str, dict]:
    """Well-formed resources by logical id; each malformed one is an error and left out."""
    good = {}
    for logical_id, resource in template["Resources"].items():
        ptr = pointer("Resources", logical_id)
        if not isinstance(logical_id, str) or not re.fullmatch(r"[A-Za-z0-9]+", logical_id):
            problems.error(ptr, f"logical id {logical_id!r} must be alphanumeric (A-Z, a-z, 0-9)")
        elif not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            problems.expected(ptr, "a resource with a 'Type' string", resource)
        elif not isinstance(resource.get("Properties", {}), dict):
            problems.expected(ptr + "/Properties", "a mapping of properties", resource.get("Properties"))
        else:
            good[logical_id] = resource
    return good


def transforms(template: dict) -> list[str]:
    value = template.get("Transform") or []
    return [value] if isinstance(value, str) else [t for t in value if isinstance(t, str)]


def is_sam(template: dict) -> bool:
    return SAM_TRANSFORM in transforms(template)


def serves_apis(template: Any) -> bool:
    """A template lychgate can serve: SAM, or with API Gateway resources."""
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        return False
    if is_sam(template):
        return True
    return any(isinstance(r, dict) and API_TYPE.match(str(r.get("Type", "")))
               for r in template["Resources"].values())

