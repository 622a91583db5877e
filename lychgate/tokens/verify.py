"""Pure JWT verification for API Gateway's token authorizers (spec gateway-behavior §6).

Given a token (or the raw identity-source value), the signing keys of the token's issuer, an
authorizer configuration and the current time, ``verify_token`` answers a ``TokenResult``: on
success the principal, the claims (stringified the way the integration sees them) and scopes; on
failure the exact status, body and headers AWS sends (§2.3, §6) plus ``reason``, our own
explanation for the decision trace. REST ``COGNITO_USER_POOLS`` (``CognitoConfig``, §6.1) and HTTP
API ``JWT`` (``JwtConfig``, §6.2) differ in accepted algorithms, claim checks, failure answers and
claim rendering. Signatures are checked with joserfc's algorithm implementations over keys parsed
by joserfc; the header is parsed here so that ``alg`` is policed before any key is touched: ``none``
and every HMAC algorithm are never accepted, so a token MACed with the public key is refused.
Nothing here does I/O or keeps state except ``VerifiedTokenCache``, which remembers allowed
results until their ``exp``. Clock: ``exp`` is strict (valid while now < exp); ``nbf`` and ``iat``
may be up to ``clock_skew`` (default ``CLOCK_SKEW`` = 5 s) in the future, for issuer clock drift.
"""

from __future__ import annotations

import binascii
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

#: Seconds an ``nbf`` or ``iat`` may lie in the future before the token is refused.
CLOCK_SKEW = 5.0
#: Longer identity values are refused unparsed (AWS caps request headers near 10 KB).
MAX_TOKEN_LENGTH = 16_384
#: REST COGNITO_USER_POOLS: Cognito signs RS256; ES256 etc. accepted for local and test issuers.
COGNITO_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
#: HTTP API JWT authorizers accept RSA algorithms only (§6.2; PS* unconfirmed, so refused).
JWT_ALGORITHMS = ("RS256", "RS384", "RS512")

_REGISTRY = JWSRegistry(algorithms=list(COGNITO_ALGORITHMS))
_KEY_CLASSES = {"RSA": RSAKey, "EC": ECKey}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_JSON = (("content-type", "application/json"),)


class TokenRejected(Exception):
    """One failed check: ``code`` picks the wire answer, ``reason`` is for humans."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


# --------------------------------------------------------------------------- configuration


def cognito_issuer(provider_arn: str) -> str:
    """``arn:aws:cognito-idp:{region}:{account}:userpool/{poolId}`` -> the pool's issuer (§6.1)."""
    parts = provider_arn.split(":")
    if len(parts) != 6 or parts[2] != "cognito-idp" or not parts[5].startswith("userpool/"):
        raise ValueError(f"not a Cognito user pool ARN: {provider_arn!r}")
    region, pool_id = parts[3], parts[5][len("userpool/"):]
    if not region or not pool_id:
        raise ValueError(f"not a Cognito user pool ARN: {provider_arn!r}")
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


@dataclass(frozen=True, eq=False)
class CognitoConfig:
    """A REST ``COGNITO_USER_POOLS`` authorizer (§6.1).

    ``issuer_overrides`` maps a provider ARN to another issuer URL (a local identity provider);
    ``client_ids``, when given, are the accepted app clients (``aud`` of ID tokens, ``client_id``
    of access tokens); ``identity_validation_expression`` must fully match an ID token's ``aud``.
    ``allow_bearer``: AWS's handling of ``Bearer <token>`` here is unconfirmed (§6.1: the raw token
    was historically required); we strip the prefix by default, as 2023 AWS workshops show it
    working; set False to insist on the raw token.
    """

    provider_arns: tuple[str, ...]
    client_ids: tuple[str, ...] = ()
    issuer_overrides: Mapping[str, str] = field(default_factory=dict)
    identity_validation_expression: str | None = None
    allow_bearer: bool = True
    clock_skew: float = CLOCK_SKEW
    issuers: tuple[str, ...] = field(init=False)
    kind = "COGNITO_USER_POOLS"
    algorithms = COGNITO_ALGORITHMS

    def __post_init__(self) -> None:
        issuers = tuple(self.issuer_overrides.get(arn) or cognito_issuer(arn)
                        for arn in self.provider_arns)
        object.__setattr__(self, "issuers", issuers)
        if self.identity_validation_expression is not None:
            re.compile(self.identity_validation_expression)


