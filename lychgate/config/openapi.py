"""OpenAPI 3.x / Swagger 2.0 documents with ``x-amazon-apigateway-*`` extensions -> ``model.Api``.

Reads the format ``aws apigateway get-export`` / ``aws apigatewayv2 export-api`` produce and
``import-rest-api`` / ``import-api`` accept (spec gateway-behavior §11). Every element that
lychgate does not enforce is reported as a warning naming its pointer: nothing is silently off.
"""

from __future__ import annotations

import hashlib
import re
import sys
from types import MappingProxyType
from typing import Any, Mapping

from lychgate.config.model import (EMPTY, HTTP, HTTP_METHODS, REST, Api, GatewayResponseTemplate,
                                   Integration, IntegrationResponse, Method, Source, Stage)
from lychgate.config.source import Problems, describe, pointer
from lychgate.cors import CorsConfig
from lychgate.errors import RESPONSE_TYPES

OPERATION_KEYS = {m.lower(): m for m in HTTP_METHODS} | {"x-amazon-apigateway-any-method": "ANY"}
PATH_ITEM_OTHER_KEYS = {"summary", "description", "parameters", "servers"}
INTEGRATION_TYPES = {"AWS_PROXY", "AWS", "HTTP_PROXY", "HTTP", "MOCK"}
SEGMENT = re.compile(r"^(?:[^{}/]+|\{[A-Za-z0-9._-]+\+?\})$")

#: Root extensions we read; the value says what we do with them.
ROOT_EXTENSIONS = {
    "x-amazon-apigateway-policy": "enforced",
    "x-amazon-apigateway-gateway-responses": "enforced",
    "x-amazon-apigateway-api-key-source": "enforced",
    "x-amazon-apigateway-binary-media-types": "enforced",
    "x-amazon-apigateway-importexport-version": "marks an HTTP API",
    "x-amazon-apigateway-endpoint-configuration": "read",
    "x-amazon-apigateway-cors": "enforced",
    "x-amazon-apigateway-request-validators": "not yet enforced: requests are not validated",
    "x-amazon-apigateway-request-validator": "not yet enforced: requests are not validated",
    "x-amazon-apigateway-minimum-compression-size": "not supported: responses are not compressed",
    "x-amazon-apigateway-documentation": "ignored (documentation only)",
    "x-amazon-apigateway-tag-value": "ignored (tags only)",
}
OPERATION_EXTENSIONS = {
    "x-amazon-apigateway-integration", "x-amazon-apigateway-auth", "x-amazon-apigateway-request-validator",
}
INTEGRATION_KEYS = {
    "type", "uri", "httpMethod", "timeoutInMillis", "payloadFormatVersion", "requestParameters",
    "requestTemplates", "responses", "passthroughBehavior", "contentHandling", "connectionType",
    "credentials", "cacheKeyParameters", "cacheNamespace", "connectionId", "tlsConfig",
    "integrationSubtype", "responseParameters",
}
UNSUPPORTED_INTEGRATION_KEYS = {
    "credentials": "integration credentials are not assumed locally",
    "cacheKeyParameters": "integration caching is not supported",
    "cacheNamespace": "integration caching is not supported",
    "connectionId": "VPC links are not supported; the URI is called directly",
    "tlsConfig": "TLS settings for the backend are not supported",
    "integrationSubtype": "AWS service integrations are not supported",
    "responseParameters": "HTTP API response parameter mapping is not supported",
}


def parse_api(doc: Any, *, api_id: str, file: str, stages: Mapping[str, Stage],
              protocol: str | None, problems: Problems) -> Api | None:
    """Build an Api from a parsed document, recording every problem found."""
    if not isinstance(doc, dict):
        problems.expected("", "an OpenAPI 3.x or Swagger 2.0 document (a mapping)", doc)
        return None
    if not _check_version(doc, problems):
        return None
    protocol = protocol or detect_protocol(doc)
    _check_root_extensions(doc, protocol, problems)
    schemes = _security_schemes(doc)
    methods = _parse_paths(doc, protocol, schemes, file, problems, _Shared())
    default_stage = "$default" if protocol == HTTP else "prod"
    endpoint = _object(doc, "x-amazon-apigateway-endpoint-configuration", problems)
    return Api(
        id=api_id, name=str(_object(doc, "info", problems).get("title") or api_id), protocol=protocol,
        source=Source(file, ""), methods=tuple(methods),
        stages=stages or MappingProxyType({default_stage: Stage(default_stage)}),
        gateway_responses=_gateway_responses(doc, problems),
        binary_media_types=_strings(doc.get("x-amazon-apigateway-binary-media-types"),
                                    pointer("x-amazon-apigateway-binary-media-types"), problems),
        api_key_source=str(doc.get("x-amazon-apigateway-api-key-source", "HEADER")).upper(),
        policy=doc.get("x-amazon-apigateway-policy"),
        authorizers=MappingProxyType({k: v for k, v in schemes.items() if "x-amazon-apigateway-authorizer" in v}),
        schemes_pointer=_scheme_base(doc),
        cors=_cors(doc, protocol, problems),
        disable_execute_api_endpoint=bool(endpoint.get("disableExecuteApiEndpoint")),
    )


