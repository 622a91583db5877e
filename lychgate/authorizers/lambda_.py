"""Lambda authorizers (CUSTOM): configuration, the event sent, the answer parsed, the decision.

Follows spec gateway-behavior §5 step by step (§1.1 step 3c): identity sources present and
non-empty, else 401 without invoking or touching the cache; the TOKEN validation regex (a full
match), else 401; cache lookup; invoke the function (a local Python handler or, for teams writing
authorizers in other languages, an HTTP endpoint that receives the event as a JSON POST); parse
the output (§5.3: ``Unauthorized`` → 401, any other failure → 500 AUTHORIZER_CONFIGURATION_ERROR);
then evaluate the returned policy against the method ARN with the IAM engine (Deny → 403 "… with
an explicit deny", no covering Allow → 403). HTTP API payloads 1.0/2.0 and simple responses follow
§5.5. The whole parsed result is cached and re-evaluated per request, reproducing the pitfall of
§5.4. Choices where AWS is silent are named ``[choice]`` in the code and listed in the
``CHOICES`` tuple at the end of this module.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any, Awaitable, Callable, Container, Mapping
from urllib.parse import urlsplit

import orjson

from lychgate.authorizers.cache import AuthorizerCache, CacheEntry
from lychgate.authorizers.iam import context_keys
from lychgate.config.model import HTTP, REST
from lychgate.config.references import MissingStageVariable, expand_stage_variables, lambda_function
from lychgate.cors import is_preflight
from lychgate.errors import AccessDenied, AuthorizerConfigurationError, GatewayError, Unauthorized
from lychgate.functions.events import (InvocationFacts, domain_prefix, proxy_event_v1, proxy_event_v2,
                                       request_time)
from lychgate.functions.invoke import FunctionError, FunctionTimeout, LocalFunction
from lychgate.iam import (AuthzRequest, Decision, Evaluation, Policy, PolicyError, PolicySource,
                          authorizer_denial_message, compile_policy, evaluate_policies)
from lychgate.upstream import UpstreamError, UpstreamPool

INVOKE_ACTION = "execute-api:Invoke"
MAX_TTL_S = 3600
DEFAULT_TTL_S = {REST: 300, HTTP: 0}  # REST: spec §5.1; HTTP API: [choice], see CHOICES
AUTHORIZER_TIMEOUT_S = 10.0  # [choice] AWS documents no authorizer timeout of its own
UNAUTHORIZED = "Unauthorized"
EMPTY: Mapping[str, Any] = MappingProxyType({})

Invoke = Callable[[dict], Awaitable[Any]]
ContextValue = Callable[[str], Any]


class AuthorizerInvokeError(Exception):
    """The authorizer could not be invoked or failed; ``message`` is its error text (Lambda's
    ``errorMessage``), which decides 401 (exactly ``Unauthorized``) versus 500 (spec §5.3)."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.timeout = timeout


class MalformedOutput(ValueError):
    """An authorizer answer API Gateway cannot use: 500 AUTHORIZER_CONFIGURATION_ERROR (spec §5.3)."""


# ---------------------------------------------------------------- configuration

@dataclass(frozen=True, slots=True)
class IdentitySource:
    """One identity source: ``kind`` is header, querystring, stageVariables or context."""

    expression: str  # as written, e.g. "method.request.header.Authorization"
    kind: str
    name: str
    header: str = ""  # header sources: the name in lower case, as looked up


@dataclass(frozen=True, slots=True)
class AuthorizerConfig:
    """A parsed ``x-amazon-apigateway-authorizer`` of type token or request."""

    name: str
    protocol: str  # REST or HTTP
    type: str  # TOKEN or REQUEST
    uri: str  # authorizerUri as written (may use ${stageVariables.x})
    identity_sources: tuple[IdentitySource, ...]
    validation: re.Pattern[str] | None
    ttl_s: int
    payload_version: str  # "1.0" or "2.0"; always "1.0" on REST
    simple_responses: bool
    credentials: str | None = None
    timeout_s: float = AUTHORIZER_TIMEOUT_S

    @property
    def caching(self) -> bool:
        return self.ttl_s > 0


_REST_SOURCES = (("method.request.header.", "header"), ("method.request.querystring.", "querystring"),
                 ("stageVariables.", "stageVariables"), ("context.", "context"))
_HTTP_SOURCES = (("$request.header.", "header"), ("$request.querystring.", "querystring"),
                 ("$stageVariables.", "stageVariables"), ("$context.", "context"))


