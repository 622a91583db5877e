"""Stages for API keys and limits: ``require_api_key``, then ``throttle`` (spec gateway-behavior §7).

Order (spec §1.1 step 4-5): after authorization; the key comes from ``x-api-key`` or, with
``apiKeySource: AUTHORIZER``, from the Lambda authorizer's ``usageIdentifierKey``. Then every
applicable token bucket (stage default, stage method, plan, plan method) and the plan's quota
must admit the request, in one atomic store call. A store that cannot be reached fails closed
(500, logged) unless the project says ``on_state_failure: allow``.
"""

from __future__ import annotations

import logging
from typing import Awaitable

from lychgate.config.model import Throttle
from lychgate.errors import ApiConfigurationError, QuotaExceeded, Throttled
from lychgate.pipeline.chain import applies_when
from lychgate.pipeline.context import RequestContext
from lychgate.store import BucketSpec, StoreUnavailable
from lychgate.usage.keys import Admission
from lychgate.usage.throttle import QuotaSpec, RequestLimits, Verdict, describe_decision

LOG = logging.getLogger(__name__)


@applies_when(lambda ctx: ctx.route.method.api_key_required)
def require_api_key(ctx: RequestContext) -> None:
    api = ctx.api.api
    if api.api_key_source == "AUTHORIZER":
        value, source = ctx.usage_identifier_key, "the authorizer's usageIdentifierKey"
    else:
        value, source = ctx.request.header("x-api-key"), "x-api-key header"
    registry, stage = ctx.gateway.keys, ctx.stage.name
    # admit()'s first step, without its call (it runs on every request): a value accepted before,
    # whose key is still the one registered under its hash
    accepted = registry.accepted.get((value, api.id, stage))
    if accepted is not None and registry.keys.get(accepted[0]) is accepted[1]:
        admission = accepted[2]
    else:
        admission = registry.admit(value, api.id, stage, source)
    ctx.usage_admission = admission
    ctx.api_key, ctx.api_key_value, ctx.usage_plan = admission.key, value, admission.plan
    # Recorded as DecisionTrace.add would, without its call (it runs on every request); the
    # sentence is formatted when read.
    ctx.trace.recorded.append(admission.step)


def _bucket(key: str, throttle: Throttle | None) -> list[BucketSpec]:
    return [BucketSpec(key, throttle.rate_limit, throttle.burst_limit)] if throttle is not None else []


def limits(ctx: RequestContext) -> RequestLimits | None:
    """Every limit that applies to this request, None when there is none; made once per API,
    stage, route, HTTP method and key (with its plan), since all of these are immutable."""
    key = ctx.api_key
    cache_key = (ctx.api.api.id, ctx.stage.name, ctx.route.method.resource_path, ctx.request.method, id(key))
    cached = ctx.gateway.limits_cache.get(cache_key)
    # The entry holds the key and plan it was made for: that keeps id(key) from being reused
    # while it is cached, and a key or plan replaced since (e.g. by a reload) makes it anew.
    if cached is not None and cached[0] is key and cached[1] is ctx.usage_plan:
        return cached[2]
    cache = ctx.gateway.limits_cache
    if len(cache) > 100_000:
        cache.clear()
    made = _limits(ctx)
    cache[cache_key] = (key, ctx.usage_plan, made)
    return made


ADMITTED_LIMITS_SIZE = 1000
"""Most (route, HTTP method) limits kept on one admission; more start afresh."""


def admitted_limits(ctx: RequestContext, admission: Admission, route: tuple[str, str]) -> RequestLimits:
    """``limits`` of a request with an accepted key, kept on its admission (which is per key,
    plan, API and stage, and gone when keys or plans change) by ``route``: resource path and
    HTTP method."""
    if len(admission.limits) >= ADMITTED_LIMITS_SIZE:
        admission.limits.clear()
    made = admission.limits[route] = _limits(ctx)
    return made  # never None: a key's usage is counted


