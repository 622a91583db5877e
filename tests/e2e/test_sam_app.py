"""End to end: `lychgate serve` on a SAM template directly, with sam's parameter overrides and env vars."""

import json
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SAM_APP = ROOT / "examples" / "sam-app"


def test_sam_template_is_served(serve):
    server = serve(SAM_APP)
    r = requests.get(f"{server.url}/Prod/hello/alice")
    assert r.status_code == 200 and r.json()["message"].endswith(", alice!")
    assert r.json()["stage"] == "Prod" and r.json()["path"] == "/hello/alice"
    r = requests.get(f"{server.url}/Prod/nope")
    assert (r.status_code, r.content) == (403, b'{"message":"Missing Authentication Token"}')


def test_parameter_overrides_and_env_vars(serve, tmp_path):
    server = serve(SAM_APP, "--parameter-overrides", "Greeting=Howdy")
    assert requests.get(f"{server.url}/Prod/hello").json()["message"] == "Howdy, world!"
    server.stop()
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"HelloFunction": {"GREETING": "Hi"}}))
    server = serve(SAM_APP, "--env-vars", str(env))
    assert requests.get(f"{server.url}/Prod/hello").json()["message"] == "Hi, world!"


def test_export_round_trips_the_template(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lychgate", "export", str(SAM_APP), "--stage", "Prod"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["servers"][0]["variables"]["basePath"]["default"] == "/Prod"
    assert set(doc["paths"]) == {"/hello", "/hello/{name}"}
    integration = doc["paths"]["/hello"]["get"]["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy" and integration["uri"].endswith("/invocations")


def test_bad_parameter_override_exits_2():
    proc = subprocess.run([sys.executable, "-m", "lychgate", "check", str(SAM_APP), "--parameter-overrides", "nonsense"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--parameter-overrides" in proc.stderr
