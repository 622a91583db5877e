"""Requests signed by real clients (botocore, requests-aws4auth) against verify().

A seeded random loop builds requests with random methods, paths carrying
reserved, percent and non-ASCII characters (encoded as clients put them on the
wire), repeated query keys, empty and non-empty bodies, with and without a
session token.  botocore signs them with ``SigV4Auth`` (header form, both with
``X-Amz-Date`` and with a ``Date`` header) and ``SigV4QueryAuth`` (presigned),
requests-aws4auth with ``AWS4Auth`` on a ``requests.PreparedRequest``.
verify() receives exactly what would be on the wire (raw path and query of the
URL the client produced, the headers it sent including ``Host``) and must
accept it, and for botocore the exported ``canonical_request`` must equal
botocore's own; tampered copies must fail with the right kind.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from unittest import mock
from urllib.parse import quote, urlsplit

import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests_aws4auth import AWS4Auth

from lychgate.sigv4 import (
    SigningCredentials,
    SigV4ErrorKind,
    Verified,
    canonical_request,
    verify,
)

REGION = "eu-west-3"
SERVICE = "execute-api"
BASE_TIME = datetime(2024, 5, 22, 12, 10, 19, tzinfo=timezone.utc)
HOSTS = ["a1b2c3d4e5.execute-api.eu-west-3.amazonaws.com", "api.example.test:8443"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
SEGMENT_CHARS = list("abcXYZ0189-._~") + list("!$&'()*+,;=:@") + [" ", "%", "é", "ሴ", "😀"]
QUERY_CHARS = list("abcXYZ019-._~") + list(" +/=&?%*!'") + ["é", "ሴ", "😀"]
HEADER_CHARS = list("abcXYZ019-_.,;:/= ")
CASES = 120
INVALID = SigV4ErrorKind.INVALID_SIGNATURE


class Wire:
    """A request as received: method, raw path, raw query, header pairs, body."""

    def __init__(self, method, url, headers, body, creds: SigningCredentials, stamp):
        parts = urlsplit(url)
        self.method, self.path, self.query = method, parts.path, parts.query
        self.headers = [("Host", parts.netloc)] + [(k, v) for k, v in headers.items()]
        self.headers += [("User-Agent", "client/1.0 test"), ("Accept-Encoding", "identity")]
        self.body = body or b""
        self.key_id, self.creds, self.now = creds.access_key_id, creds, stamp.timestamp()
        self.expires = 0

    def verify(self, creds=..., now=None, **changes):
        fields = {"method": self.method, "raw_path": self.path, "raw_query": self.query,
                  "headers": self.headers, "body": self.body, **changes}
        store = {self.key_id: self.creds if creds is ... else creds}
        return verify(fields["method"], fields["raw_path"], fields["raw_query"],
                      fields["headers"], fields["body"], lookup=lambda key: store.get(key),
                      region=REGION, service=SERVICE, now=self.now if now is None else now)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    def with_header(self, name: str, new: str) -> list[tuple[str, str]]:
        return [(k, new if k.lower() == name else v) for k, v in self.headers]


def _text(rng: random.Random, pool: list[str], low: int, high: int) -> str:
    return "".join(rng.choices(pool, k=rng.randint(low, high)))


def _wire_path(rng: random.Random) -> str:
    """A percent-encoded path with reserved/non-ASCII chars, dot segments, ``//``."""
    segments = []
    for _ in range(rng.randint(0, 5)):
        roll = rng.random()
        if roll < 0.08:
            segments.append(rng.choice([".", "..", ""]))
        else:
            safe = rng.choice(["", "!$&'()*+,;=:@"])
            segments.append(quote(_text(rng, SEGMENT_CHARS, 1, 8), safe=safe))
    segments.append(quote(_text(rng, SEGMENT_CHARS, 1, 6), safe=""))
    return "/" + "/".join(segments) + rng.choice(["", "/"])


