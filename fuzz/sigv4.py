"""Fuzz target: SigV4 verification of the header and presigned-query forms (``lychgate.sigv4``).

Input: a raw HTTP request as in AWS's test suites (``GET /path?query HTTP/1.1``, header lines,
a blank line, the body), decoded the way the server decodes the wire (UTF-8, surrogateescape).
It is verified at the suites' time, region and service with the suites' key, once as a
long-term key and once as a session key.

Contract (``verify``'s docstring: "never raises on hostile input"):
* ``verify`` returns ``Verified`` or ``SigV4Error`` and raises nothing; an error's ``error_type``
  is its kind's AWS type; a ``Verified`` names the key and form it checked;
* a request that verifies with the real secret is refused with ``InvalidSignatureException``
  when the secret is wrong (no path accepts a signature it did not check);
* ``parse_authorization_header`` returns ``AuthorizationParts`` or ``SigV4Error``; the
  canonical-request helpers return text for whatever the header names.
"""

from __future__ import annotations

from typing import Iterator

from hypothesis import strategies as st

from fuzz import ROOT, corpus
from fuzz.mutate import byte_mutations
from lychgate.sigv4 import (EMPTY_SHA256, AuthorizationParts, SigningCredentials, SigV4Error, SigV4ErrorKind,
                            Verified, canonical_request, parse_authorization_header, verify)

# The parameters every AWS test-suite case assumes (shared/testdata/sigv4/README.md).
ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
NOW = 1440938160.0  # 2015-08-30T12:36:00Z
REGION, SERVICE = "us-east-1", "service"
KEYS = (SigningCredentials(ACCESS_KEY, SECRET), SigningCredentials(ACCESS_KEY, SECRET, session_token=TOKEN))
WRONG = SigningCredentials(ACCESS_KEY, "not-the-secret")

Request = tuple[str, str, str, list[tuple[str, str]], bytes]


def parse_request(data: bytes) -> Request:
    """(method, raw path, raw query, headers, body); any bytes make some request."""
    cut = min((i for i in (data.find(b"\n\n"), data.find(b"\r\n\r\n")) if i >= 0), default=len(data))
    head = data[:cut].decode("utf-8", "surrogateescape")
    body = data[cut:].lstrip(b"\r\n")
    lines = [line.rstrip("\r") for line in head.split("\n")]
    words = lines[0].split(" ")
    method = words[0]
    target = " ".join(words[1:-1]) if len(words) > 2 else words[1] if len(words) == 2 else "/"
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if (not colon or line[:1] in (" ", "\t")) and headers:  # obsolete line folding
            headers[-1] = (headers[-1][0], headers[-1][1] + "\n" + line)
        else:
            headers.append((name, value))
    return method, path, query, headers, body


def _check_result(result: object) -> None:
    assert type(result) in (Verified, SigV4Error), f"verify returned {result!r}"
    if type(result) is SigV4Error:
        assert isinstance(result.kind, SigV4ErrorKind) and result.error_type == result.kind.value, result
        assert isinstance(result.message, str) and isinstance(result.detail, str), result
    else:
        assert result.access_key_id == ACCESS_KEY and result.form in ("header", "query"), result
        assert (result.region, result.service) == (REGION, SERVICE), result


def fuzz_one(data: bytes) -> None:
    method, path, query, headers, body = parse_request(data)
    for creds in KEYS:
        result = verify(method, path, query, headers, body, lookup={ACCESS_KEY: creds}.get,
                        region=REGION, service=SERVICE, now=NOW)
        _check_result(result)
        if type(result) is Verified:
            forged = verify(method, path, query, headers, body, lookup={ACCESS_KEY: WRONG}.get,
                            region=REGION, service=SERVICE, now=NOW)
            assert type(forged) is SigV4Error and forged.kind is SigV4ErrorKind.INVALID_SIGNATURE, forged
    for name, value in headers:
        if name.lower() != "authorization":
            continue
        parts = parse_authorization_header(value)
        assert type(parts) in (AuthorizationParts, SigV4Error), parts
        if type(parts) is AuthorizationParts and parts.signed_headers is not None:
            text = canonical_request(method, path, query, headers, parts.signed_headers, EMPTY_SHA256,
                                     presigned="X-Amz-Signature" in query)
            assert isinstance(text, str)