def _object(doc: dict, key: str, problems: Problems) -> dict:
    """``doc[key]`` when it is a mapping; absent is empty; anything else is a problem."""
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.expected(pointer(key), "a mapping", value)
        return {}
    return value


def _strings(value: Any, ptr: str, problems: Problems) -> tuple[str, ...]:
    """A list of strings (absent: empty); anything else is a problem."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.expected(ptr, "a list of strings", value)
        return ()
    return tuple(value)


def _cors(doc: dict, protocol: str, problems: Problems) -> CorsConfig | None:
    raw = doc.get("x-amazon-apigateway-cors")
    if raw is None:
        return None
    ptr = pointer("x-amazon-apigateway-cors")
    if protocol != HTTP:
        problems.error(ptr, "x-amazon-apigateway-cors is for HTTP APIs; REST APIs answer preflights with OPTIONS methods")
        return None
    try:
        return CorsConfig.parse(raw if isinstance(raw, dict) else {})
    except ValueError as exc:
        problems.error(ptr, str(exc))
        return None


def _check_version(doc: dict, problems: Problems) -> bool:
    version = str(doc.get("openapi") or doc.get("swagger") or "")
    if version.startswith("3.") or version == "2.0":
        return True
    problems.error("/openapi", f"expected an 'openapi: 3.x' or 'swagger: \"2.0\"' field, found {describe(version or None)}")
    return False


def detect_protocol(doc: dict) -> str:
    """REST unless the document carries a mark only HTTP API exports have."""
    if "x-amazon-apigateway-importexport-version" in doc or "x-amazon-apigateway-cors" in doc:
        return HTTP
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return REST
    if "$default" in paths:
        return HTTP
    for item in paths.values():
        for op in (item or {}).values() if isinstance(item, dict) else ():
            integ = op.get("x-amazon-apigateway-integration") if isinstance(op, dict) else None
            if isinstance(integ, dict) and "payloadFormatVersion" in integ:
                return HTTP
    return REST


def _check_root_extensions(doc: dict, protocol: str, problems: Problems) -> None:
    for key in doc:
        if not isinstance(key, str) or not key.startswith("x-amazon-apigateway-"):
            continue
        status = ROOT_EXTENSIONS.get(key)
        if status is None:
            problems.warning(pointer(key), f"unknown extension {key!r}: ignored")
        elif status.startswith(("not ", "ignored")):
            problems.warning(pointer(key), f"{key}: {status}")
    if protocol == HTTP and "x-amazon-apigateway-policy" in doc:
        problems.error(pointer("x-amazon-apigateway-policy"),
                       "resource policies are not supported for HTTP APIs (as in AWS)")


def _security_schemes(doc: dict) -> dict[str, dict]:
    components = doc.get("components")
    schemes = (components.get("securitySchemes") if isinstance(components, dict) else None) \
        or doc.get("securityDefinitions")
    return {k: v for k, v in schemes.items() if isinstance(v, dict)} if isinstance(schemes, dict) else {}


def _scheme_base(doc: dict) -> str:
    return "/components/securitySchemes" if "components" in doc else "/securityDefinitions"


class _Shared:
    """Equal values of a document's methods, kept once: the request parameter maps that every
    route of a large export repeats (its short texts, ``GET``, ``HTTP_PROXY``…, are interned)."""

    __slots__ = ("maps",)

    def __init__(self) -> None:
        self.maps: dict[tuple, Mapping[str, str]] = {}

    def str_map(self, raw: Any, ptr: str, problems: Problems) -> Mapping[str, str]:
        """``_str_map``, one read-only mapping per distinct content."""
        if not isinstance(raw, dict) or not raw:
            return _str_map(raw, ptr, problems)
        try:
            key = tuple(raw.items())
            found = self.maps.get(key)
        except TypeError:  # unhashable values: _str_map reports them
            return _str_map(raw, ptr, problems)
        if found is None:
            found = _str_map(raw, ptr, problems)
            if found is not EMPTY:
                self.maps[key] = found
        return found


def _parse_paths(doc: dict, protocol: str, schemes: dict, file: str, problems: Problems,
                 shared: _Shared) -> list[Method]:
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        problems.expected("/paths", "a mapping of paths to path items", paths)
        return []
    methods = []
    variables: dict[tuple, str] = {}
    for path, item in paths.items():
        ptr = pointer("paths", path)
        if not _valid_path(path, protocol, ptr, problems) or not _one_variable_name(path, variables, ptr, problems):
            continue
        if not isinstance(item, dict):
            problems.expected(ptr, "a path item (a mapping of methods)", item)
            continue
        for key, op in item.items():
            method = _parse_operation(doc, path, key, op, protocol, schemes, file, ptr, problems, shared)
            if method is not None:
                methods.append(method)
    return methods


def _valid_path(path: str, protocol: str, ptr: str, problems: Problems) -> bool:
    if path == "$default" and protocol == HTTP:
        return True
    if not isinstance(path, str) or not path.startswith("/"):
        problems.expected(ptr, "a path starting with '/'", path)
        return False
    segments = [s for s in path.split("/")[1:] if s] if path != "/" else []
    for i, seg in enumerate(segments):
        if not SEGMENT.match(seg):
            problems.error(ptr, f"invalid path segment {seg!r}: expected a literal, {{name}} or {{name+}}")
            return False
        if seg.endswith("+}") and i != len(segments) - 1:
            problems.error(ptr, f"greedy path variable {seg} must be the last segment")
            return False
    return True


def _one_variable_name(path: str, seen: dict[tuple, str], ptr: str, problems: Problems) -> bool:
    """Sibling resources share one variable name per kind: ``/{id}`` and ``/{petId}`` cannot both exist
    (AWS: "only one is allowed"); the router keeps one name per position, so a second would be renamed.
    ``seen`` maps (parent segments, greedy) to the first variable segment found there."""
    parent: tuple[str, ...] = ()
    stripped = path.strip("/")
    for seg in stripped.split("/") if stripped and path != "$default" else []:
        if seg.startswith("{"):
            slot = (parent, seg.endswith("+}"))
            first = seen.setdefault(slot, seg)
            if first != seg:
                problems.error(ptr, f"a sibling ({first}) of this resource already has a variable path part "
                                    f"-- only one is allowed, found {seg}")
                return False
            seg = "{+}" if slot[1] else "{}"
        parent += (seg,)
    return True


def _parse_operation(doc, path, key, op, protocol, schemes, file, ptr, problems, shared: _Shared) -> Method | None:
    http_method = OPERATION_KEYS.get(key.lower()) if isinstance(key, str) else None
    op_ptr = ptr + pointer(key)
    if http_method is None:
        if not isinstance(key, str):
            problems.warning(op_ptr, f"unknown path item key {key!r}: ignored")
        elif key.startswith("x-amazon-apigateway-"):
            problems.warning(op_ptr, f"unknown extension {key!r} on a path item: ignored")
        elif key not in PATH_ITEM_OTHER_KEYS and not key.startswith("x-"):
            problems.warning(op_ptr, f"unknown path item key {key!r}: ignored")
        return None
    if not isinstance(op, dict):
        problems.expected(op_ptr, "an operation object", op)
        return None
    for ext in op:
        if isinstance(ext, str) and ext.startswith("x-amazon-apigateway-") and ext not in OPERATION_EXTENSIONS:
            problems.warning(op_ptr + pointer(ext), f"unknown extension {ext!r}: ignored")
    if "x-amazon-apigateway-request-validator" in op:
        problems.warning(op_ptr + pointer("x-amazon-apigateway-request-validator"),
                         "request validators are not yet enforced: requests are not validated")
    auth = _authorization(doc, op, schemes, op_ptr, problems)
    integration = _parse_integration(op.get("x-amazon-apigateway-integration"), protocol, file,
                                     op_ptr + pointer("x-amazon-apigateway-integration"), problems, shared)
    return Method(
        http_method=http_method, resource_path=path, source=Source(file, op_ptr),
        integration=integration, operation_id=op.get("operationId"),
        resource_id=resource_id(path), **auth,
    )


def resource_id(path: str) -> str:
    """A stable 6-character id for a resource path, like API Gateway's resource ids."""
    digest = hashlib.sha1(path.encode("utf-8", "surrogatepass")).digest()  # JSON can escape a lone surrogate
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % 36] for b in digest[:6])