def _params(rng: random.Random) -> list[tuple[str, str]]:
    """Query pairs, sometimes with repeated keys and empty values."""
    keys = [_text(rng, QUERY_CHARS, 1, 6) for _ in range(rng.randint(0, 3))]
    pairs = [(key, _text(rng, QUERY_CHARS, 0, 8)) for key in keys]
    if keys and rng.random() < 0.4:
        pairs.append((rng.choice(keys), _text(rng, QUERY_CHARS, 0, 8)))
    return pairs


def _extra_headers(rng: random.Random, body: bytes) -> dict[str, str]:
    headers = {f"X-Test-{i}": _text(rng, HEADER_CHARS, 1, 12).strip() or "v"
               for i in range(rng.randint(0, 2))}
    if body:
        headers["Content-Type"] = rng.choice(["application/json", "text/plain; charset=utf-8"])
    return headers


def _body(rng: random.Random) -> bytes:
    return rng.choice([b"", b"", b'{"a": 1}', bytes(rng.getrandbits(8) for _ in range(40))])


def _common(rng: random.Random):
    stamp = BASE_TIME + timedelta(days=rng.randint(0, 400), seconds=rng.randint(0, 86399))
    token = rng.choice([None, "FwoGZXIvYXdzE" + _text(rng, list("abcdef0123456789+/="), 20, 60)])
    secret = _text(rng, list("abcdefghijKLMNOP0123456789+/"), 40, 40)
    return stamp, token, secret, rng.choice(HOSTS)


def botocore_header_case(rng: random.Random) -> Wire:
    stamp, token, secret, host = _common(rng)
    method, body, params = rng.choice(METHODS), _body(rng), _params(rng)
    url = f"https://{host}{_wire_path(rng)}"
    headers = _extra_headers(rng, body)
    if rng.random() < 0.15:
        headers["Date"] = "placeholder; botocore rewrites it"
    if params and rng.random() < 0.5:  # pre-encoded query, signed verbatim by botocore
        url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
        params = []
    request = AWSRequest(method=method, url=url, data=body, headers=headers, params=params)
    signer = SigV4Auth(Credentials("AKIDTEST", secret, token), SERVICE, REGION)
    with mock.patch("botocore.auth.get_current_datetime", return_value=stamp.replace(tzinfo=None)):
        signer.add_auth(request)
    prepared = request.prepare()
    creds = SigningCredentials("AKIDTEST", secret, token)
    wire = Wire(method, prepared.url, dict(prepared.headers.items()), body, creds, stamp)
    del request.headers["Authorization"]  # botocore's own view of what it signed
    wire.botocore_creq = signer.canonical_request(request)
    return wire


def botocore_query_case(rng: random.Random) -> Wire:
    stamp, token, secret, host = _common(rng)
    method, params = rng.choice(METHODS), _params(rng)
    url = f"https://{host}{_wire_path(rng)}"
    request = AWSRequest(method=method, url=url, headers=_extra_headers(rng, b""), params=params)
    expires = rng.choice([60, 900, 3600, 604800])
    with mock.patch("botocore.auth.get_current_datetime", return_value=stamp.replace(tzinfo=None)):
        SigV4QueryAuth(Credentials("AKIDTEST", secret, token), SERVICE, REGION,
                       expires=expires).add_auth(request)
    prepared = request.prepare()
    creds = SigningCredentials("AKIDTEST", secret, token)
    wire = Wire(method, prepared.url, dict(prepared.headers.items()), b"", creds, stamp)
    wire.expires = expires
    return wire


