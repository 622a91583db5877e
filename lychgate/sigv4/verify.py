"""Server-side SigV4 verification reproducing Amazon API Gateway's outcomes.

``verify`` takes a request exactly as received and returns either ``Verified``
or a ``SigV4Error`` carrying the AWS error type and message text of spec B6;
it runs the checks in spec B5 order so the same bad request yields the same
message as AWS, and never raises on hostile input (everything malformed fails
closed).  Both the ``Authorization`` header form and the presigned query form
(B1) are supported; SigV4A is rejected as an unsupported algorithm (B7).
``X-Amz-Content-SHA256``, when sent as 64 hex digits, is used verbatim in the
canonical request and the body must hash to it; ``UNSIGNED-PAYLOAD`` is refused
by default (API Gateway appears to hash the body anyway: aws-sdk-js-v3#308) and
accepted only with ``allow_unsigned_payload=True``; streaming and malformed
values are refused.  A refused value makes the request fail as a signature
mismatch whose canonical string carries the real body hash, i.e. what the
client should have signed.  Signing keys are cached per (secret, date, region,
service) in a bounded LRU cache.

Requests as SDKs sign them (``Authorization: AWS4-HMAC-SHA256 Credential=…,
SignedHeaders=…, Signature=…`` and ``X-Amz-Date``) are verified in one pass
(``verify_sdk_request``) that reuses what repeats from call to call, in bounded caches
of pure functions: what the Authorization value says before its signature (key,
scope, SignedHeaders), the canonical forms of paths and queries, the canonical
request's hash per caller, request line, signed values, date and payload hash (a
caller's requests to one resource in one second share it) with the signature it must
carry under the caller's current secret, and per key and second the HMAC state after
the string to sign's head.  Every request's signature is compared with the expected
one in constant time, and the clock, scope and session token are checked every time.
Whatever that pass does not recognise takes the general path, check by check; both give
the same result (``tests/sigv4/test_fast_path.py``,
``tests/sigv4/test_fast_path_memory.py``).
"""

from __future__ import annotations

import enum
import functools
import hmac
import operator
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from .canonical import (
    ALGORITHM,
    EMPTY_SHA256,
    TERMINATOR,
    assemble_canonical_request,
    canonical_headers,
    canonical_query_from_pairs,
    canonical_uri,
    derive_signing_key,
    encode_utf8,
    header_map,
    hmac_pads,
    hmac_pads_after,
    query_pairs,
    sha256_hex,
    sha256_hex_text,
    signature_from_pads,
    signed_header_names,
    string_to_sign,
    string_to_sign_head,
)

__all__ = [
    "AuthorizationParts",
    "MAX_PRESIGN_EXPIRES",
    "SKEW_SECONDS",
    "SigV4Error",
    "SigV4ErrorKind",
    "SigningCredentials",
    "Verified",
    "parse_amz_date",
    "parse_authorization_header",
    "verify",
    "verify_sdk_request",
]

SKEW_SECONDS = 300  # spec B4: API Gateway allows +-5 minutes
MAX_PRESIGN_EXPIRES = 604800  # spec B1.2: 7 days
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_WS = " \t\r\n\v\f"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_UTC = timezone.utc
# The Authorization header as SDKs write it: exactly the three parameters, in this order, each value
# free of ``,`` and not ending in the whitespace AWS trims. Such a value parses
# (``_split_authorization``) to algorithm AWS4-HMAC-SHA256 and these three values (nothing to
# trim), so the common case skips the general parser.
_SDK_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,]*[^, \t\r\n\v\f]), ?"
                                r"SignedHeaders=([^,]*[^, \t\r\n\v\f]), ?"
                                r"Signature=([^,]*[^, \t\r\n\v\f])").fullmatch
# Canonical forms of the paths and (header-form) queries seen lately: pure functions of the raw
# text, which repeats from call to call. Bounded: emptied when full; long texts are not kept.
_CANONICAL_PATHS: dict[str, str] = {}
_CANONICAL_QUERIES: dict[str, str] = {}
# The canonical requests seen lately, by (method, raw path, raw query, what the Authorization value
# says (an _SdkAuthorization: key, scope, SignedHeaders), the values of the signed headers but
# X-Amz-Date, X-Amz-Date, payload hash): the requests of one caller to one resource in one second
# share theirs. Each entry is a list [hash of the canonical request, (signing, expected signature)]:
# the signature that request must carry under one ``_SdkAuthorization.signing`` (key, secret and
# second), computed by its first request and compared with every request's in constant time.
# Bounded as the two above.
_CANONICAL_HASHES: dict[tuple, list] = {}
# What SDK-shaped Authorization values say, by their text before the signature (see
# _sdk_authorization): a client sends the same key, scope and SignedHeaders all day long.
_SDK_AUTHORIZATIONS: dict[str, _SdkAuthorization] = {}
_CANONICAL_MAX, _SDK_AUTHORIZATIONS_MAX, _REMEMBERED_MAX_LENGTH = 1024, 256, 512
_HMAC_HEX_DIGITS = 64  # a signature as every SDK sends it: hex HMAC-SHA256


