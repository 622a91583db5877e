"""Pure SigV4 building blocks: canonical request, string to sign, signing key.

Everything here follows spec Part B2/B3 (``shared/spec/iam-and-sigv4.md``) for
non-S3 services such as ``execute-api``: the path taken from the wire is
RFC 3986-normalised (dot segments removed, repeated ``/`` collapsed) and then
percent-encoded once more ("double encoding"), the query string is decoded and
re-encoded with the unreserved set ``A-Z a-z 0-9 - _ . ~`` and sorted, signed
header values are trimmed and their inner whitespace collapsed.  A literal
``+`` in the query is decoded as a space, as form-encoding clients mean it
(botocore's and requests' ``urlencode`` send ``+`` yet sign ``%20``).  Text is
hashed as UTF-8; strings carrying lone surrogates (bytes a server decoded with
``surrogateescape``) are encoded back to those bytes, and never raise.  The
module is standard-library only and keeps hot-path work allocation-light: the
quoting helpers return their input untouched when nothing needs escaping.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "TERMINATOR",
    "assemble_canonical_request",
    "canonical_header_value",
    "canonical_headers",
    "canonical_query_from_pairs",
    "canonical_query_string",
    "canonical_request",
    "canonical_uri",
    "compute_signature",
    "derive_signing_key",
    "encode_utf8",
    "header_map",
    "hmac_pads",
    "hmac_pads_after",
    "normalize_path",
    "query_pairs",
    "sha256_hex",
    "sha256_hex_text",
    "signature_from_pads",
    "signed_header_names",
    "string_to_sign",
    "string_to_sign_head",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SIGNATURE_PARAM = "X-Amz-Signature"

# ASCII whitespace as trimmed by AWS (aws-c-auth's isspace set).
_WS = " \t\r\n\v\f"
_WS_RUN = re.compile(r"[ \t\r\n\v\f]+")
_PATH_PLAIN = re.compile(r"[A-Za-z0-9/_.~-]*").fullmatch
_QUERY_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
_sha256 = hashlib.sha256
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


def encode_utf8(text: str) -> bytes:
    """Encode to UTF-8, never raising: lone surrogates become their escaped byte
    (``surrogateescape``) or, failing that, their raw ``surrogatepass`` form."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass")


