"""Stages that decide who is calling and whether they may: ``authenticate``, then ``authorize``.

The order of AWS (spec gateway-behavior §1.1 step 3, §1.3): the method's authorization type
authenticates the caller first; then the caller's policies and the API's resource policy are
combined. Authorization types lychgate does not enforce yet (Lambda authorizers, Cognito, JWT,
API keys) fail closed with a 500 and are reported at start-up.
"""

from __future__ import annotations

from typing import Awaitable

from lychgate.authorizers import iam, lambda_
from lychgate.config.references import lambda_function
from lychgate.iam import Decision
from lychgate.pipeline.chain import applies_when
from lychgate.pipeline.facts import ContextFacts, method_arn
from lychgate.errors import AccessDenied, AuthorizerConfigurationError
from lychgate.pipeline.context import RequestContext

_ALLOW = Decision.ALLOW


def authenticate(ctx: RequestContext) -> Awaitable[None] | None:
    """NONE and AWS_IAM decide at once; token and Lambda authorizers return the coroutine to await."""
    method = ctx.route.method
    kind = method.authorization_type
    if kind == "NONE":
        ctx.trace.add("authenticate", "anonymous", "the method's authorization type is NONE")
        return None
    if kind == "AWS_IAM":
        project = ctx.gateway.project
        result = iam.authenticate(ctx.request, project.identities, project.region)
        if type(result) is not iam.Caller:
            ctx.trace.add("authenticate", "rejected", result.detail)
            # HTTP APIs answer every IAM authentication failure 403 Forbidden (docs/aws-behaviour.md).
            raise result if ctx.api.rest else AccessDenied(detail=result.detail, cause=result.cause)
        ctx.caller = result
        ctx.trace.recorded.append(("authenticate", "signed", (_signed_text, result)))  # DecisionTrace.add's step
        return None
    if kind in ("COGNITO_USER_POOLS", "JWT"):
        return _authenticate_token(ctx)
    if kind == "CUSTOM":
        return _run_lambda_authorizer(ctx)
    raise AuthorizerConfigurationError(
        detail=f"authorization type {kind} is not supported by this version of lychgate: failing closed",
        cause="unsupported_authorization")


def _signed_text(caller: iam.Caller) -> str:
    return f"SigV4 signature of {caller.identity.arn} (key {caller.access_key_id})"


async def _authenticate_token(ctx: RequestContext) -> None:
    """COGNITO_USER_POOLS / JWT: verify the token of the identity source (spec §6)."""
    spec = ctx.api.token_authorizers.get(ctx.route.method.authorizer)
    if spec is None:
        raise AuthorizerConfigurationError(detail=f"authorizer {ctx.route.method.authorizer!r} could not be built",
                                           cause="authorizer_misconfigured")
    result = await spec.authenticate(ctx.request, ctx.route.method.authorization_scopes)
    if not result.allowed:
        ctx.trace.add("authenticate", "token refused", result.reason)
        raise spec.rejection(result)
    ctx.authorizer = result.authorizer_context()
    ctx.authorizer_principal = result.principal_id
    ctx.trace.add("authenticate", "token accepted", result.reason)


async def _run_lambda_authorizer(ctx: RequestContext) -> None:
    """CUSTOM: the resource policy's explicit Deny first, then the Lambda authorizer (spec §1.3, §5)."""
    name = ctx.route.method.authorizer
    config = ctx.api.lambda_authorizers.get(name)
    if config is None:
        raise AuthorizerConfigurationError(detail=f"authorizer {name!r} could not be built", cause="authorizer_misconfigured")
    policy = ctx.api.api.resource_policy
    if policy is not None:
        _resource_policy_after_authorizer(ctx, policy)  # the pre-authorizer pass: only an explicit Deny counts
    gateway = ctx.gateway

    def invoke(event):  # built only on a cache miss
        _check_authorizer_permission(ctx, config)
        return lambda_.make_invoker(config, functions=gateway.functions, pool=gateway.pool,
                                    stage_variables=ctx.stage.variables, request_id=ctx.request_id)(event)
    facts = ContextFacts(ctx)
    outcome = await lambda_.run_authorizer(config, facts=facts, method_arn=method_arn(ctx), invoke=invoke,
                                           cache=gateway.authorizer_cache, context_value=facts.context_variable)
    ctx.trace.add("authenticate", outcome.verdict, outcome.why)
    if not outcome.allowed and not _resource_policy_allows(ctx, outcome, policy):
        error = outcome.error
        error.cause = f"authorizer_{outcome.verdict}" + ("_cached" if outcome.cached else "")
        error.detail = error.detail or outcome.reason
        raise error
    ctx.authorizer = outcome.event_authorizer()
    ctx.authorizer_principal = outcome.principal_id
    ctx.usage_identifier_key = outcome.usage_identifier_key