def _remember(cache: dict, key, value, most: int, length: int):
    """Keep ``value`` for ``key`` in one of the caches above (at most ``most`` entries) unless the
    texts the key stands for are ``length`` characters long or more; returns ``value``."""
    if length <= _REMEMBERED_MAX_LENGTH:
        if len(cache) >= most:
            cache.clear()
        cache[key] = value
    return value


@dataclass(frozen=True, slots=True)
class SigningCredentials:
    """What the key store returns for an access key id."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None  # must equal X-Amz-Security-Token when set
    expires_at: float | None = None  # epoch seconds; past -> ExpiredToken


class SigV4ErrorKind(enum.Enum):
    """One member per AWS outcome of spec B6; the value is the x-amzn-ErrorType."""

    MISSING_AUTHENTICATION_TOKEN = "MissingAuthenticationTokenException"
    INCOMPLETE_SIGNATURE = "IncompleteSignatureException"
    INVALID_SIGNATURE = "InvalidSignatureException"
    UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
    EXPIRED_TOKEN = "ExpiredTokenException"


@dataclass(frozen=True, slots=True)
class SigV4Error:
    """A rejected request: AWS-compatible type and message plus our own detail."""

    kind: SigV4ErrorKind
    error_type: str  # exact x-amzn-ErrorType
    message: str  # exact AWS message text (spec B6)
    detail: str  # one-line human explanation (ours, not AWS's)


@dataclass(slots=True)  # one per signed request: a frozen dataclass's __init__ costs several times more
class Verified:
    """A request whose signature checked out (the requests of one key and second may share one:
    do not modify it)."""

    credentials: SigningCredentials
    access_key_id: str
    signed_at: float  # the request date (X-Amz-Date) as epoch seconds
    form: str  # "header" or "query"
    region: str
    service: str
    signed_headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthorizationParts:
    """The parsed ``Authorization`` header (spec B1.1), for explanations."""

    raw: str  # the trimmed header value
    algorithm: str
    credential: str | None
    signed_headers: str | None
    signature: str | None
    params: tuple[tuple[str, str], ...]  # every key=value piece, in order


class _Auth:
    """Signature parameters gathered from either form (internal, mutable)."""

    __slots__ = ("form", "algorithm", "credential", "signed_raw", "signature", "date_raw",
                 "date_name", "token", "expires_raw", "iso", "epoch", "expires", "signed")

    def __init__(self, form, algorithm, credential, signed_raw, signature, date_raw, date_name,
                 token, expires_raw):
        self.form, self.algorithm, self.credential = form, algorithm, credential
        self.signed_raw, self.signature, self.date_raw = signed_raw, signature, date_raw
        self.date_name, self.token, self.expires_raw = date_name, token, expires_raw
        self.iso, self.epoch, self.expires, self.signed = "", 0.0, None, []


# ---------------------------------------------------------------- messages (spec B6)

_MSG_MISSING = "Missing Authentication Token"
_MSG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_MSG_HOST = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
_MSG_UNKNOWN_KEY = "The security token included in the request is invalid."
_MSG_BAD_TOKEN = "The security token included in the request is invalid"
_MSG_EXPIRED_TOKEN = "The security token included in the request is expired"
_HEADER_MISSING = (
    ("Credential", "Authorization header requires 'Credential' parameter."),
    ("Signature", "Authorization header requires 'Signature' parameter."),
    ("SignedHeaders", "Authorization header requires 'SignedHeaders' parameter."),
)
_MSG_HEADER_NO_DATE = (
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
)
_QUERY_REQUIRED = ("X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")


def _error(kind: SigV4ErrorKind, message: str, detail: str) -> SigV4Error:
    return SigV4Error(kind, kind.value, message, detail)


def _incomplete(message: str, detail: str) -> SigV4Error:
    return _error(SigV4ErrorKind.INCOMPLETE_SIGNATURE, message, detail)


def _invalid(message: str, detail: str) -> SigV4Error:
    return _error(SigV4ErrorKind.INVALID_SIGNATURE, message, detail)


def _mismatch(canonical: str, sts: str, detail: str) -> SigV4Error:
    """Signature mismatch with API Gateway's canonical-string tail (spec B6)."""
    tail = (f"\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{sts}'\n")
    return _invalid(_MSG_MISMATCH + tail, detail)