def _authorization(doc, op, schemes, op_ptr, problems) -> dict:
    """Authorization type, authorizer, scopes and API-key requirement from ``security`` (spec §11)."""
    security = op.get("security", doc.get("security"))
    sec_ptr = op_ptr + "/security" if "security" in op else "/security"
    result = {"authorization_type": "NONE", "authorizer": None, "authorization_scopes": (),
              "api_key_required": False}
    if security is None:
        return result
    if not isinstance(security, list):
        problems.expected(sec_ptr, "a list of security requirements", security)
        return result
    for i, requirement in enumerate(security):
        if not isinstance(requirement, dict):
            problems.expected(f"{sec_ptr}/{i}", "a security requirement object", requirement)
            continue
        for name, scopes in requirement.items():
            _apply_scheme(doc, name, scopes, schemes, f"{sec_ptr}/{i}{pointer(name)}", result, problems)
    return result


def _apply_scheme(doc, name, scopes, schemes, ptr, result, problems) -> None:
    scheme = schemes.get(name)
    if scheme is None:
        problems.error(ptr, f"security scheme {name!r} is not defined under {_scheme_base(doc)}")
        return
    authorizer = scheme.get("x-amazon-apigateway-authorizer")
    if str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
        result["authorization_type"] = "AWS_IAM"
    elif isinstance(authorizer, dict):
        kind = str(authorizer.get("type", "")).lower()
        result["authorization_type"] = {"cognito_user_pools": "COGNITO_USER_POOLS", "jwt": "JWT"}.get(kind, "CUSTOM")
        result["authorizer"] = name
        result["authorization_scopes"] = _strings(scopes, ptr, problems)
    elif scheme.get("type") == "apiKey" and str(scheme.get("name", "")).lower() == "x-api-key":
        result["api_key_required"] = True
    else:
        problems.error(ptr, f"security scheme {name!r} is neither awsSigv4, an API Gateway authorizer nor an x-api-key API key")


