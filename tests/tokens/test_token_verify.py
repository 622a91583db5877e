"""Pure verification (lychgate.tokens.verify) with real RSA/EC keys: spec §6.1, §6.2, §2.3."""

import base64
import json

import pytest

from lychgate.tokens import (
    CognitoConfig,
    JwtConfig,
    KeySet,
    TokenResult,
    cognito_issuer,
    verify_cognito,
    verify_jwt,
)

POOL_ARN = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_TestPool"
POOL_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
NOW = 1_790_000_000.0  # 2026-09-21T14:13:20Z
UNAUTHORIZED = b'{"message":"Unauthorized"}'


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def assert_rest_unauthorized(result: TokenResult, code: str) -> None:
    assert result.outcome == "deny" and not result.allowed
    assert result.code == code, result.reason
    assert (result.status, result.body, result.message) == (401, UNAUTHORIZED, "Unauthorized")
    assert result.headers == (("content-type", "application/json"),
                              ("x-amzn-ErrorType", "UnauthorizedException"))
    assert result.response_type == "UNAUTHORIZED"
    assert result.claims == {} and result.principal_id is None


def jwt_challenge(result: TokenResult) -> str:
    return dict(result.headers)["www-authenticate"]


# --------------------------------------------------------------------------- Cognito: allow


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_cognito_valid_id_token(idp, keys, cognito, alg):
    token = idp.mint("sub-1", "alice", groups=["admins", "users"], alg=alg, now=NOW - 60)
    result = verify_cognito(token, keys, cognito, now=NOW)
    assert result.allowed, result.reason
    assert result.principal_id == "sub-1" and result.kid == idp.signing_kid(alg)
    assert result.status is None and result.body == b"" and result.headers == ()
    assert result.claims["cognito:groups"] == "admins,users"
    assert result.claims["cognito:username"] == "alice"
    assert result.claims["exp"] == "Mon Sep 21 15:12:20 UTC 2026"  # Java Date.toString, as AWS
    assert result.claims["iat"] == "Mon Sep 21 14:12:20 UTC 2026"
    assert result.claims["auth_time"] == str(int(NOW - 60))
    assert result.authorizer_context() == {"claims": dict(result.claims)}
    assert "verified with kid" in result.reason and result.expires_at == NOW + 3540


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_cognito_valid_access_token_with_one_of_several_scopes(idp, keys, cognito, alg):
    token = idp.mint("sub-2", token_use="access", scopes=["pets/read", "openid"], alg=alg, now=NOW)
    result = verify_cognito(token, keys, cognito, scopes=["pets/write", "pets/read"], now=NOW)
    assert result.allowed, result.reason
    assert result.claims["scope"] == "pets/read openid"
    assert result.claims["client_id"] == "client-abc"


@pytest.mark.parametrize("prefix", ["", "Bearer ", "bearer ", "BEARER  "])
def test_cognito_bearer_prefix_is_tolerated(idp, keys, cognito, prefix):
    result = verify_cognito(prefix + idp.mint("s", now=NOW), keys, cognito, now=NOW)
    assert result.allowed, result.reason


def test_cognito_bearer_prefix_can_be_refused(idp, keys):
    config = CognitoConfig((POOL_ARN,), allow_bearer=False)
    token = idp.mint("s", now=NOW)
    assert verify_cognito(token, keys, config, now=NOW).allowed
    assert_rest_unauthorized(verify_cognito("Bearer " + token, keys, config, now=NOW), "malformed")


def test_cognito_issuer_from_provider_arn_and_override(idp, keys):
    assert cognito_issuer(POOL_ARN) == POOL_ISSUER
    with pytest.raises(ValueError):
        cognito_issuer("arn:aws:iam::123456789012:role/x")
    other = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Other"
    config = CognitoConfig((other,), issuer_overrides={other: POOL_ISSUER})
    assert config.issuers == (POOL_ISSUER,)
    assert verify_cognito(idp.mint("s", now=NOW), keys, config, now=NOW).allowed


# --------------------------------------------------------------------------- Cognito: times


def test_cognito_expired_token_has_its_own_message(idp, keys, cognito):
    token = idp.mint("s", ttl=3600, now=NOW - 3642)
    result = verify_cognito(token, keys, cognito, now=NOW)
    assert (result.status, result.body) == (401, b'{"message":"The incoming token has expired"}')
    assert result.message == "The incoming token has expired" and result.code == "expired"
    assert ("x-amzn-ErrorType", "UnauthorizedException") in result.headers
    assert result.reason == "token expired 42 s ago (exp 2026-09-21T14:12:38Z)"