@dataclass(frozen=True, eq=False)
class JwtConfig:
    """An HTTP API ``JWT`` authorizer: ``jwtConfiguration{issuer, audience[]}`` (§6.2)."""

    issuer: str
    audience: tuple[str, ...]
    clock_skew: float = CLOCK_SKEW
    allow_bearer = True  # AWS: "raw or Bearer <token>" (§6.2)
    kind = "JWT"
    algorithms = JWT_ALGORITHMS

    @property
    def issuers(self) -> tuple[str, ...]:
        return (self.issuer,)


# --------------------------------------------------------------------------- keys and tokens


class KeySet:
    """The signing keys of one issuer, by ``kid``, as read from a JWKS document (immutable).

    Entries that are not RSA or EC signing keys with a ``kid`` are skipped and listed in
    ``skipped`` for the trace.
    """

    __slots__ = ("by_kid", "source", "skipped")

    def __init__(self, by_kid: Mapping[str, Any] | None = None, source: str = "",
                 skipped: tuple[str, ...] = ()):
        self.by_kid = dict(by_kid or {})
        self.source = source
        self.skipped = skipped

    @classmethod
    def from_jwks(cls, document: Any, source: str = "") -> KeySet:
        """Parse a JWKS (dict, JSON text or bytes); ValueError if it is not a JWKS at all."""
        if isinstance(document, (str, bytes)):
            document = orjson.loads(document)
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError(f"{source or 'document'} is not a JWKS: no \"keys\" array")
        by_kid: dict[str, Any] = {}
        skipped: list[str] = []
        for index, entry in enumerate(entries):
            try:
                kid, key = _import_jwk(entry)
                by_kid.setdefault(kid, key)
            except (ValueError, TypeError, JoseError) as error:
                skipped.append(f"keys[{index}]: {error}")
            except Exception as error:  # noqa: BLE001 - joserfc raises e.g. KeyError for an unknown EC curve
                skipped.append(f"keys[{index}]: cannot import ({type(error).__name__}: {error})")
        return cls(by_kid, source, tuple(skipped))

    def get(self, kid: str | None):
        return self.by_kid.get(kid)  # type: ignore[arg-type]

    def __contains__(self, kid: object) -> bool:
        return kid in self.by_kid

    def __len__(self) -> int:
        return len(self.by_kid)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(sorted(self.by_kid))


def _import_jwk(entry: Any) -> tuple[str, Any]:
    """One JWKS entry -> (kid, joserfc key); raises ValueError for entries we cannot use."""
    if not isinstance(entry, dict):
        raise ValueError("not an object")
    kid, kty, use = entry.get("kid"), entry.get("kty"), entry.get("use")
    if not isinstance(kid, str) or not kid:
        raise ValueError("no kid")
    if kty not in _KEY_CLASSES:
        raise ValueError(f"kid {kid!r}: kty {_shown(kty)} is not a signature key type we accept")
    if use not in (None, "sig"):
        raise ValueError(f"kid {kid!r}: use {_shown(use)} is not \"sig\"")
    return kid, _KEY_CLASSES[kty].import_key(entry)


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A JWS compact token split and decoded, signature not yet checked."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> Any:
        return self.header.get("kid")

    @property
    def issuer(self) -> Any:
        return self.claims.get("iss")


def extract_token(value: str | None, allow_bearer: bool = True) -> str:
    """The token inside an identity-source value: ``Bearer `` (any case) stripped if allowed."""
    if not value or not value.strip():
        raise TokenRejected("missing", "no token in the identity source")
    value = value.strip()
    if allow_bearer and value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value


