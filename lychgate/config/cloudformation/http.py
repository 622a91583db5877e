"""``AWS::ApiGatewayV2::*`` resources -> one OpenAPI document per HTTP API, as ``export-api`` shapes it.

An ``Api`` with ``ProtocolType: HTTP`` starts from its ``Body`` (or local ``BodyS3Location``), or
from a quick-create ``Target``; ``Route`` + ``Integration`` + ``Authorizer`` resources add routes
with ``x-amazon-apigateway-integration`` (payload format 2.0 by default) and security (``jwt`` and
``request`` authorizers, ``awsSigv4`` for AWS_IAM); ``CorsConfiguration`` becomes
``x-amazon-apigateway-cors``. Stages come from ``AWS::ApiGatewayV2::Stage``. WebSocket APIs are
not served and are reported.
"""

from __future__ import annotations

import re
from typing import Any

from lychgate.config.cloudformation.documents import (SIGV4_SCHEME, ApiOut, add_operation, body_document,
                                                      drop_none_requirements, new_document, schemes, stage_config,
                                                      throttle_config)
from lychgate.config.cloudformation.stack import HTTP_API, Stack
from lychgate.config.source import pointer

P = "AWS::ApiGatewayV2::"
ROUTE, INTEGRATION, AUTHORIZER = P + "Route", P + "Integration", P + "Authorizer"
STAGE, DEPLOYMENT = P + "Stage", P + "Deployment"
CONSUMED = {HTTP_API, ROUTE, INTEGRATION, AUTHORIZER, STAGE, DEPLOYMENT}
CORS_KEYS = {"AllowOrigins": "allowOrigins", "AllowCredentials": "allowCredentials", "ExposeHeaders": "exposeHeaders",
             "MaxAge": "maxAge", "AllowMethods": "allowMethods", "AllowHeaders": "allowHeaders"}
INTEGRATION_KEYS = {"IntegrationUri": "uri", "IntegrationMethod": "httpMethod", "PayloadFormatVersion": "payloadFormatVersion",
                    "TimeoutInMillis": "timeoutInMillis", "RequestParameters": "requestParameters",
                    "ConnectionType": "connectionType", "ConnectionId": "connectionId", "CredentialsArn": "credentials",
                    "IntegrationSubtype": "integrationSubtype", "ResponseParameters": "responseParameters"}


def http_apis(stack: Stack) -> list[ApiOut]:
    out = []
    for lid, resource in stack.active(HTTP_API):
        props = resource.get("Properties", {})
        protocol = str(stack.prop(lid, "ProtocolType", "HTTP")).upper()
        if protocol != "HTTP" and not ("Body" in props or "BodyS3Location" in props):
            stack.problems.warning(pointer("Resources", lid, "Properties", "ProtocolType"),
                                   f"{protocol} APIs are not served (lychgate serves REST and HTTP APIs)")
            continue
        doc = body_document(stack, lid)
        if doc is None and ("Body" in props or "BodyS3Location" in props):
            continue
        doc = doc or new_document(str(stack.prop(lid, "Name") or lid), "HTTP")
        doc.setdefault("x-amazon-apigateway-importexport-version", "1.0")
        _quick_create(stack, lid, doc)
        authorizers = _add_routes(stack, lid, doc)
        _cors(stack, lid, doc)
        drop_none_requirements(doc)
        out.append(ApiOut(lid, stack.api_ids[lid], "HTTP", doc, _stages(stack, lid),
                          {name: alid for alid, name in authorizers.items()}))
    return out


def _members(stack: Stack, kind: str, api_lid: str) -> list[str]:
    return [lid for lid, _ in stack.active(kind) if stack.prop(lid, "ApiId") == stack.api_ids[api_lid]]


def _quick_create(stack: Stack, lid: str, doc: dict) -> None:
    """``Target`` (+ ``RouteKey``) on the Api: one route to that integration, as quick create makes."""
    target = stack.prop(lid, "Target")
    if not target:
        return
    route_key = str(stack.prop(lid, "RouteKey", "$default"))
    if str(target).startswith(("http://", "https://")):
        integration = {"type": "http_proxy", "httpMethod": "ANY", "uri": target, "payloadFormatVersion": "1.0"}
    else:
        integration = {"type": "aws_proxy", "httpMethod": "POST", "uri": target, "payloadFormatVersion": "2.0"}
    _add_route(doc, route_key, {"x-amazon-apigateway-integration": integration, "responses": {}})


def _add_routes(stack: Stack, api_lid: str, doc: dict) -> dict[str, str]:
    """Route resources as operations; returns the API's authorizers (id -> scheme name)."""
    integrations = {ilid: _integration(stack, ilid) for ilid in _members(stack, INTEGRATION, api_lid)}
    authorizers = {alid: _add_authorizer(stack, alid, doc) for alid in _members(stack, AUTHORIZER, api_lid)}
    for rlid in _members(stack, ROUTE, api_lid):
        route_key = str(stack.prop(rlid, "RouteKey", ""))
        op: dict[str, Any] = {}
        if stack.prop(rlid, "OperationName"):
            op["operationId"] = stack.prop(rlid, "OperationName")
        security = _security(stack, rlid, doc, authorizers)
        if security:
            op["security"] = security
        target = str(stack.prop(rlid, "Target", ""))
        match = re.fullmatch(r"integrations/(.+)", target)
        if match and match.group(1) in integrations:
            op["x-amazon-apigateway-integration"] = integrations[match.group(1)]
        elif target:
            stack.problems.error(pointer("Resources", rlid, "Properties", "Target"),
                                 f"{target!r} is not 'integrations/<IntegrationId>' of an integration of this API")
        op["responses"] = {}
        _add_route(doc, route_key, op, stack, rlid)
    return authorizers


