"""KeyRegistry.admit (spec gateway-behavior §7): accepted values are remembered, never anything else,
and never past a change of keys or plans."""

from __future__ import annotations

import asyncio

import pytest

from lychgate.config.model import ApiKeyDeclaration, ApiStage, UsagePlan
from lychgate.errors import InvalidApiKey
from lychgate.store.sqlite import SqliteStore
from lychgate.usage import keys as usage_keys
from lychgate.usage.keys import KeyRegistry, config_key

PLAN = UsagePlan("plan", (ApiStage("api", "prod"),))
VALUE = "a-partner-key-value-for-the-memo-tests-00"


@pytest.fixture
def hashed(monkeypatch):
    """The values key_hash is called with, in order."""
    calls, real = [], usage_keys.key_hash

    def recording(value: str) -> str:
        calls.append(value)
        return real(value)

    monkeypatch.setattr(usage_keys, "key_hash", recording)
    return calls


def registry(*keys) -> KeyRegistry:
    found = KeyRegistry()
    found.replace([PLAN], keys or [config_key("partner", VALUE, True, ("plan",))])
    return found


def cause(registry: KeyRegistry, value: str, stage: str = "prod") -> str:
    with pytest.raises(InvalidApiKey) as refused:
        registry.admit(value, "api", stage, "x-api-key header")
    return refused.value.cause


def test_an_accepted_value_is_not_hashed_again(hashed):
    keys = registry()
    hashed.clear()  # config_key hashed it once to declare it
    first = keys.admit(VALUE, "api", "prod", "x-api-key header")
    assert keys.admit(VALUE, "api", "prod", "x-api-key header") is first
    assert (first.key.name, first.plan) == ("partner", PLAN)
    assert first.describe() == f"API key partner ({first.key.id}) in usage plan plan"
    assert hashed == [VALUE]


def test_refused_values_are_not_remembered(hashed):
    keys = registry()
    hashed.clear()
    assert [cause(keys, "not-a-key") for _ in range(2)] == ["api_key_unknown"] * 2
    assert [cause(keys, VALUE, stage="beta") for _ in range(2)] == ["api_key_not_in_plan"] * 2
    assert hashed == ["not-a-key"] * 2 + [VALUE] * 2


@pytest.mark.parametrize("change, expected", [
    (lambda keys: keys.replace([PLAN], [config_key("partner", VALUE, False, ("plan",))]), "api_key_disabled"),
    (lambda keys: keys.replace([PLAN], [config_key("partner", "another-value", True, ("plan",))]), "api_key_unknown"),
    (lambda keys: keys.replace([UsagePlan("plan", (ApiStage("api", "beta"),))], list(keys.keys.values())),
     "api_key_not_in_plan"),
    (lambda keys: keys.keys.clear(), "api_key_unknown"),  # changed in place, not by replace()
])
def test_a_remembered_value_is_decided_again_after_keys_or_plans_change(change, expected):
    keys = registry()
    keys.admit(VALUE, "api", "prod", "x-api-key header")
    change(keys)
    assert cause(keys, VALUE) == expected


def test_the_remembered_values_are_bounded(monkeypatch):
    monkeypatch.setattr(usage_keys, "ACCEPTED_SIZE", 3)
    values = [f"bounded-test-key-value-number-{n:02d}-000000" for n in range(7)]
    keys = registry(*(config_key(f"k{n}", v, True, ("plan",)) for n, v in enumerate(values)))
    for value in values:
        keys.admit(value, "api", "prod", "x-api-key header")
        assert 1 <= len(keys.accepted) <= 3
    assert all(keys.admit(v, "api", "prod", "x-api-key header").key.name == f"k{n}" for n, v in enumerate(values))


@pytest.mark.parametrize("value", [VALUE, None])
def test_a_declared_keys_creation_time_survives_a_restart(tmp_path, monkeypatch, value):
    """A quota's offset applies in the period a key was created in (spec §7): reloading the
    declarations later, from the same store, must not make the key new again."""
    declared = [ApiKeyDeclaration("partner", value, True, ("plan",))]
    url = f"sqlite:///{tmp_path / 'state.db'}"

    async def load_at(now: float):
        monkeypatch.setattr(usage_keys.time, "time", lambda: now)
        store = SqliteStore.from_url(url)
        try:
            _, keys, generated = await usage_keys.load(store, [PLAN], declared)
        finally:
            await store.close()
        return keys[0], generated

    first, generated = asyncio.run(load_at(1_000_000.0))
    again, generated_again = asyncio.run(load_at(1_000_000.0 + 40 * 86400))
    assert first.created == again.created == 1_000_000.0
    assert first.hash == again.hash
    assert len(generated) == (value is None) and generated_again == []
