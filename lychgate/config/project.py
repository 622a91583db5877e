"""``lychgate.yaml`` -> ``model.Project``: the project file, the API documents it names, the functions.

The project file's shape is declared with pydantic (so typos and wrong types are caught with
their JSON pointer); the API documents are read by ``config.openapi``. All problems from all
files are collected and raised together as one ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Mapping

from pydantic import ValidationError

from lychgate.config.model import (HTTP, REST, AccessLogSettings, Api, ApiKeyDeclaration, ApiStage,
                                   FunctionSpec, Limits, LocalIdp, Project, Quota, Stage, Throttle, UsagePlan)
from lychgate.config.openapi import detect_protocol, parse_api
from lychgate.config.references import check_references, lambda_function
from lychgate.config.schema import (AccessLogConfig, ApiConfig, LimitsConfig, LocalIdpConfig, ProjectConfig,
                                    StageConfig, ThrottleConfig)
from lychgate.config.source import Problems, collector_paused, describe, load_document, pointer
from lychgate.config.identities import load_identities
from lychgate.errors import ConfigError, Problem
from lychgate.iam import ApiScope, PolicyError, PolicySource, compile_policy

PROJECT_FILES = ("lychgate.yaml", "lychgate.yml", "lychgate.json")

#: Keys of later capabilities: accepted so a project can declare them, reported as not enforced.
FUTURE_KEYS: dict[str, str] = {}

# AWS's console-suggested JSON access-log formats (spec §10).
REST_LOG_FORMAT = ('{"requestId":"$context.requestId","extendedRequestId":"$context.extendedRequestId",'
                   '"ip":"$context.identity.sourceIp","caller":"$context.identity.caller",'
                   '"user":"$context.identity.user","requestTime":"$context.requestTime",'
                   '"httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath",'
                   '"status":"$context.status","protocol":"$context.protocol",'
                   '"responseLength":"$context.responseLength"}')
HTTP_LOG_FORMAT = ('{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                   '"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod",'
                   '"routeKey":"$context.routeKey","status":"$context.status",'
                   '"protocol":"$context.protocol","responseLength":"$context.responseLength"}')


def find_project_file(path: Path) -> Path:
    """The project file for a folder (or the file itself)."""
    if path.is_file():
        return path
    for name in PROJECT_FILES:
        if (path / name).is_file():
            return path / name
    tried = ", ".join(PROJECT_FILES)
    raise ConfigError([Problem(str(path), "", f"no project file found: expected one of {tried}")])


def load_project(path: str | Path, *, parameter_overrides: dict[str, str] | None = None,
                 env_vars_file: Path | None = None) -> Project:
    """Load and validate a whole project (lychgate.yaml, or a SAM/CloudFormation template);
    raises ConfigError listing every error found."""
    with collector_paused():  # thousands of routes and policies: see collector_paused
        return _load_project(Path(path), parameter_overrides, env_vars_file)


def _load_project(path: Path, parameter_overrides: dict[str, str] | None, env_vars_file: Path | None) -> Project:
    template = _template_for(path)
    if template is not None:
        from lychgate.config.cloudformation import convert_template  # heavy: only for templates
        converted = convert_template(template, parameter_overrides=parameter_overrides, env_vars_file=env_vars_file)
        if converted.errors:
            raise ConfigError(converted.problems)
        _with_permissions(converted.config, converted.permissions)
        return _build(converted.config, file=template, documents=converted.documents,
                      environment=converted.environment, upstream=converted.problems)
    file = find_project_file(path)
    return _build(load_document(file), file=file)


def _with_permissions(config: dict, permissions: Mapping[str, list[str]]) -> None:
    """A template's functions may be invoked by API Gateway only as its Lambda permissions allow."""
    functions = config.get("functions") or {}
    for name, spec in list(functions.items()):
        spec = {"handler": spec} if isinstance(spec, str) else spec
        spec["invoke_permission"] = list(permissions.get(name, []))
        functions[name] = spec


def _template_for(path: Path) -> Path | None:
    """A SAM/CloudFormation template to serve: the file itself, or a folder's without lychgate.yaml."""
    if path.is_file() and path.name in PROJECT_FILES or path.is_dir() and any((path / n).is_file() for n in PROJECT_FILES):
        return None
    from lychgate.config.cloudformation import find_template, is_template
    if path.is_file():
        return path if path.name not in PROJECT_FILES and is_template(path) else None
    if any((path / name).is_file() for name in PROJECT_FILES):
        return None
    return find_template(path)