def test_exp_is_strict_but_nbf_and_iat_have_a_small_leeway(idp, keys, cognito):
    token = idp.mint("s", ttl=100, now=NOW - 100)
    assert verify_cognito(token, keys, cognito, now=NOW - 0.001).allowed
    assert verify_cognito(token, keys, cognito, now=NOW).code == "expired"
    soon = idp.mint("s", now=NOW, extra_claims={"nbf": NOW + 4, "iat": NOW + 4})
    assert verify_cognito(soon, keys, cognito, now=NOW).allowed


def test_cognito_not_yet_valid(idp, keys, cognito):
    token = idp.mint("s", now=NOW, extra_claims={"nbf": NOW + 120})
    result = verify_cognito(token, keys, cognito, now=NOW)
    assert_rest_unauthorized(result, "not_yet_valid")
    assert "not valid for another 120 s" in result.reason


def test_cognito_issued_in_the_future(idp, keys, cognito):
    token = idp.mint("s", now=NOW + 600)
    assert_rest_unauthorized(verify_cognito(token, keys, cognito, now=NOW), "issued_in_future")


@pytest.mark.parametrize("exp", [None, "tomorrow", True, [1]])
def test_missing_or_non_numeric_exp(idp, keys, cognito, exp):
    token = idp.mint("s", now=NOW, extra_claims={"exp": exp})
    assert_rest_unauthorized(verify_cognito(token, keys, cognito, now=NOW), "claims")


# --------------------------------------------------------------------------- Cognito: claims


def test_cognito_wrong_issuer(idp, keys, cognito):
    token = idp.mint("s", now=NOW, extra_claims={"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Evil"})
    result = verify_cognito(token, keys, cognito, now=NOW)
    assert_rest_unauthorized(result, "issuer")
    assert POOL_ISSUER in result.reason


def test_cognito_wrong_issuer_is_unauthorized_even_when_expired(idp, keys, cognito):
    token = idp.mint("s", now=NOW - 9000, extra_claims={"iss": "https://example.com"})
    assert_rest_unauthorized(verify_cognito(token, keys, cognito, now=NOW), "issuer")


def test_cognito_app_client_ids(idp, keys):
    config = CognitoConfig((POOL_ARN,), client_ids=("client-abc", "client-2"))
    assert verify_cognito(idp.mint("s", now=NOW), keys, config, now=NOW).allowed
    access = idp.mint("s", token_use="access", scopes=["a"], now=NOW)
    assert verify_cognito(access, keys, config, ["a"], now=NOW).allowed
    result = verify_cognito(idp.mint("s", client_id="client-x", now=NOW), keys, config, now=NOW)
    assert_rest_unauthorized(result, "audience")
    assert result.reason == "aud 'client-x' not in configured app client ids ['client-abc', 'client-2']"
    wrong = idp.mint("s", token_use="access", scopes=["a"], client_id="client-x", now=NOW)
    assert_rest_unauthorized(verify_cognito(wrong, keys, config, ["a"], now=NOW), "audience")


def test_cognito_identity_validation_expression_applies_to_aud(idp, keys):
    config = CognitoConfig((POOL_ARN,), identity_validation_expression="client-a.c")
    assert verify_cognito(idp.mint("s", now=NOW), keys, config, now=NOW).allowed
    other = idp.mint("s", client_id="client-abcd", now=NOW)  # full match, not search
    assert_rest_unauthorized(verify_cognito(other, keys, config, now=NOW), "audience")
    access = idp.mint("s", token_use="access", scopes=["a"], now=NOW)  # no aud at all
    assert_rest_unauthorized(verify_cognito(access, keys, config, ["a"], now=NOW), "audience")


def test_cognito_access_token_on_a_method_without_scopes(idp, keys, cognito):
    token = idp.mint("s", token_use="access", scopes=["a"], now=NOW)
    result = verify_cognito(token, keys, cognito, now=NOW)
    assert_rest_unauthorized(result, "token_use")
    assert "needs token_use 'id'" in result.reason


def test_cognito_id_token_on_a_method_with_scopes(idp, keys, cognito):
    result = verify_cognito(idp.mint("s", now=NOW), keys, cognito, scopes=["a"], now=NOW)
    assert_rest_unauthorized(result, "token_use")