def _stamp(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


# ---------------------------------------------------------------- parsing (spec B1)

def _split_authorization(value: str) -> tuple[str, str, dict[str, str]] | SigV4Error:
    """Trimmed value, algorithm and key=value params of an Authorization header (spec B1.1)."""
    raw = value.strip(_WS)
    algorithm, _, rest = raw.partition(" ")
    params: dict[str, str] = {}
    for piece in rest.split(","):
        piece = piece.strip(_WS)
        if not piece:
            continue
        key, eq, val = piece.partition("=")
        if not eq:
            message = (f"'{piece}' not a valid key=value pair (missing equal-sign) "
                       f"in Authorization header: '{raw}'.")
            # AWS echoes the header to its sender; the detail goes to traces and logs: never the value.
            return _incomplete(message, f"Authorization header ({_scheme(algorithm)}) is not SigV4: a piece of "
                                        f"{len(piece)} characters has no '=' (not shown: it may be a credential)")
        params[key] = val
    return raw, algorithm, params


_KNOWN_SCHEMES = {s.lower(): s for s in ("AWS4-HMAC-SHA256", "Bearer", "Basic", "Digest", "Negotiate", "Token")}


def _scheme(algorithm: str) -> str:
    """The header's scheme for a trace, if it is a well-known one (a raw token must not be shown)."""
    known = _KNOWN_SCHEMES.get(algorithm.lower())
    return f"scheme {known}" if known else "an unknown scheme"


def parse_authorization_header(value: str) -> AuthorizationParts | SigV4Error:
    """Parse an Authorization header the way AWS does (spec B1.1, B5 step 2).

    Trim; the algorithm is the text up to the first space; the rest is split on
    ``,``, each piece trimmed, empty pieces ignored, each split on its first
    ``=`` (a later duplicate key wins).  A piece without ``=`` is an
    IncompleteSignature error.
    """
    split = _split_authorization(value)
    if type(split) is SigV4Error:
        return split
    raw, algorithm, params = split
    return AuthorizationParts(raw, algorithm, params.get("Credential"),
                              params.get("SignedHeaders"), params.get("Signature"),
                              tuple(params.items()))


def _missing_parts(raw: str, present: dict[str, str | None], has_date: bool) -> SigV4Error:
    """One IncompleteSignature listing every missing part, then ``Authorization=`` (B6)."""
    absent = [key for key, _ in _HEADER_MISSING if present.get(key) is None]
    texts = [text for key, text in _HEADER_MISSING if present.get(key) is None]
    if not has_date:
        texts.append(_MSG_HEADER_NO_DATE)
        absent.append("X-Amz-Date/Date header")
    message = "".join(text + " " for text in texts) + f"Authorization={raw}"
    return _incomplete(message, "Authorization header lacks " + ", ".join(absent))


def _from_header(value: str, grouped: dict[str, list[str]]) -> _Auth | SigV4Error:
    """Header form: parse, then report every missing part at once (spec B5 steps 2-3)."""
    split = _split_authorization(value)
    if type(split) is SigV4Error:
        return split
    raw, algorithm, params = split
    credential, signature = params.get("Credential"), params.get("Signature")
    signed = params.get("SignedHeaders")
    date_name = "x-amz-date" if "x-amz-date" in grouped else "date" if "date" in grouped else None
    if credential is None or signature is None or signed is None or date_name is None:
        return _missing_parts(raw, params, date_name is not None)
    token = grouped.get("x-amz-security-token")
    return _Auth("header", algorithm, credential, signed, signature, grouped[date_name][0],
                 date_name, token[0] if token else None, None)


def _from_query(pairs: list[tuple[str, str]]) -> _Auth | SigV4Error:
    """Presigned form: first value of each X-Amz-* parameter (spec B1.2, B5 step 3)."""
    found: dict[str, str] = {}
    for name, value in pairs:
        if name.startswith("X-Amz-") and name not in found:
            found[name] = unquote(value, errors="replace")
    missing = [name for name in _QUERY_REQUIRED if name not in found]
    if missing:
        message = " ".join(f"AWS query-string parameters must include '{name}'."
                           for name in missing) + " Re-examine the query-string parameters."
        return _incomplete(message, "presigned query lacks " + ", ".join(missing))
    return _Auth("query", found["X-Amz-Algorithm"], found["X-Amz-Credential"],
                 found["X-Amz-SignedHeaders"], found["X-Amz-Signature"], found["X-Amz-Date"],
                 None, found.get("X-Amz-Security-Token"), found.get("X-Amz-Expires"))


def _locate(grouped: dict[str, list[str]], pairs: list[tuple[str, str]],
            raw_query: str) -> _Auth | SigV4Error:
    """Find where the signature is (spec B1.3, B5 steps 1-3).

    The presigned form is recognised by a (decoded) ``X-Amz-Algorithm`` name.
    """
    header = grouped.get("authorization")
    in_query = ("X-Amz-Algorithm" in raw_query or "%" in raw_query) and any(
        name == "X-Amz-Algorithm" for name, _ in pairs)
    if header is None:
        if in_query:
            return _from_query(pairs)
        return _error(SigV4ErrorKind.MISSING_AUTHENTICATION_TOKEN, _MSG_MISSING,
                      "no Authorization header and no X-Amz-Algorithm query parameter")
    if in_query:
        return _invalid(_MSG_MISMATCH, "both an Authorization header and X-Amz-Algorithm "
                        "query parameter are present")
    return _from_header(header[0], grouped)


# ---------------------------------------------------------------- dates (spec B4)

@functools.lru_cache(maxsize=512)
def _day_start(yyyymmdd: str) -> float | None:
    try:
        day = datetime(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]), tzinfo=_UTC)
    except ValueError:
        return None
    return day.timestamp()


