"""`lychgate explain` against a running gateway, and `serve --explain`'s header."""

import json
import subprocess
import sys
from pathlib import Path

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[2]
ALICE = Credentials("AKIAEXAMPLEALICE0001", "alice-secret-key-000000000000000000000")


def explain(request_id: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lychgate", "explain", request_id, *flags],
                          capture_output=True, text=True)


def test_explain_names_the_cause_and_the_closest_statement(serve):
    server = serve(ROOT / "examples" / "petstore")
    request = AWSRequest(method="POST", url=f"{server.url}/prod/orders", data=b"")
    SigV4Auth(ALICE, "execute-api", "us-east-1").add_auth(request)
    prepared = request.prepare()
    denied = requests.post(prepared.url, headers=dict(prepared.headers))
    assert denied.status_code == 403
    proc = explain(denied.headers["x-amzn-RequestId"], "--json")
    assert proc.returncode == 0, proc.stderr
    expl = json.loads(proc.stdout)
    assert (expl["outcome"], expl["cause"], expl["status"]) == ("refused", "identity_policy_denies", 403)
    assert "no policy of arn:aws:iam::123456789012:user/alice allows execute-api:Invoke" in expl["because"]
    assert "`ReadOrders`" in expl["because"] and "petstore/prod/GET/orders" in expl["because"]
    assert [s["stage"] for s in expl["steps"]][:4] == ["resolve_api", "match_route", "authenticate", "authorize"]
    text = explain(denied.headers["x-amzn-RequestId"]).stdout
    assert text.startswith("Refused (403): POST /prod/orders") and "because:" in text.splitlines()[1]


def test_explain_unknown_request_id_exits_1(serve):
    serve(ROOT / "examples" / "petstore")
    proc = explain("no-such-id")
    assert proc.returncode == 1 and "remembers" in proc.stderr


def test_explain_header_in_dev_mode(serve):
    server = serve(ROOT / "examples" / "petstore", "--explain")
    r = requests.get(f"{server.url}/prod/petz")
    assert r.headers["x-lychgate-explain"] == "no_route: no route of stage prod matches GET /petz"
    r = requests.delete(f"{server.url}/prod/pets")
    assert r.headers["x-lychgate-explain"] == ("no_route: no route of stage prod matches DELETE /pets; "
                                               "this path has only: GET /pets, POST /pets, OPTIONS /pets")
    r = requests.get(f"{server.url}/staging/pets")
    assert r.headers["x-lychgate-explain"].startswith("no_stage: no API stage serves '/staging/pets'")
    assert "stages: /prod" in r.headers["x-lychgate-explain"]
    assert "x-lychgate-explain" not in requests.get(f"{server.url}/prod/pets").headers
