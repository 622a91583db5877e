"""Authorizer result caching and its pitfall (spec gateway-behavior §5.4), with an injected clock."""

import asyncio

import pytest

from lychgate.authorizers.cache import AuthorizerCache
from lychgate.authorizers.lambda_ import function_invoker, parse_authorizer, run_authorizer
from lychgate.errors import AccessDenied, AuthorizerConfigurationError, Unauthorized
from lychgate.iam import Decision

URI = "arn:aws:lambda:us-east-1:123456789012:function:auth"

# Returns a policy naming only the methodArn it was called for: AWS's caching pitfall.
NARROW = '''
CALLS = []

def handler(event, context):
    CALLS.append(event)
    token = event["authorizationToken"]
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "boom":
        raise RuntimeError("boom")
    effect = "Deny" if token == "deny" else "Allow"
    return {"principalId": "user-" + token, "context": {"who": token},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
'''


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_config(ttl):
    raw = {"type": "token", "authorizerUri": URI, "identitySource": "method.request.header.Authorization",
           "authorizerResultTtlInSeconds": ttl}
    return parse_authorizer("tokenAuth", raw, protocol="REST")


def authorize(config, function, facts_and_arn, cache, now=None):
    facts, arn = facts_and_arn
    invoke = function_invoker(function, request_id="rid", timeout_s=5)
    return asyncio.run(run_authorizer(config, facts=facts, method_arn=arn, invoke=invoke, cache=cache, now=now))


def call(facts, token, method="GET", path="/pets", **kw):
    return facts(method, path, headers=[("Authorization", token)], **kw)


def test_invoked_once_within_ttl_and_again_after_expiry(make_function, facts, calls):
    function, clock = make_function(NARROW), Clock()
    cache, config = AuthorizerCache(clock=clock), token_config(300)
    first = authorize(config, function, call(facts, "alice"), cache)
    assert first.allowed and first.invoked and not first.cached and first.ttl_left_s == 300
    for step in range(1, 6):
        clock.now += 50
        later = authorize(config, function, call(facts, "alice"), cache)
        assert later.allowed and later.cached and not later.invoked and later.principal_id == "user-alice"
        assert later.cache_age_s == 50 * step and later.ttl_left_s == 300 - 50 * step
        assert dict(later.context) == {"who": "alice"}
        assert f"(cached {50 * step} s ago, {300 - 50 * step} s left)" in later.reason
    assert len(calls(function)) == 1 and (cache.stats.hits, cache.stats.misses) == (5, 1)
    clock.now = 1000.0 + 300  # expiry
    again = authorize(config, function, call(facts, "alice"), cache)
    assert again.invoked and not again.cached and len(calls(function)) == 2
    assert cache.stats.expirations == 1


def test_explicit_now_overrides_the_cache_clock(make_function, facts, calls):
    function, cache, config = make_function(NARROW), AuthorizerCache(clock=Clock(0.0)), token_config(10)
    authorize(config, function, call(facts, "alice"), cache, now=100.0)
    assert authorize(config, function, call(facts, "alice"), cache, now=109.0).cached
    assert authorize(config, function, call(facts, "alice"), cache, now=110.0).invoked
    assert len(calls(function)) == 2


def test_ttl_zero_never_caches(make_function, facts, calls):
    function, cache = make_function(NARROW), AuthorizerCache(clock=Clock())
    for _ in range(3):
        outcome = authorize(token_config(0), function, call(facts, "alice"), cache)
        assert outcome.invoked and not outcome.cached and outcome.ttl_left_s is None
    assert len(calls(function)) == 3 and len(cache) == 0
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stores) == (0, 0, 0)


