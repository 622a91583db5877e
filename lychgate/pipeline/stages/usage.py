"""Stages for API keys and limits: ``require_api_key``, then ``throttle`` (spec gateway-behavior §7).

Order (spec §1.1 step 4-5): after authorization; the key comes from ``x-api-key`` or, with
``apiKeySource: AUTHORIZER``, from the Lambda authorizer's ``usageIdentifierKey``. Then every
applicable token bucket (stage default, stage method, plan, plan method) and the plan's quota
must admit the request, in one atomic store call. A store that cannot be reached fails closed
(500, logged) unless the project says ``on_state_failure: allow``.
"""

from __future__ import annotations

import logging

from lychgate.config.model import Throttle
from lychgate.errors import ApiConfigurationError, QuotaExceeded, Throttled
from lychgate.pipeline.chain import applies_when
from lychgate.pipeline.context import RequestContext
from lychgate.store import BucketSpec, StoreUnavailable
from lychgate.usage.throttle import QuotaSpec

LOG = logging.getLogger(__name__)


@applies_when(lambda ctx: ctx.route.method.api_key_required)
def require_api_key(ctx: RequestContext) -> None:
    method = ctx.route.method
    if not method.api_key_required:
        return
    from_authorizer = ctx.api.api.api_key_source == "AUTHORIZER"
    value = ctx.usage_identifier_key if from_authorizer else ctx.request.header("x-api-key")
    source = "the authorizer's usageIdentifierKey" if from_authorizer else "x-api-key header"
    key, plan = ctx.gateway.keys.admit(value, ctx.api.api.id, ctx.stage.name, source)
    ctx.api_key, ctx.api_key_value, ctx.usage_plan = key, value, plan
    ctx.trace.add("require_api_key", "accepted", lambda: f"API key {key.name} ({key.id}) in usage plan {plan.name}")


def _bucket(key: str, throttle: Throttle | None) -> list[BucketSpec]:
    return [BucketSpec(key, throttle.rate_limit, throttle.burst_limit)] if throttle is not None else []


def limits(ctx: RequestContext) -> tuple[list[BucketSpec], QuotaSpec | None]:
    """Every bucket that applies to this request, and the plan's quota; computed once per
    (API, stage, method, plan, key) and remembered, since all of them are immutable."""
    plan, key = ctx.usage_plan, ctx.api_key
    cache_key = (ctx.api.api.id, ctx.stage.name, ctx.route.method.resource_path, ctx.request.method,
                 plan.name if plan else None, key.id if key else None, key.created if key else None)
    cached = ctx.gateway.limits_cache.get(cache_key)
    if cached is None:
        if len(ctx.gateway.limits_cache) > 100_000:
            ctx.gateway.limits_cache.clear()
        cached = ctx.gateway.limits_cache[cache_key] = _limits(ctx)
    return cached


def _limits(ctx: RequestContext) -> tuple[list[BucketSpec], QuotaSpec | None]:
    """Every bucket that applies to this request, and the plan's quota (spec §7 order)."""
    api, stage = ctx.api.api.id, ctx.stage
    method_key = f"{ctx.route.method.resource_path}/{ctx.request.method}"
    buckets = _bucket(f"stage/{api}/{stage.name}", stage.throttle)
    buckets += _bucket(f"stage/{api}/{stage.name}{method_key}", stage.method_throttle.get(method_key))
    plan, key = ctx.usage_plan, ctx.api_key
    if plan is None:
        return buckets, None
    client = f"plan/{plan.name}/{key.id}"
    buckets += _bucket(client, plan.throttle)
    for api_stage in plan.api_stages:
        if api_stage.api_id == api and api_stage.stage == stage.name:
            buckets += _bucket(f"{client}/{api}/{stage.name}{method_key}", api_stage.method_throttle.get(method_key))
    quota = plan.quota
    spec = QuotaSpec(client, quota.limit, quota.period, quota.offset, key.created if quota.offset else None) if quota else None
    return buckets, spec


@applies_when(lambda ctx: ctx.route.method.api_key_required or ctx.stage.throttle is not None
              or bool(ctx.stage.method_throttle))
async def throttle(ctx: RequestContext) -> None:
    buckets, quota = limits(ctx)
    if not buckets and quota is None and ctx.api_key is None:
        return
    usage_key = f"usage/{ctx.api_key.id}" if ctx.api_key is not None else None
    try:
        verdict = await ctx.gateway.limiter.check(buckets, quota, usage_key=usage_key)
    except StoreUnavailable as exc:
        LOG.error("%s %s", ctx.request_id, exc)
        if ctx.gateway.project.on_state_failure == "allow":
            ctx.trace.add("throttle", "skipped", f"{exc}; on_state_failure: allow lets the request through")
            return
        raise ApiConfigurationError(detail=str(exc), cause="state_store_unavailable") from exc
    ctx.trace.add("throttle", "admitted" if verdict.admitted else "refused", verdict.describe)  # formatted when read
    if not verdict.admitted:
        error = QuotaExceeded if verdict.kind == "quota" else Throttled
        raise error(detail=verdict.describe(), cause=f"{verdict.kind}_exceeded")