def test_cognito_missing_scope_is_401(idp, keys, cognito):
    token = idp.mint("s", token_use="access", scopes=["pets/read"], now=NOW)
    result = verify_cognito(token, keys, cognito, scopes=["pets/write", "admin"], now=NOW)
    assert_rest_unauthorized(result, "scope")
    assert result.reason == "token scopes ['pets/read'] include none of ['pets/write', 'admin']"
    no_scope = idp.mint("s", token_use="access", now=NOW)
    assert_rest_unauthorized(verify_cognito(no_scope, keys, cognito, ["a"], now=NOW), "scope")


# --------------------------------------------------------------------------- signatures


def test_alg_none_is_refused(idp, keys, cognito, jwt_config, craft):
    claims = claims_of(idp.mint("s", now=NOW))
    for alg in ("none", "None", "NONE"):
        token = craft({"alg": alg, "kid": idp.signing_kid()}, claims)
        assert_rest_unauthorized(verify_cognito(token, keys, cognito, now=NOW), "algorithm")
        assert verify_jwt(token, keys, jwt_config, now=NOW).status == 401


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_hs256_signed_with_the_public_key_pem_is_refused(idp, keys, cognito, jwt_config, craft, alg):
    public = idp.private_key(alg).as_pem(private=False)
    claims = claims_of(idp.mint("s", now=NOW))
    for pem in (public, public.strip()):
        token = craft({"alg": "HS256", "kid": idp.signing_kid(alg)}, claims, hmac_key=pem)
        result = verify_cognito(token, keys, cognito, now=NOW)
        assert_rest_unauthorized(result, "algorithm")
        assert result.reason.startswith("alg 'HS256' is not accepted here")
        assert verify_jwt(token, keys, jwt_config, now=NOW).code == "algorithm"


def test_tampered_payload_fails_the_signature(idp, keys, cognito):
    token = idp.mint("s", groups=["users"], now=NOW)
    head, _, sig = token.split(".")
    forged = claims_of(token) | {"cognito:groups": ["admins"]}
    payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    result = verify_cognito(f"{head}.{payload}.{sig}", keys, cognito, now=NOW)
    assert_rest_unauthorized(result, "signature")


def test_signature_from_another_key_with_a_known_kid(idp, keys, cognito, craft, tmp_path):
    from lychgate.tokens.idp import LocalIdentityProvider
    stranger = LocalIdentityProvider(tmp_path, issuer=POOL_ISSUER)
    token = stranger.mint("s", now=NOW)
    head, payload, sig = token.split(".")
    relabel = base64.urlsafe_b64encode(json.dumps(header_of(token) | {"kid": idp.signing_kid()}).encode())
    token = f"{relabel.rstrip(b'=').decode()}.{payload}.{sig}"
    assert_rest_unauthorized(verify_cognito(token, keys, cognito, now=NOW), "signature")


def test_alg_that_does_not_fit_the_key(idp, keys, cognito):
    token = idp.mint("s", alg="ES256", now=NOW)
    head, payload, sig = token.split(".")
    swapped = header_of(token) | {"alg": "RS256"}
    forged = base64.urlsafe_b64encode(json.dumps(swapped).encode()).rstrip(b"=").decode()
    result = verify_cognito(f"{forged}.{payload}.{sig}", keys, cognito, now=NOW)
    assert_rest_unauthorized(result, "algorithm")


def test_unknown_kid_names_the_jwks(idp, keys, cognito, craft):
    token = idp.mint("s", now=NOW)
    head, payload, sig = token.split(".")
    other = base64.urlsafe_b64encode(json.dumps({"kid": "abc", "alg": "RS256"}).encode()).rstrip(b"=").decode()
    result = verify_cognito(f"{other}.{payload}.{sig}", keys, cognito, now=NOW)
    assert_rest_unauthorized(result, "kid")
    assert result.reason.startswith(f"kid 'abc' not in the JWKS of {POOL_ISSUER}/.well-known/jwks.json")


def test_missing_kid_and_crit_header(idp, keys, cognito, craft):
    claims = claims_of(idp.mint("s", now=NOW))
    assert_rest_unauthorized(verify_cognito(craft({"alg": "RS256"}, claims, b"x"), keys, cognito, now=NOW), "kid")
    crit = craft({"alg": "RS256", "kid": idp.signing_kid(), "crit": ["exp"], "exp": 1}, claims, b"x")
    assert_rest_unauthorized(verify_cognito(crit, keys, cognito, now=NOW), "malformed")