@functools.lru_cache(maxsize=1024)  # the same stamps arrive many times a second
def parse_amz_date(value: str) -> float | None:
    """Epoch seconds of an ISO 8601 basic ``YYYYMMDDTHHMMSSZ`` value, else None (spec B4)."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z" or not value.isascii():
        return None
    day, clock = value[:8], value[9:15]
    if not (day.isdigit() and clock.isdigit()):
        return None
    hours, rest = divmod(int(clock), 10000)
    minutes, seconds = divmod(rest, 100)
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    start = _day_start(day)
    if start is None:
        return None
    return start + hours * 3600 + minutes * 60 + seconds


def _parse_http_date(value: str) -> float | None:
    """RFC 1123/2822 ``Date`` header (botocore sends this form) as epoch seconds.

    Accepting it is our reading of B4 ("X-Amz-Date or Date"), marked unconfirmed.
    """
    try:
        parsed = parsedate_to_datetime(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_UTC)
        epoch = parsed.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return epoch if 0 <= epoch < 253402300800 else None


def _parse_expires(raw: str) -> int | SigV4Error:
    """X-Amz-Expires: whole seconds in 0..604800 (spec B1.2; S3's texts, unconfirmed)."""
    if raw.startswith("-") and raw[1:].isascii() and raw[1:].isdigit():
        return _incomplete("X-Amz-Expires must be non-negative", f"X-Amz-Expires={raw}")
    if not (raw.isascii() and raw.isdigit()):
        return _incomplete("X-Amz-Expires should be a number", f"X-Amz-Expires={raw!r}")
    if len(raw) > 7 or int(raw) > MAX_PRESIGN_EXPIRES:
        return _incomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800",
                           f"X-Amz-Expires={raw} exceeds 604800")
    return int(raw)


def _check_date(auth: _Auth) -> SigV4Error | None:
    """Request date must be ISO 8601 basic (spec B5 step 4); sets iso/epoch/expires."""
    epoch = parse_amz_date(auth.date_raw)
    if epoch is not None:
        auth.iso = auth.date_raw
    elif auth.date_name == "date" and (epoch := _parse_http_date(auth.date_raw)) is not None:
        auth.iso = _stamp(epoch)
    else:
        message = (f"Date must be in ISO-8601 'basic format'. Got '{auth.date_raw}'. "
                   "See http://en.wikipedia.org/wiki/ISO_8601")
        return _incomplete(message, f"unparseable request date {auth.date_raw!r}")
    auth.epoch = epoch
    if auth.expires_raw is not None:
        expires = _parse_expires(auth.expires_raw)
        if type(expires) is SigV4Error:
            return expires
        auth.expires = expires
    return None


def _check_window(auth: _Auth, now: float) -> SigV4Error | None:
    """Clock skew +-5 min, or the presigned validity window (spec B4, B5 step 5).

    A presigned request is valid from X-Amz-Date - 5 min to X-Amz-Date +
    X-Amz-Expires; its expiry text is modelled on the skew text (unconfirmed).
    """
    if auth.epoch > now + SKEW_SECONDS:
        message = (f"Signature not yet current: {auth.iso} is still later than "
                   f"{_stamp(now + SKEW_SECONDS)} ({_stamp(now)} + 5 min.)")
        ahead = (auth.epoch - now) / 60
        return _invalid(message, f"request date {auth.iso} is {ahead:.1f} min ahead of server time")
    if auth.expires is not None:
        if now <= auth.epoch + auth.expires:
            return None
        message = (f"Signature expired: {auth.iso} is now earlier than "
                   f"{_stamp(now - auth.expires)} ({_stamp(now)} - {auth.expires} sec.)")
        late = now - auth.epoch - auth.expires
        return _invalid(message, f"presigned URL expired {late:.0f} s ago")
    if auth.epoch < now - SKEW_SECONDS:
        message = (f"Signature expired: {auth.iso} is now earlier than "
                   f"{_stamp(now - SKEW_SECONDS)} ({_stamp(now)} - 5 min.)")
        behind = (now - auth.epoch) / 60
        return _invalid(message, f"request date {auth.iso} is {behind:.1f} min behind server time")
    return None


