"""Generated projects and measurements for ``bench/scale.py`` (issue #9's scale targets).

A scale project is one REST API, ``bench-scale``, stage ``prod``, whose ROUTES distinct paths
``/r{n}/items/{id}`` each have a ``GET`` forwarded (HTTP_PROXY) to the bench backend's
``/api/v1/items/{id}``, and USERS quick-start IAM users declared in ``lychgate.yaml`` the way
``harness/auth.py`` declares them (a name, one access key, one inline policy). With ``iam`` every
route is ``AWS_IAM``; user *n*'s policy allows ``GET`` on ``/r{n}/*`` and on ``/r7/*`` (the
route every measurement calls), so every policy is distinct and the one caller measured, user 7,
is allowed. Files are written as a user would write them: YAML, as ``yaml.safe_dump`` writes it
(from templates, for speed).

The in-process measurements load a project the way ``lychgate serve`` does (``load_project``
then ``Gateway``) and time the real objects: the router's ``match`` behind the gateway's
stage resolution, and SigV4 authentication plus the IAM decision for one signed caller.
"""

from __future__ import annotations

import gc
import http.client
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

API_ID = "bench-scale"
ACCOUNT = "123456789012"
REGION = "us-east-1"
CALLER = 7  # the user (and route) every measurement uses: present in every generated project
PATH = f"/prod/r{CALLER}/items/42"
QUERY = "limit=10"


def key_id(n: int) -> str:
    return f"AKIASCALE{n:011d}"


def secret(n: int) -> str:
    return f"scale-secret-{n}"


def _policy(n: int) -> dict:
    arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/prod/GET"
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                    "Resource": [f"{arn}/r{n}/*", f"{arn}/r{CALLER}/*"]}]}