def _parse_integration(raw, protocol, file, ptr, problems, shared: _Shared) -> Integration | None:
    if raw is None:
        problems.warning(ptr, "no x-amazon-apigateway-integration: requests to this method answer 500 as in AWS")
        return None
    if not isinstance(raw, dict):
        problems.expected(ptr, "an integration object", raw)
        return None
    kind = str(raw.get("type", "")).upper()
    if kind not in INTEGRATION_TYPES:
        problems.expected(ptr + "/type", "one of aws_proxy, aws, http_proxy, http, mock", raw.get("type"))
        return None
    _warn_integration_keys(raw, kind, ptr, problems)
    timeout = _timeout(raw, protocol, ptr, problems)
    if kind != "MOCK" and not raw.get("uri"):
        problems.error(ptr + "/uri", f"a {kind.lower()} integration needs a uri")
        return None
    return Integration(
        type=sys.intern(kind), source=Source(file, ptr), uri=str(raw.get("uri", "")),
        http_method=sys.intern(str(raw.get("httpMethod", "")).upper()), timeout_ms=timeout,
        payload_format_version=sys.intern(str(raw.get("payloadFormatVersion", "2.0" if protocol == HTTP else "1.0"))),
        request_parameters=shared.str_map(raw.get("requestParameters"), ptr + "/requestParameters", problems),
        request_templates=shared.str_map(raw.get("requestTemplates"), ptr + "/requestTemplates", problems),
        responses=_integration_responses(raw.get("responses"), ptr + "/responses", problems),
        passthrough_behavior=sys.intern(str(raw.get("passthroughBehavior", "when_no_match")).upper()),
        content_handling=raw.get("contentHandling"),
    )