# ---------------------------------------------------------------- scope (spec B4)

def _check_signed(auth: _Auth, require_signed_date: bool) -> SigV4Error | None:
    """``host`` (or ``:authority``) must be signed; so must the date header (spec B4, B5 step 6).

    Requiring the date header to be signed is the spec's recommendation (B4,
    configurable); the message follows scratchstack's pattern (unconfirmed).
    """
    signed = auth.signed = sorted(auth.signed_raw.lower().split(";"))
    if "host" not in signed and ":authority" not in signed:
        return _invalid(_MSG_HOST, f"SignedHeaders {auth.signed_raw!r} does not include 'host'")
    if require_signed_date and auth.date_name is not None and auth.date_name not in signed:
        shown = "X-Amz-Date" if auth.date_name == "x-amz-date" else "Date"
        return _invalid(f"'{shown}' must be a 'SignedHeader' in the AWS Authorization.",
                        f"the {shown} header is used but not listed in SignedHeaders")
    return None


def _check_scope(auth: _Auth, region: str, service: str) -> tuple[str, tuple] | SigV4Error:
    """Algorithm, credential shape and scope (spec B5 steps 7-9).

    Returns the key id and (scope string, date, region, service).
    """
    if auth.algorithm != ALGORITHM:
        message = (f"Unsupported AWS 'algorithm': '{auth.algorithm}' "
                   "(only AWS4-HMAC-SHA256 for now). ")
        return _incomplete(message, f"algorithm {auth.algorithm!r} is not AWS4-HMAC-SHA256")
    parts = auth.credential.split("/")
    if len(parts) != 5:
        message = ("Credential must have exactly 5 slash-delimited elements, "
                   f"e.g. keyid/date/region/service/term, got '{auth.credential}'")
        return _incomplete(message, f"credential has {len(parts)} parts, not 5")
    key_id, date, cred_region, cred_service, terminator = parts
    problems = []
    if cred_region != region:
        problems.append(f"Credential should be scoped to a valid region, not '{cred_region}'. ")
    if cred_service != service:
        problems.append(f"Credential should be scoped to correct service: '{service}'. ")
    if terminator != TERMINATOR:
        problems.append("Credential should be scoped with a valid terminator: "
                        f"'aws4_request', not '{terminator}'. ")
    if date != auth.iso[:8]:
        problems.append("Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                        f"version of date from HTTP: '{date}' != '{auth.iso[:8]}', "
                        f"from '{auth.iso}'. ")
    if problems:
        detail = f"credential scope {'/'.join(parts[1:])!r} does not match " \
                 f"{auth.iso[:8]}/{region}/{service}/{TERMINATOR}"
        return _invalid("".join(problems), detail)
    return key_id, (auth.credential[len(key_id) + 1:], date, region, service)


# ---------------------------------------------------------------- signature (spec B2/B3)

@functools.lru_cache(maxsize=4096)
def _signing_pads(secret: str, date: str, region: str, service: str) -> tuple[object, object]:
    """kSigning per (secret, date, region, service), kept as HMAC states (spec B3)."""
    return hmac_pads(derive_signing_key(secret, date, region, service))


def _payload_hash(value: str | None, body_hash: str, allow_unsigned: bool) -> tuple[str, str | None]:
    """HashedPayload to use given the X-Amz-Content-SHA256 value sent, if any, plus why the
    request must fail regardless (spec B2)."""
    if value is None:
        return body_hash, None
    if _HEX64.fullmatch(value):
        if value.lower() == body_hash:
            return value, None
        return value, f"body SHA-256 {body_hash} does not match X-Amz-Content-SHA256 {value}"
    if value == UNSIGNED_PAYLOAD and allow_unsigned:
        return value, None
    if value == UNSIGNED_PAYLOAD:
        return body_hash, "X-Amz-Content-SHA256: UNSIGNED-PAYLOAD is not accepted for this API"
    return body_hash, f"X-Amz-Content-SHA256 value {value[:60]!r} is not accepted (not a SHA-256)"


