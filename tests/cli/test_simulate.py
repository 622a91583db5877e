"""`lychgate simulate`: the server's pipeline offline; its decision matches the live server's."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from helpers import openapi, proxy_op, write_project
from lychgate.cli.main import main
from lychgate.sigv4 import sign_headers

ROOT = Path(__file__).resolve().parents[2]
PETSTORE = ROOT / "examples" / "petstore"
KEYS = {"alice": ("AKIAEXAMPLEALICE0001", "alice-secret-key-000000000000000000000", None),
        "bob": ("AKIAEXAMPLEBOB000001", "bob-secret-key-0000000000000000000000000", None),
        "deployer": ("ASIAEXAMPLECI0000001", "ci-secret-key-00000000000000000000000000", "ci-session-token")}


def simulate(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "lychgate", "simulate", str(PETSTORE), *args, "--json"],
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


SCENARIOS = [
    ("GET", "/prod/pets", None, 0, None),
    ("GET", "/prod/orders", "alice", 0, None),
    ("POST", "/prod/orders", "alice", 1, "identity_policy_denies"),
    ("GET", "/prod/orders", "bob", 0, None),
    ("POST", "/prod/orders", "deployer", 0, None),
    ("GET", "/prod/orders", None, 1, "missing_signature"),
    ("DELETE", "/prod/pets", None, 1, "no_route"),
    ("GET", "/test/pets", None, 1, "no_stage"),
]


@pytest.mark.parametrize("method,path,who,code,cause", SCENARIOS, ids=[f"{s[0]} {s[1]} {s[2]}" for s in SCENARIOS])
def test_simulate_matches_the_live_server(serve, method, path, who, code, cause):
    status, result = simulate(method, path, *(["--as", who] if who else []))
    assert (status, result["cause"]) == (code, cause)
    server = serve(PETSTORE)
    headers = [("Host", f"127.0.0.1:{server.port}")]
    if who:
        key, secret, token = KEYS[who]
        headers = sign_headers(method, path, "", headers, b"", access_key_id=key, secret_access_key=secret,
                               session_token=token, region="us-east-1")
    live = requests.request(method, server.url + path, headers=dict(headers))
    assert (live.status_code < 400) == (code == 0)
    if code:
        assert live.status_code == result["status"]


def test_simulate_source_ip_reaches_conditions():
    status, result = simulate("GET", "/prod/orders", "--as", "bob", "--source-ip", "203.0.113.9")
    assert status == 1 and result["cause"] == "explicit_deny_identity_policy"
    assert "NeverFromOutside" in result["because"]


def test_simulate_unknown_identity_exits_2():
    proc = subprocess.run([sys.executable, "-m", "lychgate", "simulate", str(PETSTORE), "GET", "/prod/orders",
                           "--as", "mallory"], capture_output=True, text=True)
    assert proc.returncode == 2 and "mallory" in proc.stderr


def test_simulate_token_and_api_key():
    status, result = simulate("GET", "/prod/adoptions", "--token", "allow-alice")
    assert status == 0 and any(s["stage"] == "authenticate" for s in result["steps"])
    status, result = simulate("GET", "/prod/adoptions", "--token", "deny")
    assert (status, result["cause"]) == (1, "authorizer_explicitDeny")
    assert simulate("GET", "/prod/inventory", "--api-key", "partner-1-key-0000000000000000")[0] == 0
    status, result = simulate("GET", "/prod/inventory", "--api-key", "wrong-key-000000000000000")
    assert (status, result["cause"]) == (1, "api_key_unknown")


def simulate_in_process(project, *args: str) -> tuple[int, dict | str]:
    result = CliRunner().invoke(main, ["simulate", str(project), *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.exit_code in (0, 1) else result.stderr


def test_simulate_counts_limits_apart_from_the_shared_store(serve, tmp_path):
    key = "trial-key-000000000000000"
    doc = openapi({"/items": {"get": {**proxy_op("fn"), "security": [{"api_key": []}]}}},
                  components={"securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}})
    project = write_project(tmp_path, doc, files={"h.py": "def handler(event, context):\n    return {'statusCode': 200}\n"},
                            config={"apis": [{"id": "shop", "openapi": "openapi.yaml"}], "functions": {"fn": "h.py:handler"},
                                    "state": "sqlite:///state.db",
                                    "usage_plans": [{"name": "trial", "api_stages": [{"api_id": "shop", "stage": "prod"}],
                                                     "quota": {"limit": 1, "period": "DAY"}}],
                                    "api_keys": [{"name": "trial", "value": key, "usage_plans": ["trial"]}]})
    for _ in range(2):  # each simulation starts with the quota unused
        assert simulate_in_process(project, "GET", "/prod/items", "-H", f"x-api-key:{key}")[0] == 0
    code, result = simulate_in_process(project, "GET", "/prod/items", "-H", f"x-api-key:{key}", "--after", "GET /prod/items")
    assert (code, result["status"], result["cause"]) == (1, 429, "quota_exceeded")
    assert [(e["method"], e["path"], e["outcome"]) for e in result["after"]] == [("GET", "/prod/items", "allowed")]
    server = serve(project)  # the store the gateway keeps its quota in was never spent
    assert [requests.get(f"{server.url}/prod/items", headers={"x-api-key": key}).status_code for _ in range(2)] == [200, 429]


def test_simulate_after_needs_a_method_and_a_path():
    code, message = simulate_in_process(PETSTORE, "GET", "/prod/pets", "--after", "/prod/pets")
    assert code == 2 and "--after expects \"METHOD PATH\"" in message
