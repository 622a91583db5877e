"""The one-pass path ``verify`` takes for SDK-shaped requests decides exactly as the general path.

``verify`` first tries ``verify_sdk_request`` (an ``Authorization`` header as SDKs write it,
``X-Amz-Date``, canonical forms remembered per path and query) and falls back to the general,
step-by-step path of spec B5 on anything else. Here thousands of requests, signed and then broken
in many ways at once, are verified both ways (the second with the fast path switched off), cold and
with the caches warm: the results must be equal, field for field, error texts included. The fast
path must also actually be taken for what botocore and ``sign_headers`` send.
"""

from __future__ import annotations

import importlib
import random
import re
from datetime import datetime, timezone
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lychgate.sigv4 import EMPTY_SHA256, SigningCredentials, SigV4Error, Verified, sign_headers, verify

verify_module = importlib.import_module("lychgate.sigv4.verify")

KEY, SECRET, TOKEN = "AKIAEXAMPLEKEY000001", "secret/Key+0123456789abcdefghijklmnopqrs", "tok/en+=="
TEMP_KEY = "ASIAEXAMPLEKEY000002"
HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
NOW = datetime(2024, 5, 22, 12, 10, 19, tzinfo=timezone.utc).timestamp()
STORE = {KEY: SigningCredentials(KEY, SECRET),
         TEMP_KEY: SigningCredentials(TEMP_KEY, SECRET, TOKEN, NOW + 3600)}

PATHS = ["/prod/pets", "/prod/pets/", "/", "", "/prod//pets", "/prod/./pets/../cats", "/prod/a%20b", "/prod/ü",
         "/prod/a b", "/prod/%2F", "prod/pets", "/prod/~user/x.y_z-1"]
QUERIES = ["", "limit=10", "b=2&a=1", "a=1&a=0", "x", "a=1&&b=2", "q=a+b", "q=%41%2f", "q=%zz", "=v", "a=b=c",
           "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X%2DAmz-Algorithm=x", "q=X-Amz-Algorithm", "%", "é=ü"]
BODIES = [b"", b"{}", b"\x00\xffbinary"]


def general_only(monkeypatch):
    monkeypatch.setattr(verify_module, "verify_sdk_request", lambda *args: None)


def signed(rng: random.Random, path: str, query: str, body: bytes, odd: bool = True) -> list[tuple[str, str]]:
    """A request signed the way an SDK signs it (ours or botocore's)."""
    key, token = (TEMP_KEY, TOKEN) if rng.random() < 0.3 else (KEY, None)
    extra = rng.choice([[], [("Content-Type", "application/json")], [("X-Custom", "  a   b  ")],
                        [("X-Custom", "a\tb c")],
                        [("x-amz-content-sha256", "UNSIGNED-PAYLOAD")]][:5 if odd else 2])
    at = NOW + rng.choice([0, 0, 0, -250, 250, -400, 400])
    if rng.random() < 0.5:
        return sign_headers("GET", path, query, [("Host", HOST), *extra], body, access_key_id=key,
                            secret_access_key=SECRET, region="us-east-1", session_token=token, now=at)
    url = f"https://{HOST}{path or '/'}" + (f"?{query}" if query else "")
    request = AWSRequest(method="GET", url=url, data=body, headers=dict(extra))
    moment = datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        SigV4Auth(Credentials(key, SECRET, token), "execute-api", "us-east-1").add_auth(request)
    return [("Host", HOST), *request.headers.items()]


