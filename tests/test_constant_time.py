"""Secrets are compared in constant time: ``hmac.compare_digest`` alone decides.

Every place where lychgate compares something secret that a caller sent (reviewed in
docs/reliability.md, "Timing"):

* SigV4 signature: ``sigv4.verify._check_signature`` compares the expected and the given signature;
* SigV4 session token: ``sigv4.verify._check_token`` compares X-Amz-Security-Token with the issued one;
* admin token: ``server.admin.AdminServer._answer`` compares the bearer token of ``/explain``.

Each test exercises the real code path with a recording wrapper around ``hmac.compare_digest``: the
comparison must be recorded with the secret, and flipping its answer must flip the decision (so no
other ``==`` decides as well). API key values are never compared at all: only their SHA-256 digests
are looked up. A source scan keeps ``==``/``!=`` away from secret-named values everywhere else.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lychgate.errors import InvalidApiKey
from lychgate.pipeline.explain import TraceRing
from lychgate.server.admin import AdminServer
from lychgate.sigv4 import SigningCredentials, SigV4ErrorKind, Verified, verify
from lychgate.usage import keys as usage_keys
from lychgate.usage.keys import KeyRegistry, config_key

ROOT = Path(__file__).resolve().parent.parent
REAL_COMPARE = hmac.compare_digest
KEY_ID, SECRET, SESSION = "ASIAEXAMPLETIMING001", "timing-secret-key-0000000000000000000000", "timing-session-token-0001"


class CompareRecorder:
    """Stands in for ``hmac.compare_digest``: records each call, answers as ``decide`` says
    (default: the real answer)."""

    def __init__(self, decide=None):
        self.calls: list[tuple] = []
        self.decide = decide

    def __call__(self, a, b):
        self.calls.append((a, b))
        real = REAL_COMPARE(a, b)
        return real if self.decide is None else self.decide(a, b, real)

    def compared(self, value) -> bool:
        return any(value in pair for pair in self.calls)


@pytest.fixture
def recorder(monkeypatch):
    def install(decide=None) -> CompareRecorder:
        wrapper = CompareRecorder(decide)
        monkeypatch.setattr(hmac, "compare_digest", wrapper)
        return wrapper
    return install


def signed_request(session_token: str | None = SESSION, signature: str | None = None) -> dict:
    """A GET signed by botocore, as verify() receives it; ``signature`` replaces the real one."""
    request = AWSRequest(method="GET", url="https://api.example.test/prod/orders?page=2")
    SigV4Auth(Credentials(KEY_ID, SECRET, session_token), "execute-api", "us-east-1").add_auth(request)
    headers = [("Host", "api.example.test"), *request.headers.items()]
    if signature is not None:
        headers = [(k, re.sub(r"Signature=[0-9a-f]{64}", f"Signature={signature}", v)) for k, v in headers]
    return {"method": "GET", "raw_path": "/prod/orders", "raw_query": "page=2", "headers": headers, "body": b""}


def verify_request(request: dict, issued_token: str | None = SESSION):
    creds = SigningCredentials(KEY_ID, SECRET, issued_token)
    return verify(**request, lookup=lambda key_id: creds if key_id == KEY_ID else None, region="us-east-1")


def signature_of(request: dict) -> str:
    header = dict(request["headers"])["Authorization"]
    return re.search(r"Signature=([0-9a-f]{64})", header).group(1)


def test_sigv4_signature_is_decided_by_compare_digest(recorder):
    request = signed_request()
    compare = recorder()
    assert isinstance(verify_request(request), Verified)
    assert compare.compared(signature_of(request))

    # The same valid request, refused when compare_digest says the signatures differ...
    recorder(lambda a, b, real: False if signature_of(request) in (a, b) else real)
    refused = verify_request(request)
    assert refused.kind is SigV4ErrorKind.INVALID_SIGNATURE

    # ...and a forged signature accepted when it says they match: nothing else is compared.
    forged = signed_request(signature="0" * 64)
    compare = recorder(lambda a, b, real: True if "0" * 64 in (a, b) else real)
    assert isinstance(verify_request(forged), Verified)
    assert compare.compared("0" * 64)


def test_sigv4_session_token_is_decided_by_compare_digest(recorder):
    request = signed_request()
    compare = recorder()
    assert isinstance(verify_request(request), Verified)
    assert compare.compared(SESSION.encode())

    recorder(lambda a, b, real: False if SESSION.encode() in (a, b) else real)
    refused = verify_request(request)
    assert (refused.kind, refused.message) == (SigV4ErrorKind.UNRECOGNIZED_CLIENT,
                                               "The security token included in the request is invalid")

    # A request signed with another session token: refused by the real comparison, accepted when
    # compare_digest is told to say yes.
    other = signed_request(session_token="some-other-session-token")
    assert verify_request(other, issued_token=SESSION).kind is SigV4ErrorKind.UNRECOGNIZED_CLIENT
    recorder(lambda a, b, real: True if b"some-other-session-token" in (a, b) else real)
    assert isinstance(verify_request(other, issued_token=SESSION), Verified)


def admin_head(token: str | None) -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token is not None else ""
    return f"GET /explain/no-such-request HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n"


def test_admin_token_is_decided_by_compare_digest(recorder):
    token = "admin-token-for-the-timing-test-000000"
    admin = AdminServer(SimpleNamespace(traces=TraceRing()), token, "http://127.0.0.1:1")  # all it reads of a gateway
    compare = recorder()
    assert admin._answer(admin_head(token))[0] == 404  # accepted: no such request id
    assert admin._answer(admin_head("wrong-token"))[0] == 401
    assert admin._answer(admin_head(None))[0] == 401
    assert compare.compared(token.encode()) and compare.compared(b"wrong-token")

    recorder(lambda a, b, real: False)
    assert admin._answer(admin_head(token))[0] == 401
    recorder(lambda a, b, real: True)
    assert admin._answer(admin_head("wrong-token"))[0] == 404


def test_api_key_values_are_never_compared_only_their_sha256_digests_looked_up(monkeypatch):
    value = "partner-key-for-the-timing-test-0000000"
    key = config_key("partner", value, True, ("plan",))
    registry = KeyRegistry()
    registry.replace([], [key])
    assert value not in repr(registry.__dict__)  # the value itself is not kept
    assert list(registry.keys) == [hashlib.sha256(value.encode()).hexdigest()]

    real_hash, hashed = usage_keys.key_hash, []

    def recording_hash(presented: str) -> str:
        hashed.append(presented)
        return real_hash(presented)

    monkeypatch.setattr(usage_keys, "key_hash", recording_hash)
    with pytest.raises(InvalidApiKey) as found:  # found, though in no plan of this stage
        registry.admit(value, "api", "prod", "header")
    assert found.value.cause == "api_key_not_in_plan" and hashed == [value]
    # The digest alone decides: with another digest the very same value is unknown.
    monkeypatch.setattr(usage_keys, "key_hash", lambda presented: "0" * 64)
    with pytest.raises(InvalidApiKey) as unknown:
        registry.admit(value, "api", "prod", "header")
    assert unknown.value.cause == "api_key_unknown"


#: Names that always mean a secret, anywhere in lychgate/.
SECRET_NAME = re.compile(r"signature|secret|password|passphrase|session_token|security_token|admin_token"
                         r"|bearer|api_key_value", re.IGNORECASE)
#: Where secrets are checked, generic names (token, given, expected, issued) count too.
SECURITY_CODE = ("lychgate/sigv4/", "lychgate/server/admin.py", "lychgate/usage/", "lychgate/authorizers/",
                 "lychgate/tokens/")
GENERIC_NAME = re.compile(r"^(token|given|expected|issued)$|_token$", re.IGNORECASE)
#: Comparisons the scan flags that involve no secret (file, source).
NOT_SECRETS = {
    ("lychgate/sigv4/canonical.py", "pair[0] != SIGNATURE_PARAM"),  # the X-Amz-Signature parameter's name
    ("lychgate/tokens/verify.py", "use != expected"),  # a token's token_use claim against "id"/"access"
}


def test_no_secret_is_compared_with_eq_anywhere_in_lychgate():
    found = set()
    for path in sorted((ROOT / "lychgate").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        generic_counts = where.startswith(SECURITY_CODE)
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)):
                continue
            names = [n.id if isinstance(n, ast.Name) else n.attr
                     for part in (node.left, *node.comparators) for n in ast.walk(part)
                     if isinstance(n, (ast.Name, ast.Attribute))]
            if any(SECRET_NAME.search(name) or generic_counts and GENERIC_NAME.search(name) for name in names):
                found.add((where, ast.unparse(node)))
    assert found - NOT_SECRETS == set(), "compare secrets with hmac.compare_digest, or list why not in NOT_SECRETS"