def test_narrow_policy_pitfall(make_function, facts, calls):
    """GET /pets is allowed; POST /pets with the same token within the TTL reuses the cached policy,
    which names only GET /pets: 403 'User is not authorized to access this resource'."""
    function, clock = make_function(NARROW), Clock()
    cache, config = AuthorizerCache(clock=clock), token_config(300)
    get = call(facts, "alice", "GET", "/pets")
    assert authorize(config, function, get, cache).allowed
    clock.now += 42
    post = call(facts, "alice", "POST", "/pets")
    denied = authorize(config, function, post, cache)
    assert denied.cached and not denied.invoked and len(calls(function)) == 1
    assert isinstance(denied.error, AccessDenied) and denied.evaluation.decision is Decision.IMPLICIT_DENY
    assert denied.error.message == "User is not authorized to access this resource"
    assert denied.reason == (
        "authorizer 'tokenAuth' returned a policy whose only Allow is "
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/prod/GET/pets (cached 42 s ago, 258 s left); "
        "the request is arn:aws:execute-api:us-east-1:123456789012:a1b2c3/prod/POST/pets")
    clock.now += 300  # after the TTL the authorizer is asked again, for POST this time
    assert authorize(config, function, post, cache).allowed and len(calls(function)) == 2


def test_same_method_other_path_value_is_denied_from_cache(make_function, facts):
    function, cache, config = make_function(NARROW), AuthorizerCache(clock=Clock()), token_config(300)
    assert authorize(config, function, call(facts, "bob", "GET", "/pets/1"), cache).allowed
    assert isinstance(authorize(config, function, call(facts, "bob", "GET", "/pets/2"), cache).error, AccessDenied)


def test_missing_identity_source_never_consults_the_cache(make_function, facts, calls):
    function, cache, config = make_function(NARROW), AuthorizerCache(clock=Clock()), token_config(300)
    authorize(config, function, call(facts, "alice"), cache)
    stats_before = (cache.stats.hits, cache.stats.misses, cache.stats.stores)
    outcome = authorize(config, function, facts(headers=[("Host", "h")]), cache)
    assert isinstance(outcome.error, Unauthorized) and not outcome.cached and not outcome.invoked
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stores) == stats_before
    assert len(calls(function)) == 1


def test_deny_results_are_cached(make_function, facts, calls):
    function, cache, config = make_function(NARROW), AuthorizerCache(clock=Clock()), token_config(300)
    for _ in range(3):
        outcome = authorize(config, function, call(facts, "deny"), cache)
        assert outcome.error.message.endswith("with an explicit deny")
    assert len(calls(function)) == 1


@pytest.mark.parametrize("token, error", [("unauthorized", Unauthorized), ("boom", AuthorizerConfigurationError)])
def test_unauthorized_and_errors_are_not_cached(make_function, facts, calls, token, error):
    function, cache, config = make_function(NARROW), AuthorizerCache(clock=Clock()), token_config(300)
    for _ in range(2):
        assert isinstance(authorize(config, function, call(facts, token), cache).error, error)
    assert len(calls(function)) == 2 and len(cache) == 0


def test_tokens_stages_and_apis_have_their_own_entries(make_function, facts, calls):
    function, cache, config = make_function(NARROW), AuthorizerCache(clock=Clock()), token_config(300)
    for request in (call(facts, "alice"), call(facts, "bob"), call(facts, "alice", stage="dev"),
                    call(facts, "alice", api_id="other1"), call(facts, "alice")):
        authorize(config, function, request, cache)
    assert len(calls(function)) == 4 and cache.stats.hits == 1


def test_request_authorizer_keys_on_every_identity_source(make_function, facts, calls):
    handler = NARROW.replace('event["authorizationToken"]', 'event["headers"]["X-Key"]')
    function, cache = make_function(handler), AuthorizerCache(clock=Clock())
    raw = {"type": "request", "authorizerUri": URI, "authorizerResultTtlInSeconds": 60,
           "identitySource": "method.request.header.X-Key,method.request.querystring.tenant"}
    config = parse_authorizer("reqAuth", raw, protocol="REST")
    for query in ("tenant=a", "tenant=a", "tenant=b", "tenant=a&x=1"):
        assert authorize(config, function, facts(headers=[("X-Key", "k")], query=query), cache).allowed
    assert len(calls(function)) == 2  # tenant=a, tenant=b; other query keys are not identity sources


