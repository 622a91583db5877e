"""Fuzz target: JWT parsing and verification for COGNITO_USER_POOLS and JWT authorizers, and JWKS parsing.

Input, by its first line:
* ``sign``: the next two lines are a token header and payload (any bytes, usually JSON); the
  harness base64url-encodes them and signs them with its own key named by the header's ``kid``
  (algorithm from ``alg`` when it can sign with it; HMAC algorithms keyed with the public key,
  the classic algorithm-confusion forgery), so that claim checks are reached;
* ``jwks``: the rest is a JWKS document for ``KeySet.from_jwks``;
* anything else: the whole input is the identity-source value (``Bearer <token>`` or a token).

Each token is verified with a Cognito and an HTTP API JWT configuration, with and without scopes.

Contract:
* ``verify_token`` and ``decode_unverified`` never raise: they answer a ``TokenResult`` (or, for
  the latter, a ``ParsedToken``); a refusal has status 401/403, a JSON body with ``message``
  and string headers; an allow carries string claims, a known kid, a configured issuer and an
  ``exp`` after now;
* a value the harness did not sign (or only HMACed with a public key) is never allowed: no
  ``none``, HMAC or key confusion;
* ``KeySet.from_jwks`` returns a ``KeySet`` or raises ``ValueError``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Iterator

import orjson
from hypothesis import strategies as st
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from fuzz import corpus
from fuzz.mutate import byte_mutations, hostile_values, mutated_tree, to_json
from lychgate.tokens import (COGNITO_ALGORITHMS, CognitoConfig, JwtConfig, KeySet, ParsedToken, TokenResult,
                             decode_unverified, verify_token)

POOL_ARN = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Fuzz"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Fuzz"
CLIENT = "fuzz-client"
NOW = 1_790_000_000.0
CONFIGS = (CognitoConfig(provider_arns=(POOL_ARN,), client_ids=(CLIENT,)),
           CognitoConfig(provider_arns=(POOL_ARN,), identity_validation_expression="fuzz-.*"),
           JwtConfig(issuer=ISSUER, audience=(CLIENT,)))
SCOPES = (None, ("read",))

# One RSA and one EC signing key per process; the fuzzer never sees a signature made with them.
_PRIVATE = {"rsa": RSAKey.generate_key(2048, parameters={"kid": "rsa"}),
            "ec": ECKey.generate_key("P-256", parameters={"kid": "ec"})}
JWKS = {"keys": [key.as_dict(private=False) | {"use": "sig"} for key in _PRIVATE.values()]}
KEYS = KeySet.from_jwks(JWKS, source="fuzz")
_SIGNERS = JWSRegistry(algorithms=list(COGNITO_ALGORITHMS))
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign(header: bytes, payload: bytes) -> tuple[str, bool]:
    """``header.payload.signature`` signed by the harness key the header's kid names, and whether
    that signature is genuine (False for the HMAC forgery)."""
    try:
        fields = orjson.loads(header)
    except orjson.JSONDecodeError:
        fields = None
    fields = fields if isinstance(fields, dict) else {}
    key = _PRIVATE.get(fields.get("kid")) if isinstance(fields.get("kid"), str) else None
    key = key or _PRIVATE["rsa"]
    alg = fields.get("alg") if isinstance(fields.get("alg"), str) else None
    signing_input = _b64(header) + b"." + _b64(payload)
    if alg in _HMAC:  # forged: MACed with the public key, as an algorithm-confusion attack does
        secret = json.dumps(key.as_dict(private=False), sort_keys=True).encode()
        token = signing_input + b"." + _b64(hmac.new(secret, signing_input, _HMAC[alg]).digest())
        return token.decode(), False
    if alg in COGNITO_ALGORITHMS and (alg[:2] == "RS") == (key is _PRIVATE["rsa"]):
        signature = _SIGNERS.get_alg(alg).sign(signing_input, key)
    else:
        signature = _SIGNERS.get_alg("RS256" if key is _PRIVATE["rsa"] else "ES256").sign(signing_input, key)
    return (signing_input + b"." + _b64(signature)).decode(), True


def _check(result: object, config: CognitoConfig | JwtConfig, signed: bool) -> None:
    assert type(result) is TokenResult and result.outcome in ("allow", "deny"), result
    assert isinstance(result.reason, str), result
    if result.outcome == "deny":
        assert result.status in (401, 403), result
        assert isinstance(orjson.loads(result.body)["message"], str), result
        assert all(isinstance(n, str) and isinstance(v, str) for n, v in result.headers), result
        return
    assert signed, f"an unsigned identity value was allowed: {result}"
    assert result.kid in KEYS and result.issuer in config.issuers and result.expires_at > NOW, result
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.claims.items()), result
    assert result.principal_id is None or isinstance(result.principal_id, str), result
    assert isinstance(result.authorizer_context(), dict)


def fuzz_one(data: bytes) -> None:
    mode, _, rest = data.partition(b"\n")
    if mode == b"jwks":
        try:
            keys = KeySet.from_jwks(rest)
        except ValueError:
            return
        assert type(keys) is KeySet and all(isinstance(kid, str) for kid in keys.kids)
        return
    if mode == b"sign":
        header, _, payload = rest.partition(b"\n")
        identity, signed = sign(header, payload)
    else:
        identity, signed = data.decode("utf-8", "surrogateescape"), False
    for config in CONFIGS:
        decoded = decode_unverified(identity, config)
        assert type(decoded) is ParsedToken or type(decoded) is TokenResult and decoded.outcome == "deny", decoded
        for scopes in SCOPES:
            _check(verify_token(identity, KEYS, config, scopes, now=NOW), config, signed)


# ---------------------------------------------------------------- generation

_TIMES = st.one_of(st.sampled_from([NOW + 600, NOW - 1, NOW, NOW + 3, NOW + 60, 0, -1, 1e300, 2 ** 63, "1", True,
                                    None, [NOW + 600]]), st.floats(), st.integers())
_HEADERS = st.fixed_dictionaries(
    {"alg": st.sampled_from(["RS256", "RS512", "ES256", "ES384", "PS256", "HS256", "none", "None", "", 1, None])},
    optional={"kid": st.sampled_from(["rsa", "ec", "other", "", 1, None, ["rsa"]]),
              "typ": st.sampled_from(["JWT", 7]), "crit": st.sampled_from([["exp"], "x"])})
_CLAIMS = st.fixed_dictionaries(
    {"iss": st.sampled_from([ISSUER, ISSUER + "/", "", None, [ISSUER], 1]), "exp": _TIMES},
    optional={"token_use": st.sampled_from(["id", "access", "ID", None, 1]),
              "aud": st.sampled_from([CLIENT, [CLIENT], "fuzz-x", "other", [], [1, CLIENT], {"a": 1}]),
              "client_id": st.sampled_from([CLIENT, "other", None, 5]),
              "scope": st.sampled_from(["read", "read write", "", ["read"], [1, None], 3]),
              "scp": st.sampled_from([["read"], "read", None]), "nbf": _TIMES, "iat": _TIMES,
              "sub": st.one_of(st.sampled_from(["alice", "", None, 1.0, 2.5, True, [1, "a"], {"x": None}]),
                               st.integers(), st.floats()),
              "cognito:groups": st.sampled_from([["admin", "dev"], [], "admin"])})


@st.composite
def _signed(draw) -> bytes:
    header, claims = draw(_HEADERS), draw(_CLAIMS)
    if draw(st.integers(0, 4)) == 0:
        claims = draw(mutated_tree(claims, hostile_values()))
    return b"sign\n" + to_json(header) + b"\n" + to_json(claims)


@st.composite
def _jwks(draw) -> bytes:
    return b"jwks\n" + to_json(draw(mutated_tree(JWKS, st.one_of(hostile_values(), st.sampled_from(
        ["RSA", "EC", "oct", "sig", "enc", "P-256", "P-521", "AQAB", "", "AA", "_-_-"])))))


def inputs() -> st.SearchStrategy[bytes]:
    seeds = corpus("tokens") or [b"Bearer x.y.z"]
    return st.one_of(_signed(), _jwks(), byte_mutations(seeds))


def seeds() -> Iterator[tuple[str, bytes]]:
    """Well-formed ID and access tokens, classic forgeries, raw values, the harness's JWKS."""
    id_claims = {"sub": "alice", "iss": ISSUER, "aud": CLIENT, "token_use": "id", "exp": NOW + 600,
                 "iat": NOW - 10, "cognito:groups": ["admin"], "email_verified": True}
    access = {"sub": "alice", "iss": ISSUER, "client_id": CLIENT, "token_use": "access", "exp": NOW + 600,
              "scope": "read write", "aud": CLIENT}
    for name, header, claims in (("id-rs256", {"alg": "RS256", "kid": "rsa"}, id_claims),
                                 ("access-es256", {"alg": "ES256", "kid": "ec"}, access),
                                 ("hs256-confusion", {"alg": "HS256", "kid": "rsa"}, id_claims),
                                 ("expired", {"alg": "RS256", "kid": "rsa"}, id_claims | {"exp": NOW - 1})):
        yield f"sign-{name}", b"sign\n" + json.dumps(header).encode() + b"\n" + json.dumps(claims).encode()
    unsigned = _b64(b'{"alg":"none"}') + b"." + _b64(json.dumps(id_claims).encode()) + b"."
    yield "raw-alg-none", b"Bearer " + unsigned
    yield "raw-garbage", b"Bearer not-a-token"
    yield "jwks", b"jwks\n" + json.dumps(JWKS).encode()
