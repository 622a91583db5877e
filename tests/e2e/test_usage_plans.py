"""End to end: API keys, usage plans, throttles and quotas, with memory, sqlite and redis state."""

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from helpers import RedisServer, openapi, proxy_op, write_project

ROOT = Path(__file__).resolve().parents[2]
KEY = "partner-1-key-0000000000000000"
HANDLER = "import json\ndef handler(event, context):\n    return {'statusCode': 200, 'body': json.dumps(event['requestContext']['identity'])}\n"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lychgate", *args], capture_output=True, text=True)


def keyed_project(tmp_path, *, state="memory", quota=None, throttle=None, stage_throttle=None, keys=None):
    doc = openapi({"/items": {"get": {**proxy_op("fn"), "security": [{"api_key": []}]}},
                   "/free": {"get": proxy_op("fn")}},
                  components={"securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}})
    plan = {"name": "basic", "api_stages": [{"api_id": "shop", "stage": "prod"}]}
    if quota:
        plan["quota"] = quota
    if throttle:
        plan["throttle"] = throttle
    stage = {"throttle": stage_throttle} if stage_throttle else {}
    config = {"apis": [{"id": "shop", "openapi": "openapi.yaml", "stages": {"prod": {"access_log": False, **stage}}}],
              "functions": {"fn": "h.py:handler"}, "usage_plans": [plan], "state": state,
              "api_keys": keys if keys is not None else [{"name": "partner-1", "value": KEY, "usage_plans": ["basic"]}]}
    return write_project(tmp_path, doc, config=config, files={"h.py": HANDLER})


def get(server, key=None, path="/prod/items"):
    return requests.get(server.url + path, headers={"x-api-key": key} if key else {})


def test_key_checks_are_aws_exact(serve, tmp_path):
    server = serve(keyed_project(tmp_path, keys=[{"name": "partner-1", "value": KEY, "usage_plans": ["basic"]},
                                                 {"name": "off", "value": "disabled-key-0000000000", "enabled": False, "usage_plans": ["basic"]},
                                                 {"name": "planless", "value": "planless-key-0000000000"}]))
    for key in (None, "unknown-key-00000000000000", "disabled-key-0000000000", "planless-key-0000000000"):
        r = get(server, key)
        assert (r.status_code, r.content) == (403, b'{"message":"Forbidden"}'), key
        assert r.headers["x-amzn-ErrorType"] == "ForbiddenException"
    r = get(server, KEY)
    assert r.status_code == 200
    assert r.json()["apiKey"] == KEY and len(r.json()["apiKeyId"]) == 10
    assert get(server, path="/prod/free").status_code == 200  # no key needed there


def test_burst_then_refill(serve, tmp_path):
    server = serve(keyed_project(tmp_path, throttle={"rate_limit": 2, "burst_limit": 3}))
    statuses = [get(server, KEY).status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    r = get(server, KEY)
    assert (r.status_code, r.content) == (429, b'{"message":"Too Many Requests"}')
    assert r.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    time.sleep(0.6)  # 2 tokens/s: at least one token again
    assert get(server, KEY).status_code == 200


def test_stage_throttle_applies_without_keys(serve, tmp_path):
    server = serve(keyed_project(tmp_path, stage_throttle={"rate_limit": 0.01, "burst_limit": 2}))
    assert [get(server, path="/prod/free").status_code for _ in range(3)] == [200, 200, 429]


def test_quota_admits_exactly_the_limit(serve, tmp_path):
    server = serve(keyed_project(tmp_path, quota={"limit": 4, "period": "DAY"}))
    statuses = [get(server, KEY).status_code for _ in range(6)]
    assert statuses == [200] * 4 + [429] * 2
    r = get(server, KEY)
    assert (r.content, r.headers["x-amzn-ErrorType"]) == (b'{"message":"Limit Exceeded"}', "LimitExceededException")


def test_memory_state_refuses_several_workers(tmp_path):
    proc = cli("serve", str(keyed_project(tmp_path)), "--workers", "2", "--port", "0")
    assert proc.returncode == 2 and "N times too loose" in proc.stderr


def test_quota_shared_by_two_gateways_through_redis(serve, tmp_path):
    redis_server = RedisServer(tmp_path).start()
    try:
        project = keyed_project(tmp_path / "p", state=f"redis://127.0.0.1:{redis_server.port}/0",
                                quota={"limit": 25, "period": "DAY"})
        first, second = serve(project), serve(project)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda i: get(first if i % 2 else second, KEY).status_code, range(40)))
        assert statuses.count(200) == 25 and statuses.count(429) == 15
    finally:
        redis_server.stop()


def test_redis_down_fails_closed(serve, tmp_path):
    redis_server = RedisServer(tmp_path).start()
    server = serve(keyed_project(tmp_path / "p", state=f"redis://127.0.0.1:{redis_server.port}/0",
                                 quota={"limit": 100, "period": "DAY"}))
    assert get(server, KEY).status_code == 200
    redis_server.stop()
    r = get(server, KEY)
    assert (r.status_code, r.content) == (500, b'{"message":"Internal server error"}')
    redis_server.start()
    assert get(server, KEY).status_code == 200  # recovers without a restart
    redis_server.stop()


def test_cli_keys_sqlite_and_restart(serve, tmp_path):
    project = keyed_project(tmp_path, state="sqlite:///state.db", quota={"limit": 3, "period": "DAY"}, keys=[])
    created = cli("keys", "create", str(project), "--name", "acme", "--plan", "basic")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    listed = cli("keys", "list", str(project)).stdout
    assert key["id"] in listed and key["value"] not in listed  # stored hashed, never shown again
    server = serve(project)
    assert [get(server, key["value"]).status_code for _ in range(2)] == [200, 200]
    server.stop()
    server = serve(project)  # the used quota survived the restart
    assert [get(server, key["value"]).status_code for _ in range(2)] == [200, 429]
    assert cli("keys", "disable", str(project), key["id"]).returncode == 0
    time.sleep(2.5)  # running gateways refresh keys every 2 s
    assert get(server, key["value"]).status_code == 403
    report = json.loads(cli("usage", str(project), key["id"], "--from", "2020-01-01", "--to", "2099-01-01").stdout)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert report["usagePlanId"] == "basic"
    days = report["items"][key["id"]]
    assert sum(used for used, _ in days) == 3 and [3, 0] in days and len(days) > 1
    assert today <= report["endDate"]


def test_csv_import(tmp_path):
    project = keyed_project(tmp_path, state="sqlite:///state.db", keys=[])
    (tmp_path / "keys.csv").write_text("Name,Key,Description,Enabled,UsagePlanIds\n"
                                       "imported-1,imported-key-value-000000001,first,true,basic\n")
    proc = cli("keys", "import", str(project), str(tmp_path / "keys.csv"))
    assert proc.returncode == 0, proc.stderr
    assert "imported-1" in cli("keys", "list", str(project)).stdout
    (tmp_path / "bad.csv").write_text("Name,Key\nx,short\n")
    bad = cli("keys", "import", str(project), str(tmp_path / "bad.csv"))
    assert bad.returncode == 2 and "bad.csv:2" in bad.stderr


def test_api_key_from_authorizer(serve, tmp_path):
    authorizer = ("def handler(event, context):\n"
                  "    return {'principalId': 'u', 'usageIdentifierKey': event['authorizationToken'],\n"
                  "            'policyDocument': {'Version': '2012-10-17', 'Statement': [{'Action': 'execute-api:Invoke',\n"
                  "             'Effect': 'Allow', 'Resource': '*'}]}}\n")
    doc = openapi({"/items": {"get": {**proxy_op("fn"), "security": [{"api_key": [], "tok": []}]}}},
                  components={"securitySchemes": {
                      "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
                      "tok": {"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authorizer": {
                          "type": "token", "identitySource": "method.request.header.Authorization",
                          "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations"}}}},
                  **{"x-amazon-apigateway-api-key-source": "AUTHORIZER"})
    config = {"apis": [{"id": "shop", "openapi": "openapi.yaml", "stages": {"prod": {}}}],
              "functions": {"fn": "h.py:handler", "auth": "a.py:handler"},
              "usage_plans": [{"name": "basic", "api_stages": [{"api_id": "shop", "stage": "prod"}]}],
              "api_keys": [{"name": "p", "value": KEY, "usage_plans": ["basic"]}]}
    server = serve(write_project(tmp_path, doc, config=config, files={"h.py": HANDLER, "a.py": authorizer}))
    assert requests.get(f"{server.url}/prod/items", headers={"Authorization": KEY}).status_code == 200
    assert requests.get(f"{server.url}/prod/items", headers={"Authorization": "not-a-key-000000000000"}).status_code == 403
