"""JWKS fetching, caching, refresh and failure behaviour against a real JWKS server on 127.0.0.1
(the local identity provider), spec §6."""

import asyncio
import base64
import json
import socket

import pytest

from lychgate.tokens import (
    CognitoConfig,
    JwksRegistry,
    JwksSource,
    JwtConfig,
    TokenAuthorizer,
    fetch_json,
)
from lychgate.tokens.idp import LocalIdentityProvider

POOL_ARN = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Local"


def with_kid(token: str, kid: str) -> str:
    """The same token with another kid in its header (signature left as it was)."""
    head, payload, sig = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))) | {"kid": kid}
    return base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode() + f".{payload}.{sig}"


def cognito_authorizer(idp: LocalIdentityProvider, interval: float) -> TokenAuthorizer:
    config = CognitoConfig((POOL_ARN,), issuer_overrides={POOL_ARN: idp.issuer})
    return TokenAuthorizer(config, JwksRegistry(min_refresh_interval=interval))


def test_source_fetches_jwks_over_http_once(tmp_path):
    async def scenario():
        async with LocalIdentityProvider(tmp_path) as idp:
            source = JwksSource(idp.jwks_url)
            assert len(source.current) == 0
            keys = await source.keys_for(idp.signing_kid())
            assert set(keys.kids) == {idp.signing_kid("RS256"), idp.signing_kid("ES256")}
            assert keys.source == idp.jwks_url
            await source.keys_for(idp.signing_kid("ES256"))
            assert (source.fetches, idp.requests_served, source.last_error) == (1, 1, None)

    asyncio.run(scenario())


def test_oidc_issuer_keys_come_from_the_discovery_documents_jwks_uri(tmp_path):
    async def scenario():
        async with LocalIdentityProvider(tmp_path) as idp:
            authorizer = TokenAuthorizer(JwtConfig(idp.issuer, (idp.client_id,)))
            result = await authorizer.authorize("Bearer " + idp.mint("s"))
            assert result.allowed, result.reason
            assert idp.requests_served == 2  # discovery, then JWKS
            source = authorizer.sources[idp.issuer]
            assert source.discovery and source.current.source == idp.jwks_url

    asyncio.run(scenario())


def test_keys_from_a_local_file(tmp_path):
    idp = LocalIdentityProvider(tmp_path / "idp", port=1)  # never started
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(idp.jwks()))

    async def scenario():
        for location in (path, f"file://{path}"):
            source = JwksSource(location)
            assert idp.signing_kid() in (await source.keys_for(idp.signing_kid())).kids
        missing = JwksSource(tmp_path / "absent.json")
        assert len(await missing.keys_for("x")) == 0 and "absent.json" in missing.last_error

    asyncio.run(scenario())