def _build(raw: Any, *, file: Path, documents: Mapping[str, Any] | None = None,
           environment: Mapping[str, Mapping[str, str]] | None = None, upstream: list[Problem] = ()) -> Project:
    """A Project from a lychgate.yaml-shaped mapping; ``documents`` stand in for files it names."""
    root = file.parent
    documents = documents or {}
    problems = Problems(file)
    config = _validate(raw, problems)
    if config is None:
        raise ConfigError(problems.errors)
    apis, api_problems = _load_apis(config, root, file, documents)
    functions = _functions(config, root, environment or {})
    identities, identity_problems = load_identities(
        config.identities, root=root, file=file, account_id=config.account_id, documents=documents)
    project = Project(root=root, file=file, region=config.region, account_id=config.account_id,
                      apis=tuple(apis), functions=functions, limits=_limits(config.limits), identities=identities,
                      local_idp=_local_idp(config.local_idp, root), usage_plans=_usage_plans(config),
                      api_keys=_api_keys(config), state=_state_url(config.state, root),
                      on_state_failure=config.on_state_failure)
    all_problems = (list(upstream) + problems.items + api_problems + identity_problems + check_references(project)
                    + _iam_without_identities(project) + _usage_references(project)
                    + _environment_conflicts(project))
    errors = [p for p in all_problems if p.severity == "error"]
    warnings = [p for p in all_problems if p.severity == "warning"]
    if errors:
        raise ConfigError(errors + warnings)
    return dataclasses.replace(project, warnings=tuple(warnings))


def _validate(raw: Any, problems: Problems) -> ProjectConfig | None:
    if not isinstance(raw, dict):
        problems.expected("", "a mapping with at least an 'apis' list", raw)
        return None
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            problems.error(pointer(*_loc(err["loc"])), _pydantic_message(err))
        return None


def _loc(loc: tuple) -> list:
    # pydantic adds the union member it tried (e.g. "AccessLogConfig") to the location; drop it.
    return [p for p in loc if not (isinstance(p, str) and p[:1].isupper())]


def _pydantic_message(err: dict) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against the lychgate.yaml reference in README.md)"
    if kind == "missing":
        return "required key is missing"
    found = describe(err.get("input")) if "input" in err else "nothing"
    msg = msg[0].lower() + msg[1:]
    msg = msg.replace("value error, ", "").replace("input should be", "expected")
    return f"{msg}; found {found}"


def _load_apis(config: ProjectConfig, root: Path, file: Path,
               documents: Mapping[str, Any]) -> tuple[list[Api], list[Problem]]:
    apis, problems = [], []
    seen = set()
    for i, api_cfg in enumerate(config.apis):
        if api_cfg.id in seen:
            problems.append(Problem(str(file), pointer("apis", i, "id"), f"duplicate API id {api_cfg.id!r}"))
        seen.add(api_cfg.id)
        doc_path = root / api_cfg.openapi
        try:
            doc = documents[api_cfg.openapi] if api_cfg.openapi in documents else load_document(doc_path, str(doc_path))
        except ConfigError as exc:
            problems += exc.problems
            continue
        doc_problems = Problems(doc_path)
        protocol = api_cfg.protocol or (detect_protocol(doc) if isinstance(doc, dict) else REST)
        api = parse_api(doc, api_id=api_cfg.id, file=str(doc_path), stages=_stages(api_cfg, protocol),
                        protocol=protocol, problems=doc_problems)
        if api is not None:
            api = dataclasses.replace(api, cors_on_errors=api_cfg.cors_on_errors)
            apis.append(_with_resource_policy(api, config, doc_problems))
        problems += doc_problems.items
    return apis, problems


def _with_resource_policy(api: Api, config: ProjectConfig, problems: Problems) -> Api:
    """Compile ``x-amazon-apigateway-policy``, expanding ``execute-api:/…`` for this API (spec §1.3)."""
    if api.policy is None:
        return api
    ptr = "/x-amazon-apigateway-policy"
    source = PolicySource(name=f"resource policy of {api.id}", file=problems.file, pointer=ptr, kind="resource")
    try:
        compiled = compile_policy(api.policy, source, scope=ApiScope(config.region, config.account_id, api.id))
    except PolicyError as exc:
        problems.error(ptr + exc.pointer, f"resource policy: {exc.message}")
        return api
    return dataclasses.replace(api, resource_policy=compiled)


def _stages(api_cfg: ApiConfig, protocol: str) -> MappingProxyType:
    """The declared stages; without any, REST APIs get ``prod`` and HTTP APIs ``$default``."""
    declared = api_cfg.stages or {"$default" if protocol == HTTP else "prod": StageConfig()}
    return MappingProxyType({
        name: Stage(name=name, variables=MappingProxyType(dict(stage.variables)),
                    access_log=_access_log(stage.access_log, protocol), throttle=_throttle(stage.throttle),
                    method_throttle=_method_throttles(stage.method_throttle), logging_level=stage.logging_level)
        for name, stage in declared.items()})


def _access_log(cfg: AccessLogConfig | Literal[False] | None, protocol: str) -> AccessLogSettings | None:
    if cfg is False:
        return None
    default = HTTP_LOG_FORMAT if protocol == HTTP else REST_LOG_FORMAT
    if cfg is None:
        return AccessLogSettings(format=default)
    return AccessLogSettings(format=cfg.format or default, destination=cfg.destination)


