"""API keys and the usage plans they belong to (spec gateway-behavior §7).

Keys are identified by their value's SHA-256: the value itself is never stored or logged (it is
shown once, when created). A key is accepted for a method that requires one when it exists, is
enabled, and belongs to a usage plan covering the API stage; otherwise the answer is 403
``{"message":"Forbidden"}`` (INVALID_API_KEY), with the precise reason in the decision trace.
The values of recently accepted keys are kept in memory only, in a bounded table, so that a
request with one of them is not hashed again (see ``KeyRegistry.admit``).
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping

from lychgate.config.model import ApiStage, Quota, Throttle, UsagePlan
from lychgate.errors import InvalidApiKey

if TYPE_CHECKING:
    from lychgate.usage.throttle import RequestLimits

KEY_RECORD = "api_key"
PLAN_RECORD = "usage_plan"
CONFIG_KEY_RECORD = "config_key"  # what is remembered of a key declared in lychgate.yaml: creation time, generated hash
ALPHABET = string.ascii_letters + string.digits


def key_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_key_value() -> str:
    """A 40-character key value, like API Gateway's generated keys."""
    return "".join(secrets.choice(ALPHABET) for _ in range(40))


def new_id(seed: str | None = None) -> str:
    """A 10-character lowercase id (stable for a seed, e.g. a key declared in lychgate.yaml)."""
    digest = hashlib.sha256(seed.encode()).digest() if seed else secrets.token_bytes(10)
    alphabet = string.ascii_lowercase + string.digits
    return "".join(alphabet[b % 36] for b in digest[:10])


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    hash: str
    enabled: bool
    usage_plans: tuple[str, ...]
    created: float
    source: str = "store"  # "config" (lychgate.yaml) or "store" (lychgate keys create / import)

    def record(self) -> dict:
        return {"id": self.id, "name": self.name, "hash": self.hash, "enabled": self.enabled,
                "usage_plans": list(self.usage_plans), "created": self.created, "source": self.source}

    @classmethod
    def from_record(cls, record: Mapping) -> ApiKey:
        return cls(record["id"], record["name"], record["hash"], bool(record.get("enabled", True)),
                   tuple(record.get("usage_plans") or ()), float(record.get("created") or 0), record.get("source", "store"))


def plan_record(plan: UsagePlan) -> dict:
    def throttle(t: Throttle | None):
        return {"rate_limit": t.rate_limit, "burst_limit": t.burst_limit} if t else None
    return {"name": plan.name, "throttle": throttle(plan.throttle),
            "quota": {"limit": plan.quota.limit, "period": plan.quota.period, "offset": plan.quota.offset} if plan.quota else None,
            "api_stages": [{"api_id": s.api_id, "stage": s.stage,
                            "throttle": {k: throttle(v) for k, v in s.method_throttle.items()}} for s in plan.api_stages]}


def plan_from_record(record: Mapping) -> UsagePlan:
    def throttle(t):
        return Throttle(float(t["rate_limit"]), int(t["burst_limit"])) if t else None
    quota = record.get("quota")
    return UsagePlan(
        name=record["name"], throttle=throttle(record.get("throttle")),
        quota=Quota(int(quota["limit"]), quota["period"], int(quota.get("offset", 0))) if quota else None,
        api_stages=tuple(ApiStage(s["api_id"], s["stage"], {k: throttle(v) for k, v in (s.get("throttle") or {}).items()})
                         for s in record.get("api_stages") or ()))


class Admission:
    """An accepted API key and the usage plan it is used under for the API stage; ``limits``
    keeps what the throttle stage made for it, by route and HTTP method (see
    ``pipeline.stages.usage.admitted_limits``), and goes with it when keys or plans change.
    ``step`` is the decision-trace step of each request it admits, made once. Slots, not a
    NamedTuple: the stages read its fields on every request, and a slot reads several times faster."""

    __slots__ = ("key", "plan", "limits", "step")

    def __init__(self, key: ApiKey, plan: UsagePlan, limits: dict[tuple[str, str], RequestLimits]):
        self.key, self.plan, self.limits = key, plan, limits
        self.step = ("require_api_key", "accepted", (Admission.describe, self))

    def describe(self) -> str:
        """For the decision trace."""
        return f"API key {self.key.name} ({self.key.id}) in usage plan {self.plan.name}"


ACCEPTED_SIZE = 10_000
"""Most (key value, API, stage) acceptances remembered at once; a full table starts afresh."""