def aws4auth_case(rng: random.Random) -> Wire:
    stamp, token, secret, host = _common(rng)
    method, body = rng.choice(METHODS), _body(rng)
    headers = _extra_headers(rng, body)
    headers["X-Amz-Date"] = stamp.strftime("%Y%m%dT%H%M%SZ")
    if rng.random() < 0.5:
        headers["X-Amz-Meta-Note"] = _text(rng, HEADER_CHARS, 1, 12).strip() or "v"
    prepared = requests.Request(method, f"https://{host}{_wire_path(rng)}", headers=headers,
                                params=_params(rng), data=body).prepare()
    auth = AWS4Auth("AKIDREQUESTS", secret, REGION, SERVICE, session_token=token)
    prepared = auth(prepared)
    creds = SigningCredentials("AKIDREQUESTS", secret, token)
    return Wire(method, prepared.url, dict(prepared.headers.items()), prepared.body or b"",
                creds, stamp)


def _signed_names(wire: Wire) -> list[str]:
    auth = wire.header("authorization")
    if auth is None:
        raw = next(p for p in wire.query.split("&") if p.startswith("X-Amz-SignedHeaders="))
        return raw.split("=", 1)[1].replace("%3B", ";").split(";")
    return auth.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")


def _tamper_signature(wire: Wire):
    auth = wire.header("authorization")
    if auth is None:
        head, sig = wire.query.rsplit("X-Amz-Signature=", 1)
        flipped = sig[:5] + ("0" if sig[5] != "0" else "1") + sig[6:]
        return wire.verify(raw_query=f"{head}X-Amz-Signature={flipped}")
    flipped = auth[:-3] + ("0" if auth[-3] != "0" else "1") + auth[-2:]
    return wire.verify(headers=wire.with_header("authorization", flipped))


def _tamper_date(wire: Wire):
    date = wire.header("x-amz-date")
    if date is not None:
        moved = datetime.strptime(date, "%Y%m%dT%H%M%SZ") + timedelta(seconds=1)
        return wire.verify(headers=wire.with_header("x-amz-date", moved.strftime("%Y%m%dT%H%M%SZ")))
    if wire.header("date") is not None:
        moved = datetime.fromtimestamp(wire.now, timezone.utc) + timedelta(seconds=1)
        return wire.verify(headers=wire.with_header("date", moved.strftime(
            "%a, %d %b %Y %H:%M:%S GMT")))
    head, rest = wire.query.split("X-Amz-Date=", 1)
    stamp = rest[:16]
    moved = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ") + timedelta(seconds=1)
    return wire.verify(raw_query=f"{head}X-Amz-Date={moved:%Y%m%dT%H%M%SZ}{rest[16:]}")


def _tamper_header(wire: Wire, rng: random.Random):
    names = [n for n in _signed_names(wire) if n not in ("x-amz-date", "date")]
    name = rng.choice(names)
    return wire.verify(headers=wire.with_header(name, (wire.header(name) or "") + "x"))


def check_wire(wire: Wire, rng: random.Random) -> None:
    """Accepted as sent; every tampered copy rejected with the right kind."""
    result = wire.verify()
    assert isinstance(result, Verified), (result, wire.__dict__)
    assert (result.access_key_id, result.region, result.service) == (wire.key_id, REGION, SERVICE)
    tampered = {
        "path": wire.verify(raw_path=wire.path + "x"),
        "query": wire.verify(raw_query=wire.query + ("&" if wire.query else "") + "extra=1"),
        "body": wire.verify(body=wire.body + b"x"),
        "signature": _tamper_signature(wire),
        "date": _tamper_date(wire),
        "header": _tamper_header(wire, rng),
        "secret": wire.verify(creds=SigningCredentials(wire.key_id, "wrong-secret",
                                                       wire.creds.session_token)),
    }
    for what, outcome in tampered.items():
        assert getattr(outcome, "kind", None) is INVALID, (what, outcome, wire.__dict__)
    assert wire.verify(creds=None).kind is SigV4ErrorKind.UNRECOGNIZED_CLIENT
    other_token = SigningCredentials(wire.key_id, wire.creds.secret_access_key, "other-token")
    assert wire.verify(creds=other_token).kind is SigV4ErrorKind.UNRECOGNIZED_CLIENT
    expired = SigningCredentials(wire.key_id, wire.creds.secret_access_key,
                                 wire.creds.session_token, expires_at=wire.now - 1)
    assert wire.verify(creds=expired).kind is SigV4ErrorKind.EXPIRED_TOKEN