def parse_authorizer(name: str, raw: Mapping[str, Any], *, protocol: str,
                     functions: Container[str] | None = None) -> AuthorizerConfig:
    """Read a token/request authorizer; ``raw`` is the extension object or its security scheme.

    ``functions`` (the project's function names), when given, lets an ``authorizerUri`` naming an
    unknown function fail here. Raises ValueError with a message fit for a config Problem.
    """
    if protocol not in (REST, HTTP):
        raise ValueError(f"protocol must be {REST!r} or {HTTP!r}, not {protocol!r}")
    ext = raw.get("x-amazon-apigateway-authorizer", raw) if isinstance(raw, Mapping) else raw
    if not isinstance(ext, Mapping):
        raise ValueError("x-amazon-apigateway-authorizer must be an object")
    kind = _authorizer_type(ext.get("type"), protocol)
    uri = _authorizer_uri(ext.get("authorizerUri"), functions)
    sources = _identity_sources(ext.get("identitySource"), protocol)
    if kind == "TOKEN" and (len(sources) != 1 or sources[0].kind != "header"):
        raise ValueError("a TOKEN authorizer needs exactly one identitySource, "
                         "method.request.header.<Name> (spec §5.1)")
    ttl = _ttl(ext, protocol)
    if ttl > 0 and not sources:
        raise ValueError("caching (authorizerResultTtlInSeconds > 0) needs at least one identitySource; "
                         "add one or set authorizerResultTtlInSeconds: 0 (spec §5.2, §5.4)")
    version, simple = _payload_format(ext, protocol)
    return AuthorizerConfig(name, protocol, kind, uri, sources, _validation(ext, kind), ttl, version,
                            simple, _optional_str(ext, "authorizerCredentials"))


def _authorizer_type(value: Any, protocol: str) -> str:
    kind = str(value or "").upper()
    if kind not in ("TOKEN", "REQUEST"):
        raise ValueError(f"type {value!r} is not a Lambda authorizer type (token or request)")
    if kind == "TOKEN" and protocol == HTTP:
        raise ValueError("HTTP APIs support only REQUEST Lambda authorizers (spec §0)")
    return kind


