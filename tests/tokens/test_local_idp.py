"""The local identity provider: persisted keys, the discovery + JWKS endpoint, Cognito-shaped tokens."""

import asyncio
import base64
import json
import stat

import pytest

from lychgate.tokens import CognitoConfig, JwksRegistry, KeySet, TokenAuthorizer, verify_cognito
from lychgate.tokens.idp import KEY_FILE, LocalIdentityProvider

POOL_ARN = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Dev"


def decode(token: str) -> tuple[dict, dict]:
    head, payload, _ = token.split(".")
    parts = [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in (head, payload)]
    return parts[0], parts[1]


def test_keys_persist_in_the_folder(tmp_path):
    first = LocalIdentityProvider(tmp_path, port=9)
    second = LocalIdentityProvider(tmp_path, port=9)
    assert first.jwks() == second.jwks()
    assert {first.signing_kid("RS256"), first.signing_kid("ES256")} == set(KeySet.from_jwks(second.jwks()).kids)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert all("d" not in key for key in second.jwks()["keys"])  # public parts only
    config = CognitoConfig((POOL_ARN,), issuer_overrides={POOL_ARN: second.issuer})
    assert verify_cognito(first.mint("s"), KeySet.from_jwks(second.jwks()), config).allowed


def test_a_second_creator_adopts_the_published_keys(tmp_path):
    winner = LocalIdentityProvider(tmp_path, port=9)
    late = LocalIdentityProvider(tmp_path, port=9)
    late._create()  # as if it had raced the winner: its own keys must not replace the file
    late._load()
    assert late.jwks() == winner.jwks()
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


def test_rotation_is_persisted(tmp_path):
    idp = LocalIdentityProvider(tmp_path, port=9)
    old = idp.signing_kid()
    kept = idp.rotate(keep_previous=True)
    assert {old, kept} <= set(KeySet.from_jwks(idp.jwks()).kids)
    new = idp.rotate()
    reloaded = LocalIdentityProvider(tmp_path, port=9)
    assert reloaded.signing_kid() == new
    assert set(KeySet.from_jwks(reloaded.jwks()).kids) == {old, new, idp.signing_kid("ES256")} - {kept}


def test_tokens_stay_valid_across_a_restart_on_the_same_port(tmp_path):
    async def scenario():
        first = LocalIdentityProvider(tmp_path)
        await first.start()
        token, port = first.mint("s", "alice"), first.port
        await first.stop()
        async with LocalIdentityProvider(tmp_path, port=port) as second:
            config = CognitoConfig((POOL_ARN,), issuer_overrides={POOL_ARN: second.issuer})
            result = await TokenAuthorizer(config, JwksRegistry()).authorize(token)
            assert result.allowed, result.reason

    asyncio.run(scenario())


def test_endpoint_serves_discovery_and_jwks(tmp_path):
    async def scenario():
        async with LocalIdentityProvider(tmp_path) as idp:
            status, head, body = await http(idp.port, "GET /.well-known/openid-configuration")
            assert status == 200 and "content-type: application/json" in head
            assert json.loads(body) == idp.discovery()
            assert idp.discovery()["jwks_uri"] == f"http://127.0.0.1:{idp.port}/.well-known/jwks.json"
            status, _, body = await http(idp.port, "GET /some/pool/.well-known/jwks.json?x=1")
            assert status == 200 and json.loads(body) == idp.jwks()
            assert (await http(idp.port, "GET /nope"))[0] == 404
            assert (await http(idp.port, "POST /.well-known/jwks.json"))[0] == 405
            assert (await http(idp.port, "HEAD /.well-known/jwks.json"))[2] == b""
            assert idp.requests_served == 3

    asyncio.run(scenario())


def test_stop_ends_idle_connections(tmp_path):
    async def scenario():
        idp = LocalIdentityProvider(tmp_path)
        await idp.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", idp.port)
        writer.write(b"GET /.well-known/jwks.json HTTP/1.1\r\n")  # never finishes the request
        await writer.drain()
        await asyncio.sleep(0.05)
        await asyncio.wait_for(idp.stop(), 2)
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()

    asyncio.run(scenario())


def test_issuer_needs_a_port_or_an_explicit_issuer(tmp_path):
    with pytest.raises(RuntimeError):
        LocalIdentityProvider(tmp_path).issuer
    assert LocalIdentityProvider(tmp_path, issuer="https://idp.test/").issuer == "https://idp.test"


def test_id_token_shape(tmp_path):
    idp = LocalIdentityProvider(tmp_path, issuer="https://idp.test", client_id="app")
    header, claims = decode(idp.mint("sub-1", "alice", groups=["admins"], now=1_000, ttl=60))
    assert header == {"kid": idp.signing_kid(), "alg": "RS256"}
    assert list(claims) == ["sub", "cognito:groups", "iss", "cognito:username", "aud", "origin_jti",
                            "event_id", "token_use", "auth_time", "exp", "iat", "jti"]
    assert (claims["aud"], claims["token_use"], claims["exp"], claims["iat"]) == ("app", "id", 1060, 1000)


def test_access_token_shape_and_overrides(tmp_path):
    idp = LocalIdentityProvider(tmp_path, issuer="https://idp.test")
    header, claims = decode(idp.mint("sub-1", "alice", scopes=["a", "b"], client_id="c1", token_use="access",
                                     alg="ES256", extra_claims={"custom:tier": "gold", "jti": None}))
    assert header["alg"] == "ES256" and header["kid"] == idp.signing_kid("ES256")
    assert (claims["client_id"], claims["scope"], claims["username"]) == ("c1", "a b", "alice")
    assert "aud" not in claims and "cognito:groups" not in claims
    assert claims["custom:tier"] == "gold" and claims["jti"] is None


async def http(port: int, request_line: str) -> tuple[int, str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{request_line} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), body