def _warn_integration_keys(raw: dict, kind: str, ptr: str, problems: Problems) -> None:
    for key in raw:
        if key not in INTEGRATION_KEYS:
            problems.warning(ptr + pointer(key), f"unknown integration key {key!r}: ignored")
        elif key in UNSUPPORTED_INTEGRATION_KEYS:
            problems.warning(ptr + pointer(key), f"{key}: {UNSUPPORTED_INTEGRATION_KEYS[key]}")
    if kind == "AWS":
        problems.warning(ptr + "/type", "non-proxy Lambda (aws) integrations run without mapping templates: "
                                        "the request body is passed as the event and the result returned as the body")
    templates = raw.get("requestTemplates")
    if kind in ("HTTP", "AWS") and isinstance(templates, dict) and any(_is_vtl(t) for t in templates.values()):
        problems.warning(ptr + "/requestTemplates", "VTL mapping templates are not supported: the body is passed through")


def _is_vtl(template: Any) -> bool:
    return isinstance(template, str) and ("$" in template or "#" in template)


def _timeout(raw: dict, protocol: str, ptr: str, problems: Problems) -> int:
    limit = 30_000 if protocol == HTTP else 29_000
    value = raw.get("timeoutInMillis", limit)
    if isinstance(value, bool) or not isinstance(value, int) or not 50 <= value <= limit:
        problems.expected(ptr + "/timeoutInMillis", f"an integer from 50 to {limit}", value)
        return limit
    return value


def _str_map(raw: Any, ptr: str, problems: Problems) -> Mapping[str, str]:
    if raw is None:
        return EMPTY
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        problems.expected(ptr, "a mapping of strings to strings", raw)
        return EMPTY
    return MappingProxyType(dict(raw))


def _integration_responses(raw: Any, ptr: str, problems: Problems) -> tuple[IntegrationResponse, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        problems.expected(ptr, "a mapping of selection patterns to responses", raw)
        return ()
    out = []
    for pattern, spec in raw.items():
        rptr = ptr + pointer(pattern)
        status = _status_code(spec.get("statusCode") if isinstance(spec, dict) else None, rptr + "/statusCode", problems)
        if status is None:
            continue
        if not isinstance(pattern, str):
            problems.expected(rptr, "a selection pattern (a string)", pattern)
            continue
        if pattern != "default":
            try:
                re.compile(pattern)
            except (re.error, OverflowError, RecursionError) as exc:
                problems.error(rptr, f"selection pattern is not a valid regular expression: {exc}")
                continue
        out.append(IntegrationResponse(
            pattern=pattern, status_code=status,
            response_parameters=_str_map(spec.get("responseParameters"), rptr + "/responseParameters", problems),
            response_templates=_str_map(spec.get("responseTemplates"), rptr + "/responseTemplates", problems)))
    # AWS tries the regex patterns first and falls back to "default" (spec §1.1 step 9).
    return tuple(sorted(out, key=lambda r: r.pattern == "default"))


def _status_code(value: Any, ptr: str, problems: Problems) -> int | None:
    try:
        status = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: YAML's .inf
        status = 0
    if not 100 <= status <= 599:
        problems.expected(ptr, "an HTTP status code such as \"200\"", value)
        return None
    return status


def _gateway_responses(doc: dict, problems: Problems) -> Mapping[str, GatewayResponseTemplate]:
    raw = doc.get("x-amazon-apigateway-gateway-responses")
    if raw is None:
        return EMPTY
    ptr = pointer("x-amazon-apigateway-gateway-responses")
    if not isinstance(raw, dict):
        problems.expected(ptr, "a mapping of gateway response types", raw)
        return EMPTY
    out = {}
    for rtype, spec in raw.items():
        rptr = ptr + pointer(rtype)
        if rtype not in RESPONSE_TYPES:
            problems.error(rptr, f"unknown gateway response type {rtype!r}; expected one of {', '.join(RESPONSE_TYPES)}")
            continue
        if not isinstance(spec, dict):
            problems.expected(rptr, "a gateway response object", spec)
            continue
        status = None
        if spec.get("statusCode") is not None:
            status = _status_code(spec["statusCode"], rptr + "/statusCode", problems)
        out[rtype] = GatewayResponseTemplate(
            response_type=rtype, status_code=status,
            response_parameters=_str_map(spec.get("responseParameters"), rptr + "/responseParameters", problems),
            response_templates=_str_map(spec.get("responseTemplates"), rptr + "/responseTemplates", problems))
    return MappingProxyType(out)
