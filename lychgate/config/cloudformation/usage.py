"""Usage plans and API keys of a template -> ``usage_plans`` and ``api_keys`` in ``lychgate.yaml``.

``AWS::ApiGateway::UsagePlan`` (API stages, throttle, quota), ``ApiKey`` and ``UsagePlanKey``
become ``usage_plans: [{name, api_stages: [{api_id, stage, throttle: {"/path/METHOD": …}}],
throttle: {rate_limit, burst_limit}, quota: {limit, period, offset}}]`` and ``api_keys: [{name,
value, usage_plans: [names], enabled}]``. A key without ``Value`` is left without one: AWS
generates it at deployment, and the gateway does the same at start-up.
"""

from __future__ import annotations

from typing import Any

from lychgate.config.cloudformation.documents import throttle_config
from lychgate.config.cloudformation.stack import Stack

P = "AWS::ApiGateway::"
PLAN, KEY, PLAN_KEY = P + "UsagePlan", P + "ApiKey", P + "UsagePlanKey"
CONSUMED = {PLAN, KEY, PLAN_KEY}


def usage_plans(stack: Stack) -> tuple[list[dict], list[dict]]:
    """(usage_plans, api_keys) in lychgate.yaml's shape."""
    plans = {lid: _plan(stack, lid) for lid, _ in stack.active(PLAN)}
    keys = [_key(stack, lid, plans) for lid, _ in stack.active(KEY)]
    return list(plans.values()), keys


def _plan(stack: Stack, lid: str) -> dict:
    plan: dict[str, Any] = {"name": str(stack.prop(lid, "UsagePlanName") or lid), "api_stages": []}
    for item in stack.prop(lid, "ApiStages") or []:
        if isinstance(item, dict):
            plan["api_stages"].append(_api_stage(item))
    throttle = throttle_config(stack.prop(lid, "Throttle"))
    quota = _quota(stack.prop(lid, "Quota"))
    if throttle:
        plan["throttle"] = throttle
    if quota:
        plan["quota"] = quota
    return plan


def _api_stage(item: dict) -> dict:
    """An ApiStages entry; its ``Throttle`` map is keyed ``/path/METHOD`` in CloudFormation and here."""
    entry: dict[str, Any] = {"api_id": item.get("ApiId"), "stage": item.get("Stage")}
    methods = {str(key): throttle_config(value) for key, value in (item.get("Throttle") or {}).items()}
    if methods:
        entry["throttle"] = methods
    return entry


def _quota(raw: Any) -> dict:
    if not isinstance(raw, dict):
        return {}
    names = {"Limit": "limit", "Period": "period", "Offset": "offset"}
    return {names[k]: int(v) if k != "Period" and str(v).isdigit() else v
            for k, v in raw.items() if k in names and v is not None}


def _key(stack: Stack, lid: str, plans: dict[str, dict]) -> dict:
    """A key; without ``Value`` AWS generates one, and so does the gateway (printing it at start-up)."""
    key: dict[str, Any] = {"name": str(stack.prop(lid, "Name") or lid)}
    if stack.prop(lid, "Value"):
        key["value"] = str(stack.prop(lid, "Value"))
    key["usage_plans"] = [plans[plan]["name"] for plan in _plans_of(stack, lid) if plan in plans]
    if stack.prop(lid, "Enabled") in (False, "false"):
        key["enabled"] = False
    return key


def _plans_of(stack: Stack, key_lid: str) -> list[str]:
    return [str(stack.prop(lid, "UsagePlanId")) for lid, _ in stack.active(PLAN_KEY)
            if stack.prop(lid, "KeyId") == key_lid and str(stack.prop(lid, "KeyType", "API_KEY")) == "API_KEY"]

