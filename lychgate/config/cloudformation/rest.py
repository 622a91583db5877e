"""``AWS::ApiGateway::*`` resources -> one OpenAPI document per REST API, as ``get-export`` shapes it.

A RestApi's ``Body`` (or local ``BodyS3Location``) is the starting document; ``Resource`` +
``Method`` resources (the shape the CDK emits) add operations with their
``x-amazon-apigateway-integration`` and ``security`` (``awsSigv4`` for AWS_IAM, the authorizer's
scheme for CUSTOM / COGNITO_USER_POOLS, ``api_key`` for ApiKeyRequired); ``Authorizer``,
``GatewayResponse`` and ``RequestValidator`` resources and the RestApi's own properties
(``Policy``, ``BinaryMediaTypes``, ``ApiKeySourceType``, endpoint settings) become the matching
root extensions. Stages come from ``Stage`` resources and ``Deployment.StageName``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lychgate.config.cloudformation.documents import (API_KEY_SCHEME, SIGV4_SCHEME, ApiOut, add_operation,
                                                      body_document, drop_none_requirements, new_document, schemes, stage_config,
                                                      throttle_config)
from lychgate.config.cloudformation.stack import REST_API, ROOT_RESOURCE, Stack
from lychgate.config.source import pointer

P = "AWS::ApiGateway::"
RESOURCE, METHOD, AUTHORIZER = P + "Resource", P + "Method", P + "Authorizer"
GATEWAY_RESPONSE, STAGE, DEPLOYMENT, VALIDATOR = P + "GatewayResponse", P + "Stage", P + "Deployment", P + "RequestValidator"
CONSUMED = {REST_API, RESOURCE, METHOD, AUTHORIZER, GATEWAY_RESPONSE, STAGE, DEPLOYMENT, VALIDATOR}
INTEGRATION_KEYS = {
    "Uri": "uri", "IntegrationHttpMethod": "httpMethod", "RequestParameters": "requestParameters",
    "RequestTemplates": "requestTemplates", "TimeoutInMillis": "timeoutInMillis", "ContentHandling": "contentHandling",
    "Credentials": "credentials", "CacheKeyParameters": "cacheKeyParameters", "CacheNamespace": "cacheNamespace",
    "ConnectionType": "connectionType", "ConnectionId": "connectionId",
}
PARAMETER_PLACES = {"path": "path", "querystring": "query", "header": "header"}


def rest_apis(stack: Stack) -> list[ApiOut]:
    out = []
    for lid, resource in stack.active(REST_API):
        props = resource.get("Properties", {})
        doc = body_document(stack, lid)
        if doc is None and ("Body" in props or "BodyS3Location" in props):
            continue
        doc = doc or new_document(str(stack.prop(lid, "Name") or lid), "REST")
        authorizers = _add_operations(stack, lid, doc)
        _add_gateway_responses(stack, lid, doc)
        _apply_api_properties(stack, lid, doc)
        fill_token_identity_sources(doc)
        drop_none_requirements(doc)
        out.append(ApiOut(lid, stack.api_ids[lid], "REST", doc, _stages(stack, lid),
                          {name: alid for alid, name in authorizers.items()}))
    return out


def _belongs(stack: Stack, lid: str, api_lid: str, key: str = "RestApiId") -> bool:
    return stack.prop(lid, key) == stack.api_ids[api_lid]


def _members(stack: Stack, kind: str, api_lid: str) -> list[str]:
    return [lid for lid, _ in stack.active(kind) if _belongs(stack, lid, api_lid)]


# -- resources and methods ------------------------------------------------------------------------

def _add_operations(stack: Stack, api_lid: str, doc: dict) -> dict[str, str]:
    """Method resources as operations; returns the API's authorizers (id -> scheme name)."""
    paths = _resource_paths(stack, api_lid)
    authorizers = _add_authorizers(stack, api_lid, doc)
    validators = _add_validators(stack, api_lid, doc)
    for mlid in _members(stack, METHOD, api_lid):
        resource_id = stack.prop(mlid, "ResourceId")
        path = paths.get(resource_id)
        if path is None:
            stack.problems.error(pointer("Resources", mlid, "Properties", "ResourceId"),
                                 f"{resource_id!r} is not a resource of REST API {api_lid}")
            continue
        method = str(stack.prop(mlid, "HttpMethod", "")).upper()
        operation = _operation(stack, mlid, path, doc, authorizers, validators)
        add_operation(doc, path, method, operation)
    return authorizers


