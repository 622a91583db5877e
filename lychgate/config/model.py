"""The loaded project as frozen values: what the gateway serves, in API Gateway's own terms.

Everything here is built once at load time by ``config.project`` and ``config.openapi`` and
never changes while serving; request-time code only reads it. Every element keeps the file and
JSON pointer it came from so errors and explanations can point at the source.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from lychgate.cors import CorsConfig
from lychgate.errors import Problem
from lychgate.iam import Policy

if TYPE_CHECKING:
    from lychgate.config.identities import IdentityStore

EMPTY: Mapping[str, str] = MappingProxyType({})

REST = "REST"
HTTP = "HTTP"

#: Methods API Gateway accepts; ANY stands for all of them (spec §1.1 step 2).
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


@dataclass(frozen=True, slots=True)
class Source:
    """Where an element was defined."""

    file: str
    pointer: str


@dataclass(frozen=True, slots=True)
class IntegrationResponse:
    """One entry of an integration's ``responses`` map (non-proxy integrations and MOCK)."""

    pattern: str  # "default" or a regex matched against the backend status / error
    status_code: int
    response_parameters: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    response_templates: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class Integration:
    """``x-amazon-apigateway-integration`` of one method or route."""

    type: str  # AWS_PROXY, AWS, HTTP_PROXY, HTTP, MOCK
    source: Source
    uri: str = ""
    http_method: str = ""
    timeout_ms: int = 29_000
    payload_format_version: str = "1.0"
    request_parameters: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    request_templates: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    responses: tuple[IntegrationResponse, ...] = ()
    passthrough_behavior: str = "WHEN_NO_MATCH"
    content_handling: str | None = None


@dataclass(frozen=True, slots=True)
class Method:
    """A REST API method, or an HTTP API route (``route_key`` is then ``"GET /pets"``)."""

    http_method: str  # GET, POST, ... or ANY
    resource_path: str  # the template: /pets/{petId}, /{proxy+}, / ; "$default" for that route
    source: Source
    integration: Integration | None
    authorization_type: str = "NONE"  # NONE, AWS_IAM, CUSTOM, COGNITO_USER_POOLS, JWT
    authorizer: str | None = None
    authorization_scopes: tuple[str, ...] = ()
    api_key_required: bool = False
    operation_id: str | None = None
    resource_id: str = ""

    @property
    def route_key(self) -> str:
        if self.resource_path == "$default":
            return "$default"
        return f"{self.http_method} {self.resource_path}"


@dataclass(frozen=True, slots=True)
class GatewayResponseTemplate:
    """A customised gateway response (``x-amazon-apigateway-gateway-responses`` entry)."""

    response_type: str
    status_code: int | None
    response_parameters: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    response_templates: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class AccessLogSettings:
    """Where and how a stage writes its access log (``accessLogSettings``)."""

    format: str
    destination: str = "stdout"  # "stdout", "stderr" or a file path


@dataclass(frozen=True, slots=True)
class Throttle:
    """Token-bucket limits: ``rate_limit`` requests/second, ``burst_limit`` tokens (spec §7)."""

    rate_limit: float
    burst_limit: int


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    period: str  # DAY, WEEK, MONTH
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    variables: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    access_log: AccessLogSettings | None = None
    throttle: Throttle | None = None  # methodSettings "*/*": the stage default
    method_throttle: Mapping[str, Throttle] = field(default_factory=lambda: EMPTY)  # "/pets/GET" -> limits
    logging_level: str = "OFF"  # execution logs: OFF, ERROR (refused or failed requests) or INFO (all)


@dataclass(frozen=True, slots=True)
class ApiStage:
    """A stage a usage plan covers, with per-method throttle overrides ("/pets/GET")."""

    api_id: str
    stage: str
    method_throttle: Mapping[str, Throttle] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class UsagePlan:
    name: str
    api_stages: tuple[ApiStage, ...]
    throttle: Throttle | None = None
    quota: Quota | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyDeclaration:
    """An API key declared in lychgate.yaml (``value`` None: generated and printed once)."""

    name: str
    value: str | None
    enabled: bool
    usage_plans: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Api:
    """One API: its routes, stages and API-wide settings."""

    id: str
    name: str
    protocol: str  # REST or HTTP
    source: Source
    methods: tuple[Method, ...]
    stages: Mapping[str, Stage]
    gateway_responses: Mapping[str, GatewayResponseTemplate] = field(default_factory=lambda: EMPTY)
    binary_media_types: tuple[str, ...] = ()
    api_key_source: str = "HEADER"
    policy: Mapping | None = None
    resource_policy: Policy | None = None  # x-amazon-apigateway-policy, compiled
    authorizers: Mapping[str, Mapping] = field(default_factory=lambda: EMPTY)
    schemes_pointer: str = "/components/securitySchemes"  # where the document keeps them
    cors: CorsConfig | None = None  # HTTP APIs: x-amazon-apigateway-cors
    cors_on_errors: bool = False  # REST: add CORS headers to gateway error responses (lychgate.yaml)
    disable_execute_api_endpoint: bool = False


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A Lambda function served by a local Python handler."""

    name: str
    handler: str  # "handlers/pets.py:handler" or "package.module:attr"
    base_dir: Path
    timeout_s: float | None = None  # None: only the integration timeout applies
    memory_mb: int = 128
    environment: Mapping[str, str] = field(default_factory=lambda: EMPTY)  # set before the handler is imported
    invoke_permission: tuple[str, ...] | None = None  # SourceArn patterns API Gateway may invoke it from;
    # None: unrestricted (lychgate.yaml projects); from templates: their AWS::Lambda::Permission resources

    def permits(self, source_arn: str) -> bool:
        """Whether an ``AWS::Lambda::Permission`` lets API Gateway invoke the function for this ARN."""
        if self.invoke_permission is None:
            return True
        return any(fnmatch.fnmatchcase(source_arn, pattern) for pattern in self.invoke_permission)


@dataclass(frozen=True, slots=True)
class LocalIdp:
    """A local identity provider standing in for Cognito user pools and JWT issuers."""

    port: int
    folder: Path  # where its keys live (PROJECT/.lychgate/idp)
    user_pools: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()
    client_id: str = "lychgate-local-client"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 10 * 1024 * 1024  # API Gateway's payload limit
    max_header_bytes: int = 10 * 1024  # AWS caps the total header size at 10240 bytes
    max_headers: int = 100
    max_url_bytes: int = 8192
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keepalive_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Project:
    """A loaded ``lychgate.yaml`` with everything it references."""

    root: Path
    file: Path
    region: str
    account_id: str
    apis: tuple[Api, ...]
    functions: Mapping[str, FunctionSpec]
    limits: Limits = field(default_factory=Limits)
    warnings: tuple[Problem, ...] = ()
    identities: "IdentityStore | None" = None
    local_idp: LocalIdp | None = None
    usage_plans: tuple[UsagePlan, ...] = ()
    api_keys: tuple[ApiKeyDeclaration, ...] = ()
    state: str = "memory"  # memory, sqlite:///path, redis://host:port/db
    on_state_failure: str = "deny"  # deny (fail closed) or allow