def parse_token(token: str) -> ParsedToken:
    """Split and decode a JWS compact token; TokenRejected('malformed') if it is not one."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenRejected("malformed", f"token is {len(token)} characters (limit {MAX_TOKEN_LENGTH})")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("malformed", f"not a JWT: {len(parts)} dot-separated parts, expected 3")
    header = _json_segment(parts[0], "header")
    claims = _json_segment(parts[1], "payload")
    signature = _b64url(parts[2], "signature")
    return ParsedToken(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _b64url(segment: str, what: str) -> bytes:
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenRejected("malformed", f"token {what} is not base64url")
    padded = segment.replace("-", "+").replace("_", "/") + "=" * (-len(segment) % 4)
    try:
        return binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error:
        raise TokenRejected("malformed", f"token {what} is not base64url") from None


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(_b64url(segment, what))
    except orjson.JSONDecodeError:
        raise TokenRejected("malformed", f"token {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenRejected("malformed", f"token {what} is not a JSON object")
    return value


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class TokenResult:
    """What one authorizer decided about one token.

    On ``allow``: ``principal_id`` (``sub``), ``claims`` as the integration sees them (all values
    strings), ``scopes`` (HTTP API: the token's scopes when the route has scopes, else None). On
    ``deny``: ``status``/``body``/``headers`` as AWS answers, ``message`` (the body's message,
    for gateway-response rendering) and ``response_type`` (REST: ``UNAUTHORIZED``). ``reason`` and
    ``code`` always explain the decision.
    """

    outcome: str
    reason: str
    code: str = "ok"
    kind: str = "COGNITO_USER_POOLS"
    principal_id: str | None = None
    claims: Mapping[str, str] = field(default_factory=dict)
    raw_claims: Mapping[str, Any] = field(default_factory=dict)
    scopes: tuple[str, ...] | None = None
    issuer: str | None = None
    kid: str | None = None
    expires_at: float = 0.0
    status: int | None = None
    message: str | None = None
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    response_type: str | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"

    def authorizer_context(self) -> dict[str, Any]:
        """``requestContext.authorizer`` for the integration event (§6.1, §6.2)."""
        if self.kind == "JWT":
            scopes = list(self.scopes) if self.scopes is not None else None
            return {"jwt": {"claims": dict(self.claims), "scopes": scopes}}
        return {"claims": dict(self.claims)}


def _body(message: str) -> bytes:
    return orjson.dumps({"message": message})


def cognito_failure(rejected: TokenRejected) -> TokenResult:
    """REST answer: 401 UNAUTHORIZED; expired tokens get their own message (§2.3, §6.1)."""
    message = "The incoming token has expired" if rejected.code == "expired" else "Unauthorized"
    headers = _JSON + (("x-amzn-ErrorType", "UnauthorizedException"),)
    return TokenResult("deny", rejected.reason, rejected.code, "COGNITO_USER_POOLS", status=401,
                       message=message, body=_body(message), headers=headers,
                       response_type="UNAUTHORIZED")


#: HTTP API ``error_description`` per failure; only the audience text is confirmed (§6.2).
JWT_DESCRIPTIONS = {
    "missing": None,
    "malformed": "the token is malformed",
    "algorithm": "the token is signed with an unsupported algorithm",
    "kid": "the token's key id does not match any of the issuer's keys",
    "signature": "the token signature is invalid",
    "issuer": "the token does not have a valid issuer",
    "audience": "the token does not have a valid audience",
    "expired": "the token has expired",
    "not_yet_valid": "the token is not valid yet",
    "issued_in_future": "the token was issued in the future",
    "claims": "the token has invalid claims",
}


def jwt_failure(rejected: TokenRejected, route_scopes: Sequence[str] = ()) -> TokenResult:
    """HTTP API answer: 401 + ``www-authenticate``; 403 for insufficient scope (§6.2)."""
    if rejected.code == "insufficient_scope":
        wanted = " ".join(route_scopes)
        challenge = (f'Bearer scope="{wanted}" error="insufficient_scope" '
                     f'error_description="expected scopes: [{wanted}]"')
        status, message = 403, "Forbidden"
    else:
        description = JWT_DESCRIPTIONS.get(rejected.code, "the token is invalid")
        challenge = "Bearer" if description is None else (
            f'Bearer scope="" error="invalid_token" error_description="{description}"')
        status, message = 401, "Unauthorized"
    return TokenResult("deny", rejected.reason, rejected.code, "JWT", status=status,
                       message=message, body=_body(message),
                       headers=_JSON + (("www-authenticate", challenge),))


def failure(config: CognitoConfig | JwtConfig, rejected: TokenRejected,
            scopes: Sequence[str] | None = None) -> TokenResult:
    """The deny result this authorizer type answers for ``rejected``."""
    if config.kind == "JWT":
        return jwt_failure(rejected, scopes or ())
    return cognito_failure(rejected)


# --------------------------------------------------------------------------- checks


def _check_signature(parsed: ParsedToken, keys: KeySet, allowed: Sequence[str]) -> str:
    """alg allowed for this authorizer type, kid known, key fits alg, signature valid (§6)."""
    alg, kid = parsed.header.get("alg"), parsed.kid
    if alg not in allowed:
        raise TokenRejected("algorithm",
                            f"alg {_shown(alg)} is not accepted here (accepted: {', '.join(allowed)})")
    if "crit" in parsed.header:
        raise TokenRejected("malformed",
                            f"token header has crit {_shown(parsed.header['crit'])}; we implement no extensions")
    if not isinstance(kid, str):
        raise TokenRejected("kid", "token header has no kid")
    key = keys.get(kid)
    if key is None:
        known = ", ".join(repr(k) for k in keys.kids) or "none"
        raise TokenRejected("kid",
                            f"kid {kid!r} not in the JWKS of {keys.source or 'the issuer'} (known: {known})")
    model = _REGISTRY.get_alg(alg)
    try:
        model.check_key(key)
        valid = model.verify(parsed.signing_input, parsed.signature, key)
    except (JoseError, ValueError, TypeError) as error:
        raise TokenRejected("algorithm",
                            f"kid {kid!r} ({key.key_type} key) cannot verify {alg}: {error}") from None
    if not valid:
        raise TokenRejected("signature", f"signature does not verify with kid {kid!r} ({alg})")
    return kid


def _check_issuer(claims: Mapping[str, Any], issuers: Sequence[str]) -> str:
    iss = claims.get("iss")
    if iss not in issuers:
        raise TokenRejected("issuer", f"iss {_shown(iss)} is not the configured issuer {_listing(issuers)}")
    return iss


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenRejected("claims", f"{name} {_shown(value)} is not a NumericDate")
    return value


def _check_times(claims: Mapping[str, Any], now: float, skew: float) -> float:
    """exp strictly after now; nbf and iat not beyond now + skew (§6.1, §6.2)."""
    exp = _number(claims, "exp")
    if exp is None:
        raise TokenRejected("claims", "token has no exp claim")
    if now >= exp:
        raise TokenRejected("expired", f"token expired {now - exp:.0f} s ago (exp {iso_time(exp)})")
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + skew:
        raise TokenRejected("not_yet_valid",
                            f"token not valid for another {nbf - now:.0f} s (nbf {iso_time(nbf)})")
    iat = _number(claims, "iat")
    if iat is not None and iat > now + skew:
        raise TokenRejected("issued_in_future",
                            f"token issued {iat - now:.0f} s in the future (iat {iso_time(iat)})")
    return exp


def _check_token_use(claims: Mapping[str, Any], scopes: Sequence[str] | None) -> str:
    """No method scopes: an ID token; with scopes: an access token (§6.1)."""
    expected = "access" if scopes else "id"
    use = claims.get("token_use")
    if use != expected:
        having = "with" if scopes else "without"
        raise TokenRejected("token_use", f"token_use {_shown(use)}: a method {having} authorizationScopes "
                                         f"needs token_use '{expected}'")
    return use


def _check_cognito_client(claims: Mapping[str, Any], config: CognitoConfig, use: str) -> None:
    """App client (``aud`` / ``client_id``) and identityValidationExpression on ``aud`` (§6.1)."""
    if config.client_ids:
        name = "aud" if use == "id" else "client_id"
        value = claims.get(name)
        if not _values(value) & set(config.client_ids):
            raise TokenRejected("audience",
                                f"{name} {_shown(value)} not in configured app client ids {list(config.client_ids)}")
    pattern = config.identity_validation_expression
    if pattern is not None:
        aud = claims.get("aud")
        if not any(re.fullmatch(pattern, v) for v in _values(aud)):
            raise TokenRejected("audience",
                                f"aud {_shown(aud)} does not match identityValidationExpression {pattern!r}")


def _check_jwt_audience(claims: Mapping[str, Any], audience: Sequence[str]) -> None:
    """``aud`` or ``client_id`` must be one of the configured audiences (§6.2)."""
    found = _values(claims.get("aud")) | _values(claims.get("client_id"))
    if not found & set(audience):
        shown = claims.get("aud", claims.get("client_id"))
        raise TokenRejected("audience",
                            f"aud/client_id {_shown(shown)} not in configured audiences {list(audience)}")


def token_scopes(claims: Mapping[str, Any], names: Iterable[str] = ("scope",)) -> tuple[str, ...]:
    """Scopes from space-separated strings or arrays under the given claim names."""
    found: list[str] = []
    for name in names:
        value = claims.get(name)
        if isinstance(value, str):
            found.extend(value.split())
        elif isinstance(value, list):
            found.extend(v for v in value if isinstance(v, str))
    return tuple(dict.fromkeys(found))


def _check_scopes(granted: tuple[str, ...], wanted: Sequence[str] | None, code: str) -> None:
    """At least one of the method's / route's scopes must be granted (§6.1, §6.2)."""
    if wanted and not any(scope in granted for scope in wanted):
        raise TokenRejected(code, f"token scopes {list(granted)} include none of {list(wanted)}")


def _values(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()


def _shown(value: Any) -> str:
    """``repr`` of a value from a token or JWKS, for a reason text. Bounded: a hostile value may
    nest deeper than ``repr`` can recurse (RecursionError) or be an int too long to print."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        return f"<a {type(value).__name__} too deep or too long to show>"
    return text if len(text) <= 200 else text[:197] + "..."


def _listing(items: Sequence[str]) -> str:
    return repr(items[0]) if len(items) == 1 else repr(list(items))


def iso_time(timestamp: float) -> str:
    """A NumericDate as ``2026-11-25T07:00:00Z`` (the raw number if out of range)."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
    except (OverflowError, OSError, ValueError):
        return repr(timestamp)


# --------------------------------------------------------------------------- claim rendering


def rest_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """REST ``requestContext.authorizer.claims``: strings; arrays comma-joined; exp/iat/nbf as
    Java dates (``Tue Apr 04 18:39:39 UTC 2023``, captured on re:Post); nulls dropped (§6.1)."""
    out = {}
    for name, value in claims.items():
        if type(value) is str:  # the common case, first
            out[name] = value
        elif value is None:
            continue
        elif name in ("exp", "iat", "nbf") and _is_number(value):
            out[name] = java_date(value)
        elif isinstance(value, list):
            out[name] = ",".join(_scalar(v) for v in value)
        else:
            out[name] = _scalar(value)
    return out


def http_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """HTTP API ``jwt.claims``: strings; arrays as ``[a b]``; nulls dropped (§6.2, captures)."""
    out = {}
    for name, value in claims.items():
        if type(value) is str:  # the common case, first
            out[name] = value
        elif value is None:
            continue
        elif isinstance(value, list):
            out[name] = "[" + " ".join(_scalar(v) for v in value) + "]"
        else:
            out[name] = _scalar(value)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return orjson.dumps(value).decode()


def java_date(timestamp: float) -> str:
    """Java ``Date.toString()`` in UTC, as AWS renders REST Cognito date claims."""
    try:
        t = time.gmtime(timestamp)
    except (OverflowError, OSError, ValueError):
        return _scalar(timestamp)
    return (f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} UTC {t.tm_year}")


# --------------------------------------------------------------------------- verification


def decode_unverified(identity: str | None,
                      config: CognitoConfig | JwtConfig) -> ParsedToken | TokenResult:
    """Strip the scheme and decode without verifying: a ParsedToken, or the deny answer."""
    try:
        return parse_token(extract_token(identity, config.allow_bearer))
    except TokenRejected as rejected:
        return failure(config, rejected)


def verify_cognito(token: str | ParsedToken | None, keys: KeySet, config: CognitoConfig,
                   scopes: Sequence[str] | None = None, now: float | None = None) -> TokenResult:
    """REST ``COGNITO_USER_POOLS`` (§6.1): issuer, signature, times, token_use, client, scopes."""
    now = time.time() if now is None else now
    try:
        parsed = _parsed(token, config)
        claims = parsed.claims
        issuer = _check_issuer(claims, config.issuers)
        kid = _check_signature(parsed, keys, config.algorithms)
        exp = _check_times(claims, now, config.clock_skew)
        use = _check_token_use(claims, scopes)
        _check_cognito_client(claims, config, use)
        _check_scopes(token_scopes(claims), scopes, "scope")
    except TokenRejected as rejected:
        return cognito_failure(rejected)
    return TokenResult("allow", _allow_reason(claims, kid, use), kind=config.kind,
                       principal_id=_sub(claims), claims=rest_claims(claims), raw_claims=claims,
                       issuer=issuer, kid=kid, expires_at=exp)


def verify_jwt(token: str | ParsedToken | None, keys: KeySet, config: JwtConfig,
               scopes: Sequence[str] | None = None, now: float | None = None) -> TokenResult:
    """HTTP API ``JWT`` (§6.2): signature, issuer, audience, times, then route scopes."""
    now = time.time() if now is None else now
    try:
        parsed = _parsed(token, config)
        claims = parsed.claims
        kid = _check_signature(parsed, keys, config.algorithms)
        issuer = _check_issuer(claims, config.issuers)
        _check_jwt_audience(claims, config.audience)
        exp = _check_times(claims, now, config.clock_skew)
        granted = token_scopes(claims, ("scope", "scp"))
        _check_scopes(granted, scopes, "insufficient_scope")
    except TokenRejected as rejected:
        return jwt_failure(rejected, scopes or ())
    return TokenResult("allow", _allow_reason(claims, kid, None), kind=config.kind,
                       principal_id=_sub(claims), claims=http_claims(claims), raw_claims=claims,
                       scopes=granted if scopes else None, issuer=issuer, kid=kid, expires_at=exp)


def verify_token(token: str | ParsedToken | None, keys: KeySet, config: CognitoConfig | JwtConfig,
                 scopes: Sequence[str] | None = None, now: float | None = None) -> TokenResult:
    """Verify with the rules of ``config``'s authorizer type; ``keys`` are the issuer's keys."""
    if config.kind == "JWT":
        return verify_jwt(token, keys, config, scopes, now)  # type: ignore[arg-type]
    return verify_cognito(token, keys, config, scopes, now)  # type: ignore[arg-type]


def _parsed(token: str | ParsedToken | None, config: CognitoConfig | JwtConfig) -> ParsedToken:
    if isinstance(token, ParsedToken):
        return token
    return parse_token(extract_token(token, config.allow_bearer))


def _sub(claims: Mapping[str, Any]) -> str | None:
    sub = claims.get("sub")
    return None if sub is None else _scalar(sub)


def _allow_reason(claims: Mapping[str, Any], kid: str, use: str | None) -> str:
    what = f"{use} token" if use else "token"
    return (f"{what} for sub {_shown(claims.get('sub'))} verified with kid {kid!r}, "
            f"valid until {iso_time(claims['exp'])}")


# --------------------------------------------------------------------------- cache


class VerifiedTokenCache:
    """Allowed results by key (identity value, scopes) until their ``exp``; bounded, oldest
    entry evicted first. Denials are never cached, so a later key rotation can still allow."""

    __slots__ = ("_entries", "max_size")

    def __init__(self, max_size: int = 10_000):
        self._entries: dict[Any, TokenResult] = {}
        self.max_size = max_size

    def get(self, key: Any, now: float) -> TokenResult | None:
        result = self._entries.get(key)
        if result is not None and now >= result.expires_at:
            del self._entries[key]
            return None
        return result

    def put(self, key: Any, result: TokenResult) -> None:
        if not result.allowed or self.max_size <= 0:
            return
        if key not in self._entries and len(self._entries) >= self.max_size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = result

    def discard(self, key: Any) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