def _authorizer_uri(value: Any, functions: Container[str] | None) -> str:
    """A Lambda invocation URI / function ARN / name, or an http(s) URL (spec §11)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("authorizerUri is required: a Lambda invocation URI or an http(s) URL")
    if value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        if not parts.hostname:
            raise ValueError(f"authorizerUri {value!r} has no host")
        return value
    if "${" in value:
        return value  # resolved per stage at request time
    named = lambda_function(value)
    if named is None:
        raise ValueError(f"authorizerUri {value!r} is neither a Lambda invocation URI nor an http(s) URL")
    if functions is not None and named[0] not in functions:
        raise ValueError(f"authorizerUri names function {named[0]!r}, which is not in the project's functions")
    return value


def _identity_sources(value: Any, protocol: str) -> tuple[IdentitySource, ...]:
    """Comma-separated text (OpenAPI) or a list (apigatewayv2 API) of selection expressions."""
    if value is None:
        return ()
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise ValueError("identitySource must be a comma-separated string")
    return tuple(_identity_source(item, protocol) for item in items if item)


def _identity_source(text: str, protocol: str) -> IdentitySource:
    forms = _REST_SOURCES if protocol == REST else _HTTP_SOURCES
    for prefix, kind in forms:
        if text.startswith(prefix) and len(text) > len(prefix):
            name = text[len(prefix):]
            return IdentitySource(text, kind, name, name.lower() if kind == "header" else "")
    if protocol == REST and text.startswith("method.request.path."):
        raise ValueError(f"identitySource {text!r}: path parameters cannot be identity sources (spec §5.2)")
    expected = ", ".join(f"{prefix}<name>" for prefix, _ in forms)
    raise ValueError(f"identitySource {text!r} is not one of {expected} ({protocol} API)")


def _ttl(ext: Mapping[str, Any], protocol: str) -> int:
    """``authorizerResultTtlInSeconds``: 0-3600, 0 disables caching (spec §5.1, §5.4)."""
    value = ext.get("authorizerResultTtlInSeconds")
    if value is None:
        return DEFAULT_TTL_S[protocol]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TTL_S:
        raise ValueError(f"authorizerResultTtlInSeconds must be an integer from 0 to {MAX_TTL_S}, found {value!r}")
    return value


def _validation(ext: Mapping[str, Any], kind: str) -> re.Pattern[str] | None:
    """``identityValidationExpression``: TOKEN only; ignored on REQUEST as AWS does (spec §5.2)."""
    text = ext.get("identityValidationExpression")
    if text is None or kind != "TOKEN":
        return None
    if not isinstance(text, str):
        raise ValueError("identityValidationExpression must be a string (a regular expression)")
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"identityValidationExpression {text!r} is not a valid regular expression: {exc}") from None


def _payload_format(ext: Mapping[str, Any], protocol: str) -> tuple[str, bool]:
    """HTTP APIs: ``authorizerPayloadFormatVersion`` required, simple responses only with 2.0 (spec §5.5)."""
    if protocol == REST:
        return "1.0", False
    version = ext.get("authorizerPayloadFormatVersion")
    if version not in ("1.0", "2.0"):
        raise ValueError(f"authorizerPayloadFormatVersion must be \"1.0\" or \"2.0\" on HTTP APIs, found {version!r}")
    simple = ext.get("enableSimpleResponses", False)
    if not isinstance(simple, bool):
        raise ValueError(f"enableSimpleResponses must be a boolean, found {simple!r}")
    if simple and version != "2.0":
        raise ValueError("enableSimpleResponses needs authorizerPayloadFormatVersion \"2.0\" (spec §5.5)")
    return version, simple


def _optional_str(ext: Mapping[str, Any], key: str) -> str | None:
    value = ext.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


# ---------------------------------------------------------------- identity sources

_FACT_VARIABLES: dict[str, Callable[[InvocationFacts], Any]] = {
    "requestId": lambda f: f.request_id, "extendedRequestId": lambda f: f.extended_request_id,
    "apiId": lambda f: f.api_id, "accountId": lambda f: f.account_id, "stage": lambda f: f.stage,
    "domainName": lambda f: f.domain_name, "domainPrefix": lambda f: domain_prefix(f.domain_name),
    "httpMethod": lambda f: f.http_method, "resourcePath": lambda f: f.resource_path,
    "resourceId": lambda f: f.resource_id, "routeKey": lambda f: f.route_key, "path": lambda f: f.stage_path,
    "protocol": lambda f: f"HTTP/{f.request.http_version}",
    "requestTime": lambda f: request_time(f.request.received_at),
    "requestTimeEpoch": lambda f: int(f.request.received_at * 1000),
    "identity.sourceIp": lambda f: f.request.source_ip,
    "identity.userAgent": lambda f: f.request.header("user-agent"),
}


def _context_variable(name: str, facts: InvocationFacts, context_value: ContextValue | None) -> Any:
    """``$context.<name>``: the pipeline's lookup when given, else what the facts hold."""
    if context_value is not None:
        value = context_value(name)
        if value is not None:
            return value
    getter = _FACT_VARIABLES.get(name)
    return getter(facts) if getter is not None else None


def _source_value(source: IdentitySource, config: AuthorizerConfig, facts: InvocationFacts,
                  context_value: ContextValue | None) -> str | None:
    """One identity value. Repeated headers / query keys: REST takes the last (as the event's
    single-value maps do), HTTP APIs join them with commas (as payload 2.0 does) [choice]."""
    request = facts.request
    if source.header:
        values = request.header_values(source.header)
    elif source.kind == "querystring":
        values = [v for k, v in request.query if k == source.name]  # case-sensitive (spec §5.5)
    elif source.kind == "stageVariables":
        values = [facts.stage_variables[source.name]] if source.name in facts.stage_variables else None
    else:
        value = _context_variable(source.name, facts, context_value)
        values = None if value is None else [str(value)]
    if not values:
        return None
    return values[-1] if config.protocol == REST else ",".join(values)


def identity_values(config: AuthorizerConfig, facts: InvocationFacts,
                    context_value: ContextValue | None = None) -> tuple[tuple[str, ...], IdentitySource | None]:
    """The identity source values, and the first source that is missing or empty (spec §5.1/5.2/5.5)."""
    sources = config.identity_sources
    if len(sources) == 1:  # the usual case (always, for TOKEN authorizers)
        value = _source_value(sources[0], config, facts, context_value)
        return ((value,), None) if value else ((), sources[0])
    values = []
    for source in sources:
        value = _source_value(source, config, facts, context_value)
        if not value:
            return tuple(values), source
        values.append(value)
    return tuple(values), None


def cache_key(config: AuthorizerConfig, facts: InvocationFacts, values: tuple[str, ...]) -> tuple:
    """Per API, stage and authorizer; then the identity values (TOKEN: the token) (spec §5.4)."""
    return (facts.api_id, facts.stage, config.name, values)