GARBAGE = [
    None, "", "   ", "Bearer", "Bearer ", "abc", "a.b", "a.b.c", "..", "a.b.c.d.e",
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0",  # two parts
    "eyJhbGciOiJSUzI1NiJ9.e30.!!!",  # bad signature alphabet
    "W10.e30.AAAA",  # header is a JSON array
    "e30.W10.AAAA",  # payload is a JSON array
    "bm90IGpzb24.e30.AAAA",  # header not JSON
    "eyJhbGciOiJSUzI1NiJ9.e30.A",  # impossible base64 length
    "eyJhbGciOiJSUzI1NiJ9=.e30.AAAA",  # padding is not base64url
    "ünïcødé.e30.AAAA", "e30.e30." + "A" * 20_000, "\x00.\x00.\x00",
]


@pytest.mark.parametrize("token", GARBAGE)
def test_garbage_is_unauthorized_never_an_exception(keys, cognito, jwt_config, token):
    result = verify_cognito(token, keys, cognito, now=NOW)
    assert_rest_unauthorized(result, result.code)
    assert result.code in {"missing", "malformed", "algorithm", "kid", "issuer"}
    http = verify_jwt(token, keys, jwt_config, now=NOW)
    assert (http.status, http.body) == (401, UNAUTHORIZED)


def test_keyset_skips_unusable_entries_and_refuses_non_jwks(idp):
    good = idp.jwks()["keys"]
    junk = [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}, {"kty": "RSA"}, "x",
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "bad", "crv": "P-256", "x": "AA", "y": "AA"}]
    keyset = KeySet.from_jwks({"keys": junk + good}, source="test")
    assert set(keyset.kids) == {k["kid"] for k in good}
    assert len(keyset.skipped) == 5
    for document in ({}, {"keys": {}}, [], '{"keys": 1}'):
        with pytest.raises(ValueError):
            KeySet.from_jwks(document)


# --------------------------------------------------------------------------- HTTP API JWT


def test_jwt_valid_access_token_by_client_id(idp, keys, jwt_config):
    token = idp.mint("sub-9", token_use="access", scopes=["read", "write"], groups=["g1", "g2"], now=NOW)
    result = verify_jwt("Bearer " + token, keys, jwt_config, scopes=["write"], now=NOW)
    assert result.allowed, result.reason
    assert result.kind == "JWT" and result.principal_id == "sub-9"
    assert result.claims["exp"] == str(int(NOW + 3600)) and result.claims["cognito:groups"] == "[g1 g2]"
    assert result.scopes == ("read", "write")
    assert result.authorizer_context() == {"jwt": {"claims": dict(result.claims), "scopes": ["read", "write"]}}


def test_jwt_id_token_by_aud_without_route_scopes(idp, keys, jwt_config):
    result = verify_jwt(idp.mint("s", now=NOW), keys, jwt_config, now=NOW)
    assert result.allowed and result.scopes is None
    assert result.authorizer_context()["jwt"]["scopes"] is None


def test_jwt_claim_rendering(idp, keys, jwt_config):
    extra = {"flag": True, "ratio": 1.5, "nested": {"a": 1}, "nothing": None, "whole": 2.0}
    result = verify_jwt(idp.mint("s", now=NOW, extra_claims=extra), keys, jwt_config, now=NOW)
    assert result.claims["flag"] == "true" and result.claims["ratio"] == "1.5"
    assert result.claims["nested"] == '{"a":1}' and result.claims["whole"] == "2"
    assert "nothing" not in result.claims


def test_jwt_aud_list(idp, keys, jwt_config):
    token = idp.mint("s", now=NOW, extra_claims={"aud": ["other", "client-abc"]})
    assert verify_jwt(token, keys, jwt_config, now=NOW).allowed


def test_jwt_wrong_audience_has_the_confirmed_challenge(idp, keys, jwt_config):
    result = verify_jwt(idp.mint("s", client_id="nope", now=NOW), keys, jwt_config, now=NOW)
    assert (result.status, result.body) == (401, UNAUTHORIZED)
    assert jwt_challenge(result) == ('Bearer scope="" error="invalid_token" '
                                     'error_description="the token does not have a valid audience"')
    assert result.reason == "aud/client_id 'nope' not in configured audiences ['client-abc']"
    assert result.response_type is None


def test_jwt_refuses_es256(idp, keys, jwt_config):
    result = verify_jwt(idp.mint("s", alg="ES256", now=NOW), keys, jwt_config, now=NOW)
    assert result.status == 401 and result.code == "algorithm"
    assert "accepted: RS256, RS384, RS512" in result.reason