def openapi(routes: int, iam: bool) -> dict:
    """An OpenAPI 3 document with ``routes`` paths ``/r{n}/items/{id}``, GET → HTTP_PROXY."""
    paths = {}
    for n in range(routes):
        operation = {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "x-amazon-apigateway-integration": {
                "type": "http_proxy", "httpMethod": "GET",
                "uri": "${stageVariables.backend}/api/v1/items/{id}",
                "requestParameters": {"integration.request.path.id": "method.request.path.id"}},
        }
        if iam:
            operation["security"] = [{"sigv4": []}]
        paths[f"/r{n}/items/{{id}}"] = {"get": operation}
    doc = {"openapi": "3.0.1", "info": {"title": API_ID, "version": "1.0"}, "paths": paths}
    if iam:
        doc["components"] = {"securitySchemes": {"sigv4": {
            "type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "awsSigv4"}}}
    return doc


def project_config(users: int, backend_port: int) -> dict:
    config = {"region": REGION, "account_id": ACCOUNT,
              "apis": [{"id": API_ID, "openapi": "openapi.yaml", "stages": {"prod": {
                  "variables": {"backend": f"http://127.0.0.1:{backend_port}"}, "access_log": False}}}]}
    if users:
        config["identities"] = {"users": [{"name": f"user{n}", "policies": [_policy(n)],
                                           "access_keys": [{"id": key_id(n), "secret": secret(n)}]}
                                          for n in range(users)]}
    return config


def dump_yaml(data: dict) -> str:
    """``yaml.safe_dump``'s output, with libyaml's emitter when PyYAML has it."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True)


# The same documents as ``openapi()`` and ``project_config()`` dumped by ``yaml.safe_dump``, written
# from templates: dumping 10,000 routes or users takes PyYAML tens of seconds.
_ROUTE = """\
  /r{n}/items/{{id}}:
    get:
      parameters:
      - name: id
        in: path
        required: true
        schema:
          type: string
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: ${{stageVariables.backend}}/api/v1/items/{{id}}
        requestParameters:
          integration.request.path.id: method.request.path.id
"""
_SECURITY = """\
      security:
      - sigv4: []
"""
_SCHEMES = """\
components:
  securitySchemes:
    sigv4:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: awsSigv4
"""
_USER = """\
  - name: user{n}
    policies:
    - Version: '2012-10-17'
      Statement:
      - Effect: Allow
        Action: execute-api:Invoke
        Resource:
        - {arn}/r{n}/*
        - {arn}/r{caller}/*
    access_keys:
    - id: {key}
      secret: {secret}
"""


def openapi_text(routes: int, iam: bool) -> str:
    out = [f"openapi: 3.0.1\ninfo:\n  title: {API_ID}\n  version: '1.0'\npaths:{'' if routes else ' {}'}\n"]
    for n in range(routes):
        out.append(_ROUTE.format(n=n))
        if iam:
            out.append(_SECURITY)
    if iam:
        out.append(_SCHEMES)
    return "".join(out)


def project_text(users: int, backend_port: int) -> str:
    out = [f"region: {REGION}\naccount_id: '{ACCOUNT}'\napis:\n- id: {API_ID}\n  openapi: openapi.yaml\n"
           f"  stages:\n    prod:\n      variables:\n        backend: http://127.0.0.1:{backend_port}\n"
           f"      access_log: false\n"]
    if users:
        out.append("identities:\n  users:\n")
        arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/prod/GET"
        out += [_USER.format(n=n, arn=arn, caller=CALLER, key=key_id(n), secret=secret(n)) for n in range(users)]
    return "".join(out)


def scale_project(folder: Path, *, routes: int, users: int, backend_port: int = 9, iam: bool = True) -> Path:
    """Write a scale project into ``folder`` (created); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "openapi.yaml").write_text(openapi_text(routes, iam and users > 0))
    (folder / "lychgate.yaml").write_text(project_text(users, backend_port))
    return folder


def signed_headers(host: str, n: int = CALLER, now: float | None = None) -> list[tuple[str, str]]:
    """Headers of ``GET PATH?QUERY`` signed by user ``n`` (valid for SigV4's 5 minutes)."""
    from lychgate.sigv4 import sign_headers
    return sign_headers("GET", PATH, QUERY, [("Host", host)], b"", access_key_id=key_id(n),
                        secret_access_key=secret(n), region=REGION, now=now)


# ------------------------------------------------------------------ in-process timing

@dataclass
class Loaded:
    """A project loaded as ``lychgate serve`` loads it, and the objects the timings call."""

    label: str
    gateway: object
    load_s: float

    def close(self) -> None:
        self.gateway.close()


def load(label: str, folder: Path) -> Loaded:
    from lychgate.config.project import load_project
    from lychgate.pipeline.runtime import Gateway
    started = time.perf_counter()
    project = load_project(folder)
    gateway = Gateway(project, access_log=False)
    return Loaded(label, gateway, time.perf_counter() - started)


def route_call(loaded: Loaded):
    """A no-argument callable doing what the pipeline's routing stages do for the request."""
    gateway = loaded.gateway
    raw_path = PATH

    def call():
        api, _, path, _ = gateway.resolve("127.0.0.1", raw_path)
        match = api.router.match("GET", path)
        if match is None:
            raise AssertionError("no route matched")
    call()
    return call


def iam_call(loaded: Loaded, *, memo: bool = True):
    """A callable doing what the pipeline's authenticate and authorize stages do for one signed
    caller: SigV4 verification against the project's identities, then the IAM decision (with the
    gateway's decision memo, as served; ``memo=False`` evaluates the policies every time)."""
    from lychgate.authorizers import iam
    from lychgate.iam.arn import execute_api_arn
    from lychgate.iam import Decision
    from lychgate.messages import Request
    gateway = loaded.gateway
    project = gateway.project
    now = time.time()
    headers = signed_headers("127.0.0.1:8080", now=now)
    arn = execute_api_arn(project.region, project.account_id, API_ID, "prod", "GET", PATH[len("/prod"):])
    decisions = gateway.decisions if memo else None

    def call():
        request = Request("GET", PATH, QUERY, headers, b"", received_at=now)
        caller = iam.authenticate(request, project.identities, project.region, now=now)
        evaluation = iam.authorize(method_arn=arn, request=request, region=project.region,
                                   account_id=project.account_id, caller=caller, resource_policy=None,
                                   memo=decisions)
        if evaluation.decision is not Decision.ALLOW:
            raise AssertionError(f"caller not allowed: {evaluation.decision}")
    call()
    return call


def time_per_call(call, calls: int) -> float:
    """CPU nanoseconds per call of ``call`` (process time, gc disabled while timing)."""
    gc.disable()
    try:
        started = time.process_time_ns()
        for _ in range(calls):
            call()
        return (time.process_time_ns() - started) / calls
    finally:
        gc.enable()


def calibrate(call, seconds: float) -> int:
    """How many calls take about ``seconds`` of CPU."""
    calls = 100
    while True:
        ns = time_per_call(call, calls)
        if ns * calls >= 0.05e9 or calls >= 10_000_000:
            return max(100, int(seconds * 1e9 / ns))
        calls *= 4


def interleaved(small, large, *, rounds: int, seconds: float) -> dict:
    """Time ``small`` and ``large`` alternately (``rounds`` times, the order swapped every round);
    returns the median ns/call of each and the median and range of the per-round ratio large/small."""
    calls = calibrate(small, seconds)
    per_small, per_large, ratios = [], [], []
    for index in range(rounds):
        order = (small, large) if index % 2 == 0 else (large, small)
        first, second = (time_per_call(call, calls) for call in order)
        s, l = (first, second) if index % 2 == 0 else (second, first)
        per_small.append(s)
        per_large.append(l)
        ratios.append(l / s)
    return {"calls": calls, "small_ns": statistics.median(per_small), "large_ns": statistics.median(per_large),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios), "ratios": ratios}


# ------------------------------------------------------------------ real servers

def rss_kb(pid: int) -> int:
    """Resident memory (VmRSS) of one process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for {pid}")


def get(port: int, path: str, headers: list[tuple[str, str]] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        sent_host = False
        for name, value in headers or []:
            conn.putheader(name, value)
            sent_host |= name.lower() == "host"
        if not sent_host:
            conn.putheader("Host", f"127.0.0.1:{port}")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def time_to_ready(proc: subprocess.Popen, started: float, port: int, path: str, *, headers=None,
                  timeout: float = 30.0, every: float = 0.005) -> float:
    """Seconds from ``started`` (a ``perf_counter`` taken just before the process was started)
    until ``GET path`` answers 200; polls every ``every`` s."""
    deadline = started + timeout
    last = "no answer"
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before answering")
        try:
            status, body = get(port, path, headers, timeout=2.0)
        except OSError as exc:
            last = repr(exc)
        else:
            if status == 200:
                return time.perf_counter() - started
            last = f"{status} {body[:200]!r}"
        time.sleep(every)
    raise RuntimeError(f"not ready after {timeout:.0f} s (last: {last})")