def test_registry_locations_override_where_keys_live(tmp_path):
    idp = LocalIdentityProvider(tmp_path / "idp", issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Local")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(idp.jwks()))
    registry = JwksRegistry({idp.issuer: path})
    authorizer = TokenAuthorizer(CognitoConfig((POOL_ARN,)), registry)
    result = asyncio.run(authorizer.authorize(idp.mint("s")))
    assert result.allowed, result.reason
    assert registry.for_cognito(idp.issuer) is authorizer.sources[idp.issuer]


def test_rotated_keys_new_kid_after_refresh_old_kid_removed(tmp_path):
    async def scenario():
        async with LocalIdentityProvider(tmp_path) as idp:
            authorizer = cognito_authorizer(idp, interval=0)
            old_token = idp.mint("s")
            assert (await authorizer.authorize(old_token)).allowed
            old_kid, new_kid = idp.signing_kid(), idp.rotate()
            new_token = idp.mint("s")
            result = await authorizer.authorize(new_token)
            assert result.allowed and result.kid == new_kid
            source = authorizer.sources[idp.issuer]
            assert new_kid in source.current and old_kid not in source.current
            again = await authorizer.authorize(old_token)  # was cached; its kid is gone now
            assert (again.status, again.code) == (401, "kid")
            assert f"kid '{old_kid}' not in the JWKS of {idp.jwks_url}" in again.reason

    asyncio.run(scenario())


def test_endpoint_down_but_kid_cached_still_verifies(tmp_path):
    async def scenario():
        idp = LocalIdentityProvider(tmp_path)
        await idp.start()
        authorizer = cognito_authorizer(idp, interval=0)
        assert (await authorizer.authorize(idp.mint("a"))).allowed
        await idp.stop()
        for alg in ("RS256", "ES256"):
            result = await authorizer.authorize(idp.mint("b", alg=alg))
            assert result.allowed, result.reason
        assert authorizer.sources[idp.issuer].fetches == 1

    asyncio.run(scenario())


def test_endpoint_down_and_kid_unknown_fails_closed(tmp_path):
    async def scenario():
        idp = LocalIdentityProvider(tmp_path)
        await idp.start()
        authorizer = cognito_authorizer(idp, interval=0)
        assert (await authorizer.authorize(idp.mint("a"))).allowed
        await idp.stop()
        idp.rotate()
        for _ in range(3):
            result = await authorizer.authorize(idp.mint("b"))
            assert (result.outcome, result.status, result.body) == ("deny", 401, b'{"message":"Unauthorized"}')
            assert result.code == "kid" and "the last JWKS fetch failed: cannot reach" in result.reason
        source = authorizer.sources[idp.issuer]
        assert source.fetches == 4 and idp.signing_kid() not in source.current

    asyncio.run(scenario())


def test_endpoint_down_from_the_start_fails_closed(tmp_path):
    idp = LocalIdentityProvider(tmp_path, port=_free_port())
    authorizer = cognito_authorizer(idp, interval=60)
    result = asyncio.run(authorizer.authorize(idp.mint("s")))
    assert (result.status, result.code) == (401, "kid")


def test_unknown_kids_cause_at_most_one_fetch_per_interval(tmp_path):
    async def scenario():
        async with LocalIdentityProvider(tmp_path) as idp:
            authorizer = cognito_authorizer(idp, interval=1.0)
            token = idp.mint("s")
            assert (await authorizer.authorize(token)).allowed
            flood = [with_kid(token, f"made-up-{i}") for i in range(50)]
            assert (await authorizer.authorize(flood[0])).code == "kid"
            assert idp.requests_served == 1  # the load was less than an interval ago
            await asyncio.sleep(1.05)
            results = await asyncio.gather(*(authorizer.authorize(t) for t in flood))
            assert {r.code for r in results} == {"kid"}
            for forged in flood:
                assert (await authorizer.authorize(forged)).code == "kid"
            assert idp.requests_served == 2  # the first load + one refresh for 100 unknown kids
            await asyncio.sleep(1.05)
            await asyncio.gather(*(authorizer.authorize(t) for t in flood[:10]))
            assert idp.requests_served == 3
            assert authorizer.sources[idp.issuer].fetches == 3
            assert (await authorizer.authorize(token)).allowed

    asyncio.run(scenario())


def test_untrusted_issuer_costs_no_fetch(tmp_path):
    async def scenario():
        async with LocalIdentityProvider(tmp_path) as idp:
            authorizer = cognito_authorizer(idp, interval=0)
            result = await authorizer.authorize(idp.mint("s", extra_claims={"iss": "https://evil.example"}))
            assert (result.status, result.code, idp.requests_served) == (401, "issuer", 0)

    asyncio.run(scenario())


def test_http_errors_and_timeouts_keep_the_cached_keys(tmp_path):
    async def scenario():
        async with LocalIdentityProvider(tmp_path) as idp:
            wrong = JwksSource(idp.base_url + "/nope", min_refresh_interval=0)
            assert len(await wrong.keys_for("x")) == 0
            assert wrong.last_error == f"HTTP 404 from {idp.base_url}/nope"
        with socket.socket() as silent:  # accepts connections, never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            slow = JwksSource(f"http://127.0.0.1:{silent.getsockname()[1]}/jwks", timeout=0.3)
            assert len(await slow.keys_for("x")) == 0 and "timed out" in slow.last_error

    asyncio.run(scenario())


def test_fetch_json_refuses_other_schemes_and_non_json(tmp_path):
    with pytest.raises(ValueError):
        fetch_json(f"file://{tmp_path}")

    async def scenario():
        async with LocalIdentityProvider(tmp_path) as idp:
            document = await asyncio.to_thread(fetch_json, idp.issuer + "/.well-known/openid-configuration")
            assert document["jwks_uri"] == idp.jwks_url
            bad = JwksSource(idp.issuer, discovery=True)
            bad._jwks_uri = idp.base_url + "/.well-known/openid-configuration"  # JSON, not a JWKS
            assert len(await bad.keys_for("x")) == 0 and "not a JWKS" in bad.last_error

    asyncio.run(scenario())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_source_can_move_to_another_event_loop(tmp_path):
    idp = LocalIdentityProvider(tmp_path / "idp", port=1)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(idp.jwks()))
    source = JwksSource(path, min_refresh_interval=0)

    async def contend():
        return await asyncio.gather(source.refresh(), source.refresh(), source.refresh())

    for _ in range(2):  # the lock was bound to the first loop by contention
        assert all(asyncio.run(contend()))
    assert source.fetches == 6 and idp.signing_kid() in source.current


def test_hostile_headers_through_the_front_door(tmp_path, craft):
    async def scenario():
        async with LocalIdentityProvider(tmp_path) as idp:
            authorizer = cognito_authorizer(idp, interval=0)
            claims = {"iss": idp.issuer, "exp": 4_000_000_000, "token_use": "id"}
            for kid in (["list"], {"a": 1}, None, 7):
                result = await authorizer.authorize(craft({"alg": "RS256", "kid": kid}, claims, b"sig"))
                assert (result.status, result.code) == (401, "kid")
            assert idp.requests_served == 0
            for header in ({"alg": ["RS256"]}, {"alg": None}, {}):
                assert (await authorizer.authorize(craft(header, claims, b"s"))).code == "algorithm"
            assert (await authorizer.authorize(craft({}, {"iss": ["x"]}))).code == "issuer"

    asyncio.run(scenario())