# ---------------------------------------------------------------- generation

def _render(method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    target = path + ("?" + query if query else "")
    head = "\n".join([f"{method} {target} HTTP/1.1", *(f"{n}:{v}" for n, v in headers)])
    return head.encode("utf-8", "surrogateescape") + b"\n\n" + body


_WORDS = st.sampled_from([
    "", "/", "//", "..", ".", "%", "%2F", "%zz", "%C3%A9", "+", "=", "&", ";", ",", " ", "\t", "\n", "*", "é",
    "\udcff", "X-Amz-Algorithm", "X-Amz-Signature", "X-Amz-Date", "X-Amz-Credential", "X-Amz-SignedHeaders",
    "X-Amz-Expires", "X-Amz-Security-Token", "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", "Credential",
    "SignedHeaders", "Signature", "host", ":authority", "x-amz-date", "date", "x-amz-content-sha256",
    "UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "20150830T123600Z", "20150830", "-1", "604801",
    "99999999999999999999", "Sun, 30 Aug 2015 12:36:00 GMT", "Mon, 99 Foo 0000 99:99:99 +9999", "aws4_request",
    "us-east-1", "AKIDEXAMPLE", "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request", "0" * 64,
])
_TEXT = st.one_of(_WORDS, st.text(max_size=12), st.lists(_WORDS, max_size=5).map("".join))


@st.composite
def _mutated_request(draw, seeds: list[bytes]) -> bytes:
    """A real signed request with a few of its parts changed (structure-aware)."""
    method, path, query, headers, body = parse_request(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        part = draw(st.sampled_from(["method", "path", "query", "header", "drop", "add", "auth", "body"]))
        if part == "method":
            method = draw(st.sampled_from(["GET", "POST", "get", "", "G ET", "PUT"]))
        elif part == "path":
            path = draw(_TEXT) + draw(st.sampled_from(["", path]))
        elif part == "query":
            pairs = query.split("&") if query else []
            pairs.insert(draw(st.integers(0, len(pairs))), f"{draw(_TEXT)}={draw(_TEXT)}")
            query = "&".join(pairs)
        elif part == "header" and headers:
            i = draw(st.integers(0, len(headers) - 1))
            headers[i] = (headers[i][0], draw(_TEXT))
        elif part == "drop" and headers:
            del headers[draw(st.integers(0, len(headers) - 1))]
        elif part == "add":
            headers.append((draw(_WORDS), draw(_TEXT)))
        elif part == "auth":
            pieces = [f"{draw(_WORDS)}={draw(_TEXT)}" for _ in range(draw(st.integers(0, 4)))]
            headers.append(("Authorization", draw(_WORDS) + " " + draw(st.sampled_from([",", ", ", ""])).join(
                pieces)))
        else:
            body = draw(st.binary(max_size=16))
    return _render(method, path, query, headers, body)


def inputs() -> st.SearchStrategy[bytes]:
    seeds = corpus("sigv4") or [b"GET / HTTP/1.1\nHost:example.amazonaws.com\n\n"]
    return st.one_of(_mutated_request(seeds), byte_mutations(seeds), st.binary(max_size=64))


def seeds() -> Iterator[tuple[str, bytes]]:
    """Every signed request of AWS's two SigV4 suites (header and presigned forms)."""
    testdata = ROOT.parent / "shared" / "testdata"
    for path in sorted((testdata / "sigv4").rglob("*.sreq")):
        yield f"suite-{path.stem}", path.read_bytes()
    for path in sorted((testdata / "sigv4-crt" / "v4").rglob("*-signed-request.txt")):
        form = path.name.split("-")[0]
        yield f"crt-{path.parent.name}-{form}", path.read_bytes()
