"""What the one pass remembers between requests never changes a decision.

It keeps the canonical request's hash per caller, request line, signed values, date and payload hash,
with the signature expected under the caller's secret of that second, and per access key the HMAC
state and ``Verified`` of its latest second. A request replayed later is still checked against the
clock, new credentials for a key are used at once, a session token's expiry is checked on every
request, a remembered signature serves only its own caller and secret, and every outcome equals the
general path's.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timezone

from lychgate.sigv4 import SigningCredentials, SigV4Error, SigV4ErrorKind, Verified, sign_headers, verify

verify_module = importlib.import_module("lychgate.sigv4.verify")

KEY, SECRET, TOKEN = "AKIAMEMORYKEY0000001", "secret-one", "token/one=="
HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
NOW = datetime(2024, 5, 22, 12, 10, 19, tzinfo=timezone.utc).timestamp()


def sign(path="/prod/pets", query="", body=b"", at=NOW, secret=SECRET, token=None, method="GET"):
    return sign_headers(method, path, query, [("Host", HOST)], body, access_key_id=KEY, secret_access_key=secret,
                        region="us-east-1", session_token=token, now=at)


def both(monkeypatch, headers, store, now, path="/prod/pets", query="", body=b"", method="GET"):
    """(one pass, general path) results of one request: they must be equal."""
    fast = verify(method, path, query, headers, body, lookup=store.get, region="us-east-1", now=now)
    with monkeypatch.context() as patch:
        patch.setattr(verify_module, "verify_sdk_request", lambda *args: None)
        general = verify(method, path, query, headers, body, lookup=store.get, region="us-east-1", now=now)
    assert fast == general
    return fast


def test_a_replayed_request_is_checked_against_the_clock_every_time(monkeypatch):
    store = {KEY: SigningCredentials(KEY, SECRET)}
    headers = sign()
    assert isinstance(both(monkeypatch, headers, store, NOW), Verified)
    late = both(monkeypatch, headers, store, NOW + 301)
    assert isinstance(late, SigV4Error) and late.message.startswith("Signature expired")
    early = both(monkeypatch, headers, store, NOW - 301)
    assert isinstance(early, SigV4Error) and early.message.startswith("Signature not yet current")
    assert isinstance(both(monkeypatch, headers, store, NOW + 300), Verified)


def test_new_credentials_for_a_key_are_used_at_once(monkeypatch):
    """A reload may give a key another secret: the old signature fails, the new one passes."""
    old, new = {KEY: SigningCredentials(KEY, SECRET)}, {KEY: SigningCredentials(KEY, "secret-two")}
    headers = sign()
    assert isinstance(both(monkeypatch, headers, old, NOW), Verified)
    refused = both(monkeypatch, headers, new, NOW)
    assert isinstance(refused, SigV4Error) and refused.kind is SigV4ErrorKind.INVALID_SIGNATURE
    assert isinstance(both(monkeypatch, sign(secret="secret-two"), new, NOW), Verified)
    assert isinstance(both(monkeypatch, headers, {}, NOW), SigV4Error)  # the key is gone


def test_a_session_token_is_checked_on_every_request(monkeypatch):
    store = {KEY: SigningCredentials(KEY, SECRET, TOKEN, NOW + 10)}
    headers = sign(token=TOKEN)
    assert isinstance(both(monkeypatch, headers, store, NOW), Verified)
    expired = both(monkeypatch, headers, store, NOW + 10)
    assert isinstance(expired, SigV4Error) and expired.kind is SigV4ErrorKind.EXPIRED_TOKEN
    without = [(name, value) for name, value in headers if name != "X-Amz-Security-Token"]
    assert isinstance(both(monkeypatch, without, store, NOW), SigV4Error)
    other = [(name, "other" if name == "X-Amz-Security-Token" else value) for name, value in headers]
    assert isinstance(both(monkeypatch, other, store, NOW), SigV4Error)


def test_remembered_hashes_follow_the_date_the_line_and_the_body(monkeypatch):
    store = {KEY: SigningCredentials(KEY, SECRET)}
    for at in (NOW, NOW + 1, NOW, NOW + 2):
        assert isinstance(both(monkeypatch, sign(at=at), store, NOW), Verified)
    first, second = sign(method="POST", body=b"a"), sign(method="POST", body=b"b")
    assert isinstance(both(monkeypatch, first, store, NOW, body=b"a", method="POST"), Verified)
    assert isinstance(both(monkeypatch, second, store, NOW, body=b"b", method="POST"), Verified)
    assert isinstance(both(monkeypatch, first, store, NOW, body=b"b", method="POST"), SigV4Error)
    assert isinstance(both(monkeypatch, sign(query="a=1"), store, NOW, query="a=2"), SigV4Error)
    assert isinstance(both(monkeypatch, sign(path="/prod/a"), store, NOW, path="/prod/b"), SigV4Error)
    moved = [(name, "other.example.com" if name == "Host" else value) for name, value in sign()]
    assert isinstance(both(monkeypatch, moved, store, NOW), SigV4Error)


def test_the_requests_of_one_key_and_second_share_a_verified_of_their_own_date(monkeypatch):
    store = {KEY: SigningCredentials(KEY, SECRET)}
    one = both(monkeypatch, sign(), store, NOW)
    two = both(monkeypatch, sign(path="/prod/cats"), store, NOW, path="/prod/cats")
    assert one == two and one.signed_at == NOW
    later = both(monkeypatch, sign(at=NOW + 1), store, NOW)
    assert later.signed_at == NOW + 1 and one.signed_at == NOW


def test_remembered_hashes_stay_bounded(monkeypatch):
    monkeypatch.setattr(verify_module, "_CANONICAL_MAX", 4)
    monkeypatch.setattr(verify_module, "_CANONICAL_HASHES", {})
    store = {KEY: SigningCredentials(KEY, SECRET)}
    for n in range(40):
        path = f"/prod/{n % 3}"
        assert isinstance(both(monkeypatch, sign(path=path, at=NOW + n - 20), store, NOW, path=path), Verified)
        assert len(verify_module._CANONICAL_HASHES) <= 4
    long_path = "/prod/" + "a" * 600
    assert isinstance(both(monkeypatch, sign(path=long_path), store, NOW, path=long_path), Verified)
    assert not any(key[1] == long_path for key in verify_module._CANONICAL_HASHES)


def test_a_remembered_signature_admits_only_the_request_that_carries_it(monkeypatch):
    """Once a request's expected signature is remembered, a copy with any other signature fails."""
    store = {KEY: SigningCredentials(KEY, SECRET)}
    headers = sign()
    assert isinstance(both(monkeypatch, headers, store, NOW), Verified)
    for position in (0, 31, 63):  # one hex digit changed: at the start, the middle, the end
        tampered = []
        for name, value in headers:
            if name == "Authorization":
                digit = value[-64 + position]
                value = value[:len(value) - 64 + position] + ("0" if digit != "0" else "1") + value[len(value) - 63 + position:]
            tampered.append((name, value))
        refused = both(monkeypatch, tampered, store, NOW)
        assert isinstance(refused, SigV4Error) and refused.kind is SigV4ErrorKind.INVALID_SIGNATURE
    assert isinstance(both(monkeypatch, headers, store, NOW), Verified)


def test_callers_sending_the_same_request_in_the_same_second_each_need_their_own_signature(monkeypatch):
    other_key, other_secret = "AKIAMEMORYKEY0000002", "secret-of-the-other"
    store = {KEY: SigningCredentials(KEY, SECRET), other_key: SigningCredentials(other_key, other_secret)}
    mine = sign()
    theirs = sign_headers("GET", "/prod/pets", "", [("Host", HOST)], b"", access_key_id=other_key,
                          secret_access_key=other_secret, region="us-east-1", now=NOW)
    for _ in range(2):  # in turn, as their requests interleave
        assert both(monkeypatch, mine, store, NOW).access_key_id == KEY
        assert both(monkeypatch, theirs, store, NOW).access_key_id == other_key
    # The other caller's key id with my signature: same request, same second, another secret.
    signature = dict(mine)["Authorization"][-64:]
    borrowed = [(name, value[:-64] + signature if name == "Authorization" else value) for name, value in theirs]
    refused = both(monkeypatch, borrowed, store, NOW)
    assert isinstance(refused, SigV4Error) and refused.kind is SigV4ErrorKind.INVALID_SIGNATURE