# ---------------------------------------------------------------- events

def authorizer_event(config: AuthorizerConfig, facts: InvocationFacts, method_arn: str,
                     values: tuple[str, ...]) -> dict:
    """The event the authorizer receives (spec §5.1, §5.2, §5.5)."""
    if config.type == "TOKEN":
        return {"type": "TOKEN", "authorizationToken": values[0], "methodArn": method_arn}
    if config.protocol == REST:
        return {"type": "REQUEST", "methodArn": method_arn, **_request_fields(proxy_event_v1(facts))}
    if config.payload_version == "1.0":
        joined = ",".join(values)
        fields = _request_fields(proxy_event_v1(facts))
        return {"version": "1.0", "type": "REQUEST", "methodArn": method_arn, "identitySource": joined,
                "authorizationToken": joined, **fields}
    fields = _request_fields(proxy_event_v2(facts))
    del fields["version"]
    return {"version": "2.0", "type": "REQUEST", "routeArn": method_arn, "identitySource": list(values), **fields}


def _request_fields(event: dict) -> dict:
    """Authorizer events carry no body (spec §5.2) and no authorizer of their own."""
    event.pop("body", None)
    event.pop("isBase64Encoded", None)
    event["requestContext"].pop("authorizer", None)
    return event


# ---------------------------------------------------------------- invokers

def function_invoker(function: LocalFunction, *, request_id: str,
                     timeout_s: float = AUTHORIZER_TIMEOUT_S) -> Invoke:
    """Invoke a local Python handler with the authorizer timeout."""
    async def invoke(event: dict) -> Any:
        return await function.invoke(event, request_id=request_id, timeout_s=timeout_s)
    return invoke


