"""The ``require_api_key`` and ``throttle`` stages on the memory store (spec gateway-behavior §7): the
limits are found through the request's admission, an admitted request's trace sentence is made only
when read and reads as its Verdict would, and a refusal names the limit as before."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest

from helpers import openapi, proxy_op, write_project
from lychgate.config.project import load_project
from lychgate.errors import InvalidApiKey, QuotaExceeded, Throttled
from lychgate.messages import Request
from lychgate.pipeline.context import RequestContext
from lychgate.pipeline.runtime import Gateway
from lychgate.pipeline.stages import usage as usage_stages
from lychgate.pipeline.stages.route import match_route, resolve_api
from lychgate.pipeline.stages.usage import require_api_key, throttle

KEY = "stage-test-key-00000000000000000000000"


def gateway_with(tmp_path, plan: dict) -> Gateway:
    secured = {**proxy_op("fn"), "security": [{"api_key": []}]}
    doc = openapi({"/items": {"get": secured, "post": secured}},
                  components={"securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}})
    project = load_project(write_project(tmp_path, doc, config={
        "apis": [{"id": "shop", "openapi": "openapi.yaml", "stages": {"prod": {"access_log": False}}}],
        "functions": {"fn": "h.py:handler"}, "state": "memory",
        "usage_plans": [{"name": "basic", "api_stages": [{"api_id": "shop", "stage": "prod"}], **plan}],
        "api_keys": [{"name": "partner", "value": KEY, "usage_plans": ["basic"]}]},
        files={"h.py": "def handler(event, context):\n    return {'statusCode': 200}\n"}))
    gateway = Gateway(project, access_log=False)
    asyncio.run(gateway.load_keys())
    return gateway


def admitted(gateway: Gateway, method: str = "GET") -> RequestContext:
    """A request through require_api_key and throttle; raises what throttle raises."""
    request = Request(method, "/prod/items", "", [("Host", "127.0.0.1"), ("x-api-key", KEY)], received_at=time.time())
    ctx = RequestContext(gateway=gateway, request=request, request_id="rid", extended_request_id="ext=",
                         started=time.perf_counter())
    resolve_api(ctx)
    match_route(ctx)
    require_api_key(ctx)
    assert throttle(ctx) is None  # the memory store decides at once: nothing to await
    return ctx


def test_an_admitted_requests_trace_is_made_when_read_and_reads_as_before(tmp_path):
    gateway = gateway_with(tmp_path, {"throttle": {"rate_limit": 1, "burst_limit": 2},
                                      "quota": {"limit": 5, "period": "DAY"}})
    ctx = admitted(gateway)
    stage, outcome, detail = ctx.trace.recorded[-1]
    assert (stage, outcome, type(detail)) == ("throttle", "admitted", tuple)  # nothing formatted yet
    key_id = ctx.api_key.id
    text = ctx.trace.steps[-1].text
    assert text.startswith(f"admitted; bucket plan/basic/{key_id}: 1 tokens left; "
                           f"quota plan/basic/{key_id}: 1/5 used this DAY, resets ")


def test_refusals_name_the_bucket_or_the_quota(tmp_path):
    throttled = gateway_with(tmp_path / "t", {"throttle": {"rate_limit": 0.001, "burst_limit": 1}})
    admitted(throttled)
    with pytest.raises(Throttled) as refused:
        admitted(throttled)
    assert refused.value.cause == "throttle_exceeded"
    assert refused.value.detail.startswith("refused by throttle plan/basic/")
    assert "(rate limit 0.001/s, burst limit 1)" in refused.value.detail
    exhausted = gateway_with(tmp_path / "q", {"quota": {"limit": 1, "period": "WEEK"}})
    admitted(exhausted)
    with pytest.raises(QuotaExceeded) as refused:
        admitted(exhausted)
    assert refused.value.cause == "quota_exceeded" and "1/1 used this WEEK" in refused.value.detail


def test_limits_are_kept_on_the_admission_per_route_and_method(tmp_path):
    gateway = gateway_with(tmp_path, {"quota": {"limit": 100, "period": "MONTH"}})
    first = admitted(gateway)
    again = admitted(gateway)
    assert again.usage_admission is first.usage_admission
    assert list(first.usage_admission.limits) == [("/items", "GET")]
    made = first.usage_admission.limits[("/items", "GET")]
    admitted(gateway, "POST")
    assert first.usage_admission.limits[("/items", "GET")] is made
    assert list(first.usage_admission.limits) == [("/items", "GET"), ("/items", "POST")]


def test_replacing_keys_and_plans_drops_the_limits_made_for_them(tmp_path):
    gateway = gateway_with(tmp_path, {"quota": {"limit": 100, "period": "DAY"}})
    before = admitted(gateway).usage_admission
    asyncio.run(gateway.load_keys())  # a reload: the same declarations, replaced
    after = admitted(gateway).usage_admission
    assert after is not before and after.limits[("/items", "GET")] is not before.limits[("/items", "GET")]


def test_the_limits_kept_on_an_admission_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(usage_stages, "ADMITTED_LIMITS_SIZE", 1)
    gateway = gateway_with(tmp_path, {"quota": {"limit": 100, "period": "DAY"}})
    admission = admitted(gateway).usage_admission
    admitted(gateway, "POST")
    assert list(admission.limits) == [("/items", "POST")]


def test_the_quota_starts_afresh_when_the_limiters_day_ends(tmp_path):
    """The stage asks the limiter's clock and finds the day's counts itself (for the memory store)."""
    gateway = gateway_with(tmp_path, {"quota": {"limit": 2, "period": "DAY"}})
    midnight = (time.time() // 86400 + 1) * 86400
    gateway.limiter.clock = lambda: midnight - 1
    admitted(gateway)
    admitted(gateway)
    with pytest.raises(QuotaExceeded):
        admitted(gateway)
    gateway.limiter.clock = lambda: midnight + 1
    ctx = admitted(gateway)
    assert "1/2 used this DAY" in ctx.trace.steps[-1].text
    before, after = (datetime.fromtimestamp(midnight + t, timezone.utc).date() for t in (-1, 1))
    usage = asyncio.run(gateway.limiter.usage_between(f"usage/{ctx.api_key.id}", before, after))
    assert usage == {before: 2, after: 1}


def test_a_remembered_key_is_refused_once_removed_in_place(tmp_path):
    """require_api_key looks up a value accepted before itself, then checks its key is still there."""
    gateway = gateway_with(tmp_path, {"quota": {"limit": 100, "period": "DAY"}})
    admitted(gateway)
    gateway.keys.keys.clear()  # changed in place, not by replace(): the remembered value is stale
    with pytest.raises(InvalidApiKey) as refused:
        admitted(gateway)
    assert refused.value.cause == "api_key_unknown"