@pytest.mark.parametrize(("extra", "code", "description"), [
    ({"iss": "https://other"}, "issuer", "the token does not have a valid issuer"),
    ({"exp": NOW - 1}, "expired", "the token has expired"),
    ({"nbf": NOW + 60}, "not_yet_valid", "the token is not valid yet"),
    ({"iat": NOW + 60}, "issued_in_future", "the token was issued in the future"),
])
def test_jwt_claim_failures(idp, keys, jwt_config, extra, code, description):
    result = verify_jwt(idp.mint("s", now=NOW, extra_claims=extra), keys, jwt_config, now=NOW)
    assert (result.status, result.body, result.code) == (401, UNAUTHORIZED, code)
    assert jwt_challenge(result) == f'Bearer scope="" error="invalid_token" error_description="{description}"'


def test_jwt_insufficient_scope_is_403(idp, keys, jwt_config):
    token = idp.mint("s", token_use="access", scopes=["read"], now=NOW)
    result = verify_jwt(token, keys, jwt_config, scopes=["write", "admin"], now=NOW)
    assert (result.status, result.body, result.message) == (403, b'{"message":"Forbidden"}', "Forbidden")
    assert jwt_challenge(result) == ('Bearer scope="write admin" error="insufficient_scope" '
                                     'error_description="expected scopes: [write admin]"')


@pytest.mark.parametrize("scp", ["write other", ["other", "write"]])
def test_jwt_scp_claim_counts(idp, keys, jwt_config, scp):
    token = idp.mint("s", token_use="access", now=NOW, extra_claims={"scp": scp})
    result = verify_jwt(token, keys, jwt_config, scopes=["write"], now=NOW)
    assert result.allowed and "write" in result.scopes


def test_jwt_missing_token(keys, jwt_config):
    result = verify_jwt(None, keys, jwt_config, now=NOW)
    assert (result.status, result.code, jwt_challenge(result)) == (401, "missing", "Bearer")


def test_jwt_empty_audience_allows_nothing(idp, keys):
    config = JwtConfig(issuer=POOL_ISSUER, audience=())
    assert verify_jwt(idp.mint("s", now=NOW), keys, config, now=NOW).code == "audience"


# Found by fuzzing (fuzz/tokens.py, issue #8). A hostile token or JWKS must be refused or skipped,
# never crash verification: reasons used to repr() values nested deeper than repr can recurse.
DEEP = "[" * 990 + "]" * 990  # orjson parses up to 1024 levels; repr() recursed out near 1000


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def unsigned(header: str, claims: str) -> str:
    return f"{b64url(header)}.{b64url(claims)}.{b64url('signature')}"


@pytest.mark.parametrize(("header", "claims", "code"), [
    ('{"alg": "RS256", "kid": "k"}', '{"iss": ' + DEEP + '}', "issuer"),
    ('{"alg": ' + DEEP + ', "kid": "k"}', '{"iss": "' + POOL_ISSUER + '"}', "algorithm"),
    ('{"alg": "RS256", "kid": "k", "crit": ' + DEEP + '}', '{"iss": "' + POOL_ISSUER + '"}', "malformed"),
], ids=["iss", "alg", "crit"])
def test_deeply_nested_token_values_are_refused(header: str, claims: str, code: str) -> None:
    token = unsigned(header, claims)
    result = verify_cognito(token, KeySet(), CognitoConfig(provider_arns=(POOL_ARN,)), now=NOW)
    assert_rest_unauthorized(result, code)
    assert "too deep or too long" in result.reason
    result = verify_jwt(token, KeySet(), JwtConfig(issuer=POOL_ISSUER, audience=("a",)), now=NOW)
    assert result.outcome == "deny" and result.status == 401


def test_bad_jwks_entries_are_skipped(keys) -> None:
    good = next(iter(keys.by_kid.values())).as_dict(private=False) | {"kid": "good"}
    document = ('{"keys": [{"kid": "deep", "kty": "RSA", "use": ' + DEEP + '}, '
                '{"kid": "curve", "kty": "EC", "crv": "RSA", "x": "AA", "y": "AA"}, ' + json.dumps(good) + ']}')
    parsed = KeySet.from_jwks(document)
    assert parsed.kids == ("good",)
    assert parsed.skipped[0].startswith("keys[0]: kid 'deep': use <a list too deep or too long to show>")
    assert parsed.skipped[1].startswith("keys[1]: cannot import (KeyError")
