"""Our signer (used by `lychgate simulate --as`) produces botocore's signature for the same request."""

import datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lychgate.sigv4 import SigningCredentials, sign_headers, verify

NOW = datetime.datetime(2026, 11, 25, 8, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("method,path,query,body,token", [
    ("GET", "/prod/pets", "", b"", None),
    ("POST", "/prod/a%20b/%E2%82%AC", "b=2&a=1&a=0", b'{"x":1}', "session-token"),
    ("DELETE", "/", "k", b"", None),
])
def test_same_signature_as_botocore(monkeypatch, method, path, query, body, token):
    creds = Credentials("AKIAEXAMPLE000000001", "secret/key+value", token)
    url = f"https://h.example:8443{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers={"Host": "h.example:8443"})
    monkeypatch.setattr("botocore.auth.datetime.datetime", type("D", (datetime.datetime,), {"utcnow": staticmethod(lambda: NOW.replace(tzinfo=None)), "now": staticmethod(lambda tz=None: NOW)}))
    SigV4Auth(creds, "execute-api", "us-east-1").add_auth(request)
    theirs = request.headers["Authorization"]
    ours = dict(sign_headers(method, path, query, [("Host", "h.example:8443")], body, access_key_id=creds.access_key,
                             secret_access_key=creds.secret_key, session_token=token, region="us-east-1",
                             now=NOW.timestamp()))
    assert ours["Authorization"] == theirs
    lookup = lambda key: SigningCredentials(key, creds.secret_key, token)
    assert verify(method, path, query, list(ours.items()), body, lookup=lookup, region="us-east-1",
                  now=NOW.timestamp()).access_key_id == creds.access_key
