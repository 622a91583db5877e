"""The throttle stage's limits (spec gateway-behavior §7): made once per API, stage, route, method and
key, and made again when the key or its plan is replaced."""

from __future__ import annotations

from types import SimpleNamespace

from lychgate.config.model import ApiStage, Quota, Stage, Throttle, UsagePlan
from lychgate.pipeline.stages.usage import limits
from lychgate.usage.keys import config_key

PLAN = UsagePlan("plan", (ApiStage("api", "prod", {"/items/GET": Throttle(5.0, 10)}),), Throttle(50.0, 100),
                 Quota(1000, "DAY"))
KEY = config_key("partner", "a-partner-key-value-for-the-limits-tests", True, ("plan",))


def context(gateway, key=KEY, plan=PLAN, http_method="GET", stage=Stage("prod", throttle=Throttle(500.0, 1000))):
    return SimpleNamespace(gateway=gateway, api=SimpleNamespace(api=SimpleNamespace(id="api")), stage=stage,
                           route=SimpleNamespace(method=SimpleNamespace(resource_path="/items")),
                           request=SimpleNamespace(method=http_method), api_key=key, usage_plan=plan)


def test_limits_follow_spec_order_and_are_made_once():
    gateway = SimpleNamespace(limits_cache={})
    made = limits(context(gateway))
    assert [(b.key, b.rate, b.burst) for b in made.buckets] == [
        ("stage/api/prod", 500.0, 1000), (f"plan/plan/{KEY.id}", 50.0, 100),
        (f"plan/plan/{KEY.id}/api/prod/items/GET", 5.0, 10)]
    assert (made.quota.key, made.quota.limit, made.usage_key) == (f"plan/plan/{KEY.id}", 1000, f"usage/{KEY.id}")
    assert limits(context(gateway)) is made
    assert len(limits(context(gateway, http_method="POST")).buckets) == 2  # no method throttle for POST


def test_limits_are_made_again_for_a_replaced_key_or_plan():
    gateway = SimpleNamespace(limits_cache={})
    made = limits(context(gateway))
    replaced = config_key("partner", "a-partner-key-value-for-the-limits-tests", True, ("plan",))
    assert limits(context(gateway, key=replaced)) is not made
    slower = UsagePlan("plan", PLAN.api_stages, Throttle(1.0, 2), PLAN.quota)
    again = limits(context(gateway, key=replaced, plan=slower))
    assert (again.buckets[1].rate, again.buckets[1].burst) == (1.0, 2)


def test_no_limits_without_key_or_stage_throttle():
    assert limits(context(SimpleNamespace(limits_cache={}), key=None, plan=None, stage=Stage("prod"))) is None
    only_stage = limits(context(SimpleNamespace(limits_cache={}), key=None, plan=None))
    assert [b.key for b in only_stage.buckets] == ["stage/api/prod"] and only_stage.usage_key is None