def http_invoker(url: str, pool: UpstreamPool, timeout_s: float = AUTHORIZER_TIMEOUT_S) -> Invoke:
    """POST the event as JSON to ``url``; a 2xx answer's JSON body is the authorizer output.

    Any other status is a function error whose text is the body's ``errorMessage`` (Lambda's error
    shape) or the body itself; a 401, or the text ``Unauthorized``, means 401 [choice].
    """
    parts = urlsplit(url)
    scheme, host = parts.scheme, parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    async def invoke(event: dict) -> Any:
        body = orjson.dumps(event)
        head = (f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode("latin-1")
        try:
            answer = await pool.request((scheme, host, port), head, body, timeout=timeout_s)
        except UpstreamError as exc:
            raise AuthorizerInvokeError(f"cannot reach {url}: {exc}") from exc
        return _http_answer(answer.status, answer.body, url)
    return invoke


def _http_answer(status: int, body: bytes, url: str) -> Any:
    if 200 <= status < 300:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise MalformedOutput(f"{url} answered {status} with a body that is not JSON") from None
    if status == 401:
        raise AuthorizerInvokeError(UNAUTHORIZED)
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        text = parsed["errorMessage"]
    raise AuthorizerInvokeError(text or f"{url} answered {status}")


def make_invoker(config: AuthorizerConfig, *, functions: Mapping[str, LocalFunction], pool: UpstreamPool,
                 stage_variables: Mapping[str, str], request_id: str) -> Invoke:
    """The invoker for this stage: a mapped function or an HTTP endpoint. A URI that cannot be
    resolved yields an invoker that fails (500), so the identity checks still come first."""
    try:
        uri = expand_stage_variables(config.uri, stage_variables)
    except MissingStageVariable as exc:
        return _failing(f"the stage has no stage variable {exc.args[0]!r} used by authorizerUri {config.uri!r}")
    if uri.startswith(("http://", "https://")):
        return http_invoker(uri, pool, config.timeout_s)
    named = lambda_function(uri)
    function = functions.get(named[0]) if named else None
    if function is None:
        return _failing(f"authorizerUri {uri!r} names no function of the project")
    return function_invoker(function, request_id=request_id, timeout_s=config.timeout_s)


def _failing(message: str) -> Invoke:
    async def invoke(event: dict) -> Any:
        raise AuthorizerInvokeError(message)
    return invoke


# ---------------------------------------------------------------- output

@dataclass(frozen=True, slots=True)
class AuthorizerResult:
    """A parsed authorizer answer: what the cache stores (spec §5.4: the whole result)."""

    principal_id: str | None
    policy: Policy | None  # None for a simple response
    context: Mapping[str, Any]
    usage_identifier_key: str | None = None
    is_authorized: bool | None = None  # simple responses only
    # Evaluations of a policy that reads no request context, by method ARN: a cached result
    # decides the same ARN the same way every time (bounded; see _policy_decision).
    evaluations: dict[str, Evaluation] = field(default_factory=dict, compare=False, repr=False)


def parse_output(config: AuthorizerConfig, raw: Any) -> AuthorizerResult:
    """Check and compile the function's answer (spec §5.3, §5.5); MalformedOutput when unusable."""
    try:
        raw = orjson.loads(orjson.dumps(raw))  # what Lambda would serialise; rejects non-JSON values
    except TypeError as exc:
        raise MalformedOutput(f"the answer is not JSON-serialisable: {exc}") from None
    if not isinstance(raw, dict):
        raise MalformedOutput(f"the answer must be a JSON object, found {_json_kind(raw)}")
    if config.simple_responses:
        return _simple_output(raw)
    for key in ("principalId", "policyDocument"):
        if key not in raw:
            raise MalformedOutput(f"the answer has no {key}")
    principal = raw["principalId"]
    if not isinstance(principal, str):
        raise MalformedOutput(f"principalId must be a string, found {_json_kind(principal)}")
    usage_key = raw.get("usageIdentifierKey")
    if usage_key is not None and not isinstance(usage_key, str):
        raise MalformedOutput(f"usageIdentifierKey must be a string, found {_json_kind(usage_key)}")
    return AuthorizerResult(principal, _policy(config, raw["policyDocument"]),
                            _output_context(config, raw.get("context")), usage_key)


def _simple_output(raw: dict) -> AuthorizerResult:
    """``{"isAuthorized": bool, "context": {...}}`` (spec §5.5); context values pass through."""
    authorized = raw.get("isAuthorized")
    if not isinstance(authorized, bool):
        raise MalformedOutput(f"a simple response needs isAuthorized true or false, found {_json_kind(authorized)}")
    context = raw.get("context")
    if context is not None and not isinstance(context, dict):
        raise MalformedOutput(f"context must be an object, found {_json_kind(context)}")
    return AuthorizerResult(None, None, MappingProxyType(context or {}), None, authorized)


def _policy(config: AuthorizerConfig, document: Any) -> Policy:
    """Compile the returned policyDocument; a defect is a malformed answer (500)."""
    if not isinstance(document, (dict, str)):
        raise MalformedOutput(f"policyDocument must be an object, found {_json_kind(document)}")
    source = PolicySource(f"policy returned by authorizer {config.name!r}", pointer="/policyDocument",
                          kind="authorizer")
    try:
        return compile_policy(document, source)
    except PolicyError as exc:
        raise MalformedOutput(f"policyDocument{exc.pointer}: {exc.message}") from None


def _output_context(config: AuthorizerConfig, context: Any) -> Mapping[str, Any]:
    """REST and payload 1.0: values only string/number/boolean, ``claims`` reserved on HTTP 1.0
    (spec §5.3); payload 2.0 passes any JSON value through (spec §5.3, AWS's 2.0 examples)."""
    if context is None:
        return EMPTY
    if not isinstance(context, dict):
        raise MalformedOutput(f"context must be an object, found {_json_kind(context)}")
    if config.payload_version == "2.0":
        return MappingProxyType(context)
    if config.protocol == HTTP and "claims" in context:
        raise MalformedOutput("context key 'claims' is reserved on HTTP APIs (payload 1.0)")
    for key, value in context.items():
        if value is None or isinstance(value, (dict, list)):
            raise MalformedOutput(f"context value {key!r} is {_json_kind(value)}; only string, number "
                                  "and boolean values are allowed")
    return MappingProxyType(context)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), "a number")