def _check_signature(method: str, raw_path: str, body: bytes, grouped: dict[str, list[str]],
                     pairs: list[tuple[str, str]], auth: _Auth, scope: tuple[str, str, str, str],
                     secret: str, allow_unsigned: bool) -> SigV4Error | None:
    """Recompute and compare in constant time (spec B3, B5 step 11)."""
    body_hash = sha256_hex(body) if body else EMPTY_SHA256
    declared = grouped.get("x-amz-content-sha256")
    payload, refusal = _payload_hash(declared[0] if declared else None, body_hash, allow_unsigned)
    uri = canonical_uri(raw_path)
    query = canonical_query_from_pairs(pairs, auth.form == "query")
    block = canonical_headers(grouped, auth.signed)
    signed_line = ";".join(auth.signed)
    canonical = assemble_canonical_request(method, uri, query, block, signed_line, payload)
    scope, date, region, service = scope
    sts = string_to_sign(auth.iso, scope, canonical)
    expected = signature_from_pads(_signing_pads(secret, date, region, service), sts)
    given = auth.signature
    if refusal is None and given.isascii() and hmac.compare_digest(expected, given):
        return None
    return _signature_failure(method, uri, query, block, signed_line, payload, body_hash, refusal, auth.iso, scope)


def _signature_failure(method: str, uri: str, query: str, block: str, signed_line: str, payload: str,
                       body_hash: str, refusal: str | None, iso: str, scope: str) -> SigV4Error:
    """The mismatch error: its canonical string carries the body's real hash (spec B6)."""
    canonical = assemble_canonical_request(method, uri, query, block, signed_line, body_hash)
    sts = string_to_sign(iso, scope, canonical)
    detail = refusal or (f"signature over SignedHeaders {signed_line!r} does not match; "
                         "check the secret key and the canonical request")
    return _mismatch(canonical, sts, detail)


def _check_token(sent: str | None, creds: SigningCredentials, now: float) -> SigV4Error | None:
    """Session token must be the one issued with the key; expiry (spec B5 step 12).

    An empty token counts as absent; a token sent for a long-term key is invalid.
    It need not be signed (``post-sts-header-after``, spec B4).
    """
    token, issued = sent or None, creds.session_token
    if issued is None and token is not None:
        return _error(SigV4ErrorKind.UNRECOGNIZED_CLIENT, _MSG_BAD_TOKEN,
                      "X-Amz-Security-Token sent for a key that has no session token")
    if issued is not None:
        if token is None:
            return _error(SigV4ErrorKind.UNRECOGNIZED_CLIENT, _MSG_UNKNOWN_KEY,
                          "temporary key used without X-Amz-Security-Token")
        if not hmac.compare_digest(encode_utf8(token), encode_utf8(issued)):
            return _error(SigV4ErrorKind.UNRECOGNIZED_CLIENT, _MSG_BAD_TOKEN,
                          "X-Amz-Security-Token is not the token issued with this key")
    if creds.expires_at is not None and now >= creds.expires_at:
        return _error(SigV4ErrorKind.EXPIRED_TOKEN, _MSG_EXPIRED_TOKEN,
                      f"credentials expired at {_stamp(creds.expires_at)}")
    return None


# ---------------------------------------------------------------- entry point

def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    lookup: Callable[[str], SigningCredentials | None],
    region: str,
    service: str = "execute-api",
    now: float | None = None,
    allow_unsigned_payload: bool = False,
    require_signed_date: bool = True,
    grouped_headers: Mapping[str, list[str]] | None = None,
    one_pass: bool = True,
) -> Verified | SigV4Error:
    """Verify a received request's SigV4 signature, checks in spec B5 order.

    ``raw_path``/``raw_query`` are as on the wire (percent-encoded, no ``?``),
    ``headers`` the received (name, value) pairs including ``Host``, ``body``
    the raw bytes, ``lookup`` maps an access key id to its credentials.
    ``grouped_headers``, when given, is ``headers`` grouped by lower-case name
    in received order (``header_map(headers)``, as ``Request.header_map``).
    ``one_pass=False``: the caller already tried ``verify_sdk_request``, which returned None.
    """
    if now is None:
        now = time.time()
    if one_pass:
        verified = verify_sdk_request(method, raw_path, raw_query, headers, body, lookup, region, service, now,
                                      allow_unsigned_payload)
        if verified is not None:
            return verified
    grouped = header_map(headers) if grouped_headers is None else grouped_headers
    pairs = query_pairs(raw_query)
    auth = _locate(grouped, pairs, raw_query)
    if type(auth) is SigV4Error:
        return auth
    failure = (_check_date(auth) or _check_window(auth, now)
               or _check_signed(auth, require_signed_date))
    if failure is not None:
        return failure
    scoped = _check_scope(auth, region, service)
    if type(scoped) is SigV4Error:
        return scoped
    key_id, scope = scoped
    creds = lookup(key_id)
    if creds is None:
        return _error(SigV4ErrorKind.UNRECOGNIZED_CLIENT, _MSG_UNKNOWN_KEY,
                      f"access key id {key_id!r} is not known")
    failure = (_check_signature(method, raw_path, body, grouped, pairs, auth, scope,
                                creds.secret_access_key, allow_unsigned_payload)
               or _check_token(auth.token, creds, now))
    if failure is not None:
        return failure
    return Verified(creds, key_id, auth.epoch, auth.form, region, service, tuple(auth.signed))


