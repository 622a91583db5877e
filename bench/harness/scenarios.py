"""The scenarios and the command lines of the processes they need.

(a) the bench backend answered directly; (b) nginx, one worker, proxying to the backend over a
keep-alive upstream; (c) lychgate forwarding to the backend through an HTTP_PROXY integration;
(d) lychgate answering from an in-process AWS_PROXY handler. Each scenario knows the path wrk
requests and how to build its server-under-test command from a scratch folder and two ports;
(b) and (c) also need the backend. The nginx configuration and the copy of the proxy project
with the backend's URL in its stage variable are generated in that scratch folder.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

BENCH = Path(__file__).resolve().parent.parent
PROJECTS = BENCH / "projects"
ITEM_PATH = "/api/v1/items/42?limit=10"

NGINX_CONF = """\
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path {work}/nginx-tmp/body;
  proxy_temp_path {work}/nginx-tmp/proxy;
  fastcgi_temp_path {work}/nginx-tmp/fastcgi;
  uwsgi_temp_path {work}/nginx-tmp/uwsgi;
  scgi_temp_path {work}/nginx-tmp/scgi;
  upstream backend {{
    server 127.0.0.1:{backend_port};
    keepalive 64;
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=1024;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    path: str
    needs_backend: bool
    command: Callable[[Path, int, int | None], list[str]]  # (scratch, port, backend port) -> argv
    headers: Callable[[Path, int], list[dict[str, str]]] | None = None  # (scratch, port) -> header sets


def backend_command(port: int) -> list[str]:
    return [sys.executable, str(BENCH / "backend.py"), "--port", str(port)]


# The interpreter that serves lychgate (run.py's --python): how CPython was built moves every
# lychgate figure (Debian's static build served (c) 11 % faster than pyenv's shared one).
SUT_PYTHON = sys.executable


def lychgate_executable() -> list[str]:
    return [SUT_PYTHON, "-m", "lychgate"]


def _lychgate_serve(project: Path, port: int) -> list[str]:
    return [*lychgate_executable(), "serve", str(project), "--host", "127.0.0.1", "--port", str(port)]


def _nginx(work: Path, port: int, backend_port: int | None) -> list[str]:
    (work / "nginx-tmp").mkdir(exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=work, port=port, backend_port=backend_port))
    return ["nginx", "-p", f"{work}/", "-e", str(work / "nginx-error.log"), "-c", str(conf),
            "-g", "daemon off;"]


def proxy_project(work: Path, backend_port: int) -> Path:
    """A copy of ``projects/proxy`` whose stage variable ``backend`` points at ``backend_port``."""
    target = work / "proxy-project"
    shutil.copytree(PROJECTS / "proxy", target, dirs_exist_ok=True)
    config_file = target / "lychgate.yaml"
    config = yaml.safe_load(config_file.read_text())
    for api in config["apis"]:
        for stage in api["stages"].values():
            stage.setdefault("variables", {})["backend"] = f"http://127.0.0.1:{backend_port}"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def _auth(key: str, title: str, kind: str, redis: bool = False) -> Scenario:
    from harness import auth

    def command(work: Path, port: int, backend: int) -> list[str]:
        if redis:
            return _with_redis(work, port, backend, kind)
        return _lychgate_serve(auth.auth_project(work, backend, kind), port)
    return Scenario(key, title, "/prod" + ITEM_PATH, True, command, lambda work, port: auth.header_sets(work, port, kind))


def _control(key: str, title: str, kind: str) -> Scenario:
    """(c)'s project, NONE on every route, sent the requests of the scenarios with ``kind``: the
    same bytes on the wire, so the ratio of (e) or (h) to it is what authorization costs alone."""
    from harness import auth
    return Scenario(key, title, "/prod" + ITEM_PATH, True,
                    lambda work, port, backend: _lychgate_serve(proxy_project(work, backend), port),
                    lambda work, port: auth.header_sets(work, port, kind))


SCENARIOS = {s.key: s for s in (
    Scenario("a", "(a) backend direct", ITEM_PATH, False,
             lambda work, port, _: backend_command(port)),
    Scenario("b", "(b) nginx proxy → backend", ITEM_PATH, True, _nginx),
    Scenario("c", "(c) lychgate HTTP_PROXY → backend", "/prod" + ITEM_PATH, True,
             lambda work, port, backend: _lychgate_serve(proxy_project(work, backend), port)),
    Scenario("d", "(d) lychgate AWS_PROXY → in-process handler", "/prod" + ITEM_PATH, False,
             lambda work, port, _: _lychgate_serve(PROJECTS / "lambda", port)),
    _auth("e", "(e) lychgate AWS_IAM (SigV4 + IAM, 20 callers) → backend", "iam"),
    _auth("f", "(f) lychgate cached Lambda TOKEN authorizer → backend", "token"),
    _auth("g", "(g) lychgate Cognito authorizer, token cached → backend", "jwt"),
    _auth("h", "(h) lychgate API key + usage plan throttle/quota (memory) → backend", "apikey"),
    _auth("i", "(i) lychgate API key + usage plan throttle/quota (Redis) → backend", "apikey", redis=True),
    _control("n", "(n) lychgate NONE, sent (e)'s signed requests → backend", "iam"),
    _control("k", "(k) lychgate NONE, sent (h)'s x-api-key requests → backend", "apikey"),
)}


def _with_redis(work: Path, port: int, backend_port: int, kind: str) -> list[str]:
    """(i): a redis-server (pinned to the other CPU, as a remote store would be) started by a
    shell that then becomes lychgate, so it is a descendant the harness stops with the SUT."""
    from harness import auth
    from harness.procs import free_port
    redis_port = free_port()
    project = auth.auth_project(work, backend_port, kind, state=f"redis://127.0.0.1:{redis_port}/0")
    serve = " ".join(shlex.quote(part) for part in _lychgate_serve(project, port))
    return ["sh", "-c", f"taskset -c 1 redis-server --port {redis_port} --bind 127.0.0.1 --save '' "
                        f"--appendonly no --daemonize no >{shlex.quote(str(work / 'redis.log'))} 2>&1 & "
                        f"until redis-cli -p {redis_port} ping >/dev/null 2>&1; do sleep 0.1; done; exec {serve}"]
