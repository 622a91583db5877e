"""Signing a request with SigV4 (header form): what a client does, for ``lychgate simulate --as``.

The inverse of ``verify`` built from the same canonical-request code, so a request signed here
verifies exactly when the canonicalisation agrees with AWS's (the tests check it against
botocore's signer).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .canonical import (ALGORITHM, canonical_request, compute_signature, derive_signing_key, sha256_hex,
                        string_to_sign)


def sign_headers(method: str, raw_path: str, raw_query: str, headers: Sequence[tuple[str, str]], body: bytes, *,
                 access_key_id: str, secret_access_key: str, region: str, session_token: str | None = None,
                 service: str = "execute-api", now: float | None = None) -> list[tuple[str, str]]:
    """The headers plus ``X-Amz-Date``, ``X-Amz-Security-Token`` and ``Authorization``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    out = [*headers, ("X-Amz-Date", stamp)]
    if session_token:
        out.append(("X-Amz-Security-Token", session_token))
    signed = sorted({name.lower() for name, _ in out})
    canonical = canonical_request(method, raw_path, raw_query, out, signed, sha256_hex(body))
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    key = derive_signing_key(secret_access_key, stamp[:8], region, service)
    signature = compute_signature(key, string_to_sign(stamp, scope, canonical))
    out.append(("Authorization", f"{ALGORITHM} Credential={access_key_id}/{scope}, "
                                 f"SignedHeaders={';'.join(signed)}, Signature={signature}"))
    return out