def _resource_paths(stack: Stack, api_lid: str) -> dict[str, str | None]:
    """Resource id (logical id, or the root marker) -> path template."""
    parents = {rlid: (stack.prop(rlid, "ParentId"), str(stack.prop(rlid, "PathPart", "")))
               for rlid in _members(stack, RESOURCE, api_lid)}
    paths: dict[str, str | None] = {ROOT_RESOURCE + api_lid: "/"}
    for rlid in parents:
        _path(stack, rlid, parents, paths, ())
    return paths


def _path(stack: Stack, rlid: Any, parents: dict, paths: dict, seen: tuple) -> str | None:
    if rlid in paths:
        return paths[rlid]
    if rlid in seen or rlid not in parents:
        return None
    parent_id, part = parents[rlid]
    parent = _path(stack, parent_id, parents, paths, seen + (rlid,))
    if parent is None:
        stack.problems.error(pointer("Resources", rlid, "Properties", "ParentId"),
                             f"parent {parent_id!r} is neither the API's root resource nor one of its resources")
    paths[rlid] = None if parent is None else parent.rstrip("/") + "/" + part
    return paths[rlid]


def _operation(stack: Stack, mlid: str, path: str, doc: dict, authorizers: dict, validators: dict) -> dict:
    op: dict[str, Any] = {}
    if stack.prop(mlid, "OperationName"):
        op["operationId"] = stack.prop(mlid, "OperationName")
    parameters = _parameters(stack.prop(mlid, "RequestParameters") or {}, path, doc)
    if parameters:
        op["parameters"] = parameters
    security = _security(stack, mlid, doc, authorizers)
    if security:
        op["security"] = security
    validator = validators.get(stack.prop(mlid, "RequestValidatorId"))
    if validator:
        op["x-amazon-apigateway-request-validator"] = validator
    op["responses"] = _method_responses(stack.prop(mlid, "MethodResponses") or [])
    integration = stack.prop(mlid, "Integration")
    if isinstance(integration, dict):
        op["x-amazon-apigateway-integration"] = _integration(integration)
    return op


def _security(stack: Stack, mlid: str, doc: dict, authorizers: dict) -> list[dict]:
    """Method authorization as OpenAPI security requirements (how get-export writes it)."""
    kind = str(stack.prop(mlid, "AuthorizationType", "NONE")).upper()
    security: list[dict] = []
    if kind == "AWS_IAM":
        schemes(doc)["sigv4"] = dict(SIGV4_SCHEME)
        security.append({"sigv4": []})
    elif kind in ("CUSTOM", "COGNITO_USER_POOLS"):
        name = authorizers.get(stack.prop(mlid, "AuthorizerId"))
        if name is None:
            stack.problems.error(pointer("Resources", mlid, "Properties", "AuthorizerId"),
                                 f"AuthorizationType {kind} needs the AuthorizerId of an authorizer of this API")
        else:
            scopes = (stack.prop(mlid, "AuthorizationScopes") or []) if kind == "COGNITO_USER_POOLS" else []
            security.append({name: list(scopes)})
    elif kind != "NONE":
        stack.problems.expected(pointer("Resources", mlid, "Properties", "AuthorizationType"),
                                "NONE, AWS_IAM, CUSTOM or COGNITO_USER_POOLS", kind)
    if stack.prop(mlid, "ApiKeyRequired") in (True, "true"):
        schemes(doc)["api_key"] = dict(API_KEY_SCHEME)
        security.append({"api_key": []})
    return security


def _parameters(declared: dict, path: str, doc: dict) -> list[dict]:
    """Method request parameters (``method.request.path.id: true``) plus every path variable."""
    out, seen = [], set()
    for key, required in declared.items():
        match = re.fullmatch(r"method\.request\.(path|querystring|header)\.(.+)", str(key))
        if match:
            out.append(_parameter(match.group(2), PARAMETER_PLACES[match.group(1)], required in (True, "true"), doc))
            seen.add((match.group(2), PARAMETER_PLACES[match.group(1)]))
    for name in re.findall(r"\{([^}+]+)\+?\}", path):
        if (name, "path") not in seen:
            out.append(_parameter(name, "path", True, doc))
    return out


def _parameter(name: str, place: str, required: bool, doc: dict) -> dict:
    param = {"name": name, "in": place, "required": required or place == "path"}
    if doc.get("swagger") == "2.0":
        return {**param, "type": "string"}
    return {**param, "schema": {"type": "string"}}


def _method_responses(responses: list) -> dict:
    out = {}
    for response in responses:
        if isinstance(response, dict) and response.get("StatusCode") is not None:
            code = str(response["StatusCode"])
            out[code] = {"description": f"{code} response"}
    return out


