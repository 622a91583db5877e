"""The gateway's compiled, runnable state: built once from a ``Project`` at start-up.

``Gateway`` owns what lives as long as the server: one ``ApiRuntime`` per API (its router and
one integration handler per method), the local functions, the upstream connection pool and the
access-log writers. Request-time code only looks things up here.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lychgate.access_log import AccessLogWriter
from lychgate.authorizers import lambda_
from lychgate.authorizers.iam import DecisionMemo
from lychgate.authorizers.cache import AuthorizerCache
from lychgate.config.model import REST, Api, Integration, LocalIdp, Method, Project, Stage
from lychgate.config.references import MissingStageVariable, expand_stage_variables, lambda_function
from lychgate.errors import ApiConfigurationError, Problem
from lychgate.functions.invoke import LocalFunction
from lychgate.integrations.base import IntegrationHandler
from lychgate.integrations.function import FunctionIntegration
from lychgate.integrations.http import HttpIntegration
from lychgate.integrations.mock import MockIntegration
from lychgate.pipeline.explain import TraceRing
from lychgate.routing import Router
from lychgate.store import open_store
from lychgate.upstream import UpstreamPool
from lychgate.usage import keys as usage_keys
from lychgate.usage.keys import KeyRegistry
from lychgate.usage.throttle import Limiter

if TYPE_CHECKING:  # the token modules load the JWT libraries (~17 MiB): imported when a project needs them
    from lychgate.authorizers.token import TokenAuthorizerSpec
    from lychgate.pipeline.chain import Plan
    from lychgate.tokens import JwksRegistry
    from lychgate.tokens.idp import LocalIdentityProvider

EXECUTE_API_HOST = re.compile(r"^(?P<api>[a-z0-9-]+)\.execute-api\.(?:(?P<region>[a-z0-9-]+)\.amazonaws\.com|localhost)$")


@dataclass(slots=True)
class ApiRuntime:
    api: Api
    router: Router
    handlers: dict[int, IntegrationHandler]  # id(Method) -> its integration
    access_logs: dict[str, AccessLogWriter | None] = field(default_factory=dict)  # stage -> writer
    token_authorizers: dict[str, TokenAuthorizerSpec] = field(default_factory=dict)  # scheme name ->
    lambda_authorizers: dict[str, lambda_.AuthorizerConfig] = field(default_factory=dict)  # scheme name ->
    plans: dict[tuple, Plan] = field(default_factory=dict)  # (pipeline, stage name, method) -> its plan
    rest: bool = field(init=False)  # a REST API (else an HTTP API)

    def __post_init__(self) -> None:
        self.rest = self.api.protocol == REST


# What a request addresses: (API, stage, raw path below the stage, whether the stage was the URL's
# first segment). A plain tuple: one is built per request.
Resolved = tuple[ApiRuntime, Stage, str, bool]


class Gateway:
    """Everything the pipeline needs that outlives a request."""

    def __init__(self, project: Project, *, access_log: bool = True, explain_header: bool = False,
                 execution_log: bool = False):
        self.project = project
        self.execution_log = execution_log
        self.traces = TraceRing()
        self.explain_header = explain_header
        self.problems: list[Problem] = []  # definitions that cannot run (reported by `check` and `serve`)
        self.local_idp = local_identity_provider(project.local_idp)
        self._jwks: JwksRegistry | None = None  # made with the first token authorizer (see ``jwks``)
        self.pool = UpstreamPool()
        self.authorizer_cache = AuthorizerCache()
        self.decisions = DecisionMemo()  # IAM decisions that depend on the caller and ARN only
        self.store = open_store(project.state)
        self.limiter = Limiter(self.store)
        self.keys = KeyRegistry({plan.name: plan for plan in project.usage_plans})
        self.limits_cache: dict[tuple, tuple] = {}  # see pipeline/stages/usage.limits
        self.functions = {name: LocalFunction(spec, self.function_arn(name))
                          for name, spec in project.functions.items()}
        self.apis = {api.id: self._compile(api, access_log) for api in project.apis}
        # Path-style resolution, precomputed: stage name -> (API, stage), the first API wins;
        # and the first API with a $default stage.
        self._named_stages: dict[str, tuple[ApiRuntime, Stage]] = {}
        self._default_stage: tuple[ApiRuntime, Stage] | None = None
        for runtime in self.apis.values():
            for name, stage in runtime.api.stages.items():
                if name != "$default":
                    self._named_stages.setdefault(name, (runtime, stage))
                elif self._default_stage is None:
                    self._default_stage = (runtime, stage)

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.project.region}:{self.project.account_id}:function:{name}"

    def _compile(self, api: Api, access_log: bool) -> ApiRuntime:
        handlers = {}
        # One handler per distinct integration of the API: the routes of a large API mostly repeat
        # one (10,000 routes, 10,000 equal handlers otherwise). Not across APIs: a handler caches
        # its URI per stage name, expanded with that API's stage variables.
        distinct: dict[tuple, IntegrationHandler] = {}
        for method in api.methods:
            if method.integration is not None:
                key = _integration_key(method.integration)
                handler = distinct.get(key)
                if handler is None:
                    handler = distinct[key] = self._integration(method)
                handlers[id(method)] = handler
        runtime = ApiRuntime(api, Router(api.methods), handlers, token_authorizers=self._token_authorizers(api),
                             lambda_authorizers=self._lambda_authorizers(api))
        for stage in api.stages.values():
            settings = stage.access_log if access_log else None
            runtime.access_logs[stage.name] = AccessLogWriter.open(settings) if settings else None
        return runtime

    @property
    def jwks(self) -> JwksRegistry:
        """The key sets of the token authorizers' issuers, shared by them all."""
        if self._jwks is None:
            from lychgate.tokens import JwksRegistry
            self._jwks = JwksRegistry(self._jwks_locations())
        return self._jwks

    def _jwks_locations(self) -> dict[str, str]:
        """The local identity provider's keys are read from its folder, not fetched."""
        if self.local_idp is None:
            return {}
        jwks_file = self.project.local_idp.folder / "jwks.json"
        jwks_file.write_text(json.dumps(self.local_idp.jwks()))
        return {self.local_idp.issuer: str(jwks_file)}

    def _token_authorizers(self, api: Api) -> dict[str, TokenAuthorizerSpec]:
        def build(name: str, scheme: Mapping) -> TokenAuthorizerSpec:
            from lychgate.authorizers import token
            idp = self.project.local_idp
            local = token.LocalIssuer(idp.issuer, idp.user_pools, idp.issuers) if idp is not None else None
            return token.build(name, scheme, self.jwks, local)
        return self._authorizers(api, ("cognito_user_pools", "jwt"), build)

    def _lambda_authorizers(self, api: Api) -> dict[str, lambda_.AuthorizerConfig]:
        return self._authorizers(api, ("token", "request"), lambda name, scheme: lambda_.parse_authorizer(
            name, scheme, protocol=api.protocol, functions=self.functions))

    def _authorizers(self, api: Api, kinds: tuple[str, ...], build) -> dict:
        """The API's authorizers of these types, built once; a broken one becomes a problem."""
        out = {}
        for name, scheme in api.authorizers.items():
            if str(scheme["x-amazon-apigateway-authorizer"].get("type", "")).lower() not in kinds:
                continue
            try:
                out[name] = build(name, scheme)
            except ValueError as exc:
                self.problems.append(Problem(api.source.file, f"{api.schemes_pointer}/{name}", str(exc)))
        return out

    def _integration(self, method: Method) -> IntegrationHandler:
        config = method.integration
        if config.type in ("HTTP", "HTTP_PROXY"):
            return HttpIntegration(config, self.pool)
        if config.type == "MOCK":
            return MockIntegration(config)
        # Stage variables in a function URI are resolved per request; the function is the named one.
        named = lambda_function(config.uri)
        function = self.functions.get(named[0]) if named else None
        return FunctionIntegration(config, function) if function else _LateBoundFunction(config, self)

    async def load_keys(self) -> list[tuple[str, str]]:
        """API keys and plans from lychgate.yaml and the state store; returns generated (name, value)s."""
        plans, keys, generated = await usage_keys.load(self.store, self.project.usage_plans, self.project.api_keys)
        self.keys.replace(plans, keys)
        self.limits_cache.clear()  # plans may have changed
        return generated

    def resolve(self, host: str, raw_path: str) -> Resolved | None:
        """Which API and stage a request addresses: host style first, then path style."""
        if "execute-api." in host:
            match = EXECUTE_API_HOST.match(host)
            if match:
                api = self.apis.get(match.group("api"))
                return _resolve_in(api, raw_path) if api is not None else None
        # A named stage in the path wins over another API's $default stage.
        first, _, rest = raw_path.lstrip("/").partition("/")
        named = self._named_stages.get(first)
        if named is not None:
            return named[0], named[1], "/" + rest, True
        if self._default_stage is not None:
            return self._default_stage[0], self._default_stage[1], raw_path or "/", False
        return None

    def close(self) -> None:
        self.pool.close()
        for function in self.functions.values():
            function.close()
        for api in self.apis.values():
            for writer in api.access_logs.values():
                if writer is not None:
                    writer.close()


