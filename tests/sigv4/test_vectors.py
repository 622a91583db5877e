"""AWS SigV4 test suites (shared/testdata/sigv4 and sigv4-crt) against lychgate.sigv4.

Every leaf folder of both suites is discovered at collection time and becomes
one test per signature form.  An applicable vector must reproduce the expected
canonical request, string to sign and signature, be accepted by ``verify``
and be rejected once its signature is altered.  In the old suite the ``.authz``
file is the expected header: ``get-vanilla-with-session-token.sreq`` carries a
stale signature (get-vanilla's), so that case verifies the ``.authz`` header and
asserts the stale one is rejected.  A vector that does not apply
to execute-api (S3-only unnormalised paths, SigV4A, token added after
presigning, streaming payloads) first has its rejection asserted, then is
skipped with the reason; a folder holding only an unsigned ``request.txt`` is
skipped as such, and an unrecognised folder layout fails.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

import pytest

from lychgate.sigv4 import (
    SigningCredentials,
    SigV4ErrorKind,
    Verified,
    canonical_request,
    compute_signature,
    derive_signing_key,
    normalize_path,
    parse_authorization_header,
    string_to_sign,
    verify,
)

ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
OLD_SUITE_TIME = datetime.fromisoformat("2015-08-30T12:36:00+00:00").timestamp()


def _testdata_root() -> Path | None:
    override = os.environ.get("LYCHGATE_TESTDATA")
    if override:
        return Path(override)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "testdata"
        if (candidate / "sigv4").is_dir():
            return candidate
    return None


ROOT = _testdata_root()


def _leaves(root: Path) -> list[Path]:
    """Vector folders: every directory under ``root`` without subdirectories."""
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        if not dirnames and Path(dirpath) != root:
            found.append(Path(dirpath))
    return sorted(found)


def _cases() -> list:
    if ROOT is None:
        return []
    cases = []
    for suite in ("sigv4", "sigv4-crt"):
        for leaf in _leaves(ROOT / suite):
            name = f"{suite}/{leaf.relative_to(ROOT / suite).as_posix()}"
            if (leaf / "context.json").exists():
                forms = [form for form in ("header", "query")
                         if (leaf / f"{form}-signed-request.txt").exists()] or ["unsigned-only"]
            elif (leaf / f"{leaf.name}.sreq").exists():
                forms = ["header"]
            else:
                forms = ["unknown-layout"]
            cases += [pytest.param(leaf, form, id=f"{name}[{form}]") for form in forms]
    return cases


CASES = _cases()


def test_testdata_found_and_complete():
    assert ROOT is not None, "shared/testdata not found; set LYCHGATE_TESTDATA"
    leaves = {str(case.values[0]) for case in CASES}
    assert len(leaves) >= 29 + 38 + 40, sorted(leaves)


def parse_http(data: bytes) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    """Raw HTTP text -> method, path, query, header pairs, body (obs-fold kept)."""
    text = data.decode("utf-8").replace("\r\n", "\n")
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, _, rest = lines[0].partition(" ")
    target = rest[: rest.rindex(" HTTP/")]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + "\n" + line)
        elif line:
            name, _, value = line.partition(":")
            headers.append((name, value))
    path, _, query = target.partition("?")
    return method, path, query, headers, body.encode("utf-8")


class Vector:
    """One signed request plus what the suite says about it."""

    def __init__(self, leaf: Path, form: str):
        self.leaf, self.form, self.crt = leaf, form, (leaf / "context.json").exists()
        self.context = json.loads((leaf / "context.json").read_text()) if self.crt else {}
        self.method, self.path, self.query, self.headers, self.body = parse_http(
            self.read("signed-request"))
        self.now = (datetime.fromisoformat(self.context["timestamp"].replace("Z", "+00:00"))
                    .timestamp() if self.crt else OLD_SUITE_TIME)
        self.stale_headers = None
        if not self.crt:
            self.use_authz_file()

    def use_authz_file(self) -> None:
        """The old suite's ``.authz`` is the expected header; prefer it over a stale ``.sreq``.

        (``get-vanilla-with-session-token.sreq`` carries get-vanilla's signature.)
        """
        authz = (self.leaf / f"{self.leaf.name}.authz").read_text().strip()
        if self.header("authorization") != authz:
            self.stale_headers = self.headers
            self.headers = [(k, authz if k.lower() == "authorization" else v)
                            for k, v in self.headers]

    def read(self, what: str) -> bytes:
        suffix = {"signed-request": "sreq", "canonical-request": "creq",
                  "string-to-sign": "sts"}[what]
        if self.crt:
            return (self.leaf / f"{self.form}-{what}.txt").read_bytes()
        return (self.leaf / f"{self.leaf.name}.{suffix}").read_bytes()

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return values[0].strip() if values else None

    def query_param(self, name: str) -> str | None:
        for piece in self.query.split("&"):
            key, _, value = piece.partition("=")
            if key == name:
                return unquote(value)
        return None

    @property
    def credentials(self) -> SigningCredentials:
        creds = self.context.get("credentials") or self.sibling_credentials()
        return SigningCredentials(creds.get("access_key_id", ACCESS_KEY),
                                  creds.get("secret_access_key", SECRET), creds.get("token"))

    def sibling_credentials(self) -> dict:
        """Old-suite cases take their session token from the crt case of the same name."""
        context = ROOT / "sigv4-crt" / "v4" / self.leaf.name / "context.json"
        return json.loads(context.read_text())["credentials"] if context.exists() else {}

    def auth_parts(self) -> tuple[str, str, str]:
        """(algorithm, credential, signed headers) from the header or the query."""
        if self.form == "query":
            return (self.query_param("X-Amz-Algorithm"), self.query_param("X-Amz-Credential"),
                    self.query_param("X-Amz-SignedHeaders"))
        parts = parse_authorization_header(self.header("authorization"))
        return parts.algorithm, parts.credential, parts.signed_headers

    def run_verify(self, headers=None, query=None):
        creds = self.credentials
        region, service = self.context.get("region", "us-east-1"), self.context.get(
            "service", "service")
        return verify(self.method, self.path, self.query if query is None else query,
                      self.headers if headers is None else headers, self.body,
                      lookup={creds.access_key_id: creds}.get, region=region,
                      service=service, now=self.now)


def _tamper_signature(vector: Vector):
    """The same request with the last signature digit changed."""
    if vector.form == "query":
        flipped = vector.query[:-1] + ("0" if vector.query[-1] != "0" else "1")
        return vector.run_verify(query=flipped)
    headers = [(k, v[:-1] + ("0" if v[-1] != "0" else "1")) if k.lower() == "authorization"
               else (k, v) for k, v in vector.headers]
    return vector.run_verify(headers=headers)


def _s3_only(vector: Vector) -> str | None:
    """Why a vector's signing rules are not execute-api's, after asserting rejection."""
    sigv4 = vector.auth_parts()[0] == "AWS4-HMAC-SHA256"
    expected = SigV4ErrorKind.INVALID_SIGNATURE if sigv4 else SigV4ErrorKind.INCOMPLETE_SIGNATURE
    if (vector.header("x-amz-content-sha256") or "").startswith("STREAMING-"):
        assert not isinstance(vector.run_verify(), Verified)
        return "streaming/chunked payload is S3-only, spec B2; rejection asserted"
    if vector.context.get("normalize") is False and normalize_path(vector.path) != vector.path:
        assert vector.run_verify().kind is expected
        return ("unnormalized path is S3-only behaviour; execute-api normalizes (spec B2); "
                "rejection asserted")
    if vector.form == "query" and vector.context.get("omit_session_token"):
        assert vector.run_verify().kind is expected
        return ("token appended to a presigned URL after signing: spec B1.2 signs "
                "X-Amz-Security-Token in the query form; rejection asserted")
    return None


def _sigv4a(vector: Vector) -> str | None:
    """SigV4A is refused with the Unsupported algorithm message (spec B7)."""
    algorithm = vector.auth_parts()[0]
    if algorithm == "AWS4-HMAC-SHA256":
        return None
    result = vector.run_verify()
    assert result.kind is SigV4ErrorKind.INCOMPLETE_SIGNATURE, result
    assert result.message == (f"Unsupported AWS 'algorithm': '{algorithm}' "
                              "(only AWS4-HMAC-SHA256 for now). ")
    return (f"{algorithm} (SigV4A) is not supported, spec B7; canonical request checked, "
            "rejection asserted")


def _check_canonical(vector: Vector) -> str:
    """The canonical request must equal the suite's (SigV4A builds it the same way)."""
    signed = vector.auth_parts()[2]
    payload = vector.header("x-amz-content-sha256") or hashlib.sha256(vector.body).hexdigest()
    creq = canonical_request(vector.method, vector.path, vector.query, vector.headers, signed,
                             payload, presigned=vector.form == "query")
    assert creq == vector.read("canonical-request").decode("utf-8")
    return creq


@pytest.mark.parametrize(("leaf", "form"), CASES)
def test_vector(leaf: Path, form: str):
    assert form != "unknown-layout", f"unrecognised vector layout in {leaf}"
    if form == "unsigned-only":
        assert (leaf / "request.txt").exists()
        pytest.skip("vector ships only an unsigned request.txt: nothing to verify")
    vector = Vector(leaf, form)
    reason = _s3_only(vector)
    if reason:
        pytest.skip(reason)
    creq = _check_canonical(vector)
    reason = _sigv4a(vector)
    if reason:
        pytest.skip(reason)
    credential = vector.auth_parts()[1]
    date = vector.header("x-amz-date") or vector.query_param("X-Amz-Date")
    scope = credential.split("/", 1)[1]
    sts = string_to_sign(date, scope, creq)
    assert sts == vector.read("string-to-sign").decode("utf-8")
    creds = vector.credentials
    signature = compute_signature(derive_signing_key(creds.secret_access_key,
                                                     *scope.split("/")[:3]), sts)
    if vector.crt:
        assert signature == (leaf / f"{form}-signature.txt").read_text().strip()
    result = vector.run_verify()
    assert isinstance(result, Verified), result
    assert (result.form, result.access_key_id, result.signed_at) == (form, ACCESS_KEY, vector.now)
    assert _tamper_signature(vector).kind is SigV4ErrorKind.INVALID_SIGNATURE
    if vector.stale_headers is not None:  # the suite's own stale .sreq must fail
        stale = vector.run_verify(headers=vector.stale_headers)
        assert stale.kind is SigV4ErrorKind.INVALID_SIGNATURE