def stringify(value: Any) -> str:
    """A context value as ``$context.authorizer.<key>`` shows it: text, ``true``/``false``, JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


# ---------------------------------------------------------------- the decision

@dataclass(slots=True)  # one per request: a frozen dataclass's __init__ costs several times more
class AuthorizerOutcome:
    """What the authorizer decided for one request, and everything the pipeline exposes of it."""

    authorizer: str
    protocol: str
    allowed: bool
    error: GatewayError | None  # raise it when not allowed
    why: str | Callable[[], str]  # one human sentence for the decision trace (formatted when read)
    principal_id: str | None = None
    context: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # as returned, unconverted
    usage_identifier_key: str | None = None
    evaluation: Evaluation | None = None
    policy: Policy | None = None  # for combining with a resource policy (spec §1.3)
    invoked: bool = False
    cached: bool = False
    cache_age_s: float | None = None
    ttl_left_s: float | None = None
    latency_ms: int = 0
    error_message: str | None = None  # HTTP APIs' $context.authorizer.error

    @property
    def reason(self) -> str:
        return self.why() if callable(self.why) else self.why

    @property
    def verdict(self) -> str:
        """Short trace outcome: allowed, unauthorized, explicitDeny, implicitDeny, forbidden or error."""
        if self.allowed:
            return "allowed"
        if isinstance(self.error, Unauthorized):
            return UNAUTHORIZED.lower()
        if self.evaluation is not None:
            return self.evaluation.decision.value
        return "forbidden" if isinstance(self.error, AccessDenied) else "error"

    def context_variables(self) -> dict[str, str]:
        """``$context.authorizer.*``: principalId and every context key, stringified (spec §5.3)."""
        out = {} if self.principal_id is None else {"principalId": self.principal_id}
        out.update((key, stringify(value)) for key, value in self.context.items())
        if self.error_message is not None:
            out["error"] = self.error_message
        return out

    def event_authorizer(self) -> dict:
        """``requestContext.authorizer`` of the integration event: REST gets principalId, the
        context values stringified and integrationLatency (spec §9.1) [choice: stringified];
        HTTP APIs get ``{"lambda": context}`` with values as returned (spec §5.3, §9.2)."""
        if self.protocol == HTTP:
            return {"lambda": dict(self.context)}
        out: dict[str, Any] = {"principalId": self.principal_id}
        if self.context:
            out.update((key, stringify(value)) for key, value in self.context.items())
        out["integrationLatency"] = self.latency_ms
        return out


async def run_authorizer(config: AuthorizerConfig, *, facts: InvocationFacts, method_arn: str, invoke: Invoke,
                         cache: AuthorizerCache | None = None, now: float | None = None,
                         context_value: ContextValue | None = None) -> AuthorizerOutcome:
    """Spec §1.1 step 3c: identity sources → TOKEN regex → cache → invoke → parse → evaluate.

    ``method_arn`` is the request ARN (HTTP APIs: the routeArn). ``now`` is the cache clock
    (default ``cache.clock()``); ``context_value`` resolves ``$context.<name>`` identity sources
    beyond what ``facts`` holds. Never raises for the authorizer's own failures: the outcome
    carries the GatewayError to raise.
    """
    values, missing = identity_values(config, facts, context_value)
    if missing is not None:
        why = f"identity source {missing.expression} is missing or empty: 401 without invoking the authorizer"
        if is_preflight(facts.request):
            why += (f"; this request ({facts.http_method} {facts.resource_path}) is a CORS preflight, which browsers "
                    "send without credentials, so an authorizer on the OPTIONS method refuses every preflight: give "
                    "the OPTIONS method authorization NONE")
        return _unauthorized(config, why + " (spec §5.1, §5.5)")
    if config.validation is not None and config.validation.fullmatch(values[0]) is None:
        return _unauthorized(config, f"the token does not match identityValidationExpression "
                                     f"{config.validation.pattern!r} (full match): 401 without invoking (spec §5.1)")
    use_cache = cache is not None and config.caching
    now = (cache.clock() if cache is not None else time.monotonic()) if now is None else now
    key = cache_key(config, facts, values)
    entry = cache.get(key, now) if use_cache else None
    if entry is not None:
        return decide(config, entry.value, method_arn, facts, entry=entry, now=now)
    return await _invoke_and_decide(config, facts, method_arn, values, invoke,
                                    (cache, key) if use_cache else None, now)


async def _invoke_and_decide(config: AuthorizerConfig, facts: InvocationFacts, method_arn: str,
                             values: tuple[str, ...], invoke: Invoke,
                             store: tuple[AuthorizerCache, tuple] | None, now: float) -> AuthorizerOutcome:
    event = authorizer_event(config, facts, method_arn, values)
    started = time.perf_counter()
    try:
        result = parse_output(config, await invoke(event))
    except MalformedOutput as exc:
        return _configuration_error(config, f"returned an answer API Gateway cannot use: {exc}", invoked=True)
    except Exception as exc:  # noqa: BLE001 - every invoke failure is an authorizer outcome (spec §5.3)
        return _invoke_failure(config, exc)
    latency = int((time.perf_counter() - started) * 1000)
    if store is not None:
        store[0].put(store[1], result, config.ttl_s, now)
    return decide(config, result, method_arn, facts, latency_ms=latency, stored=store is not None)


def _invoke_failure(config: AuthorizerConfig, exc: Exception) -> AuthorizerOutcome:
    """``Unauthorized`` exactly → 401; any other error or a timeout → 500 (spec §5.3)."""
    message, timed_out = _failure_text(exc)
    if message == UNAUTHORIZED and not timed_out:
        return _unauthorized(config, "the authorizer answered Unauthorized (spec §5.3)", invoked=True)
    what = "timed out" if timed_out else "failed"
    return _configuration_error(config, f"{what}: {message}", invoked=True, error_message=message)


def _failure_text(exc: Exception) -> tuple[str, bool]:
    """The error text Lambda would report (``errorMessage``) and whether it was a timeout."""
    if isinstance(exc, AuthorizerInvokeError):
        return exc.message, exc.timeout
    if isinstance(exc, (FunctionTimeout, asyncio.TimeoutError)):
        return str(exc) or "the authorizer ran past its timeout", True
    if isinstance(exc, FunctionError) and exc.__cause__ is not None:
        return str(exc.__cause__), False
    return str(exc) or type(exc).__name__, False


def decide(config: AuthorizerConfig, result: AuthorizerResult, method_arn: str, facts: InvocationFacts, *,
           entry: CacheEntry | None = None, now: float = 0.0, latency_ms: int = 0,
           stored: bool = False) -> AuthorizerOutcome:
    """Judge a (fresh or cached) result against this request's method ARN (spec §5.3, §5.4)."""
    if entry is not None:
        timing = (False, True, entry.age(now), entry.ttl_left(now), 0)
    else:
        timing = (True, False, None, float(config.ttl_s) if stored else None, latency_ms)
    if result.policy is None:
        return _simple_decision(config, result, timing)
    return _policy_decision(config, result, method_arn, facts, timing)


