"""Running wrk pinned to one CPU, and reading its ``--latency`` report.

wrk is started in its own session with its report going to a file, and reaped with
``os.wait4`` so that its own CPU time is known exactly (it tells whether the load generator's
core was the bottleneck). A run that outlives its duration by ``SLACK_S`` is killed and reported
as an error. ``parse`` turns the text report into numbers: requests, RPS, latency percentiles in
milliseconds, non-2xx/3xx responses and socket errors.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time

SLACK_S = 15.0
UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


class WrkError(Exception):
    """wrk failed, hung, or printed a report this module cannot read."""


def run(url: str, *, duration: int, connections: int, cpu: int, script: str | None = None) -> tuple[str, float]:
    """Run ``wrk -t1 -cC -dDs --latency [-s SCRIPT] URL`` on ``cpu``; returns (report text, wrk CPU seconds)."""
    cmd = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{duration}s",
           "--timeout", "5s", "--latency", *(["-s", script] if script else []), url]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            status, cpu_s = _reap(proc, duration + SLACK_S)
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.wait(timeout=5)
        out.seek(0)
        text = out.read()
    if status != 0:
        raise WrkError(f"wrk exited with {status}: {text.strip()[-500:]}")
    return text, cpu_s


def _reap(proc: subprocess.Popen, timeout: float) -> tuple[int, float]:
    """Wait for ``proc`` up to ``timeout`` s; returns (exit status, user+system CPU seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        time.sleep(0.05)
    raise WrkError(f"wrk still running {timeout:.0f} s after it started; killed")


def _ms(token: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", token)
    if match is None:
        raise WrkError(f"unreadable latency {token!r}")
    return float(match.group(1)) * UNIT_MS[match.group(2)]


def _search(pattern: str, text: str) -> re.Match:
    match = re.search(pattern, text, re.M)
    if match is None:
        raise WrkError(f"no {pattern!r} in wrk's report:\n{text.strip()[-500:]}")
    return match


def parse(text: str) -> dict:
    """The numbers of one wrk report."""
    counted = _search(r"(\d+) requests in (\S+),", text)
    result = {"requests": int(counted.group(1)), "seconds": _ms(counted.group(2)) / 1e3,
              "rps": float(_search(r"^Requests/sec:\s+([\d.]+)", text).group(1))}
    for pct in ("50", "75", "90", "99"):
        result[f"p{pct}_ms"] = _ms(_search(rf"^\s+{pct}%\s+(\S+)", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                       (int(n) for n in sock.groups()) if sock else (0, 0, 0, 0)))
    return result


def header_script(path: str, header_sets: list[dict[str, str]], target: str) -> str:
    """A wrk Lua script sending GET ``path`` with each header set in turn (distinct callers)."""
    def lua(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    rows = ",\n    ".join("{" + ", ".join(f"[{lua(k)}]={lua(v)}" for k, v in headers.items()) + "}"
                          for headers in header_sets)
    with open(target, "w") as out:
        out.write(f"""local sets = {{
    {rows}
}}
local requests, i = {{}}, 0
init = function(args)
  for n, headers in ipairs(sets) do requests[n] = wrk.format("GET", {lua(path)}, headers) end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
""")
    return target