def _functions(config: ProjectConfig, root: Path, environment: Mapping[str, Mapping[str, str]]) -> MappingProxyType:
    out = {}
    for key, spec in config.functions.items():
        named = lambda_function(key)  # keys may be function ARNs; integrations match by name
        name = named[0] if named else key
        out[name] = FunctionSpec(name=name, handler=spec.handler, base_dir=root, timeout_s=spec.timeout,
                                 memory_mb=spec.memory,
                                 environment=MappingProxyType({**spec.environment, **environment.get(name, {})}),
                                 invoke_permission=tuple(spec.invoke_permission) if spec.invoke_permission is not None
                                 else None)
    return MappingProxyType(out)


def _throttle(cfg: ThrottleConfig | None) -> Throttle | None:
    return Throttle(cfg.rate_limit, cfg.burst_limit) if cfg is not None else None


def _method_throttles(cfg: dict[str, ThrottleConfig]) -> MappingProxyType:
    return MappingProxyType({key: _throttle(value) for key, value in cfg.items()})


def _usage_plans(config: ProjectConfig) -> tuple[UsagePlan, ...]:
    return tuple(UsagePlan(
        name=plan.name, throttle=_throttle(plan.throttle),
        quota=Quota(plan.quota.limit, plan.quota.period, plan.quota.offset) if plan.quota else None,
        api_stages=tuple(ApiStage(s.api_id, s.stage, _method_throttles(s.throttle)) for s in plan.api_stages))
        for plan in config.usage_plans)


def _api_keys(config: ProjectConfig) -> tuple[ApiKeyDeclaration, ...]:
    return tuple(ApiKeyDeclaration(k.name, k.value, k.enabled, tuple(k.usage_plans)) for k in config.api_keys)


def _state_url(url: str, root: Path) -> str:
    """A relative sqlite path is relative to the project folder."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{(root / url[len('sqlite:///'):]).resolve()}"
    return url


def _usage_references(project: Project) -> list[Problem]:
    """Plans name existing API stages; keys name existing plans; names are unique."""
    file, problems = str(project.file), []
    stages = {(api.id, stage) for api in project.apis for stage in api.stages}
    plans = [plan.name for plan in project.usage_plans]
    for i, plan in enumerate(project.usage_plans):
        if plans.count(plan.name) > 1:
            problems.append(Problem(file, pointer("usage_plans", i, "name"), f"duplicate usage plan name {plan.name!r}"))
        for j, api_stage in enumerate(plan.api_stages):
            if (api_stage.api_id, api_stage.stage) not in stages:
                problems.append(Problem(file, pointer("usage_plans", i, "api_stages", j),
                                        f"no API {api_stage.api_id!r} with a stage {api_stage.stage!r}"))
    for i, key in enumerate(project.api_keys):
        for j, plan in enumerate(key.usage_plans):
            if plan not in plans:
                problems.append(Problem(file, pointer("api_keys", i, "usage_plans", j),
                                        f"no usage plan named {plan!r} (plans: {', '.join(plans) or 'none'})"))
    return problems


def _environment_conflicts(project: Project) -> list[Problem]:
    """Handlers share one process environment, so two functions must not set a variable differently."""
    seen: dict[str, tuple[str, str]] = {}
    problems = []
    for name, spec in project.functions.items():
        for var, value in spec.environment.items():
            other = seen.setdefault(var, (name, value))
            if other[1] != value:
                problems.append(Problem(str(project.file), pointer("functions", name),
                                        f"environment variable {var} differs from function {other[0]}'s: "
                                        "handlers share one process environment, the last one loaded wins", "warning"))
    return problems


def _local_idp(cfg: LocalIdpConfig | None, root: Path) -> LocalIdp | None:
    if cfg is None:
        return None
    return LocalIdp(port=cfg.port, folder=root / ".lychgate" / "idp", user_pools=tuple(cfg.user_pools),
                    issuers=tuple(cfg.issuers), client_id=cfg.client_id)


def _limits(cfg: LimitsConfig) -> Limits:
    return Limits(max_body_bytes=cfg.max_body_bytes, max_header_bytes=cfg.max_header_bytes,
                  header_timeout_s=cfg.header_timeout, body_timeout_s=cfg.body_timeout,
                  keepalive_timeout_s=cfg.keepalive_timeout)


def _iam_without_identities(project: Project) -> list[Problem]:
    """AWS_IAM methods in a project with no access keys: every signed call would be refused."""
    if project.identities is not None and project.identities.keys:
        return []
    return [Problem(m.source.file, m.source.pointer, "this method uses AWS_IAM but the project declares no "
                    "identities with access keys: every signed request will be refused", "warning")
            for api in project.apis for m in api.methods if m.authorization_type == "AWS_IAM"]