# Where a result came from, as AuthorizerOutcome's last fields report it (a plain tuple: a
# NamedTuple costs several times more to build, once per request):
# (invoked, cached, cache_age_s, ttl_left_s, latency_ms)
_Timing = tuple[bool, bool, "float | None", "float | None", int]


def _origin(timing: _Timing) -> str:
    """Where the result came from, for the decision trace."""
    _, cached, age, ttl_left, _ = timing
    if cached:
        return f"cached {age:.0f} s ago, {ttl_left:.0f} s left"
    return "invoked, not cached" if ttl_left is None else f"invoked, cached for {ttl_left:.0f} s"


def _outcome(config: AuthorizerConfig, result: AuthorizerResult, allowed: bool, error: GatewayError | None,
             why: str | Callable[[], str], evaluation: Evaluation | None, timing: _Timing) -> AuthorizerOutcome:
    return AuthorizerOutcome(config.name, config.protocol, allowed, error, why, result.principal_id, result.context,
                             result.usage_identifier_key, evaluation, result.policy, *timing)


def _simple_decision(config: AuthorizerConfig, result: AuthorizerResult, timing: _Timing) -> AuthorizerOutcome:
    """Simple responses: true allows every route, false is 403 Forbidden (spec §5.5)."""
    if result.is_authorized:
        return _outcome(config, result, True, None,
                        partial(_simple_reason, config, True, timing), None, timing)
    reason = _simple_reason(config, False, timing)
    return _outcome(config, result, False, AccessDenied(detail=reason), reason, None, timing)


def _simple_reason(config: AuthorizerConfig, authorized: bool, timing: _Timing) -> str:
    if authorized:
        return f"authorizer {config.name!r} answered isAuthorized: true ({_origin(timing)})"
    return f"authorizer {config.name!r} answered isAuthorized: false ({_origin(timing)}): 403 Forbidden (spec §5.5)"


MAX_REMEMBERED_EVALUATIONS = 256  # per cached result: distinct method ARNs one caller uses


def _policy_decision(config: AuthorizerConfig, result: AuthorizerResult, method_arn: str, facts: InvocationFacts,
                     timing: _Timing) -> AuthorizerOutcome:
    """Evaluate the returned policy with the IAM engine; Deny and no-Allow are 403 (spec §5.3)."""
    policy = result.policy
    evaluation = result.evaluations.get(method_arn)
    if evaluation is None:
        static = not any(statement.context_keys for statement in policy.statements)
        keys = {} if static else _condition_keys(facts, method_arn)
        evaluation = evaluate_policies(AuthzRequest(INVOKE_ACTION, method_arn, None, keys), (policy,))
        if static and len(result.evaluations) < MAX_REMEMBERED_EVALUATIONS:
            result.evaluations[method_arn] = evaluation
    if evaluation.decision is Decision.ALLOW:
        # The sentence is formatted only if someone reads the trace.
        why = partial(_policy_reason, config, policy, evaluation, method_arn, result.principal_id, timing)
        return _outcome(config, result, True, None, why, evaluation, timing)
    reason = _policy_reason(config, policy, evaluation, method_arn, result.principal_id, timing)
    error = AccessDenied(authorizer_denial_message(evaluation), detail=reason)
    return _outcome(config, result, False, error, reason, evaluation, timing)