# ---------------------------------------------------------------- one pass for SDK requests

class _SdkAuthorization:
    """What an Authorization value as SDKs write it says before its signature, and the signing
    state of its latest second (see ``sign_as``)."""

    __slots__ = ("key_id", "date", "region", "service", "scope", "names", "signed_line", "others", "signing")

    def __init__(self, key_id: str, date: str, region: str, service: str, scope: str, names: tuple[str, ...]):
        self.key_id, self.date, self.region, self.service, self.scope = key_id, date, region, service, scope
        self.names, self.signed_line = names, ";".join(names)
        # The values of the signed headers but X-Amz-Date, from a name -> value map: what, with the
        # request line, makes the canonical request but for the date (KeyError: one is absent).
        self.others = operator.itemgetter(*[name for name in names if name != "x-amz-date"])
        self.signing: tuple = (None, "")  # see sign_as

    def sign_as(self, creds: SigningCredentials, iso: str, epoch: float) -> tuple:
        """What the requests of one key and second share, kept as ``signing``: (credentials,
        X-Amz-Date, HMAC pads of the signing key with the head of the string to sign already hashed
        (``hmac_pads_after``), the ``Verified`` each of them whose signature checks out returns)."""
        pads = _signing_pads(creds.secret_access_key, self.date, self.region, self.service)
        pads = hmac_pads_after(pads, string_to_sign_head(iso, self.scope))
        verified = Verified(creds, self.key_id, epoch, "header", self.region, self.service, self.names)
        self.signing = signing = (creds, iso, pads, verified)  # one assignment: readers see it whole
        return signing


def _sdk_authorization(value: str) -> _SdkAuthorization | None:
    """What an Authorization value as SDKs write it says, up to its signature.

    ``None`` unless ``_SDK_AUTHORIZATION`` reads it with a 64-character signature, a credential of
    five ``/``-separated parts ending in ``aws4_request``, host (or ``:authority``) and X-Amz-Date
    signed: anything else takes the general path. Remembered by the text before the signature,
    which reads the same whatever 64 characters follow it, if free of ``,`` and not ending in
    whitespace.
    """
    parts = _SDK_AUTHORIZATION(value)
    if parts is None:
        return None
    credential, signed_raw, sent = parts.groups()
    fields_ = credential.split("/")
    if len(sent) != _HMAC_HEX_DIGITS or len(fields_) != 5 or fields_[4] != TERMINATOR:
        return None
    names = tuple(signed_header_names(signed_raw))
    if "host" not in names and ":authority" not in names or "x-amz-date" not in names:
        return None
    key_id, date, region, service, _ = fields_
    said = _SdkAuthorization(key_id, date, region, service, credential[len(key_id) + 1:], names)
    prefix = value[:-_HMAC_HEX_DIGITS]
    return _remember(_SDK_AUTHORIZATIONS, prefix, said, _SDK_AUTHORIZATIONS_MAX, len(prefix))


def _canonical_parts(method: str, raw_path: str, raw_query: str, said: _SdkAuthorization,
                     values: dict[str, str]) -> tuple[str, str, str] | None:
    """Canonical URI, query and headers block of a request the one pass reads (spec B2); ``None``
    when its query also carries a presigned signature (the general path's error)."""
    query = _CANONICAL_QUERIES.get(raw_query)  # known: no X-Amz-Algorithm parameter
    if query is None:
        pairs = query_pairs(raw_query)
        if ("X-Amz-Algorithm" in raw_query or "%" in raw_query) and any(
                name == "X-Amz-Algorithm" for name, _ in pairs):
            return None
        query = _remember(_CANONICAL_QUERIES, raw_query, canonical_query_from_pairs(pairs), _CANONICAL_MAX,
                          len(raw_query))
    uri = _CANONICAL_PATHS.get(raw_path)
    if uri is None:
        uri = _remember(_CANONICAL_PATHS, raw_path, canonical_uri(raw_path), _CANONICAL_MAX, len(raw_path))
    return uri, query, canonical_headers({name: [values[name]] for name in said.names}, said.names)