def _quote(text: str, safe: str) -> str:
    """urllib's quote (uppercase hex, ``A-Za-z0-9_.-~`` kept) that never raises."""
    try:
        return quote(text, safe)
    except UnicodeEncodeError:
        return quote_from_bytes(encode_utf8(text), safe)


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 (HashedPayload and string-to-sign hash, spec B2/B3)."""
    return _sha256(data).hexdigest()


def normalize_path(path: str) -> str:
    """RFC 3986 dot-segment removal plus ``//`` collapsing (spec B2, non-S3).

    Mirrors botocore's ``normalize_url_path``: a trailing ``/`` is kept unless
    the result is the root, an empty path becomes ``/``.
    """
    if not path:
        return "/"
    if path[0] == "/" and "//" not in path and "/." not in path:
        return path
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def canonical_uri(raw_path: str) -> str:
    """CanonicalURI for non-S3 services: normalise, then encode again (spec B2).

    ``raw_path`` is the path as received (still percent-encoded), so ``%20``
    on the wire becomes ``%2520``; the test-suite paths are unencoded and come
    out single-encoded, as their ``.creq`` files expect.
    """
    path = normalize_path(raw_path)
    if _PATH_PLAIN(path) is not None:
        return path
    return _quote(path, "/")


def _reencode(component: str) -> str:
    """URI-decode one query name or value and re-encode it (spec B2)."""
    if "%" in component or "+" in component:
        raw = unquote_to_bytes(encode_utf8(component.replace("+", " ")))
        return quote_from_bytes(raw, "")
    return _quote(component, "")


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """Split a raw query into canonically encoded ``(name, value)`` pairs.

    Wire order is kept (the first occurrence of a parameter wins when the
    verifier reads ``X-Amz-*`` values); a piece without ``=`` gets an empty
    value and empty pieces (``a=1&&b=2``) are ignored (spec B2).
    """
    if not raw_query:
        return []
    pairs = []
    plain = _QUERY_PLAIN
    for piece in raw_query.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            if plain(name) is None:
                name = _reencode(name)
            if plain(value) is None:
                value = _reencode(value)
            pairs.append((name, value))
    return pairs


def canonical_query_from_pairs(pairs: Sequence[tuple[str, str]], presigned: bool = False) -> str:
    """Sort encoded pairs by name then value and join them (spec B2).

    With ``presigned`` every ``X-Amz-Signature`` parameter is left out (B1.2).
    """
    if presigned:
        pairs = [pair for pair in pairs if pair[0] != SIGNATURE_PARAM]
    if not pairs:
        return ""
    if len(pairs) == 1:
        name, value = pairs[0]
        return f"{name}={value}"
    return "&".join([f"{name}={value}" for name, value in sorted(pairs)])


def canonical_query_string(raw_query: str, presigned: bool = False) -> str:
    """CanonicalQueryString of a raw query string (spec B2)."""
    return canonical_query_from_pairs(query_pairs(raw_query), presigned)


def header_map(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Group received headers by lowercase name, keeping received order."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:  # usually each name comes once: one list each
        grouped[name.lower()] = [value]
    if len(grouped) == len(headers):
        return grouped
    grouped = {}  # a name repeats: group its values
    for name, value in headers:
        key = name.lower()
        values = grouped.get(key)
        if values is None:
            grouped[key] = [value]
        else:
            values.append(value)
    return grouped


def canonical_header_value(value: str) -> str:
    """Trim and collapse internal whitespace runs to one space (spec B2).

    Covers ``get-header-value-trim`` and obsolete line folding
    (``get-header-value-multiline``).
    """
    value = value.strip(_WS)
    if "  " in value or not value.isprintable():
        value = _WS_RUN.sub(" ", value)
    return value


def canonical_headers(grouped: Mapping[str, list[str]], signed: Sequence[str]) -> str:
    """CanonicalHeaders block, one ``name:value\\n`` line per signed name (spec B2).

    Repeated headers are joined with ``,`` in received order; a signed header
    that is absent contributes ``name:`` (spec B2, marked unconfirmed).  The
    ``host`` line falls back to HTTP/2's ``:authority``.  Values are trimmed as
    in ``canonical_header_value`` (inlined here: this runs on every request).
    """
    lines = []
    for name in signed:
        values = grouped.get(name)
        if values is None and name == "host":
            values = grouped.get(":authority")
        if not values:
            lines.append(f"{name}:\n")
            continue
        value = values[0].strip(_WS) if len(values) == 1 else \
            ",".join([v.strip(_WS) for v in values])
        if "  " in value or not value.isprintable():
            value = ",".join([canonical_header_value(v) for v in values])
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def signed_header_names(signed_headers: str) -> list[str]:
    """Lowercased, sorted names of a ``;``-separated SignedHeaders value (spec B2)."""
    return sorted(signed_headers.lower().split(";"))


def assemble_canonical_request(
    method: str, uri: str, query: str, headers_block: str, signed: str, payload_hash: str
) -> str:
    """Join the six canonical-request parts with ``\\n`` (spec B2 layout)."""
    return f"{method}\n{uri}\n{query}\n{headers_block}\n{signed}\n{payload_hash}"


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    signed_headers: str | Sequence[str],
    payload_hash: str,
    *,
    presigned: bool = False,
) -> str:
    """Canonical request of a received request (spec B2), for tests and explanations.

    ``signed_headers`` is the client's SignedHeaders value (``"host;x-amz-date"``)
    or a sequence of names; ``presigned`` drops ``X-Amz-Signature`` from the query.
    """
    if isinstance(signed_headers, str):
        names = signed_header_names(signed_headers)
    else:
        names = sorted(name.lower() for name in signed_headers)
    return assemble_canonical_request(
        method,
        canonical_uri(raw_path),
        canonical_query_string(raw_query, presigned),
        canonical_headers(header_map(headers), names),
        ";".join(names),
        payload_hash,
    )


def sha256_hex_text(text: str) -> str:
    """Lowercase hex SHA-256 of text as UTF-8, lone surrogates included (spec B3)."""
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates
        data = encode_utf8(text)
    return _sha256(data).hexdigest()


def string_to_sign_head(amz_date: str, scope: str) -> str:
    """The string to sign up to the canonical request's hash: algorithm, date, scope (spec B3)."""
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n"


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    """String to sign: algorithm, date, scope, hex SHA-256 of the request (spec B3).

    ``scope`` is ``YYYYMMDD/region/service/aws4_request``.
    """
    return string_to_sign_head(amz_date, scope) + sha256_hex_text(canonical)


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service, ``aws4_request`` (spec B3)."""
    key = hmac.digest(encode_utf8("AWS4" + secret), encode_utf8(date), "sha256")
    key = hmac.digest(key, encode_utf8(region), "sha256")
    key = hmac.digest(key, encode_utf8(service), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


def compute_signature(signing_key: bytes, sts: str) -> str:
    """Lowercase hex HMAC-SHA256 of the string to sign (spec B3)."""
    return hmac.digest(signing_key, encode_utf8(sts), "sha256").hex()


def hmac_pads(signing_key: bytes) -> tuple[object, object]:
    """Pre-keyed inner/outer SHA-256 states of HMAC (RFC 2104) for a 32-byte key.

    Caching these per signing key makes each signature two hash-state copies
    instead of a full HMAC set-up (about 2.5x faster than ``hmac.digest``).
    """
    if len(signing_key) > 64:
        signing_key = _sha256(signing_key).digest()
    block = signing_key.ljust(64, b"\0")
    return _sha256(block.translate(_IPAD)), _sha256(block.translate(_OPAD))


def signature_from_pads(pads: tuple[object, object], sts: str) -> str:
    """``compute_signature`` using states from ``hmac_pads`` (spec B3); with pads from
    ``hmac_pads_after``, ``sts`` is the rest of the string to sign."""
    inner, outer = pads[0].copy(), pads[1].copy()
    try:
        inner.update(sts.encode())
    except UnicodeEncodeError:  # lone surrogates
        inner.update(encode_utf8(sts))
    outer.update(inner.digest())
    return outer.hexdigest()


def hmac_pads_after(pads: tuple[object, object], head: str) -> tuple[object, object]:
    """``pads`` with ``head`` already fed to the inner state, so that ``signature_from_pads(
    hmac_pads_after(pads, head), rest) == signature_from_pads(pads, head + rest)``: a text's
    fixed head is hashed once for many texts."""
    inner = pads[0].copy()
    inner.update(encode_utf8(head))
    return inner, pads[1]
