"""Helpers for building test projects (importable from any test module: pytest's pythonpath has tests/)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
import yaml


def write_project(folder: Path, document: dict, *, config: dict | None = None, files: dict[str, str] | None = None,
                  doc_name: str = "openapi.yaml") -> Path:
    """A project folder: lychgate.yaml (``config``, with the API defaulted), the document, extra files."""
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(config or {})
    config.setdefault("apis", [{"id": "testapi", "openapi": doc_name, "stages": {"prod": {}}}])
    (folder / "lychgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / doc_name).write_text(yaml.safe_dump(document, sort_keys=False))
    for name, text in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def openapi(paths: dict, **root) -> dict:
    """A minimal OpenAPI 3 document with these paths and root keys."""
    return {"openapi": "3.0.1", "info": {"title": "test", "version": "1"}, "paths": paths, **root}


def lambda_uri(name: str) -> str:
    return ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:us-east-1:123456789012:function:{name}/invocations")


def proxy_op(name: str = "fn", **extra) -> dict:
    return {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                 "uri": lambda_uri(name), **extra}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found on PATH: the Redis store tests need a real Redis server "
                    "(Debian/Ubuntu: apt-get install -y redis-server)", pytrace=False)
    return path


class RedisServer:
    """One ``redis-server`` without persistence; ``stop()`` and ``start()`` keep the same port."""

    def __init__(self, workdir: Path, *extra: str, port: int | None = None) -> None:
        self.port, self.workdir, self.extra = port or free_port(), workdir, extra
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        cmd = [binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", *self.extra]
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with redis.Redis(port=self.port, socket_timeout=1, password=self._password()) as client:
                    client.ping()
                return self
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        self.stop()
        pytest.fail(f"redis-server on port {self.port} did not start ({' '.join(cmd)})", pytrace=False)

    def _password(self) -> str | None:
        return self.extra[self.extra.index("--requirepass") + 1] if "--requirepass" in self.extra else None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def run_released(commands: list[list[str]], cwd: Path, timeout: float = 60) -> list:
    """Start one process per command, each of which prints ``ready``, waits for ``go`` on stdin and
    prints one JSON value; release them together and return their values, in order."""
    procs = [subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for cmd in commands]
    try:
        for proc in procs:
            line = proc.stdout.readline()
            assert line == "ready\n", line + proc.stderr.read()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
