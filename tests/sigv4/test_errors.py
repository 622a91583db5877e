"""Every SigV4 rejection of spec B6, exact type and text, in spec B5 order.

Baseline requests are signed by botocore (an independent implementation) at a
fixed time, then broken one way at a time; the expected messages are written
out literally.  A hypothesis test feeds hostile headers, queries and paths and
asserts that verify() always returns a result and never raises.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timezone
from unittest import mock

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lychgate.sigv4 import (
    SigningCredentials,
    SigV4Error,
    SigV4ErrorKind,
    Verified,
    canonical_request,
    compute_signature,
    derive_signing_key,
    parse_authorization_header,
    string_to_sign,
    verify,
)

KEY, SECRET, TOKEN = "AKIAEXAMPLEKEY000001", "secret/Key+0123456789abcdefghijklmnopqrs", "tok/en+=="
HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
NOW = datetime(2024, 5, 22, 12, 10, 19, tzinfo=timezone.utc).timestamp()
STAMP = "20240522T121019Z"
SCOPE = "20240522/us-east-1/execute-api/aws4_request"
SIG = "0" * 64

MISSING = SigV4ErrorKind.MISSING_AUTHENTICATION_TOKEN
INCOMPLETE = SigV4ErrorKind.INCOMPLETE_SIGNATURE
INVALID = SigV4ErrorKind.INVALID_SIGNATURE
UNRECOGNIZED = SigV4ErrorKind.UNRECOGNIZED_CLIENT
EXPIRED = SigV4ErrorKind.EXPIRED_TOKEN
TYPES = {MISSING: "MissingAuthenticationTokenException",
         INCOMPLETE: "IncompleteSignatureException",
         INVALID: "InvalidSignatureException",
         UNRECOGNIZED: "UnrecognizedClientException",
         EXPIRED: "ExpiredTokenException"}
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.")


def creds(token: str | None = None, secret: str = SECRET, expires_at=None) -> SigningCredentials:
    return SigningCredentials(KEY, secret, token, expires_at)


def run(headers, query: str = "", path: str = "/prod/pets", body: bytes = b"", now=NOW,
        store=None, method: str = "GET", **options):
    store = {KEY: creds()} if store is None else store
    return verify(method, path, query, headers, body, lookup=store.get, region="us-east-1",
                  now=now, **options)


def expect(result, kind: SigV4ErrorKind, message: str) -> SigV4Error:
    assert isinstance(result, SigV4Error), result
    assert (result.kind, result.error_type, result.message) == (kind, TYPES[kind], message)
    assert result.detail and "\n" not in result.detail
    return result


def botocore_signed(path="/prod/pets", query="", body=b"", token=None, secret=SECRET,
                    at=NOW, presign=False, headers=None):
    """Headers (incl. Host) and query of a request botocore signed, plus the request."""
    url = f"https://{HOST}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method="GET", url=url, data=body, headers=headers or {})
    signer = (SigV4QueryAuth if presign else SigV4Auth)(Credentials(KEY, secret, token),
                                                         "execute-api", "us-east-1")
    moment = datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        signer.add_auth(request)
    prepared = request.prepare()
    wire_query = prepared.url.partition("?")[2]
    return [("Host", HOST)] + list(prepared.headers.items()), wire_query, request, signer


def auth_headers(value: str, date: str | None = STAMP, extra=()) -> list[tuple[str, str]]:
    headers = [("Host", HOST), ("Authorization", value)]
    if date is not None:
        headers.append(("X-Amz-Date", date))
    return headers + list(extra)


def header_auth(credential=f"{KEY}/{SCOPE}", signed="host;x-amz-date", signature=SIG,
                algorithm="AWS4-HMAC-SHA256") -> str:
    return f"{algorithm} Credential={credential}, SignedHeaders={signed}, Signature={signature}"


def test_baseline_requests_verify():
    headers, _, _, _ = botocore_signed()
    assert isinstance(run(headers), Verified)
    headers, query, _, _ = botocore_signed(presign=True, token=TOKEN)
    assert isinstance(run([("Host", HOST)], query, store={KEY: creds(TOKEN)}), Verified)


# ---------------------------------------------------------------- step 1


@pytest.mark.parametrize("query", ["", "a=1", "X-Amz-Credential=x&X-Amz-Signature=y",
                                   "x-amz-algorithm=AWS4-HMAC-SHA256"])
def test_missing_authentication_token(query):
    expect(run([("Host", HOST), ("X-Amz-Date", STAMP)], query), MISSING,
           "Missing Authentication Token")


# ---------------------------------------------------------------- step 2


@pytest.mark.parametrize(("value", "piece", "shown"), [
    ("Bearer abc", "abc", "Bearer abc"),
    ("  Bearer abc  ", "abc", "Bearer abc"),
    (header_auth().replace(", Signature", ", junk, Signature"), "junk",
     header_auth().replace(", Signature", ", junk, Signature")),
])
def test_key_value_pair_without_equal_sign(value, piece, shown):
    expect(run(auth_headers(value)), INCOMPLETE,
           f"'{piece}' not a valid key=value pair (missing equal-sign) "
           f"in Authorization header: '{shown}'.")


# ---------------------------------------------------------------- step 3

CRED = "Authorization header requires 'Credential' parameter. "
SIGNATURE = "Authorization header requires 'Signature' parameter. "
SIGNED = "Authorization header requires 'SignedHeaders' parameter. "
DATE = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "


@pytest.mark.parametrize(("value", "date", "message"), [
    ("AWS4-HMAC-SHA256", STAMP, CRED + SIGNATURE + SIGNED + "Authorization=AWS4-HMAC-SHA256"),
    ("eyJhbGciOiJIUzI1NiJ9", None,
     CRED + SIGNATURE + SIGNED + DATE + "Authorization=eyJhbGciOiJIUzI1NiJ9"),
    ("Basic dXNlcjpwYXNzd29yZA==", STAMP,
     CRED + SIGNATURE + SIGNED + "Authorization=Basic dXNlcjpwYXNzd29yZA=="),
    (f"AWS4-HMAC-SHA256 Credential={KEY}/{SCOPE}, SignedHeaders=host", STAMP,
     SIGNATURE + f"Authorization=AWS4-HMAC-SHA256 Credential={KEY}/{SCOPE}, SignedHeaders=host"),
    (header_auth(), None, DATE + "Authorization=" + header_auth()),
])
def test_missing_parts_listed_in_order(value, date, message):
    expect(run(auth_headers(value, date)), INCOMPLETE, message)


def test_date_header_satisfies_the_date_requirement():
    headers = auth_headers(header_auth(), None, [("Date", "Wed, 22 May 2024 12:10:19 GMT")])
    assert run(headers).message != DATE + "Authorization=" + header_auth()


def test_query_form_missing_parts():
    q = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    tail = " Re-examine the query-string parameters."
    expect(run([("Host", HOST)], q), INCOMPLETE,
           "AWS query-string parameters must include 'X-Amz-Credential'. "
           "AWS query-string parameters must include 'X-Amz-Signature'. "
           "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
           "AWS query-string parameters must include 'X-Amz-Date'." + tail)
    q += f"&X-Amz-Credential={KEY}%2F{SCOPE.replace('/', '%2F')}&X-Amz-SignedHeaders=host"
    expect(run([("Host", HOST)], q), INCOMPLETE,
           "AWS query-string parameters must include 'X-Amz-Signature'. "
           "AWS query-string parameters must include 'X-Amz-Date'." + tail)


def test_header_and_query_signature_together_is_a_mismatch():
    headers, _, _, _ = botocore_signed()
    expect(run(headers, "X-Amz-Algorithm=AWS4-HMAC-SHA256"), INVALID, MISMATCH)


# ---------------------------------------------------------------- steps 4-5


@pytest.mark.parametrize("date", ["2024-05-22T12:10:19Z", "20240522T121019", "20240230T121019Z",
                                  "20240522T241019Z", "20240522T126019Z", "", "２０２４0522T121019Z",
                                  "Wed, 22 May 2024 12:10:19 GMT"])
def test_bad_date(date):
    expect(run(auth_headers(header_auth(), date)), INCOMPLETE,
           f"Date must be in ISO-8601 'basic format'. Got '{date}'. "
           "See http://en.wikipedia.org/wiki/ISO_8601")


def test_bad_date_in_presigned_query():
    _, query, _, _ = botocore_signed(presign=True)
    query = query.replace(f"X-Amz-Date={STAMP}", "X-Amz-Date=yesterday")
    expect(run([("Host", HOST)], query), INCOMPLETE,
           "Date must be in ISO-8601 'basic format'. Got 'yesterday'. "
           "See http://en.wikipedia.org/wiki/ISO_8601")


def test_signature_expired_exact_text():
    expect(run(auth_headers(header_auth(), "20240522T115159Z")), INVALID,
           "Signature expired: 20240522T115159Z is now earlier than 20240522T120519Z "
           "(20240522T121019Z - 5 min.)")


def test_signature_not_yet_current_exact_text():
    expect(run(auth_headers(header_auth(), "20240522T121620Z")), INVALID,
           "Signature not yet current: 20240522T121620Z is still later than 20240522T121519Z "
           "(20240522T121019Z + 5 min.)")


def test_skew_boundaries_are_five_minutes():
    old, _, _, _ = botocore_signed(at=NOW - 300)
    new, _, _, _ = botocore_signed(at=NOW + 300)
    assert isinstance(run(old), Verified) and isinstance(run(new), Verified)
    assert run(old, now=NOW + 1).kind is INVALID and run(new, now=NOW - 1).kind is INVALID


@pytest.mark.parametrize(("expires", "message"), [
    ("soon", "X-Amz-Expires should be a number"),
    ("-5", "X-Amz-Expires must be non-negative"),
    ("604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
    ("9" * 5000, "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
])
def test_presigned_expires_must_be_valid(expires, message):
    _, query, _, _ = botocore_signed(presign=True)
    query = query.replace("X-Amz-Expires=3600", f"X-Amz-Expires={expires}")
    expect(run([("Host", HOST)], query), INCOMPLETE, message)


def test_presigned_window():
    _, query, _, _ = botocore_signed(presign=True)
    assert isinstance(run([("Host", HOST)], query, now=NOW + 3600), Verified)
    expect(run([("Host", HOST)], query, now=NOW + 3601), INVALID,
           "Signature expired: 20240522T121019Z is now earlier than 20240522T121020Z "
           "(20240522T131020Z - 3600 sec.)")
    assert run([("Host", HOST)], query, now=NOW - 301).message.startswith(
        "Signature not yet current: 20240522T121019Z is still later than")


def test_presigned_without_expires_uses_the_skew_window():
    """No X-Amz-Expires: the +-5 min header rule applies (our reading of B1.2)."""
    query = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={KEY}%2F"
             f"{SCOPE.replace('/', '%2F')}&X-Amz-Date={STAMP}&X-Amz-SignedHeaders=host")
    creq = canonical_request("GET", "/prod/pets", query, [("Host", HOST)], "host",
                             hashlib.sha256(b"").hexdigest(), presigned=True)
    signature = compute_signature(derive_signing_key(SECRET, *SCOPE.split("/")[:3]),
                                  string_to_sign(STAMP, SCOPE, creq))
    query += f"&X-Amz-Signature={signature}"
    assert isinstance(run([("Host", HOST)], query, now=NOW + 300), Verified)
    expect(run([("Host", HOST)], query, now=NOW + 301), INVALID,
           "Signature expired: 20240522T121019Z is now earlier than 20240522T121020Z "
           "(20240522T121520Z - 5 min.)")


# ---------------------------------------------------------------- step 6

HOST_MSG = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


def test_host_must_be_signed():
    expect(run(auth_headers(header_auth(signed="x-amz-date"))), INVALID, HOST_MSG)
    _, query, _, _ = botocore_signed(presign=True)
    expect(run([("Host", HOST)], query.replace("X-Amz-SignedHeaders=host",
                                               "X-Amz-SignedHeaders=x-custom")), INVALID, HOST_MSG)


def test_authority_counts_as_host():
    result = run(auth_headers(header_auth(signed=":authority;x-amz-date")))
    assert result.message.startswith(MISMATCH + "\n\n")


def test_date_header_must_be_signed_unless_configured():
    expect(run(auth_headers(header_auth(signed="host"))), INVALID,
           "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
    result = run(auth_headers(header_auth(signed="host")), require_signed_date=False)
    assert result.message.startswith(MISMATCH)


def test_rfc1123_date_header_is_accepted():
    headers, _, _, _ = botocore_signed(headers={"Date": "anything"})
    assert dict(headers)["Date"].startswith("Wed, 22 May 2024 12:10:19")
    assert "X-Amz-Date" not in dict(headers)
    assert isinstance(run(headers), Verified)


# ---------------------------------------------------------------- steps 7-9


@pytest.mark.parametrize("algorithm", ["AWS4-HMAC-SHA25", "AWS4-ECDSA-P256-SHA256", "Bearer"])
def test_unsupported_algorithm(algorithm):
    expect(run(auth_headers(header_auth(algorithm=algorithm))), INCOMPLETE,
           f"Unsupported AWS 'algorithm': '{algorithm}' (only AWS4-HMAC-SHA256 for now). ")


def test_unsupported_algorithm_in_query():
    _, query, _, _ = botocore_signed(presign=True)
    query = query.replace("Algorithm=AWS4-HMAC-SHA256", "Algorithm=AWS4-ECDSA-P256-SHA256")
    expect(run([("Host", HOST)], query), INCOMPLETE,
           "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256' "
           "(only AWS4-HMAC-SHA256 for now). ")


@pytest.mark.parametrize("credential", [f"{KEY}/20240522/us-east-1/execute-api",
                                        f"{KEY}/{SCOPE}/extra", KEY, ""])
def test_credential_must_have_five_parts(credential):
    expect(run(auth_headers(header_auth(credential=credential))), INCOMPLETE,
           "Credential must have exactly 5 slash-delimited elements, "
           f"e.g. keyid/date/region/service/term, got '{credential}'")


REGION_MSG = "Credential should be scoped to a valid region, not 'eu-west-1'. "
SERVICE_MSG = "Credential should be scoped to correct service: 'execute-api'. "
TERM_MSG = ("Credential should be scoped with a valid terminator: 'aws4_request', "
            "not 'aws5_request'. ")
DATE_MSG = ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            "from HTTP: '20240521' != '20240522', from '20240522T121019Z'. ")


@pytest.mark.parametrize(("scope", "message"), [
    ("20240522/eu-west-1/execute-api/aws4_request", REGION_MSG),
    ("20240522/us-east-1/lambda/aws4_request", SERVICE_MSG),
    ("20240522/us-east-1/execute-api/aws5_request", TERM_MSG),
    ("20240521/us-east-1/execute-api/aws4_request", DATE_MSG),
    ("20240521/eu-west-1/lambda/aws5_request", REGION_MSG + SERVICE_MSG + TERM_MSG + DATE_MSG),
    ("20240521/eu-west-1/execute-api/aws4_request", REGION_MSG + DATE_MSG),
])
def test_scope_errors_concatenate_in_order(scope, message):
    expect(run(auth_headers(header_auth(credential=f"{KEY}/{scope}"))), INVALID, message)


# ---------------------------------------------------------------- steps 10-12

UNKNOWN = "The security token included in the request is invalid."
BAD_TOKEN = "The security token included in the request is invalid"


def test_unknown_access_key():
    headers, _, _, _ = botocore_signed()
    expect(run(headers, store={}), UNRECOGNIZED, UNKNOWN)


def test_signature_mismatch_carries_canonical_string_and_string_to_sign():
    headers, _, request, signer = botocore_signed(path="/prod/a%20b", query="q=1&b=%2F",
                                                  secret="another-secret")
    del request.headers["Authorization"]  # botocore's view of the request it signed
    creq = signer.canonical_request(request)
    sts = signer.string_to_sign(request, creq)
    assert "/prod/a%2520b" in creq
    expect(run(headers, "q=1&b=%2F", path="/prod/a%20b"), INVALID,
           MISMATCH + f"\n\nThe Canonical String for this request should have been\n'{creq}'"
           f"\n\nThe String-to-Sign should have been\n'{sts}'\n")


def test_session_token_checks():
    headers, _, _, _ = botocore_signed(token=TOKEN)
    assert isinstance(run(headers, store={KEY: creds(TOKEN)}), Verified)
    expect(run(headers, store={KEY: creds("another")}), UNRECOGNIZED, BAD_TOKEN)
    expect(run(headers, store={KEY: creds(None)}), UNRECOGNIZED, BAD_TOKEN)
    expect(run(headers, store={KEY: creds(TOKEN, expires_at=NOW)}), EXPIRED,
           "The security token included in the request is expired")
    assert isinstance(run(headers, store={KEY: creds(TOKEN, expires_at=NOW + 1)}), Verified)
    unsigned, _, _, _ = botocore_signed()
    expect(run(unsigned, store={KEY: creds(TOKEN)}), UNRECOGNIZED, UNKNOWN)
    late = unsigned + [("X-Amz-Security-Token", TOKEN)]  # added after signing (B4)
    assert isinstance(run(late, store={KEY: creds(TOKEN)}), Verified)


def test_presigned_session_token_is_checked():
    _, query, _, _ = botocore_signed(presign=True, token=TOKEN)
    expect(run([("Host", HOST)], query, store={KEY: creds("other")}), UNRECOGNIZED, BAD_TOKEN)
    expect(run([("Host", HOST)], query, store={KEY: creds(TOKEN, expires_at=1.0)}), EXPIRED,
           "The security token included in the request is expired")


# ---------------------------------------------------------------- payload hash (B2)


def test_content_sha256_must_match_body():
    body = b'{"a":1}'
    good = hashlib.sha256(body).hexdigest()
    headers, _, _, _ = botocore_signed(body=body, headers={"X-Amz-Content-SHA256": good})
    assert isinstance(run(headers, body=body), Verified)
    upper, _, _, _ = botocore_signed(body=body, headers={"X-Amz-Content-SHA256": good.upper()})
    assert isinstance(run(upper, body=body), Verified)  # used verbatim in the canonical request
    lying, _, _, _ = botocore_signed(body=body, headers={"X-Amz-Content-SHA256": "a" * 64})
    result = expect_prefix(run(lying, body=body), INVALID, MISMATCH)
    assert "does not match X-Amz-Content-SHA256" in result.detail
    assert f"\n{good}'\n\nThe String-to-Sign" in result.message


@pytest.mark.parametrize("value", ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                   "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "UNSIGNED-PAYLOAD"])
def test_streaming_and_unsigned_payloads_are_refused(value):
    headers, _, _, _ = botocore_signed(headers={"X-Amz-Content-SHA256": value})
    result = expect_prefix(run(headers), INVALID, MISMATCH)
    assert value in result.detail
    allowed = run(headers, allow_unsigned_payload=True)
    assert isinstance(allowed, Verified) == (value == "UNSIGNED-PAYLOAD")


def expect_prefix(result, kind: SigV4ErrorKind, prefix: str) -> SigV4Error:
    assert isinstance(result, SigV4Error) and result.kind is kind, result
    assert result.error_type == TYPES[kind] and result.message.startswith(prefix)
    return result


# ---------------------------------------------------------------- B5 order


def test_check_order_reports_the_earliest_failure():
    """Each request breaks everything from one step on; the earliest step must win."""
    bad_scope = f"{KEY}/20240521/eu-west-1/execute-api/aws4_request"
    cases = [
        (auth_headers(header_auth(algorithm="X", signed="a"), "bad"), INCOMPLETE, "Date must"),
        (auth_headers(header_auth(algorithm="X", signed="a"), "20200101T000000Z"),
         INVALID, "Signature expired"),
        (auth_headers(header_auth(algorithm="X", signed="a")), INVALID, "'Host'"),
        (auth_headers(header_auth(algorithm="X", credential="a/b")), INCOMPLETE, "Unsupported"),
        (auth_headers(header_auth(credential="a/b")), INCOMPLETE, "Credential must"),
        (auth_headers(header_auth(credential="NOPE" + bad_scope[len(KEY):])), INVALID,
         "Credential should"),
        (auth_headers(header_auth(credential=f"NOPE/{SCOPE}")), UNRECOGNIZED, UNKNOWN),
        (auth_headers(header_auth(), extra=[("X-Amz-Security-Token", "x")]), INVALID, MISMATCH),
    ]
    for headers, kind, prefix in cases:
        expect_prefix(run(headers), kind, prefix)


def test_parse_authorization_header_parts():
    parts = parse_authorization_header(
        "  AWS4-HMAC-SHA256 Credential=AKID/20240522/us-east-1/execute-api/aws4_request,"
        "SignedHeaders=host;x-amz-date,, Signature=abc, Extra=a=b ")
    assert parts.algorithm == "AWS4-HMAC-SHA256"
    assert parts.credential == "AKID/20240522/us-east-1/execute-api/aws4_request"
    assert (parts.signed_headers, parts.signature) == ("host;x-amz-date", "abc")
    assert parts.params[-1] == ("Extra", "a=b")
    assert isinstance(parse_authorization_header("Bearer abc"), SigV4Error)


# ---------------------------------------------------------------- never raise

HOSTILE_TOKENS = (list("aZ09-_.~%=,;/ \t\r\n\x0b\x00+&?#:'\"\\") + ["é", "ሴ", "😀", "\x85", "\xa0",
                  "\u2028", "\udcff", "\ud800", "%zz", "%e9", "%C3%A9", "%", "..", "//",
                  "X-Amz-", "Credential=", "AWS4-HMAC-SHA256", "20240522T121019Z"])
HOSTILE = st.lists(st.sampled_from(HOSTILE_TOKENS), max_size=10).map("".join)


@st.composite
def hostile_requests(draw):
    """Mostly well-shaped SigV4 parts with hostile values, so every step is reached."""
    field = lambda ok: draw(st.one_of(st.just(ok), HOSTILE))  # noqa: E731
    credential = "/".join([field(KEY), field("20240522"), field("us-east-1"),
                           field("execute-api"), field("aws4_request")])
    pieces = [f"Credential={credential}", f"SignedHeaders={field('host;x-amz-date')}",
              f"Signature={field(SIG)}", draw(HOSTILE)]
    auth = field("AWS4-HMAC-SHA256") + " " + draw(st.sampled_from([",", ", ", ",,"])).join(
        draw(st.permutations(pieces)))
    headers = [("Host", field(HOST)), ("X-Amz-Date", field(STAMP))]
    headers += draw(st.lists(st.tuples(HOSTILE, HOSTILE), max_size=3))
    if draw(st.booleans()):
        headers.append(("Authorization", field(auth)))
    extra = {"X-Amz-Algorithm": field("AWS4-HMAC-SHA256"), "X-Amz-Credential": credential,
             "X-Amz-Date": field(STAMP), "X-Amz-SignedHeaders": field("host"),
             "X-Amz-Signature": field(SIG), "X-Amz-Expires": field("60")}
    query = "&".join(f"{k}={v}" for k, v in extra.items() if draw(st.booleans()))
    query += draw(HOSTILE)
    return draw(HOSTILE).join(["", "/p"]), query, headers, draw(st.binary(max_size=20))


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(hostile_requests(), st.sampled_from([None, "tok"]))
def test_verify_never_raises(request_parts, token):
    path, query, headers, body = request_parts
    store = {KEY: SigningCredentials(KEY, SECRET, token)}
    for form_headers in (headers, [h for h in headers if h[0] != "Authorization"]):
        result = verify("GET", path, query, form_headers, body, lookup=lambda k: store.get(k),
                        region="us-east-1", now=NOW)
        assert isinstance(result, (Verified, SigV4Error))
        if isinstance(result, SigV4Error):
            assert result.error_type == result.kind.value and result.message


def test_verify_never_raises_seeded_loop():
    """Cheaper, wider companion of the hypothesis test: many random splices."""
    rng = random.Random(99)
    good = {"method": "GET", "path": "/prod/pets", "query": "", "headers": auth_headers(
        header_auth()), "body": b""}

    def junk() -> str:
        return "".join(rng.choices(HOSTILE_TOKENS, k=rng.randint(0, 8)))

    for _ in range(3000):
        headers = [(k if rng.random() < 0.8 else junk(), v if rng.random() < 0.7 else
                    v[: rng.randint(0, len(v))] + junk() + v[rng.randint(0, len(v)):])
                   for k, v in good["headers"]]
        if rng.random() < 0.3:  # exercise the RFC 1123 Date-header parser with junk
            headers = [("Date", rng.choice(["Wed, 22 May 2024 ", "", "Mon, "]) + junk())
                       if k == "X-Amz-Date" else (k, v) for k, v in headers]
        query = rng.choice(["", junk(), "X-Amz-Algorithm=AWS4-HMAC-SHA256&" + junk()])
        store = {KEY: SigningCredentials(KEY, SECRET, rng.choice([None, "tok"]))}
        result = verify(rng.choice(["GET", junk()]), rng.choice(["/", junk(), "/a/" + junk()]),
                        query, headers, rng.choice([b"", b"\xff\x00"]), lookup=store.get,
                        region="us-east-1", now=NOW)
        assert isinstance(result, (Verified, SigV4Error))