@dataclass
class KeyRegistry:
    """Every key and plan the gateway knows, from lychgate.yaml and from the state store."""

    plans: dict[str, UsagePlan] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)  # by hash
    # (key value, API id, stage) -> the key's hash, the key and what admit() answered, for accepted keys
    # only: an unknown or refused value is hashed every time. Emptied by replace(), the only way
    # keys and plans change. Read by admit(), and by the require_api_key stage before it calls admit().
    accepted: dict[tuple[str, str, str], tuple[str, ApiKey, Admission]] = field(default_factory=dict, repr=False)

    def replace(self, plans: Iterable[UsagePlan], keys: Iterable[ApiKey]) -> None:
        self.plans = {plan.name: plan for plan in plans}
        self.keys = {key.hash: key for key in keys}
        self.accepted = {}

    def admit(self, value: str | None, api_id: str, stage: str, source: str) -> Admission:
        """The key and its plan for this API stage, or InvalidApiKey naming the reason (spec §7).

        A value accepted before is found in ``accepted`` without hashing it. The lookup is no
        timing oracle: a dict compares the presented value with a remembered one only when their
        64-bit SipHash values (keyed per process) match, which a wrong value practically never does.
        """
        if not value:
            raise InvalidApiKey(detail=f"the method requires an API key and the request has none ({source})",
                                cause="api_key_missing")
        accepted = self.accepted.get((value, api_id, stage))
        if accepted is not None and self.keys.get(accepted[0]) is accepted[1]:
            return accepted[2]
        hashed = key_hash(value)
        key = self.keys.get(hashed)
        if key is None:
            raise InvalidApiKey(detail=f"the API key ({source}) is not one of the declared or created keys",
                                cause="api_key_unknown")
        if not key.enabled:
            raise InvalidApiKey(detail=f"API key {key.name} ({key.id}) is disabled", cause="api_key_disabled")
        for name in key.usage_plans:
            plan = self.plans.get(name)
            if plan is not None and any(s.api_id == api_id and s.stage == stage for s in plan.api_stages):
                if len(self.accepted) >= ACCEPTED_SIZE:
                    self.accepted.clear()
                admission = Admission(key, plan, {})
                self.accepted[(value, api_id, stage)] = (hashed, key, admission)
                return admission
        raise InvalidApiKey(detail=f"API key {key.name} ({key.id}) is not associated with a usage plan for API stage "
                                   f"{api_id}/{stage} (its plans: {', '.join(key.usage_plans) or 'none'})",
                            cause="api_key_not_in_plan")


def config_key(name: str, value: str, enabled: bool, plans: tuple[str, ...], created: float | None = None) -> ApiKey:
    return ApiKey(new_id(f"config:{name}"), name, key_hash(value), enabled, plans,
                  time.time() if created is None else created, "config")


async def load(store, plans: Iterable[UsagePlan], declarations) -> tuple[list[UsagePlan], list[ApiKey], list[tuple[str, str]]]:
    """Plans and keys from lychgate.yaml and the store; keys declared without a value get one,
    generated once and remembered (by hash) in the store. Returns the generated (name, value)s.

    A declared key's creation time is remembered in the store too, the first time it is loaded:
    a quota's ``offset`` applies in the period the key was created in, not again after every
    restart or reload (or every refresh from a shared store)."""
    all_plans = list(plans) + [plan_from_record(r) for r in (await store.list_records(PLAN_RECORD)).values()]
    keys = [ApiKey.from_record(r) for r in (await store.list_records(KEY_RECORD)).values()]
    remembered_keys = await store.list_records(CONFIG_KEY_RECORD)
    generated = []
    for decl in declarations:
        remembered = dict(remembered_keys.get(decl.name) or {})
        changed = "created" not in remembered
        remembered.setdefault("created", time.time())
        if decl.value is None and "hash" not in remembered:
            value = new_key_value()
            remembered["hash"] = key_hash(value)
            generated.append((decl.name, value))
            changed = True
        if changed:
            await store.put_record(CONFIG_KEY_RECORD, decl.name, remembered)
        created = float(remembered["created"])
        if decl.value is not None:
            keys.append(config_key(decl.name, decl.value, decl.enabled, decl.usage_plans, created))
        else:
            keys.append(ApiKey(new_id(f"config:{decl.name}"), decl.name, remembered["hash"], decl.enabled,
                               decl.usage_plans, created, "config"))
    return all_plans, keys, generated
