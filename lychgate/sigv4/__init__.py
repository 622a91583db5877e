"""Standalone AWS Signature Version 4 verification for an API Gateway clone.

``verify()`` checks a received request (header or presigned-query form)
against a key store and returns ``Verified`` or a ``SigV4Error`` carrying the
exact AWS error type and message (spec Part B of
``shared/spec/iam-and-sigv4.md``).  The canonical-request helpers are exported
so callers can show what was signed.  Standard library only; this package
imports nothing else from lychgate.
"""

from .canonical import (
    ALGORITHM,
    EMPTY_SHA256,
    canonical_header_value,
    canonical_headers,
    canonical_query_string,
    canonical_request,
    canonical_uri,
    compute_signature,
    derive_signing_key,
    normalize_path,
    query_pairs,
    string_to_sign,
)
from .verify import (
    MAX_PRESIGN_EXPIRES,
    SKEW_SECONDS,
    AuthorizationParts,
    SigningCredentials,
    SigV4Error,
    SigV4ErrorKind,
    Verified,
    parse_amz_date,
    parse_authorization_header,
    verify,
    verify_sdk_request,
)
from .sign import sign_headers

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "MAX_PRESIGN_EXPIRES",
    "SKEW_SECONDS",
    "AuthorizationParts",
    "SigV4Error",
    "SigV4ErrorKind",
    "SigningCredentials",
    "Verified",
    "canonical_header_value",
    "canonical_headers",
    "canonical_query_string",
    "canonical_request",
    "canonical_uri",
    "compute_signature",
    "derive_signing_key",
    "normalize_path",
    "parse_amz_date",
    "parse_authorization_header",
    "query_pairs",
    "sign_headers",
    "string_to_sign",
    "verify",
    "verify_sdk_request",
]