def _integration(raw: dict) -> dict:
    out: dict[str, Any] = {"type": str(raw.get("Type", "")).lower()}
    for key, name in INTEGRATION_KEYS.items():
        if raw.get(key) is not None:
            out[name] = _int(raw[key]) if key == "TimeoutInMillis" else raw[key]
    if raw.get("PassthroughBehavior"):
        out["passthroughBehavior"] = str(raw["PassthroughBehavior"]).lower()
    responses = {}
    for item in raw.get("IntegrationResponses") or []:
        if isinstance(item, dict):
            responses[item.get("SelectionPattern") or "default"] = _integration_response(item)
    if responses:
        out["responses"] = responses
    return out


def _integration_response(item: dict) -> dict:
    out: dict[str, Any] = {"statusCode": str(item.get("StatusCode", ""))}
    for key, name in (("ResponseParameters", "responseParameters"), ("ResponseTemplates", "responseTemplates"),
                      ("ContentHandling", "contentHandling")):
        if item.get(key) is not None:
            out[name] = item[key]
    return out


def _int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


# -- authorizers, validators, gateway responses ---------------------------------------------------

def _add_authorizers(stack: Stack, api_lid: str, doc: dict) -> dict[str, str]:
    """Authorizer resources as security schemes; returns authorizer id -> scheme name."""
    names = {}
    for alid in _members(stack, AUTHORIZER, api_lid):
        name = str(stack.prop(alid, "Name") or alid)
        schemes(doc)[name] = _authorizer_scheme(stack, alid)
        names[alid] = name
    return names


def _authorizer_scheme(stack: Stack, alid: str) -> dict:
    kind = str(stack.prop(alid, "Type", "")).upper()
    identity = stack.prop(alid, "IdentitySource")
    auth: dict[str, Any] = {"type": kind.lower()}
    if kind == "COGNITO_USER_POOLS":
        auth["providerARNs"] = stack.prop(alid, "ProviderARNs") or []
    else:
        for key, name in (("AuthorizerUri", "authorizerUri"), ("AuthorizerCredentials", "authorizerCredentials"),
                          ("IdentityValidationExpression", "identityValidationExpression")):
            if stack.prop(alid, key) is not None:
                auth[name] = stack.prop(alid, key)
        if stack.prop(alid, "AuthorizerResultTtlInSeconds") is not None:
            auth["authorizerResultTtlInSeconds"] = _int(stack.prop(alid, "AuthorizerResultTtlInSeconds"))
    if identity:
        auth["identitySource"] = identity
    header = re.fullmatch(r"method\.request\.header\.([^,\s]+)", str(identity or ""))
    return {"type": "apiKey", "name": header.group(1) if header else "Unused", "in": "header",
            "x-amazon-apigateway-authtype": "cognito_user_pools" if kind == "COGNITO_USER_POOLS" else "custom",
            "x-amazon-apigateway-authorizer": auth}


def fill_token_identity_sources(doc: dict) -> None:
    """A TOKEN authorizer's header is its scheme's ``name``: write it as identitySource, as import reads it."""
    found = (doc.get("components") or {}).get("securitySchemes") or doc.get("securityDefinitions") or {}
    for scheme in found.values():
        auth = scheme.get("x-amazon-apigateway-authorizer") if isinstance(scheme, dict) else None
        if isinstance(auth, dict) and str(auth.get("type", "")).lower() == "token" \
                and not auth.get("identitySource") and scheme.get("name"):
            auth["identitySource"] = f"method.request.header.{scheme['name']}"


def _add_validators(stack: Stack, api_lid: str, doc: dict) -> dict[str, str]:
    names = {}
    for vlid in _members(stack, VALIDATOR, api_lid):
        name = str(stack.prop(vlid, "Name") or vlid)
        doc.setdefault("x-amazon-apigateway-request-validators", {})[name] = {
            "validateRequestBody": bool(stack.prop(vlid, "ValidateRequestBody", False)),
            "validateRequestParameters": bool(stack.prop(vlid, "ValidateRequestParameters", False))}
        names[vlid] = name
    return names


def _add_gateway_responses(stack: Stack, api_lid: str, doc: dict) -> None:
    for glid in _members(stack, GATEWAY_RESPONSE, api_lid):
        response: dict[str, Any] = {}
        for key, name in (("StatusCode", "statusCode"), ("ResponseParameters", "responseParameters"),
                          ("ResponseTemplates", "responseTemplates")):
            if stack.prop(glid, key) is not None:
                response[name] = str(stack.prop(glid, key)) if key == "StatusCode" else stack.prop(glid, key)
        rtype = str(stack.prop(glid, "ResponseType", ""))
        doc.setdefault("x-amazon-apigateway-gateway-responses", {})[rtype] = response


# -- the RestApi's own properties, stages ---------------------------------------------------------

