"""Shared fixtures: real processes on 127.0.0.1 (an echo backend, `lychgate serve`) and project folders."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from secrets_ledger import LEDGER, install_request_recorder, uninstall_request_recorder

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "tests" / "e2e" / "backend.py"


def _start(cmd: list[str], ready: re.Pattern, cwd: Path | None = None, timeout: float = 15.0):
    """Start a process and wait for a line matching ``ready`` on stdout; returns (process, match)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = ready.search(line)
        if match:
            proc.startup_output = "".join(lines)  # for the secrets ledger: what was read to get here
            return proc, match
    proc.kill()
    out, err = proc.communicate(timeout=5)
    raise RuntimeError(f"{cmd} did not become ready:\n{''.join(lines)}{out}\n{err}")


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 15.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(5)


@pytest.fixture(scope="session", autouse=True)
def secrets_never_leak():
    """Issue #8: after the last test, no gateway of the session wrote a secret the session used
    (tests/secrets_ledger.py says what is recorded and how). Fails as an error of the last test."""
    original = install_request_recorder()
    yield LEDGER
    uninstall_request_recorder(original)
    leaks = LEDGER.leaks()
    LEDGER.checked = len(leaks)
    if leaks:
        pytest.fail(f"{len(leaks)} secret(s) written by gateways during the tests:\n" + "\n".join(map(str, leaks)),
                    pytrace=False)


def pytest_terminal_summary(terminalreporter):
    """One line saying what the secrets check covered (it runs as the last test's teardown)."""
    if LEDGER.checked is not None:
        terminalreporter.write_line(LEDGER.summary())


@pytest.fixture(scope="session")
def backend():
    """Base URL of a real echo backend (tests/e2e/backend.py)."""
    proc, match = _start([sys.executable, str(BACKEND)], re.compile(r"listening on (\d+)"))
    yield f"http://127.0.0.1:{match.group(1)}"
    stop(proc)
    proc.stdout.close()
    proc.stderr.close()


class Server:
    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}"
        LEDGER.server_started(proc.args, proc.pid)

    def stop(self, sig=signal.SIGTERM) -> tuple[int, str, str]:
        """Stop the server (if still running); its exit code and remaining output."""
        code = stop(self.proc, sig)
        if self.proc.stdout.closed:
            return code, "", ""
        out, err = self.proc.stdout.read(), self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        LEDGER.server_stopped(self.proc.args, getattr(self.proc, "startup_output", ""), out, err)
        return code, out, err


def _server_starter(started: list[Server]):
    def start(path, *args: str) -> Server:
        cmd = [sys.executable, "-m", "lychgate", "serve", str(path), "--port", "0", *args]
        proc, match = _start(cmd, re.compile(r"serving on http://[^:]+:(\d+)"))
        server = Server(proc, int(match.group(1)))
        started.append(server)
        return server
    return start


@pytest.fixture
def serve():
    """Start `lychgate serve PATH` on a free port; returns a Server; stopped after the test."""
    started: list[Server] = []
    yield _server_starter(started)
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def serve_for_module():
    """Like ``serve``, for servers the tests of one module share; stopped after its last test."""
    started: list[Server] = []
    yield _server_starter(started)
    for server in started:
        server.stop()