def _auth_mutation(rng: random.Random, value: str) -> str:
    choices = [
        lambda v: v + " ", lambda v: " " + v, lambda v: v + "\t", lambda v: v.replace(", ", ","),
        lambda v: v.replace(", ", " , "), lambda v: v.replace(", ", ",\t"), lambda v: v.replace(", ", ",  "),
        lambda v: v.replace("AWS4-HMAC-SHA256", "aws4-hmac-sha256"),
        lambda v: v.replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256  "),
        lambda v: v.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
        lambda v: v + ", Signature=" + "0" * 64, lambda v: v + ",", lambda v: v + ", ", lambda v: v + ", junk",
        lambda v: re.sub(r"Signature=(\w+)", lambda m: "Signature=" + m.group(1).upper(), v),
        lambda v: re.sub(r"Signature=\w+", "Signature=", v), lambda v: re.sub(r"Signature=\w", "Signature=é", v),
        lambda v: re.sub(r"Signature=(\w+)", r"Signature=\1 ", v),
        lambda v: v[:-1], lambda v: v[:-1] + " ", lambda v: v[:-2] + ",0", lambda v: v[:-64] + "é" * 64,
        lambda v: v[:-64] + "0,Signature=" + v[-52:],
        lambda v: re.sub(r"Credential=[^,]*, ", "", v), lambda v: re.sub(r", SignedHeaders=[^,]*", "", v),
        lambda v: re.sub(r"(Credential=[^,]*), (SignedHeaders=[^,]*)", r"\2, \1", v),
        lambda v: v.replace("us-east-1", "eu-west-1"), lambda v: v.replace("execute-api", "lambda"),
        lambda v: v.replace("aws4_request", "aws4_request "), lambda v: v.replace("aws4_request", "aws5_request"),
        lambda v: v.replace("aws4_request", "aws4_request/x"), lambda v: v.replace("/20240522/", "/20240521/"),
        lambda v: v.replace(KEY, "AKIAUNKNOWN").replace(TEMP_KEY, "AKIAUNKNOWN"),
        lambda v: v.replace("Credential=", "Credential= "), lambda v: v.replace("Credential=", "Credential=a=b"),
        lambda v: v.replace("SignedHeaders=", "SignedHeaders=HOST;").replace("host;", ""),
        lambda v: v.replace("host;", ""), lambda v: v.replace(";x-amz-date", ""),
        lambda v: v.replace("host;", ":authority;"), lambda v: v.replace("SignedHeaders=", "SignedHeaders=x-absent;"),
        lambda v: v.replace(";x-amz-date", ";X-Amz-Date"),
        lambda v: v.replace("x-amz-date", "x-amz-date;x-amz-date"), lambda v: v.replace("host", "host\n"),
    ]
    return rng.choice(choices)(value)