#: What a handler is built from: every field of the integration but where it was written.
_HANDLER_FIELDS = tuple(f.name for f in dataclasses.fields(Integration) if f.name != "source")
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _integration_key(config: Integration) -> tuple:
    """Equal for integrations that make equal handlers."""
    return tuple([_hashable(getattr(config, name)) for name in _HANDLER_FIELDS])


def _hashable(value: Any) -> Any:
    """An equal-when-equal hashable form of a model value (mappings in their order, which a
    handler may follow, e.g. for the order of mapped headers)."""
    if type(value) in _PLAIN:  # most fields: no isinstance checks against ABCs
        return value
    if isinstance(value, Mapping):
        return tuple((k, _hashable(v)) for k, v in value.items())
    if dataclasses.is_dataclass(value):
        return (type(value), *(_hashable(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, (tuple, list)):
        return tuple(_hashable(v) for v in value)
    return value


def local_identity_provider(settings: LocalIdp | None) -> LocalIdentityProvider | None:
    if settings is None:
        return None
    from lychgate.tokens.idp import LocalIdentityProvider
    return LocalIdentityProvider(settings.folder, port=settings.port, issuer=settings.issuer,
                                 client_id=settings.client_id)


def _resolve_in(api: ApiRuntime, raw_path: str) -> Resolved | None:
    """The stage of this API named by the path's first segment (``$default`` is never named in a
    URL), else its ``$default`` stage."""
    first, _, rest = raw_path.lstrip("/").partition("/")
    stage = api.api.stages.get(first) if first != "$default" else None
    if stage is not None:
        return api, stage, "/" + rest, True
    default = api.api.stages.get("$default")
    return (api, default, raw_path or "/", False) if default is not None else None


class _LateBoundFunction:
    """A function URI that uses stage variables: resolved against the stage on each request."""

    def __init__(self, config, gateway: Gateway):
        self.config = config
        self.gateway = gateway

    async def invoke(self, req):
        try:
            named = lambda_function(expand_stage_variables(self.config.uri, req.stage_variables))
        except MissingStageVariable as exc:
            raise ApiConfigurationError(detail=f"stage {req.stage!r} has no stage variable {exc.args[0]!r}",
                                        cause="missing_stage_variable") from None
        function = self.gateway.functions.get(named[0]) if named else None
        if function is None:
            raise ApiConfigurationError(detail=f"integration URI {self.config.uri!r} names no mapped function")
        return await FunctionIntegration(self.config, function).invoke(req)