def _apply_api_properties(stack: Stack, lid: str, doc: dict) -> None:
    if stack.prop(lid, "Name"):
        doc.setdefault("info", {})["title"] = stack.prop(lid, "Name")
    policy = stack.prop(lid, "Policy")
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            stack.problems.expected(pointer("Resources", lid, "Properties", "Policy"), "a policy document", policy)
    if policy:
        doc["x-amazon-apigateway-policy"] = policy
    binary = [str(t).replace("~1", "/") for t in stack.prop(lid, "BinaryMediaTypes") or []]
    if binary:
        existing = doc.get("x-amazon-apigateway-binary-media-types") or []
        doc["x-amazon-apigateway-binary-media-types"] = list(dict.fromkeys([*existing, *binary]))
    if stack.prop(lid, "ApiKeySourceType"):
        doc["x-amazon-apigateway-api-key-source"] = stack.prop(lid, "ApiKeySourceType")
    _endpoint_configuration(stack, lid, doc)
    if stack.prop(lid, "MinimumCompressionSize") is not None:
        doc["x-amazon-apigateway-minimum-compression-size"] = stack.prop(lid, "MinimumCompressionSize")


def _endpoint_configuration(stack: Stack, lid: str, doc: dict) -> None:
    config = stack.prop(lid, "EndpointConfiguration") or {}
    out = dict(doc.get("x-amazon-apigateway-endpoint-configuration") or {})
    if isinstance(config, dict) and config.get("Types"):
        out["types"] = config["Types"]
    if isinstance(config, dict) and config.get("VpcEndpointIds"):
        out["vpcEndpointIds"] = config["VpcEndpointIds"]
    if stack.prop(lid, "DisableExecuteApiEndpoint") is not None:
        out["disableExecuteApiEndpoint"] = stack.prop(lid, "DisableExecuteApiEndpoint") in (True, "true")
    if out:
        doc["x-amazon-apigateway-endpoint-configuration"] = out


def _stages(stack: Stack, api_lid: str) -> dict[str, dict]:
    """Stage resources, then stages created by ``Deployment.StageName`` (as SAM's "Stage")."""
    stages = {}
    for slid in _members(stack, STAGE, api_lid):
        log = stack.prop(slid, "AccessLogSetting") or {}
        stage = stage_config(stack.prop(slid, "Variables"), log.get("Format"))
        _method_settings(stack, slid, "MethodSettings", stack.prop(slid, "MethodSettings"), stage)
        stages[str(stack.prop(slid, "StageName"))] = stage
    for dlid in _members(stack, DEPLOYMENT, api_lid):
        name = stack.prop(dlid, "StageName")
        if name and str(name) not in stages:
            description = stack.prop(dlid, "StageDescription") or {}
            stage = stage_config(description.get("Variables"), (description.get("AccessLogSetting") or {}).get("Format"))
            default = throttle_config(description, "ThrottlingRateLimit", "ThrottlingBurstLimit")
            if default:
                stage["throttle"] = default
            _method_settings(stack, dlid, "StageDescription/MethodSettings", description.get("MethodSettings"), stage)
            stages[str(name)] = stage
    if not stages:
        stack.problems.warning(pointer("Resources", api_lid), f"REST API {api_lid} has no stage (no "
                               "AWS::ApiGateway::Stage and no Deployment StageName): served on stage 'prod'")
    return stages


def _method_settings(stack: Stack, lid: str, where: str, settings: Any, stage: dict) -> None:
    """``MethodSettings`` throttles: ``/*`` + ``*`` is the stage default, others ``/path/METHOD``."""
    for i, setting in enumerate(settings if isinstance(settings, list) else []):
        if not isinstance(setting, dict):
            continue
        path = _settings_path(str(setting.get("ResourcePath", "/*")))
        method = str(setting.get("HttpMethod", "*")).upper()
        limits = throttle_config(setting, "ThrottlingRateLimit", "ThrottlingBurstLimit")
        if limits and path == "*" and method == "*":
            stage["throttle"] = limits
        elif limits:
            stage.setdefault("method_throttle", {})[f"{path}/{method}"] = limits
        if setting.get("CachingEnabled") in (True, "true"):
            stack.problems.warning(f"/Resources/{lid}/Properties/{where}/{i}/CachingEnabled",
                                   "API caching is not applied: every request reaches the integration")


def _settings_path(encoded: str) -> str:
    """CloudFormation's ``/~1pets~1{id}`` -> ``/pets/{id}``; ``/`` is the root, ``/*`` every resource."""
    path = (encoded[1:] if encoded.startswith("/") else encoded).replace("~1", "/")
    return "*" if path == "*" else "/" + path.lstrip("/")