def _canonical_entry(key: tuple, said: _SdkAuthorization, values: dict[str, str]) -> list | None:
    """The ``_CANONICAL_HASHES`` entry for ``key``, made and remembered, no signature in it yet;
    ``None`` when the query also carries a presigned signature."""
    method, raw_path, raw_query, payload = key[0], key[1], key[2], key[-1]
    parts = _canonical_parts(method, raw_path, raw_query, said, values)
    if parts is None:
        return None
    digest = sha256_hex_text(assemble_canonical_request(method, *parts, said.signed_line, payload))
    length = len(raw_path) + len(raw_query) + sum(len(values[name]) for name in said.names)
    return _remember(_CANONICAL_HASHES, key, [digest, None], _CANONICAL_MAX, length)


def _one_pass_failure(method: str, raw_path: str, raw_query: str, said: _SdkAuthorization, values: dict[str, str],
                      payload: str, body_hash: str, refusal: str | None) -> SigV4Error:
    """``_signature_failure`` of a request the one pass read."""
    uri, query, block = _canonical_parts(method, raw_path, raw_query, said, values)
    return _signature_failure(method, uri, query, block, said.signed_line, payload, body_hash, refusal,
                              values["x-amz-date"], said.scope)


def verify_sdk_request(method: str, raw_path: str, raw_query: str, headers: Sequence[tuple[str, str]], body: bytes,
                       lookup: Callable[[str], SigningCredentials | None], region: str, service: str, now: float,
                       allow_unsigned: bool) -> Verified | SigV4Error | None:
    """``verify`` for the request SDKs send, in one pass; ``None``: take the general path.

    Each header once, an ``Authorization`` header as ``_sdk_authorization`` reads it, ``X-Amz-Date``
    in the ISO 8601 basic format and within the clock skew, host and date signed and present, the
    credential scoped as expected: every check of spec B5 up to the key lookup passes, so from the
    lookup on the outcome is the general path's (steps 10-12, same texts). Anything else returns
    ``None`` before the lookup and ``verify`` runs the general path, which finds the same failure
    it always did. The expected signature is computed from the canonical request's hash, both
    of which a caller's requests to one resource in one second share (``_CANONICAL_HASHES``),
    and the sent one is compared with it in constant time.
    """
    values = {}  # lower-case name -> value; a name that repeats takes the general path, which joins repeats
    for name, value in headers:
        values[name.lower()] = value
    if len(values) != len(headers):
        return None
    header = values.get("authorization")
    iso = values.get("x-amz-date")
    if header is None or iso is None:
        return None
    said = _SDK_AUTHORIZATIONS.get(header[:-_HMAC_HEX_DIGITS]) or _sdk_authorization(header)
    sent = header[-_HMAC_HEX_DIGITS:]
    if said is None or "," in sent or sent[-1] in _WS:  # else not read as the whole signature
        return None
    signing = said.signing
    if signing[1] == iso:  # the key's latest second: this date was read and matched the scope then
        epoch = signing[3].signed_at
    else:
        epoch = parse_amz_date(iso)
        if epoch is None or said.date != iso[:8]:
            return None
    if epoch > now + SKEW_SECONDS or epoch < now - SKEW_SECONDS or said.region != region or said.service != service:
        return None
    declared = values.get("x-amz-content-sha256")
    body_hash = sha256_hex(body) if body else EMPTY_SHA256
    payload, refusal = (body_hash, None) if declared is None else _payload_hash(declared, body_hash, allow_unsigned)
    try:
        key = (method, raw_path, raw_query, said, said.others(values), iso, payload)
    except KeyError:  # a signed header is absent: the general path signs it empty
        return None
    canonical = _CANONICAL_HASHES.get(key) or _canonical_entry(key, said, values)
    if canonical is None:
        return None

    creds = lookup(said.key_id)
    if creds is None:
        return _error(SigV4ErrorKind.UNRECOGNIZED_CLIENT, _MSG_UNKNOWN_KEY,
                      f"access key id {said.key_id!r} is not known")
    if signing[0] is not creds or signing[1] != iso:
        signing = said.sign_as(creds, iso, epoch)
    signed = canonical[1]
    if signed is not None and signed[0] is signing:  # computed for this key, secret and second
        expected = signed[1]
    else:
        expected = signature_from_pads(signing[2], canonical[0])
        canonical[1] = (signing, expected)  # one assignment: readers see a pair made together
    if refusal is None and sent.isascii() and hmac.compare_digest(expected, sent):
        token = values.get("x-amz-security-token")
        if token is not None or creds.session_token is not None or creds.expires_at is not None:
            failure = _check_token(token, creds, now)
            if failure is not None:
                return failure
        return signing[3]
    return _one_pass_failure(method, raw_path, raw_query, said, values, payload, body_hash, refusal)
