"""The effective API as OpenAPI 3.0 with x-amazon-apigateway-* extensions, as AWS exports it.

``export_openapi`` writes a loaded ``model.Api`` (not the template or file it came from) in the
shape ``aws apigateway get-export --export-type oas30 --parameters extensions='integrations'``
prints: ``servers`` with the stage URL and a ``basePath`` variable, one operation per method with
its ``x-amazon-apigateway-integration`` and ``security``, ``securitySchemes`` (``sigv4``,
``api_key``, the authorizers), the resource policy with ``execute-api:/`` expanded, gateway
responses, binary media types. HTTP APIs are written as ``export-api`` writes them (an
``x-amazon-apigateway-importexport-version`` mark, a ``$default`` path). Loading the result gives
back the same routes, integrations and authorization.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from lychgate.config.model import HTTP, Api, GatewayResponseTemplate, Integration, Method

SIGV4 = {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4"}
API_KEY = {"type": "apiKey", "name": "x-api-key", "in": "header"}


def export_openapi(api: Api, stage: str, *, region: str, account_id: str) -> dict:
    """The API as ``get-export`` (REST) or ``export-api`` (HTTP) would print it for ``stage``."""
    doc: dict[str, Any] = {"openapi": "3.0.1", "info": {"title": api.name, "version": "1.0"},
                           "servers": [_server(api, stage, region)], "paths": {}}
    schemes: dict[str, Any] = {}
    for method in api.methods:
        doc["paths"].setdefault(method.resource_path, {})[_operation_key(method)] = _operation(api, method, schemes)
    if schemes:
        doc["components"] = {"securitySchemes": schemes}
    doc.update(_root_extensions(api, region, account_id))
    return doc


def _server(api: Api, stage: str, region: str) -> dict:
    host = f"https://{api.id}.execute-api.{region}.amazonaws.com"
    base = "" if stage == "$default" else (stage if api.protocol == HTTP else "/" + stage)
    return {"url": host + "/{basePath}", "variables": {"basePath": {"default": base}}}


def _operation_key(method: Method) -> str:
    return "x-amazon-apigateway-any-method" if method.http_method == "ANY" else method.http_method.lower()


def _operation(api: Api, method: Method, schemes: dict) -> dict:
    op: dict[str, Any] = {}
    if method.operation_id:
        op["operationId"] = method.operation_id
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"\{([^}+]+)\+?\}", method.resource_path)]
    if parameters:
        op["parameters"] = parameters
    op["responses"] = _responses(method.integration)
    security = _security(api, method, schemes)
    if security:
        op["security"] = security
    if method.integration is not None:
        op["x-amazon-apigateway-integration"] = _integration(method.integration, api.protocol)
    return op


def _responses(integration: Integration | None) -> dict:
    codes = sorted({str(r.status_code) for r in integration.responses}) if integration else []
    return {code: {"description": f"{code} response", "content": {}} for code in codes}


def _security(api: Api, method: Method, schemes: dict) -> list[dict]:
    """Security requirements, and the schemes they name (get-export lists api_key first)."""
    security = []
    if method.api_key_required:
        schemes["api_key"] = dict(API_KEY)
        security.append({"api_key": []})
    if method.authorization_type == "AWS_IAM":
        schemes["sigv4"] = dict(SIGV4)
        security.append({"sigv4": []})
    elif method.authorizer is not None:
        schemes[method.authorizer] = _plain(api.authorizers.get(method.authorizer, {}))
        security.append({method.authorizer: list(method.authorization_scopes)})
    return security


def _integration(integration: Integration, protocol: str) -> dict:
    out: dict[str, Any] = {"type": integration.type.lower()}
    if integration.uri:
        out["uri"] = integration.uri
    if integration.http_method:
        out["httpMethod"] = integration.http_method
    if integration.request_parameters:
        out["requestParameters"] = dict(integration.request_parameters)
    if integration.request_templates:
        out["requestTemplates"] = dict(integration.request_templates)
    if integration.responses:
        out["responses"] = {r.pattern: _integration_response(r) for r in integration.responses}
    out["passthroughBehavior"] = integration.passthrough_behavior.lower()
    out["timeoutInMillis"] = integration.timeout_ms
    if integration.content_handling:
        out["contentHandling"] = integration.content_handling
    if protocol == HTTP:
        out["payloadFormatVersion"] = integration.payload_format_version
        out["connectionType"] = "INTERNET"
    return out


def _integration_response(response) -> dict:
    out: dict[str, Any] = {"statusCode": str(response.status_code)}
    if response.response_parameters:
        out["responseParameters"] = dict(response.response_parameters)
    if response.response_templates:
        out["responseTemplates"] = dict(response.response_templates)
    return out


def _root_extensions(api: Api, region: str, account_id: str) -> dict:
    out: dict[str, Any] = {}
    if api.protocol == HTTP:
        out["x-amazon-apigateway-importexport-version"] = "1.0"
    if api.policy is not None:
        out["x-amazon-apigateway-policy"] = _expanded_policy(api, region, account_id)
    if api.gateway_responses:
        out["x-amazon-apigateway-gateway-responses"] = {
            name: _gateway_response(g) for name, g in api.gateway_responses.items()}
    if api.binary_media_types:
        out["x-amazon-apigateway-binary-media-types"] = list(api.binary_media_types)
    if api.api_key_source != "HEADER":
        out["x-amazon-apigateway-api-key-source"] = api.api_key_source
    if api.disable_execute_api_endpoint:
        out["x-amazon-apigateway-endpoint-configuration"] = {"disableExecuteApiEndpoint": True}
    return out


def _expanded_policy(api: Api, region: str, account_id: str) -> Any:
    """AWS stores (and exports) ``execute-api:/…`` resources as full ARNs of this API."""
    prefix = f"arn:aws:execute-api:{region}:{account_id}:{api.id}/"
    text = json.dumps(_plain(api.policy))
    return json.loads(text.replace('"execute-api:/', '"' + prefix))


def _gateway_response(template: GatewayResponseTemplate) -> dict:
    out: dict[str, Any] = {}
    if template.status_code is not None:
        out["statusCode"] = str(template.status_code)
    if template.response_parameters:
        out["responseParameters"] = dict(template.response_parameters)
    if template.response_templates:
        out["responseTemplates"] = dict(template.response_templates)
    return out


def _plain(value: Any) -> Any:
    """Mappings (MappingProxyType included) and tuples as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
