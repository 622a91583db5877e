"""Usage plans and API keys of a template -> ``usage_plans`` and ``api_keys`` in ``lychgate.yaml``.

``AWS::ApiGateway::UsagePlan`` (API stages, throttle, quota), ``ApiKey`` and ``UsagePlanKey``
become ``usage_plans: [{name, api_stages: [{api_id, stage}], throttle: {rate_limit, burst_limit},
quota: {limit, period, offset}}]`` and ``api_keys: [{name, value, usage_plans: [names]}]``. A key
without ``Value`` gets a stable generated one (AWS would generate a random one), reported so its
holder can use it; per-method throttles of a plan's API stages are reported, not carried.
"""

from __future__ import annotations

import hashlib
import string
from typing import Any

from lychgate.config.cloudformation.stack import Stack
from lychgate.config.source import pointer

P = "AWS::ApiGateway::"
PLAN, KEY, PLAN_KEY = P + "UsagePlan", P + "ApiKey", P + "UsagePlanKey"
CONSUMED = {PLAN, KEY, PLAN_KEY}
KEY_ALPHABET = string.ascii_letters + string.digits


def usage_plans(stack: Stack) -> tuple[list[dict], list[dict]]:
    """(usage_plans, api_keys) in lychgate.yaml's shape."""
    plans = {lid: _plan(stack, lid) for lid, _ in stack.active(PLAN)}
    keys = [_key(stack, lid, plans) for lid, _ in stack.active(KEY)]
    return list(plans.values()), keys


def _plan(stack: Stack, lid: str) -> dict:
    plan: dict[str, Any] = {"name": str(stack.prop(lid, "UsagePlanName") or lid), "api_stages": []}
    for i, item in enumerate(stack.prop(lid, "ApiStages") or []):
        if not isinstance(item, dict):
            continue
        plan["api_stages"].append({"api_id": item.get("ApiId"), "stage": item.get("Stage")})
        if item.get("Throttle"):
            stack.problems.warning(pointer("Resources", lid, "Properties", "ApiStages", i, "Throttle"),
                                   "per-method throttles of a usage plan are not carried over: the plan's own "
                                   "throttle applies to every method")
    throttle = _fields(stack.prop(lid, "Throttle"), {"RateLimit": "rate_limit", "BurstLimit": "burst_limit"})
    quota = _fields(stack.prop(lid, "Quota"), {"Limit": "limit", "Period": "period", "Offset": "offset"})
    if throttle:
        plan["throttle"] = throttle
    if quota:
        plan["quota"] = quota
    return plan


def _fields(raw: Any, names: dict[str, str]) -> dict:
    if not isinstance(raw, dict):
        return {}
    return {names[k]: _number(v) for k, v in raw.items() if k in names and v is not None}


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            return value
    return value


def _key(stack: Stack, lid: str, plans: dict[str, dict]) -> dict:
    key: dict[str, Any] = {"name": str(stack.prop(lid, "Name") or lid), "value": stack.prop(lid, "Value")}
    if not key["value"]:
        key["value"] = generated_key(f"{stack.name}/{lid}")
        stack.problems.warning(pointer("Resources", lid), f"API key {key['name']} has no Value (AWS would generate "
                                                          f"one): lychgate uses {key['value']}")
    key["usage_plans"] = [plans[plan]["name"] for plan in _plans_of(stack, lid) if plan in plans]
    if stack.prop(lid, "Enabled") in (False, "false"):
        key["enabled"] = False
    return key


def _plans_of(stack: Stack, key_lid: str) -> list[str]:
    return [str(stack.prop(lid, "UsagePlanId")) for lid, _ in stack.active(PLAN_KEY)
            if stack.prop(lid, "KeyId") == key_lid and str(stack.prop(lid, "KeyType", "API_KEY")) == "API_KEY"]


def generated_key(seed: str) -> str:
    """A 40-character key, stable for a stack and logical id."""
    digest = hashlib.sha256(seed.encode()).digest() + hashlib.sha256(b"lychgate:" + seed.encode()).digest()
    return "".join(KEY_ALPHABET[b % len(KEY_ALPHABET)] for b in digest[:40])
