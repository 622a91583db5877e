"""``lychgate check``'s static findings: the classic API Gateway misconfigurations, before a request fails.

Each finding is a warning ``Problem`` at the definition that causes it, whose message says the
cause and the fix. The IAM findings run the real policy engine against every route's method ARN
of every stage, with path parameters filled in, so they agree with what the gateway will decide.
Findings that need the network (token authorizers' JWKS) are in ``lychgate.authorizers.reachability``
(``lychgate check --offline`` skips them).
"""

from __future__ import annotations

import re

from lychgate.config.model import REST, Api, Method, Project
from lychgate.errors import Problem
from lychgate.iam import AuthzRequest, Decision, authorize, evaluate_policies, execute_api_arn

PARAM = re.compile(r"\{[^}]+\}")
INVOKE = "execute-api:Invoke"
KNOWN_ACTIONS = {"execute-api:invoke", "execute-api:invalidatecache", "execute-api:managetoconnections", "execute-api:*"}


def findings(project: Project) -> list[Problem]:
    out: list[Problem] = []
    for api in project.apis:
        out += _iam_methods_nobody_can_invoke(project, api)
        out += _resource_policy(project, api)
        out += _preflight_behind_auth(api)
        out += _cors_missing_on_errors(api)
        out += _api_key_without_plan(project, api)
        out += _coarse_cache(api)
    out += _policy_resources_matching_nothing(project)
    return out


def finding(where, message: str, fix: str) -> Problem:
    """A warning at ``where`` (anything with ``file`` and ``pointer``): the cause, then the fix."""
    return Problem(where.file, where.pointer, f"{message}. Fix: {fix}", "warning")


def method_arns(project: Project, api: Api, method: Method) -> list[str]:
    """The method's ARN on every stage, path parameters filled in (``x``, ``x/y`` for greedy)."""
    path = PARAM.sub(lambda m: "x/y" if m.group(0).endswith("+}") else "x", method.resource_path)
    verb = "GET" if method.http_method == "ANY" else method.http_method
    return [execute_api_arn(project.region, project.account_id, api.id, stage, verb, path) for stage in api.stages]


def _identities(project: Project):
    return list(project.identities.principals.values()) if project.identities else []


def _allows(identity, arn: str, resource_policy) -> bool:
    request = AuthzRequest(INVOKE, arn, identity.principal, identity.context_keys())
    boundary = (identity.boundary,) if identity.boundary else None
    resource = (resource_policy,) if resource_policy else ()
    return authorize(request, identity=identity.policies, resource=resource, boundary=boundary).decision is Decision.ALLOW


def _iam_methods_nobody_can_invoke(project: Project, api: Api) -> list[Problem]:
    out = []
    identities = _identities(project)
    for method in api.methods:
        if method.authorization_type != "AWS_IAM" or not identities:
            continue
        arns = method_arns(project, api, method)
        if not any(_allows(i, arn, api.resource_policy) for i in identities for arn in arns):
            out.append(finding(method.source, f"no declared identity can invoke AWS_IAM method {method.route_key} "
                                               f"(e.g. {arns[0]})",
                                "add an Allow for execute-api:Invoke on that ARN (or a pattern ending in /*) to a "
                                "user's or role's policy; `lychgate iam simulate-principal-policy` shows why not"))
    return out


def _policy_resources_matching_nothing(project: Project) -> list[Problem]:
    """Identity-policy statements about execute-api whose Resource matches no route of any stage."""
    arns = [arn for api in project.apis for m in api.methods for arn in method_arns(project, api, m)]
    out, seen = [], set()
    for identity in _identities(project):
        for policy in identity.policies:
            for statement in policy.statements:
                key = (policy.source.name, statement.index)
                if key in seen or statement.deny:
                    continue
                seen.add(key)
                out += _statement_findings(policy, statement, arns)
    return out


def _statement_findings(policy, statement, arns: list[str]) -> list[Problem]:
    actions = [] if statement.not_action else [a.lower() for a in statement.actions.patterns]
    where = Where(policy.source.file or "", statement.file_pointer)
    bad = [a for a in actions if a.startswith("execute-api:") and "*" not in a[12:] and a not in KNOWN_ACTIONS]
    if bad:
        return [finding(where, f"action {bad[0]} does not exist (execute-api actions: Invoke, InvalidateCache, "
                                "ManageToConnections)", "use execute-api:Invoke")]
    if not any(a.startswith("execute-api") or a == "*" for a in actions) or not arns:
        return []
    if any(_resource_matches(statement, arn) for arn in arns):
        return []
    return [finding(where, f"this Allow statement of {policy.source.name} matches no route of any stage "
                            f"(routes look like {arns[0]})",
                     "check the stage name, the verb and the path; a Resource needs a trailing /* to cover sub-paths")]


