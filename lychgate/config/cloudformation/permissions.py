"""Which functions API Gateway may invoke, checked against what the APIs use them for.

In AWS, API Gateway calls a Lambda function only if a resource-based permission
(``AWS::Lambda::Permission`` with principal ``apigateway.amazonaws.com``) allows it for the
calling ARN: ``…:{api-id}/authorizers/{authorizer-id}`` for an authorizer (spec §4), or
``…:{api-id}/{stage}/{VERB}/{path}`` for an integration. Without one, AWS answers 500
(``{"message":null}`` for authorizers, ``Internal server error`` for integrations); each such use is
reported here as a warning naming the function, so the gap shows before deployment does.
"""

from __future__ import annotations

import re
from typing import Iterator

from lychgate.config.cloudformation.documents import ApiOut
from lychgate.config.cloudformation.functions import Functions
from lychgate.config.cloudformation.stack import Stack
from lychgate.config.references import lambda_function
from lychgate.config.source import pointer

VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


def check_permissions(stack: Stack, apis: list[ApiOut], functions: Functions) -> None:
    for api in apis:
        arn = f"arn:{stack.partition}:execute-api:{stack.region}:{stack.account_id}:{api.api_id}"
        for function, scheme in _authorizer_functions(api):
            candidate = f"{arn}/authorizers/{api.authorizer_ids.get(scheme, scheme)}"
            if function in functions.config and not _allowed(functions.permissions.get(function, []), [candidate]):
                stack.problems.warning(pointer("Resources", api.logical_id), (
                    f"function {function} is authorizer {scheme!r} of API {api.api_id}, but no "
                    "AWS::Lambda::Permission lets apigateway.amazonaws.com invoke it: AWS answers 500 "
                    '{"message":null} (AUTHORIZER_CONFIGURATION_ERROR)'))
        for function, method, path in _integration_functions(api):
            candidates = [f"{arn}/{stage}/{verb}/{_concrete(path)}" for stage in api.stages or ["prod"]
                          for verb in (VERBS + ("ANY",) if method == "ANY" else (method,))]
            if function in functions.config and not _allowed(functions.permissions.get(function, []), candidates):
                stack.problems.warning(pointer("Resources", api.logical_id), (
                    f"function {function} integrates {method} {path} of API {api.api_id}, but no "
                    "AWS::Lambda::Permission lets apigateway.amazonaws.com invoke it: AWS answers 500 "
                    '{"message": "Internal server error"}'))


def _authorizer_functions(api: ApiOut) -> Iterator[tuple[str, str]]:
    doc = api.document
    found = (doc.get("components") or {}).get("securitySchemes") or doc.get("securityDefinitions") or {}
    for name, scheme in found.items():
        auth = scheme.get("x-amazon-apigateway-authorizer") if isinstance(scheme, dict) else None
        uri = auth.get("authorizerUri") if isinstance(auth, dict) else None
        named = lambda_function(uri) if isinstance(uri, str) and "${" not in uri else None
        if named and not auth.get("authorizerCredentials"):
            yield named[0], name


def _integration_functions(api: ApiOut) -> Iterator[tuple[str, str, str]]:
    for path, item in (api.document.get("paths") or {}).items():
        for key, op in (item.items() if isinstance(item, dict) else ()):
            integ = op.get("x-amazon-apigateway-integration") if isinstance(op, dict) else None
            if not isinstance(integ, dict) or str(integ.get("type", "")).lower() not in ("aws_proxy", "aws"):
                continue
            uri = integ.get("uri")
            named = lambda_function(uri) if isinstance(uri, str) and "${" not in uri else None
            if named and not integ.get("credentials"):
                yield named[0], "ANY" if key.startswith("x-amazon") else key.upper(), path


def _concrete(path: str) -> str:
    """A request path matching the template: ``/pets/{id}`` -> ``pets/x``; ``$default`` -> ``x``."""
    if path == "$default":
        return "x"
    return re.sub(r"\{[^}]+\}", "x", path.lstrip("/"))


def _allowed(patterns: list[str], candidates: list[str]) -> bool:
    return any(_matches(p, c) for p in patterns for c in candidates)


def _matches(pattern: str, arn: str) -> bool:
    """IAM-style wildcards: ``*`` any run of characters (``/`` included), ``?`` one character."""
    if pattern == "*":
        return True
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, arn) is not None