def test_simple_responses_are_cached_for_every_route(make_function, facts, calls):
    function = make_function("CALLS = []\ndef handler(event, context):\n"
                             "    CALLS.append(event)\n    return {'isAuthorized': event['routeKey'] == 'GET /a'}\n")
    raw = {"type": "request", "authorizerUri": URI, "identitySource": "$request.header.Authorization",
           "authorizerPayloadFormatVersion": "2.0", "enableSimpleResponses": True, "authorizerResultTtlInSeconds": 60}
    config, cache = parse_authorizer("simple", raw, protocol="HTTP"), AuthorizerCache(clock=Clock())
    first = facts("GET", "/a", headers=[("Authorization", "t")], stage="$default", rest=False)
    second = facts("POST", "/b", headers=[("Authorization", "t")], stage="$default", rest=False)
    assert authorize(config, function, first, cache).allowed
    assert authorize(config, function, second, cache).allowed and len(calls(function)) == 1


# ---------------------------------------------------------------- the cache itself

def test_lru_eviction_and_counters():
    clock = Clock()
    cache = AuthorizerCache(max_entries=2, clock=clock)
    cache.put("a", 1, 60)
    cache.put("b", 2, 60)
    assert cache.get("a").value == 1  # a is now the most recently used
    cache.put("c", 3, 60)
    assert "b" not in cache and "a" in cache and "c" in cache and cache.stats.evictions == 1
    assert cache.get("b") is None and cache.stats.misses == 1 and cache.stats.hits == 1


def test_expiry_ttl_zero_and_invalidate():
    clock = Clock()
    cache = AuthorizerCache(clock=clock)
    assert cache.put("x", 1, 0) is None and len(cache) == 0
    entry = cache.put("x", 1, 10)
    assert entry.ttl_left(clock.now + 4) == 6 and entry.age(clock.now + 4) == 4
    clock.now += 10
    assert cache.get("x") is None and cache.stats.expirations == 1
    cache.put("y", 1, 10)
    assert cache.invalidate("y") and not cache.invalidate("y")
    cache.put("z", 1, 10)
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError):
        AuthorizerCache(max_entries=0)


CONDITIONAL = '''
CALLS = []

def handler(event, context):
    CALLS.append(event)
    return {"principalId": "p", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*",
         "Condition": {"StringEquals": {"aws:UserAgent": "good-agent"}}}]}}
'''


def test_cached_policy_with_conditions_is_evaluated_against_each_request(make_function, facts, calls):
    # A cached result is reused, but a policy that reads the request context is never judged
    # from a remembered evaluation: each request's condition keys decide.
    function, cache, config = make_function(CONDITIONAL), AuthorizerCache(clock=Clock()), token_config(300)
    agent = lambda ua: facts("GET", "/pets", headers=[("Authorization", "same-token"), ("User-Agent", ua)])  # noqa: E731
    assert authorize(config, function, agent("good-agent"), cache).allowed
    refused = authorize(config, function, agent("other-agent"), cache)
    assert refused.cached and not refused.allowed and refused.evaluation.decision is Decision.IMPLICIT_DENY
    assert authorize(config, function, agent("good-agent"), cache).allowed
    assert len(calls(function)) == 1


def test_cached_policy_without_conditions_remembers_its_evaluation_per_arn(make_function, facts, calls):
    function, cache, config = make_function(NARROW), AuthorizerCache(clock=Clock()), token_config(300)
    first = authorize(config, function, call(facts, "alice"), cache)
    again = authorize(config, function, call(facts, "alice"), cache)
    assert again.cached and again.allowed and again.evaluation is first.evaluation
    other = authorize(config, function, call(facts, "alice", path="/orders"), cache)
    assert other.cached and not other.allowed  # the narrow policy's pitfall, still reproduced
    assert "/prod/GET/pets" in other.reason and "/prod/GET/orders" in other.reason