def _resource_matches(statement, arn: str) -> bool:
    """Whether Action and Resource match (conditions depend on the request, so they do not count)."""
    miss = statement.check(AuthzRequest(INVOKE, arn, None, {}))
    return miss is None or miss[0] in ("Condition", "Principal", "NotPrincipal")


class Where:
    """A place in a file, for findings about what is not a ``Method`` (which has ``source``)."""

    def __init__(self, file: str, pointer: str):
        self.file, self.pointer = file, pointer


def _resource_policy(project: Project, api: Api) -> list[Problem]:
    policy = api.resource_policy
    if policy is None:
        return []
    where = Where(api.source.file, "/x-amazon-apigateway-policy")
    arns = [arn for m in api.methods for arn in method_arns(project, api, m)]
    anonymous = [evaluate_policies(AuthzRequest(INVOKE, arn, None, {"aws:SourceIp": "203.0.113.1"}), (policy,)).decision
                 for arn in arns]
    out = []
    if arns and all(d is Decision.EXPLICIT_DENY for d in anonymous):
        out.append(finding(where, "the resource policy denies every route to every caller from outside",
                            "narrow the Deny (its Resource or Condition)"))
    none_routes = [m for m in api.methods if m.authorization_type == "NONE"]
    if none_routes and any(d is Decision.ALLOW for d in anonymous):
        out.append(finding(where, "the resource policy lets anonymous callers invoke methods whose authorization "
                                   f"type is NONE (e.g. {none_routes[0].route_key})",
                            "that is fine for a public API; otherwise require AWS_IAM or an authorizer on them"))
    return out


def _preflight_behind_auth(api: Api) -> list[Problem]:
    return [finding(m.source, f"{m.route_key} needs {'an API key' if m.api_key_required else m.authorization_type}: "
                               "browsers send CORS preflights without credentials, so the preflight will fail",
                     "give the OPTIONS method authorization NONE and no API key")
            for m in api.methods if m.http_method == "OPTIONS" and (m.authorization_type != "NONE" or m.api_key_required)]


def _cors_missing_on_errors(api: Api) -> list[Problem]:
    if api.protocol != REST or api.cors_on_errors:
        return []
    cors_methods = [m for m in api.methods if m.http_method == "OPTIONS" and m.integration is not None
                    and any("Access-Control-Allow-Origin" in key for r in m.integration.responses
                            for key in r.response_parameters)]
    if not cors_methods:
        return []
    missing = [t for t in ("DEFAULT_4XX", "DEFAULT_5XX")
               if not any("Access-Control-Allow-Origin" in k
                          for k in (api.gateway_responses.get(t).response_parameters if t in api.gateway_responses else {}))]
    if not missing:
        return []
    return [finding(Where(api.source.file, "/x-amazon-apigateway-gateway-responses"),
                     f"CORS is set up on OPTIONS methods but not on the {' and '.join(missing)} gateway responses: "
                     "a browser will report a CORS error instead of the real 401/403/429/5xx",
                     "add gatewayresponse.header.Access-Control-Allow-Origin to DEFAULT_4XX and DEFAULT_5XX, "
                     "or set cors_on_errors: true for this API in lychgate.yaml")]


def _api_key_without_plan(project: Project, api: Api) -> list[Problem]:
    covered = {s.stage for p in project.usage_plans for s in p.api_stages if s.api_id == api.id}
    out = []
    for method in api.methods:
        if method.api_key_required:
            for stage in api.stages:
                if stage not in covered:
                    out.append(finding(method.source, f"{method.route_key} requires an API key but no usage plan in "
                                                       f"lychgate.yaml covers stage {stage}: every key will get 403",
                                        f"add {{api_id: {api.id}, stage: {stage}}} to a usage plan's api_stages "
                                        "(or create a plan with `lychgate plans create`)"))
    return out


def _coarse_cache(api: Api) -> list[Problem]:
    out = []
    for name, scheme in api.authorizers.items():
        raw = scheme.get("x-amazon-apigateway-authorizer") or {}
        if str(raw.get("type", "")).lower() != "request":
            continue
        ttl = raw.get("authorizerResultTtlInSeconds", 300 if api.protocol == REST else 0)
        sources = [s.strip() for s in str(raw.get("identitySource") or "").split(",") if s.strip()]
        caller = [s for s in sources if ".header." in s or ".querystring." in s]
        if ttl and sources and not caller:
            out.append(finding(Where(api.source.file, f"{api.schemes_pointer}/{name}"),
                                f"authorizer {name} caches results for {ttl} s keyed only by {', '.join(sources)}: "
                                "every caller shares one cached decision",
                                "add a header or query string that identifies the caller to identitySource, "
                                "or set authorizerResultTtlInSeconds: 0"))
    return out