def mutate(rng: random.Random, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Break (or keep) the signed request in zero to three ways."""
    headers = list(headers)
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):
        kind = rng.randrange(9)
        index = next((i for i, (name, _) in enumerate(headers) if name.lower() == "authorization"), None)
        if kind <= 2 and index is not None:
            headers[index] = (headers[index][0], _auth_mutation(rng, headers[index][1]))
        elif kind == 3:  # the date header: moved, renamed, reformatted, removed
            change = rng.randrange(5)
            for i, (name, value) in enumerate(headers):
                if name.lower() == "x-amz-date":
                    headers[i] = [("Date", "Wed, 22 May 2024 12:10:19 GMT"), (name, value[:-1]),
                                  (name, value + " "), (name, "20240522T999999Z"), ("X-Other", value)][change]
        elif kind == 4 and headers:  # repeated, cased or spaced headers
            name, value = rng.choice(headers)
            headers += rng.choice([[(name, value)], [(name.upper(), value + "  x")], [(name.swapcase(), "\tv\t")],
                                   [(name, "v\x0bw")]])
        elif kind == 5:
            headers = [(n, v) for n, v in headers if n.lower() != rng.choice(["host", "x-amz-security-token",
                                                                              "x-amz-date", "authorization"])]
        elif kind == 6:
            headers.append(rng.choice([("X-Amz-Security-Token", TOKEN), ("X-Amz-Security-Token", ""),
                                       ("X-Amz-Security-Token", "other"), (":authority", HOST),
                                       ("x-amz-content-sha256", EMPTY_SHA256),
                                       ("x-amz-content-sha256", EMPTY_SHA256.upper()),
                                       ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")]))
        elif kind == 7:
            headers = [(n, v.replace("  ", " ") if n.lower() == "x-custom" else v) for n, v in headers]
        else:
            rng.shuffle(headers)
    return headers


def outcomes(monkeypatch, method, path, query, headers, body, **options):
    """(fast, fast with warm caches, general) results of one request."""
    results = []
    for grouped in (False, True):
        kwargs = dict(lookup=STORE.get, region="us-east-1", now=NOW, **options)
        if grouped:
            kwargs["grouped_headers"] = verify_module.header_map(headers)
        results.append(verify(method, path, query, headers, body, **kwargs))
    with monkeypatch.context() as patch:
        general_only(patch)
        results.append(verify(method, path, query, headers, body, lookup=STORE.get, region="us-east-1", now=NOW,
                              **options))
    return results


@pytest.mark.parametrize("seed", range(8))
def test_fast_and_general_paths_agree(monkeypatch, seed):
    rng = random.Random(seed)
    kinds = {"verified": 0, "error": 0}
    for _ in range(400):
        path, query, body = rng.choice(PATHS), rng.choice(QUERIES), rng.choice(BODIES)
        headers = mutate(rng, signed(rng, path, query, body))
        method = "GET" if rng.random() < 0.85 else rng.choice(["POST", "get"])
        options = rng.choice([{}, {}, {"require_signed_date": False}, {"allow_unsigned_payload": True}])
        if rng.random() < 0.1:
            path, query = rng.choice(PATHS), rng.choice(QUERIES)  # signed for another request
        fast, warm, general = outcomes(monkeypatch, method, path, query, headers, body, **options)
        assert fast == general, (method, path, query, headers, body, options)
        assert warm == general, (method, path, query, headers, body, options)
        kinds["verified" if isinstance(general, Verified) else "error"] += 1
    assert kinds["verified"] > 50 and kinds["error"] > 50, kinds  # both outcomes well exercised


def test_sdk_requests_take_the_fast_path(monkeypatch):
    rng = random.Random(1)
    taken = []
    real = verify_module.verify_sdk_request
    monkeypatch.setattr(verify_module, "verify_sdk_request", lambda *args: taken.append(real(*args)) or taken[-1])
    for path, query in [("/prod/pets", ""), ("/prod/pets", "limit=10&b=2"), ("/prod/items/42/", "q=x~y")]:
        for _ in range(6):
            headers = signed(rng, path, query, b"{}", odd=False)
            stamp = dict((n.lower(), v) for n, v in headers)["x-amz-date"]
            now = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
            result = verify("GET", path, query, headers, b"{}", lookup=STORE.get, region="us-east-1", now=now)
            assert isinstance(result, Verified), result
            assert taken[-1] is result


def test_a_remembered_authorization_prefix_reads_as_the_general_parser_does(monkeypatch):
    """The text before a 64-character signature is parsed once; what follows it must still be read
    as AWS reads it (a ``,`` or trailing whitespace in those 64 characters changes the parse)."""
    headers = sign_headers("GET", "/prod/pets", "", [("Host", HOST)], b"", access_key_id=KEY,
                           secret_access_key=SECRET, region="us-east-1", now=NOW)
    assert isinstance(verify("GET", "/prod/pets", "", headers, b"", lookup=STORE.get, region="us-east-1", now=NOW),
                      Verified)  # the prefix is remembered
    value = dict(headers)["Authorization"]
    prefix, signature = value[:-64], value[-64:]
    tails = [signature.upper(), signature[:-1] + " ", signature[:-1] + "\t", signature[:-2] + ",0",
             "0,Signature=" + signature[12:], "0, SignedHeaders=host;x-amz-date" + signature[32:], "é" * 64,
             "0" * 64, signature[1:] + "0"]
    for tail in tails:
        assert len(tail) == 64
        changed = [(name, prefix + tail if name == "Authorization" else value) for name, value in headers]
        fast, warm, general = outcomes(monkeypatch, "GET", "/prod/pets", "", changed, b"")
        assert fast == general and warm == general, tail


def test_bounded_caches_stay_bounded_and_correct(monkeypatch):
    monkeypatch.setattr(verify_module, "_CANONICAL_MAX", 4)
    monkeypatch.setattr(verify_module, "_SDK_AUTHORIZATIONS_MAX", 2)
    for cache in ("_CANONICAL_PATHS", "_CANONICAL_QUERIES", "_SDK_AUTHORIZATIONS"):
        monkeypatch.setattr(verify_module, cache, {})
    rng = random.Random(2)
    for n in range(30):
        path, query = f"/prod/items/{n % 7}", f"page={n % 5}&x=y"
        headers = signed(rng, path, query, b"", odd=False)
        stamp = dict((k.lower(), v) for k, v in headers)["x-amz-date"]
        now = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        result = verify("GET", path, query, headers, b"", lookup=STORE.get, region="us-east-1", now=now)
        assert isinstance(result, Verified)
        wrong = verify("GET", path + "x", query, headers, b"", lookup=STORE.get, region="us-east-1", now=now)
        assert isinstance(wrong, SigV4Error)
        assert len(verify_module._CANONICAL_PATHS) <= 4 and len(verify_module._CANONICAL_QUERIES) <= 4
        assert len(verify_module._SDK_AUTHORIZATIONS) <= 2
    long_path = "/prod/" + "a" * 600
    headers = signed(rng, long_path, "", b"")
    verify("GET", long_path, "", headers, b"", lookup=STORE.get, region="us-east-1", now=NOW)
    assert long_path not in verify_module._CANONICAL_PATHS