def _check_authorizer_permission(ctx: RequestContext, config) -> None:
    """AWS answers 500 ``{"message":null}`` when no Lambda permission covers the authorizer (spec §2.2)."""
    named = lambda_function(config.uri)
    function = ctx.gateway.functions.get(named[0]) if named else None
    project = ctx.gateway.project
    arn = f"arn:aws:execute-api:{project.region}:{project.account_id}:{ctx.api.api.id}/authorizers/{config.name}"
    if function is not None and not function.spec.permits(arn):
        raise lambda_.AuthorizerInvokeError(f"no Lambda permission lets API Gateway invoke {function.spec.name!r} "
                                            f"for {arn}")


def _resource_policy_allows(ctx: RequestContext, outcome, policy) -> bool:
    """Table A: an authorizer policy that does not cover the call is saved by a resource policy Allow."""
    if policy is None or outcome.policy is None or outcome.verdict != "implicitDeny":
        return False
    evaluation = iam.authorize_with_authorizer_policy(method_arn=method_arn(ctx), request=ctx.request,
                                                     region=ctx.gateway.project.region,
                                                     authorizer_policy=outcome.policy, resource_policy=policy)
    return iam.is_allowed(evaluation)


@applies_when(lambda ctx: ctx.api.api.resource_policy is not None or ctx.route.method.authorization_type == "AWS_IAM")
def authorize(ctx: RequestContext) -> None:
    """IAM decision for AWS_IAM methods, and for any method of an API with a resource policy."""
    api = ctx.api.api
    policy = api.resource_policy
    if ctx.caller is None and policy is None:
        return
    if ctx.authorizer is not None:
        # A Lambda authorizer's call already had the resource policy's pre-authorizer pass.
        if ctx.route.method.authorization_type != "CUSTOM":
            _resource_policy_after_authorizer(ctx, policy)
        return
    caller = ctx.caller
    identity = caller.identity if caller else None
    memo = ctx.gateway.decisions
    call = (api.id, ctx.stage.name, ctx.request.method, ctx.path)  # names the method ARN in this gateway
    # DecisionMemo.get, without its call (it runs on every request)
    found = memo.evaluations.get((id(identity), call))
    if found is not None and found[0] is identity and found[1] is policy:
        evaluation = found[2]
    else:  # not remembered: decided from the method ARN
        project = ctx.gateway.project
        evaluation = iam.authorize(method_arn=method_arn(ctx), request=ctx.request, region=project.region,
                                   account_id=project.account_id, caller=caller, resource_policy=policy,
                                   memo=memo, memo_key=call)
    ctx.decision = evaluation
    if evaluation.decision is not _ALLOW:
        ctx.trace.add("authorize", evaluation.decision.value, evaluation.rule)
        raise iam.denial(evaluation)
    ctx.trace.recorded.append(("authorize", "allowed", evaluation.rule))  # DecisionTrace.add's step


def _resource_policy_after_authorizer(ctx: RequestContext, policy) -> None:
    """An authorizer allowed the caller: only an explicit Deny of the resource policy refuses (Table A)."""
    evaluation = iam.resource_policy_only(method_arn=method_arn(ctx), request=ctx.request,
                                          region=ctx.gateway.project.region, resource_policy=policy)
    ctx.decision = evaluation
    if evaluation.decision is Decision.EXPLICIT_DENY:
        ctx.trace.add("authorize", "explicitDeny", "the resource policy denies explicitly")
        raise iam.denial(evaluation)
    ctx.trace.add("authorize", "allowed", "the authorizer allowed and the resource policy does not deny (Table A)")


