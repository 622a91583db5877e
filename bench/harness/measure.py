"""Running one scenario: start its processes, check they answer, warm up, measure N wrk runs.

The server under test (SUT) is pinned to CPU 0; wrk and the backend share CPU 1. Readiness is a
real request: the scenario's URL must answer 200 with a JSON body within ``READY_TIMEOUT_S``.
Around each wrk run the CPU time of every process is sampled, which gives the SUT's CPU % and CPU
µs per request, and "other CPU %": the CPU used by processes the harness did not start, i.e.
someone else's load, in percent of one CPU, with the largest of them by name. The machine-wide
form of that check (busy time in ``/proc/stat`` minus the harness's processes) is recorded too.
After the processes are stopped their logs are scanned for errors. Every run record is handed to
a callback as it completes.
"""

from __future__ import annotations

import http.client
import json
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Callable

from harness import wrk
from harness.procs import ProcessGroup, cpu_snapshot, cpu_used, free_port
from harness.scenarios import ITEM_PATH, Scenario, backend_command

SUT_CPU, LOADGEN_CPU = 0, 1
READY_TIMEOUT_S = 20.0
PROBLEM = re.compile(r"Traceback|\b(ERROR|CRITICAL|WARNING)\b|Exception|\[(emerg|alert|crit|error)\]")
MAX_PROBLEM_LINES = 20


class ScenarioError(Exception):
    """A scenario's process did not start, did not answer, or died."""


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_ready(label: str, proc: subprocess.Popen, port: int, path: str, log: Path,
               headers: dict | None = None) -> dict:
    """Poll ``GET path`` until it answers 200 with JSON; returns the answer as a record."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ScenarioError(f"{label} exited with {proc.returncode}; log {log}:\n{_tail(log)}")
        try:
            status, answer_headers, body = _get(port, path, headers)
        except OSError as exc:
            last = repr(exc)
        else:
            if status == 200:
                return {"status": status, "headers": answer_headers, "body": json.loads(body)}
            last = f"{status} {body[:200]!r}"
        time.sleep(0.1)
    raise ScenarioError(f"{label} not ready after {READY_TIMEOUT_S:.0f} s (last: {last}); log {log}")


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def measure_run(url: str, roots: dict[str, int], duration: int, connections: int, script: str | None = None) -> dict:
    """One timed wrk run with the CPU accounting around it; ``roots`` has "sut" and maybe "backend"."""
    before = cpu_snapshot(roots)
    text, wrk_cpu = wrk.run(url, duration=duration, connections=connections, cpu=LOADGEN_CPU, script=script)
    used = cpu_used(before, cpu_snapshot(roots))
    record = wrk.parse(text)
    wall, sut = used["wall"], used["trees"]["sut"]
    record.update(wall_s=round(wall, 3),
                  sut_cpu_pct=round(100 * sut / wall, 1),
                  sut_cpu_us_per_req=round(1e6 * sut / max(record["requests"], 1), 2),
                  backend_cpu_pct=round(100 * used["trees"].get("backend", 0.0) / wall, 1),
                  wrk_cpu_pct=round(100 * wrk_cpu / wall, 1),
                  other_cpu_pct=round(100 * used["others"] / wall, 1),
                  other_top={comm: round(100 * cpu / wall, 1) for comm, cpu in used["other_top"].items()},
                  machine_other_cpu_pct=round(100 * (used["busy"] - used["ours"]) / wall, 1),
                  interrupts_cpu_pct=round(100 * used["interrupts"] / wall, 1),
                  wrk_report=text)
    return record


def problem_lines(paths: list[Path]) -> list[str]:
    """Log lines that look like errors or warnings, prefixed with their file's name."""
    found = []
    for path in paths:
        if path.exists():
            found += [f"{path.name}: {line}" for line in path.read_text(errors="replace").splitlines()
                      if PROBLEM.search(line)]
    return found[:MAX_PROBLEM_LINES]


def _start_backend(group: ProcessGroup, roots: dict[str, int]) -> int:
    """Start the backend on CPU 1, add it to ``roots``; returns its port."""
    port = free_port()
    proc = group.start("backend", backend_command(port), LOADGEN_CPU)
    wait_ready("backend", proc, port, ITEM_PATH, group.log_path("backend"))
    roots["backend"] = proc.pid
    return port


def run_scenario(scenario: Scenario, *, runs: int, duration: int, connections: int, warmup: int,
                 out_dir: Path, on_run: Callable[[dict], None]) -> dict:
    """Start, check, warm up and measure one scenario; returns its summary, failures included."""
    work, logs = out_dir / "work" / scenario.key, out_dir / "logs" / scenario.key
    work.mkdir(parents=True)
    logs.mkdir(parents=True)
    records, smoke, error = [], {}, None
    try:
        _drive(scenario, work, ProcessGroup(logs), runs=runs, duration=duration, connections=connections,
               warmup=warmup, smoke=smoke, records=records, on_run=on_run)
    except Exception as exc:  # reported in the summary; the next scenario still runs
        error = f"{type(exc).__name__}: {exc}"
    problems = problem_lines([logs / "sut.log", logs / "backend.log", work / "nginx-error.log"])
    return summarise(scenario, records, smoke, problems, error)


def _drive(scenario: Scenario, work: Path, group: ProcessGroup, *, runs: int, duration: int,
           connections: int, warmup: int, smoke: dict, records: list[dict],
           on_run: Callable[[dict], None]) -> None:
    with group:
        roots: dict[str, int] = {}
        backend_port = _start_backend(group, roots) if scenario.needs_backend else None
        port = free_port()
        sut = group.start("sut", scenario.command(work, port, backend_port), SUT_CPU, cwd=work)
        roots["sut"] = sut.pid
        header_sets = scenario.headers(work, port) if scenario.headers else []
        smoke.update(wait_ready("server under test", sut, port, scenario.path, group.log_path("sut"),
                                header_sets[0] if header_sets else None))
        url = f"http://127.0.0.1:{port}{scenario.path}"
        script = wrk.header_script(scenario.path, header_sets, str(work / "requests.lua")) if header_sets else None
        wrk.run(url, duration=warmup, connections=connections, cpu=LOADGEN_CPU, script=script)
        for index in range(runs):
            group.remember()
            records.append({"type": "run", "scenario": scenario.key, "run": index + 1,
                            **measure_run(url, roots, duration, connections, script)})
            on_run(records[-1])
            if sut.poll() is not None:
                raise ScenarioError(f"server under test exited with {sut.returncode} during run {index + 1}")


def summarise(scenario: Scenario, records: list[dict], smoke: dict, problems: list[str],
              error: str | None) -> dict:
    """Medians over the runs of one scenario (min/max for RPS, max for other CPU %)."""
    summary = {"type": "scenario", "scenario": scenario.key, "title": scenario.title, "runs": len(records),
               "error": error, "log_problems": problems, "smoke": smoke}
    if not records:
        return summary
    rps = [r["rps"] for r in records]
    noisiest = max(records, key=lambda r: r["other_cpu_pct"])
    summary.update(rps_median=statistics.median(rps), rps_min=min(rps), rps_max=max(rps),
                   other_cpu_pct_max=noisiest["other_cpu_pct"], other_top=noisiest["other_top"],
                   non_2xx=sum(r["non_2xx"] for r in records),
                   socket_errors=sum(sum(r["socket_errors"].values()) for r in records))
    for key in ("p50_ms", "p99_ms", "sut_cpu_pct", "sut_cpu_us_per_req", "wrk_cpu_pct", "backend_cpu_pct"):
        summary[key] = statistics.median(r[key] for r in records)
    return summary