@pytest.mark.parametrize("seed", range(3))
def test_botocore_header_form(seed):
    rng = random.Random(1000 + seed)
    for _ in range(CASES):
        wire = botocore_header_case(rng)
        check_wire(wire, rng)
        signed = wire.header("authorization").split("SignedHeaders=")[1].split(",")[0]
        payload = hashlib.sha256(wire.body).hexdigest()
        assert canonical_request(wire.method, wire.path, wire.query, wire.headers, signed,
                                 payload) == wire.botocore_creq
        assert wire.verify(now=wire.now + 301).kind is INVALID
        assert wire.verify(now=wire.now - 301).kind is INVALID
        assert isinstance(wire.verify(now=wire.now + 299), Verified)


@pytest.mark.parametrize("seed", range(3))
def test_botocore_presigned_query_form(seed):
    rng = random.Random(2000 + seed)
    for _ in range(CASES):
        wire = botocore_query_case(rng)
        check_wire(wire, rng)
        assert isinstance(wire.verify(now=wire.now + wire.expires), Verified)
        assert wire.verify(now=wire.now + wire.expires + 1).kind is INVALID
        assert wire.verify(now=wire.now - 301).kind is INVALID
        assert wire.verify().form == "query"


@pytest.mark.parametrize("seed", range(3))
def test_requests_aws4auth(seed):
    rng = random.Random(3000 + seed)
    for _ in range(CASES):
        wire = aws4auth_case(rng)
        check_wire(wire, rng)
        assert wire.header("x-amz-content-sha256") is not None


def test_generated_requests_cover_the_hard_parts():
    """Guard against the generators drifting into easy cases only."""
    rng = random.Random(7)
    wires = [botocore_header_case(rng) for _ in range(CASES)]
    wires += [aws4auth_case(rng) for _ in range(CASES)]
    assert any("%25" in w.path for w in wires)  # a literal % on the wire: double encoding
    assert any("%E1%88%B4" in w.path for w in wires)
    assert any("+" in w.query for w in wires)
    assert any(w.body for w in wires) and any(not w.body for w in wires)
    assert any(w.creds.session_token for w in wires)
    assert any(w.header("date") for w in wires)
    assert any(len({p.split("=")[0] for p in w.query.split("&")}) < len(w.query.split("&"))
               for w in wires if w.query)


def test_botocore_unsigned_payload_is_refused_unless_allowed():
    """UNSIGNED-PAYLOAD: refused by default (verify.py docstring), accepted when allowed."""
    stamp = BASE_TIME
    request = AWSRequest(method="POST", url=f"https://{HOSTS[0]}/prod/items", data=b'{"x":1}')
    request.context["payload_signing_enabled"] = False
    with mock.patch("botocore.auth.get_current_datetime", return_value=stamp.replace(tzinfo=None)):
        SigV4Auth(Credentials("AKIDTEST", "s3cr3t", None), SERVICE, REGION).add_auth(request)
    prepared = request.prepare()
    wire = Wire("POST", prepared.url, dict(prepared.headers.items()), b'{"x":1}',
                SigningCredentials("AKIDTEST", "s3cr3t"), stamp)
    assert wire.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    refused = wire.verify()
    assert refused.kind is INVALID and "UNSIGNED-PAYLOAD" in refused.detail
    # the canonical string shown is what the client should have signed: the real body hash
    real = hashlib.sha256(b'{"x":1}').hexdigest()
    assert f"\n{real}'\n\nThe String-to-Sign should have been" in refused.message
    allowed = verify(wire.method, wire.path, wire.query, wire.headers, wire.body,
                     lookup={"AKIDTEST": wire.creds}.get, region=REGION, now=wire.now,
                     allow_unsigned_payload=True)
    assert isinstance(allowed, Verified)
