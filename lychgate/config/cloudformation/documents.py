"""What REST and HTTP API resources share: their inline or local OpenAPI body, stages, schemes.

``Body`` is taken with its intrinsics resolved (SAM writes ``Fn::Sub`` into integration URIs);
``BodyS3Location`` may name a local file (a relative path or ``file://``), as the un-packaged
templates ``aws cloudformation package`` takes do; a real S3 location cannot be read and is an
error. ``ApiOut`` is one API ready for ``lychgate.yaml``: its id, protocol, document and stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lychgate.config.cloudformation.sam import include_location
from lychgate.config.cloudformation.stack import Stack
from lychgate.config.cloudformation.template import parse_text, read_file
from lychgate.config.source import pointer

OPERATION_KEYS = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH"}
SIGV4_SCHEME = {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4"}
API_KEY_SCHEME = {"type": "apiKey", "name": "x-api-key", "in": "header"}


@dataclass
class ApiOut:
    logical_id: str
    api_id: str
    protocol: str  # REST or HTTP
    document: dict
    stages: dict[str, dict] = field(default_factory=dict)  # name -> lychgate.yaml stage config
    authorizer_ids: dict[str, str] = field(default_factory=dict)  # scheme name -> authorizer id in ARNs


def body_document(stack: Stack, lid: str) -> dict | None:
    """The API's own OpenAPI document (Body or BodyS3Location), or None when it has neither."""
    ptr = pointer("Resources", lid, "Properties")
    raw = stack.resources[lid].get("Properties", {})
    if "Body" in raw:
        location = include_location(raw["Body"])
        doc = _local_file(stack, location, ptr + "/Body") if location else stack.prop(lid, "Body")
        if isinstance(doc, str):
            doc = _parse(stack, doc, ptr + "/Body")
    elif "BodyS3Location" in raw:
        doc = _s3_location(stack, lid, ptr + "/BodyS3Location")
    else:
        return None
    if doc is not None and not isinstance(doc, dict):
        stack.problems.expected(ptr, "an OpenAPI document (a mapping)", doc)
        return None
    return doc


def _parse(stack: Stack, text: str, ptr: str) -> Any:
    try:
        return parse_text(text)
    except ValueError as exc:
        stack.problems.error(ptr, f"the document text cannot be read: {exc}")
        return None


def _s3_location(stack: Stack, lid: str, ptr: str) -> Any:
    location = stack.prop(lid, "BodyS3Location")
    if isinstance(location, dict):
        uri = f"s3://{location.get('Bucket')}/{location.get('Key')}"
        stack.problems.error(ptr, f"{uri} cannot be read locally: keep the document beside the template and "
                                  "name it by a relative path (BodyS3Location: api.yaml)")
        return None
    if not isinstance(location, str):
        stack.problems.expected(ptr, "a local path or an S3 location", location)
        return None
    return _local_file(stack, location, ptr)


def _local_file(stack: Stack, uri: str, ptr: str) -> Any:
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    if "://" in path:
        stack.problems.error(ptr, f"{uri} cannot be read locally: keep the document beside the template and "
                                  "name it by a relative path")
        return None
    try:
        return read_file(stack.base_dir / path)
    except ValueError as exc:
        stack.problems.error(ptr, str(exc))
        return None


def schemes(doc: dict) -> dict:
    """The document's security schemes (created if missing), OpenAPI 3 or Swagger 2."""
    if doc.get("swagger") == "2.0":
        return doc.setdefault("securityDefinitions", {})
    return doc.setdefault("components", {}).setdefault("securitySchemes", {})


def operation_key(method: str) -> str:
    method = method.upper()
    return method.lower() if method in OPERATION_KEYS else "x-amazon-apigateway-any-method"


def add_operation(doc: dict, path: str, method: str, operation: dict) -> None:
    doc.setdefault("paths", {}).setdefault(path, {})[operation_key(method)] = operation


def stage_config(variables: Any, log_format: Any) -> dict:
    """A lychgate.yaml stage: its variables (as strings) and access-log format, when set."""
    stage: dict[str, Any] = {"variables": {str(k): _text(v) for k, v in (variables or {}).items()}
                             if isinstance(variables, dict) else {}}
    if isinstance(log_format, str) and log_format:
        stage["access_log"] = {"format": log_format}
    return stage


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def new_document(title: str, protocol: str) -> dict:
    doc: dict[str, Any] = {"openapi": "3.0.1", "info": {"title": title, "version": "1.0"}, "paths": {}}
    if protocol == "HTTP":
        doc["x-amazon-apigateway-importexport-version"] = "1.0"
    return doc


def drop_none_requirements(doc: dict) -> None:
    """SAM writes ``security: [{NONE: []}]`` for ``Authorizer: NONE``; AWS's import reads an undefined
    ``NONE`` scheme as no authorization, so the requirement is removed (``security: []`` when empty)."""
    found = (doc.get("components") or {}).get("securitySchemes") or doc.get("securityDefinitions") or {}
    if "NONE" in found:
        return
    for item in (doc.get("paths") or {}).values():
        for op in (item.values() if isinstance(item, dict) else ()):
            security = op.get("security") if isinstance(op, dict) else None
            if isinstance(security, list) and any(isinstance(r, dict) and "NONE" in r for r in security):
                kept = [{k: v for k, v in r.items() if k != "NONE"} for r in security if isinstance(r, dict)]
                op["security"] = [r for r in kept if r]


def throttle_config(raw: Any, rate: str = "RateLimit", burst: str = "BurstLimit") -> dict:
    """``{RateLimit, BurstLimit}`` (or a stage's ``Throttling*`` keys) -> ``{rate_limit, burst_limit}``."""
    if not isinstance(raw, dict):
        return {}
    out = {}
    for key, name, kind in ((rate, "rate_limit", float), (burst, "burst_limit", int)):
        if raw.get(key) is not None:
            try:
                out[name] = kind(raw[key])
            except (TypeError, ValueError):
                out[name] = raw[key]  # left for the loader to report with its pointer
    if "rate_limit" in out and float(out["rate_limit"]).is_integer():
        out["rate_limit"] = int(out["rate_limit"])
    return out
