"""TokenAuthorizer: the verified-token cache, multi-pool Cognito, scopes in the cache key."""

import asyncio
import json

from lychgate.tokens import (
    CognitoConfig,
    JwksRegistry,
    JwtConfig,
    TokenAuthorizer,
    VerifiedTokenCache,
)
from lychgate.tokens.idp import LocalIdentityProvider

POOL_A = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_A"
POOL_B = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_B"
TEST_POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_TestPool"  # the session idp
NOW = 1_790_000_000.0


def local_keys(idp: LocalIdentityProvider, tmp_path) -> JwksRegistry:
    path = tmp_path / f"jwks-{id(idp)}.json"
    path.write_text(json.dumps(idp.jwks()))
    return JwksRegistry({idp.issuer: path})


def authorizer_for(idp, tmp_path, **config) -> TokenAuthorizer:
    return TokenAuthorizer(CognitoConfig((TEST_POOL,), **config), local_keys(idp, tmp_path))


def test_a_repeated_token_gets_the_same_answer_from_the_cache(idp, tmp_path):
    authorizer = authorizer_for(idp, tmp_path)
    token = idp.mint("s", now=NOW)

    async def scenario():
        first = await authorizer.authorize(token, now=NOW)
        second = await authorizer.authorize(token, now=NOW + 1)
        return first, second

    first, second = asyncio.run(scenario())
    assert first.allowed and second is first
    assert authorizer.cached(token, now=NOW + 2) is first
    assert authorizer.cached("Bearer " + token, now=NOW) is None  # the key is the raw value
    assert authorizer.sources[idp.issuer].fetches == 1


def test_the_cache_expires_at_exp(idp, tmp_path):
    authorizer = authorizer_for(idp, tmp_path)
    token = idp.mint("s", ttl=100, now=NOW)

    async def scenario():
        allowed = await authorizer.authorize(token, now=NOW)
        assert await authorizer.authorize(token, now=NOW + 99.9) is allowed
        expired = await authorizer.authorize(token, now=NOW + 100)
        assert expired.body == b'{"message":"The incoming token has expired"}'
        assert authorizer.cached(token, now=NOW) is None and len(authorizer.cache) == 0

    asyncio.run(scenario())


def test_denials_are_not_cached_and_scopes_are_part_of_the_key(idp, tmp_path):
    authorizer = authorizer_for(idp, tmp_path)
    token = idp.mint("s", token_use="access", scopes=["read"], now=NOW)

    async def scenario():
        assert (await authorizer.authorize(token, ["read"], now=NOW)).allowed
        assert (await authorizer.authorize(token, ["write"], now=NOW)).code == "scope"
        assert (await authorizer.authorize(token, now=NOW)).code == "token_use"
        assert (await authorizer.authorize("garbage", now=NOW)).status == 401
        assert len(authorizer.cache) == 1

    asyncio.run(scenario())


def test_the_cache_is_bounded():
    cache = VerifiedTokenCache(max_size=3)
    results = [type("R", (), {"allowed": True, "expires_at": NOW + i})() for i in range(5)]
    for i, result in enumerate(results):
        cache.put(i, result)
    assert len(cache) == 3 and cache.get(0, NOW) is None and cache.get(4, NOW) is results[4]
    assert cache.get(4, NOW + 4) is None and len(cache) == 2


def test_each_pool_verifies_with_its_own_keys(tmp_path):
    one = LocalIdentityProvider(tmp_path / "a", issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_A")
    two = LocalIdentityProvider(tmp_path / "b", issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_B")
    registry = JwksRegistry({**local_keys(one, tmp_path).locations, **local_keys(two, tmp_path).locations})
    authorizer = TokenAuthorizer(CognitoConfig((POOL_A, POOL_B)), registry)

    async def scenario():
        assert (await authorizer.authorize(one.mint("a"))).allowed
        assert (await authorizer.authorize(two.mint("b"))).allowed
        spoof = one.mint("x", extra_claims={"iss": two.issuer})  # pool A's key, pool B's name
        assert (await authorizer.authorize(spoof)).code == "kid"

    asyncio.run(scenario())


def test_jwt_authorizer_through_the_front_door(idp, tmp_path):
    authorizer = TokenAuthorizer(JwtConfig(idp.issuer, (idp.client_id,)), local_keys(idp, tmp_path))
    token = idp.mint("s", token_use="access", scopes=["read"])

    async def scenario():
        allowed = await authorizer.authorize("Bearer " + token, ["read"])
        assert allowed.allowed and allowed.authorizer_context()["jwt"]["scopes"] == ["read"]
        forbidden = await authorizer.authorize("Bearer " + token, ["write"])
        assert (forbidden.status, forbidden.body) == (403, b'{"message":"Forbidden"}')

    asyncio.run(scenario())