def _condition_keys(facts: InvocationFacts, method_arn: str) -> dict[str, Any]:
    """Global condition keys of the call, without the (absent) IAM caller's principal keys."""
    parts = method_arn.split(":")
    region = parts[3] if len(parts) > 3 else ""
    keys = context_keys(facts.request, region, None)
    return {k: v for k, v in keys.items() if not k.startswith(("aws:Principal", "aws:userid"))}


def _policy_reason(config: AuthorizerConfig, policy: Policy, evaluation: Evaluation, method_arn: str,
                   principal: str | None, timing: _Timing) -> str:
    who, origin = f"authorizer {config.name!r}", _origin(timing)
    decision = evaluation.decision
    if decision is not Decision.IMPLICIT_DENY:
        match = evaluation.matched[0]
        resources = _resources(policy.statements[match.index])
        verb = "allows" if decision is Decision.ALLOW else "denies (explicit deny)"
        return (f"{who} returned a policy for principal {principal!r} whose {match.effect} statement "
                f"{match.index} ({resources}) {verb} {method_arn} ({origin})")
    allows = [_resources(st) for st in policy.statements if not st.deny]
    if not allows:
        return f"{who} returned a policy with no Allow statement ({origin}); the request is {method_arn}"
    listed = allows[0] if len(allows) == 1 else "; ".join(allows)
    only = "only Allow is" if len(allows) == 1 else "Allows are"
    return f"{who} returned a policy whose {only} {listed} ({origin}); the request is {method_arn}"


def _resources(statement) -> str:
    patterns = ", ".join(statement.resources.patterns)
    return f"NotResource {patterns}" if statement.not_resource else patterns


def _unauthorized(config: AuthorizerConfig, why: str, *, invoked: bool = False) -> AuthorizerOutcome:
    reason = f"authorizer {config.name!r}: {why}"
    return AuthorizerOutcome(config.name, config.protocol, False, Unauthorized(detail=reason), reason,
                             invoked=invoked)


def _configuration_error(config: AuthorizerConfig, why: str, *, invoked: bool,
                         error_message: str | None = None) -> AuthorizerOutcome:
    """500 AUTHORIZER_CONFIGURATION_ERROR ``{"message":null}``; HTTP APIs 500 Internal Server Error."""
    reason = f"authorizer {config.name!r} {why}: 500, result not cached (spec §5.3)"
    return AuthorizerOutcome(config.name, config.protocol, False, AuthorizerConfigurationError(detail=reason),
                             reason, invoked=invoked, error_message=error_message or why)


#: Where AWS is silent or unconfirmed, what this module does (for docs/aws-behaviour.md).
CHOICES = (
    "HTTP API authorizerResultTtlInSeconds defaults to 0 (caching only when asked for; AWS documents "
    "caching as enabled 'by specifying' a TTL); REST defaults to 300.",
    "Caching with no identity source is a config error on both products.",
    "The TOKEN identityValidationExpression must match the whole token (Python re.fullmatch).",
    "identityValidationExpression on a REQUEST authorizer is ignored, as AWS does.",
    "Repeated headers / query keys as identity sources: REST takes the last value, HTTP APIs join with commas.",
    "A REQUEST authorizer with caching off still answers 401 without invoking when a listed source is missing.",
    "Only successful answers (Allow or Deny policies, isAuthorized true/false) are cached; 401 Unauthorized, "
    "function errors, timeouts and malformed answers are not.",
    "The cache key includes API id and stage, so one AuthorizerCache can serve the whole gateway.",
    "principalId must be a string; usageIdentifierKey, if present, a string.",
    "Context values null, objects and arrays are malformed on REST and payload 1.0 (500); payload 2.0 "
    "passes any JSON value through.",
    "REST requestContext.authorizer and every $context.authorizer.* value are stringified "
    "(booleans true/false, numbers as JSON); HTTP APIs' requestContext.authorizer is "
    "{\"lambda\": context} with the values as returned.",
    "The authorizer timeout is 10 s; past it the answer is 500.",
    "HTTP authorizer endpoints: 2xx JSON body = the output; 401 or an error text 'Unauthorized' = 401; "
    "anything else = 500.",
)