def _add_route(doc: dict, route_key: str, op: dict, stack: Stack | None = None, rlid: str = "") -> None:
    if route_key == "$default":
        doc.setdefault("paths", {}).setdefault("$default", {})["x-amazon-apigateway-any-method"] = op
        return
    method, _, path = route_key.partition(" ")
    if not path.startswith("/") and stack is not None:
        stack.problems.expected(pointer("Resources", rlid, "Properties", "RouteKey"),
                                "a route key 'METHOD /path' or '$default'", route_key)
        return
    add_operation(doc, path, method, op)


def _integration(stack: Stack, ilid: str) -> dict:
    out: dict[str, Any] = {"type": str(stack.prop(ilid, "IntegrationType", "")).lower()}
    for key, name in INTEGRATION_KEYS.items():
        value = stack.prop(ilid, key)
        if value is not None:
            out[name] = int(value) if key == "TimeoutInMillis" and str(value).isdigit() else value
    if out["type"] == "aws_proxy":
        out.setdefault("httpMethod", "POST")
        out.setdefault("payloadFormatVersion", "2.0")
    return out


def _add_authorizer(stack: Stack, alid: str, doc: dict) -> str:
    name = str(stack.prop(alid, "Name") or alid)
    kind = str(stack.prop(alid, "AuthorizerType", "")).upper()
    identity = stack.prop(alid, "IdentitySource") or []
    sources = ", ".join(identity) if isinstance(identity, list) else identity
    auth: dict[str, Any] = {"type": kind.lower(), "identitySource": sources}
    if kind == "JWT":
        jwt = stack.prop(alid, "JwtConfiguration") or {}
        auth["jwtConfiguration"] = {"issuer": jwt.get("Issuer"), "audience": jwt.get("Audience") or []}
        schemes(doc)[name] = {"type": "oauth2", "flows": {}, "x-amazon-apigateway-authorizer": auth}
        return name
    for key, field in (("AuthorizerUri", "authorizerUri"), ("AuthorizerCredentialsArn", "authorizerCredentials"),
                       ("AuthorizerPayloadFormatVersion", "authorizerPayloadFormatVersion"),
                       ("EnableSimpleResponses", "enableSimpleResponses"),
                       ("AuthorizerResultTtlInSeconds", "authorizerResultTtlInSeconds")):
        if stack.prop(alid, key) is not None:
            auth[field] = stack.prop(alid, key)
    schemes(doc)[name] = {"type": "apiKey", "name": "Authorization", "in": "header",
                          "x-amazon-apigateway-authorizer": auth}
    return name


def _security(stack: Stack, rlid: str, doc: dict, authorizers: dict) -> list[dict]:
    kind = str(stack.prop(rlid, "AuthorizationType", "NONE")).upper()
    if kind == "AWS_IAM":
        schemes(doc)["sigv4"] = dict(SIGV4_SCHEME)
        return [{"sigv4": []}]
    if kind in ("JWT", "CUSTOM"):
        name = authorizers.get(stack.prop(rlid, "AuthorizerId"))
        if name is None:
            stack.problems.error(pointer("Resources", rlid, "Properties", "AuthorizerId"),
                                 f"AuthorizationType {kind} needs the AuthorizerId of an authorizer of this API")
            return []
        return [{name: list(stack.prop(rlid, "AuthorizationScopes") or [])}]
    if kind != "NONE":
        stack.problems.expected(pointer("Resources", rlid, "Properties", "AuthorizationType"),
                                "NONE, AWS_IAM, JWT or CUSTOM", kind)
    return []


def _cors(stack: Stack, lid: str, doc: dict) -> None:
    config = stack.prop(lid, "CorsConfiguration")
    if isinstance(config, dict) and config:
        doc["x-amazon-apigateway-cors"] = {CORS_KEYS[k]: v for k, v in config.items() if k in CORS_KEYS}


def _stages(stack: Stack, api_lid: str) -> dict[str, dict]:
    stages = {}
    for slid in _members(stack, STAGE, api_lid):
        log = stack.prop(slid, "AccessLogSettings") or {}
        stage = stage_config(stack.prop(slid, "StageVariables"), log.get("Format"))
        _route_settings(stack, slid, stage)
        stages[str(stack.prop(slid, "StageName"))] = stage
    if not stages and stack.prop(api_lid, "Target"):
        stages["$default"] = stage_config(None, None)  # quick create makes the $default stage
    if not stages:
        stack.problems.warning(pointer("Resources", api_lid), f"HTTP API {api_lid} has no AWS::ApiGatewayV2::Stage: "
                                                             "served on stage '$default'")
    return stages


def _route_settings(stack: Stack, slid: str, stage: dict) -> None:
    """Stage throttles: ``DefaultRouteSettings``, and ``RouteSettings`` by route key as ``/path/METHOD``."""
    default = throttle_config(stack.prop(slid, "DefaultRouteSettings"), "ThrottlingRateLimit", "ThrottlingBurstLimit")
    if default:
        stage["throttle"] = default
    for route_key, settings in (stack.prop(slid, "RouteSettings") or {}).items():
        limits = throttle_config(settings, "ThrottlingRateLimit", "ThrottlingBurstLimit")
        method, _, path = str(route_key).partition(" ")
        if limits and path.startswith("/"):
            stage.setdefault("method_throttle", {})[f"{path}/{method.upper()}"] = limits
        elif limits:
            stack.problems.warning(pointer("Resources", slid, "Properties", "RouteSettings", route_key),
                                   f"throttling of route {route_key} is not carried over (only 'METHOD /path' routes)")