def _limits(ctx: RequestContext) -> RequestLimits | None:
    """The buckets that apply to this request (spec §7 order), the plan's quota and the key to
    count usage under; None when there is nothing to check or count."""
    api, stage = ctx.api.api.id, ctx.stage
    method_key = f"{ctx.route.method.resource_path}/{ctx.request.method}"
    buckets = _bucket(f"stage/{api}/{stage.name}", stage.throttle)
    buckets += _bucket(f"stage/{api}/{stage.name}{method_key}", stage.method_throttle.get(method_key))
    plan, key = ctx.usage_plan, ctx.api_key
    usage_key = f"usage/{key.id}" if key is not None else None
    if plan is None:
        return RequestLimits(buckets, None, usage_key) if buckets or usage_key else None
    client = f"plan/{plan.name}/{key.id}"
    buckets += _bucket(client, plan.throttle)
    for api_stage in plan.api_stages:
        if api_stage.api_id == api and api_stage.stage == stage.name:
            buckets += _bucket(f"{client}/{api}/{stage.name}{method_key}", api_stage.method_throttle.get(method_key))
    quota = plan.quota
    spec = QuotaSpec(client, quota.limit, quota.period, quota.offset, key.created if quota.offset else None) if quota else None
    return RequestLimits(buckets, spec, usage_key)


@applies_when(lambda ctx: ctx.route.method.api_key_required or ctx.stage.throttle is not None
              or bool(ctx.stage.method_throttle))
def throttle(ctx: RequestContext) -> Awaitable[None] | None:
    """The memory store decides at once; a shared store returns the coroutine that awaits it."""
    admission = ctx.usage_admission
    if admission is not None:  # found here (no call) once admitted_limits made them
        route = (ctx.route.method.resource_path, ctx.request.method)
        request_limits = admission.limits.get(route) or admitted_limits(ctx, admission, route)
    else:
        request_limits = limits(ctx)
    if request_limits is None:
        return None
    limiter = ctx.gateway.limiter
    decide_now = limiter.decide_now
    if decide_now is None:
        return _settle_in_store(ctx, request_limits)
    # The memory store: Limiter.settle_now's steps, without its call.
    now = limiter.clock()
    counts = request_limits.counts
    if not counts.since <= now < counts.until:
        counts = request_limits.counts_on(int(now // 86400))
    decided = decide_now(counts.prepared, now)
    if decided[0] is None:  # admitted, as _conclude records it, without its call
        ctx.trace.recorded.append(("throttle", "admitted", (describe_decision, decided, request_limits, counts)))
        return None
    _conclude(ctx, decided, request_limits, counts)
    return None


async def _settle_in_store(ctx: RequestContext, request_limits: RequestLimits) -> None:
    limiter = ctx.gateway.limiter
    try:
        soon = limiter.settle_soon(request_limits)  # Redis, one server: its future, awaited here
        if soon is not None:
            decided, counts = await soon[0], soon[1]
        else:
            decided, counts = await limiter.settle(request_limits)
    except StoreUnavailable as exc:
        LOG.error("%s %s", ctx.request_id, exc)
        if ctx.gateway.project.on_state_failure == "allow":
            ctx.trace.add("throttle", "skipped", f"{exc}; on_state_failure: allow lets the request through")
            return
        raise ApiConfigurationError(detail=str(exc), cause="state_store_unavailable") from exc
    _conclude(ctx, decided, request_limits, counts)


def _conclude(ctx: RequestContext, decided, request_limits: RequestLimits, counts) -> None:
    if decided[0] is None:  # admitted: no Verdict, the trace's sentence is made when read
        ctx.trace.recorded.append(("throttle", "admitted", (describe_decision, decided, request_limits, counts)))
        return
    verdict = Verdict(decided, request_limits, counts)
    ctx.trace.add("throttle", "refused", verdict.describe)
    error = QuotaExceeded if verdict.kind == "quota" else Throttled
    raise error(detail=verdict.describe(), cause=f"{verdict.kind}_exceeded")
