"""SAM templates -> CloudFormation, with AWS's own translator (``aws-sam-translator``), offline.

Before translating, local paths are made acceptable to the translator as ``sam validate`` does:
a local ``CodeUri`` (or ``ContentUri``) becomes a placeholder S3 URI that ``local_code`` reads
back after translation, and a local ``DefinitionUri`` (or an ``AWS::Include`` of a local file) is
read into ``DefinitionBody``. Managed-policy names resolve through the translator's bundled map,
never through IAM; the region comes from a stand-in session, so nothing calls AWS. Nested
applications (``AWS::Serverless::Application``) are left out with a warning.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, unquote

from lychgate.config.cloudformation.template import read_file
from lychgate.config.source import Problems, pointer

LOCAL_BUCKET = "lychgate-local-code"
LOCAL_PREFIX = "local/"
CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri",
                   "AWS::Serverless::StateMachine": "DefinitionUri"}
RESOURCE_POLICY_KEYS = {
    "AwsAccountBlacklist", "AwsAccountWhitelist", "CustomStatements", "IntrinsicVpcBlacklist",
    "IntrinsicVpcWhitelist", "IntrinsicVpceBlacklist", "IntrinsicVpceWhitelist", "IpRangeBlacklist",
    "IpRangeWhitelist", "SourceVpcBlacklist", "SourceVpcWhitelist",
}


def expand_sam(template: dict, *, base_dir: Path, parameters: dict[str, Any], region: str, account_id: str,
               stack_name: str, problems: Problems) -> dict | None:
    """The CloudFormation template SAM deploys; None (with errors recorded) if SAM rejects it."""
    template, before = copy.deepcopy(template), len(problems.errors)
    _without_applications(template, problems)
    _local_code(template)
    _local_definitions(template, base_dir, problems)
    _check_resource_policies(template, problems)
    if len(problems.errors) > before:
        return None
    values = {**parameters, "AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack_name}
    return _translate(template, values, region, problems)


def _translate(template: dict, values: dict, region: str, problems: Problems) -> dict | None:
    try:  # imported here: a second or two, paid only by SAM templates
        from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
        from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
    except ImportError as exc:
        problems.error("/Transform", f"SAM templates need AWS's translator: pip install aws-sam-translator ({exc})")
        return None

    offline = SimpleNamespace(region_name=region)  # what the translator reads from a boto3 session
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(managed_policy_map=None, sam_parser=Parser(), boto_session=offline, metrics=metrics)
    try:
        return translator.translate(template, parameter_values=values, get_managed_policy_map=dict)
    except InvalidDocumentException as exc:
        for cause in exc.causes:
            problems.error(_cause_pointer(cause), f"SAM: {cause.message}")
    except ExceptionWithMessage as exc:
        problems.error("", f"SAM: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - the translator's own crashes, reported rather than raised
        problems.error("", f"SAM translation failed: {type(exc).__name__}: {exc}")
    finally:
        metrics.publish()  # to the dummy publisher: nothing leaves the machine
    return None


def _cause_pointer(cause: Any) -> str:
    logical_id = getattr(cause, "_logical_id", None)
    return pointer("Resources", logical_id) if isinstance(logical_id, str) else ""


def _without_applications(template: dict, problems: Problems) -> None:
    resources = template["Resources"]
    for lid in [k for k, r in resources.items() if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::Application"]:
        problems.warning(pointer("Resources", lid), "AWS::Serverless::Application (a nested application) is not "
                                                    "served: its APIs and functions are not part of this project")
        del resources[lid]


def _local_code(template: dict) -> None:
    """Local CodeUri/ContentUri -> placeholder S3 URIs (sam CLI defaults a missing CodeUri to '.')."""
    globals_fn = (template.get("Globals") or {}).get("Function")
    if isinstance(globals_fn, dict) and isinstance(globals_fn.get("CodeUri"), str):
        globals_fn["CodeUri"] = _placeholder(globals_fn["CodeUri"])
    has_global_code = isinstance(globals_fn, dict) and "CodeUri" in globals_fn
    for resource in template["Resources"].values():
        key = CODE_PROPERTIES.get(resource.get("Type")) if isinstance(resource, dict) else None
        props = resource.get("Properties") if key else None
        if not isinstance(props, dict):
            continue
        if isinstance(props.get(key), str):
            props[key] = _placeholder(props[key])
        elif key == "CodeUri" and key not in props and not has_global_code and _zip_without_code(props):
            props[key] = _placeholder(".")


def _zip_without_code(props: dict) -> bool:
    return not ({"InlineCode", "ImageUri"} & props.keys()) and props.get("PackageType") != "Image"


def _placeholder(uri: str) -> str:
    return uri if uri.startswith("s3://") else f"s3://{LOCAL_BUCKET}/{LOCAL_PREFIX}{quote(uri or '.', safe='/')}"


def local_code(code: Any) -> str | None:
    """The local folder a translated function's ``Code`` names, or None if it is not local."""
    if isinstance(code, dict) and code.get("S3Bucket") == LOCAL_BUCKET:
        key = str(code.get("S3Key", ""))
        return unquote(key[len(LOCAL_PREFIX):]) if key.startswith(LOCAL_PREFIX) else None
    return None


def _local_definitions(template: dict, base_dir: Path, problems: Problems) -> None:
    """A local DefinitionUri, or AWS::Include of a local file, read into DefinitionBody."""
    for lid, resource in template["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") not in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi"):
            continue
        props = resource.get("Properties")
        if not isinstance(props, dict):
            continue
        ptr = pointer("Resources", lid, "Properties")
        uri = props.get("DefinitionUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            body = _read_local(base_dir, uri, ptr + "/DefinitionUri", problems)
            if body is not None:
                props["DefinitionBody"] = body
                del props["DefinitionUri"]
        included = include_location(props.get("DefinitionBody"))
        if included is not None:
            body = _read_local(base_dir, included, ptr + "/DefinitionBody", problems)
            if body is not None:
                props["DefinitionBody"] = body


def include_location(node: Any) -> str | None:
    """The Location of ``{"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": …}}}``."""
    if not (isinstance(node, dict) and len(node) == 1 and isinstance(node.get("Fn::Transform"), dict)):
        return None
    transform = node["Fn::Transform"]
    location = (transform.get("Parameters") or {}).get("Location")
    return location if transform.get("Name") == "AWS::Include" and isinstance(location, str) else None


def _read_local(base_dir: Path, uri: str, ptr: str, problems: Problems) -> Any:
    """A document named by a relative path or file:// URI; S3 and HTTP URLs are errors."""
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    elif "://" in uri:
        problems.error(ptr, f"{uri} cannot be read locally: keep the document beside the template "
                            "and name it by a relative path")
        return None
    try:
        return read_file(base_dir / uri)
    except ValueError as exc:
        problems.error(ptr, str(exc))
        return None


def _check_resource_policies(template: dict, problems: Problems) -> None:
    """SAM ignores unknown ResourcePolicy keys (e.g. a misspelt IpRangeDenylist): say so instead."""
    for lid, resource in template["Resources"].items():
        policy = ((resource.get("Properties") or {}).get("Auth") or {}).get("ResourcePolicy") \
            if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Api" else None
        if not isinstance(policy, dict):
            continue
        for key in sorted(set(policy) - RESOURCE_POLICY_KEYS):
            problems.warning(pointer("Resources", lid, "Properties", "Auth", "ResourcePolicy", key),
                             f"unknown ResourcePolicy key {key!r}: SAM ignores it "
                             f"(known: {', '.join(sorted(RESOURCE_POLICY_KEYS))})")
