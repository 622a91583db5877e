"""Measuring the scenarios: start their processes, check they answer, warm up, time wrk runs.

The server under test (SUT) is pinned to CPU 0; wrk and the backend share CPU 1. Readiness is a
real request: the scenario's URL must answer 200 with a JSON body within ``READY_TIMEOUT_S``.
Around each wrk run the CPU time of every process is sampled, which gives the SUT's CPU % and CPU
µs per request, and "other CPU %": the CPU used by processes the harness did not start, i.e.
someone else's load, in percent of one CPU, with the largest of them by name. The machine-wide
form of that check (busy time in ``/proc/stat`` minus the harness's processes) is recorded too.

Two ways to run the chosen scenarios, both built from ``Slot`` (one scenario's folders, server
and runs): ``run_interleaved`` starts every scenario's server up front (one shared backend),
warms each up, then runs rounds in which each scenario gets one timed run in turn, so that runs
of different scenarios are seconds apart and a per-round ratio between two scenarios is immune
to the machine's speed drifting over minutes; ``run_sequential`` starts, measures and stops one
scenario after the other. In both, a scenario that fails is reported and the others go on, the
logs are scanned for errors once the processes are stopped, and every record (``run`` per wrk
run, ``scenario`` per summary) is handed to a callback as soon as it exists.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import statistics
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

from harness import wrk
from harness.procs import ProcessGroup, TimeSlicer, cpu_snapshot, cpu_used, free_port
from harness.scenarios import ITEM_PATH, Scenario, backend_command

SUT_CPU, LOADGEN_CPU = 0, 1
READY_TIMEOUT_S = 20.0
PROBLEM = re.compile(r"Traceback|\b(ERROR|CRITICAL|WARNING)\b|Exception|\[(emerg|alert|crit|error)\]")
MAX_PROBLEM_LINES = 20
PAIRED_WITH = ("b", "c")  # the references of the per-round ratios (interleaved mode)


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


def measure_run(url: str, roots: dict[str, int], duration: int, connections: int, script: str | None = None,
                idle: Iterable[int] = ()) -> dict:
    """One timed wrk run with the CPU accounting around it; ``roots`` has "sut" and maybe "backend".
    ``idle`` are the roots of the harness's other servers, waiting their turn: their CPU is the
    harness's (never "other"), and is recorded as ``idle_cpu_pct``."""
    every = {**roots, **{f"idle {pid}": pid for pid in idle}}
    before = cpu_snapshot(every)
    started = time.monotonic()
    text, wrk_cpu = wrk.run(url, duration=duration, connections=connections, cpu=LOADGEN_CPU, script=script)
    used = cpu_used(before, cpu_snapshot(every))
    record = wrk.parse(text)
    wall, sut = used["wall"], used["trees"]["sut"]
    record.update(wall_s=round(wall, 3), started=started,
                  sut_cpu_pct=round(100 * sut / wall, 1),
                  sut_cpu_us_per_req=round(1e6 * sut / max(record["requests"], 1), 2),
                  sut_kernel_us_per_req=round(1e6 * used["trees_system"]["sut"] / max(record["requests"], 1), 2),
                  backend_cpu_pct=round(100 * used["trees"].get("backend", 0.0) / wall, 1),
                  wrk_cpu_pct=round(100 * wrk_cpu / wall, 1),
                  other_cpu_pct=round(100 * used["others"] / wall, 1),
                  other_top={comm: round(100 * cpu / wall, 1) for comm, cpu in used["other_top"].items()},
                  machine_other_cpu_pct=round(100 * (used["busy"] - used["ours"]) / wall, 1),
                  interrupts_cpu_pct=round(100 * used["interrupts"] / wall, 1),
                  wrk_report=text)
    if idle:
        idle_cpu = sum(cpu for label, cpu in used["trees"].items() if label not in roots)
        record["idle_cpu_pct"] = round(100 * idle_cpu / wall, 1)
    return record


def problem_lines(paths: list[Path]) -> list[str]:
    """Log lines that look like errors or warnings, prefixed with their file's name."""
    found = []
    for path in paths:
        if path.exists():
            found += [f"{path.name}: {line}" for line in path.read_text(errors="replace").splitlines()
                      if PROBLEM.search(line)]
    return found[:MAX_PROBLEM_LINES]


class Backend(NamedTuple):
    port: int
    pid: int


def start_backend(group: ProcessGroup, label: str) -> Backend:
    """Start the backend on CPU 1 and wait until it answers."""
    port = free_port()
    proc = group.start(label, backend_command(port), LOADGEN_CPU)
    wait_ready("backend", proc, port, ITEM_PATH, group.log_path(label))
    return Backend(port, proc.pid)


class Slot:
    """One scenario of an invocation: its folders, its server under test once started, its runs."""

    def __init__(self, scenario: Scenario, out_dir: Path):
        self.scenario = scenario
        self.work, logs = out_dir / "work" / scenario.key, out_dir / "logs" / scenario.key
        self.work.mkdir(parents=True)
        logs.mkdir(parents=True)
        self.logs = [logs / "sut.log", logs / "backend.log", self.work / "nginx-error.log"]  # scanned at the end
        self.records: list[dict] = []
        self.smoke: dict = {}
        self.error: str | None = None
        self.sut: subprocess.Popen | None = None
        self.roots: dict[str, int] = {}
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.scenario.path}"

    def fail(self, exc: Exception, say: Callable[[str], None]) -> None:
        self.error = f"{type(exc).__name__}: {exc}"
        say(f"  {self.scenario.title}: FAILED: {self.error}")

    def attempt(self, step: Callable[[], None], say: Callable[[str], None]) -> None:
        """Run ``step`` unless this scenario has failed already; a failure is kept and told."""
        if self.error is None:
            try:
                step()
            except Exception as exc:  # reported in the summary; the other scenarios go on
                self.fail(exc, say)

    def start(self, group: ProcessGroup, backend: Backend | None) -> None:
        """Start the server under test on a free port, pinned to CPU 0, and wait until it answers."""
        self.port, label = free_port(), f"{self.scenario.key}/sut"
        command = self.scenario.command(self.work, self.port, backend.port if backend else None)
        self.sut = group.start(label, command, SUT_CPU, cwd=self.work)
        self.roots = {"sut": self.sut.pid, **({"backend": backend.pid} if backend else {})}
        headers = self.scenario.headers(self.work, self.port) if self.scenario.headers else []
        self.smoke = wait_ready("server under test", self.sut, self.port, self.scenario.path,
                                group.log_path(label), headers[0] if headers else None)

    def _script(self) -> str | None:
        """wrk's Lua script for the scenario's headers, made afresh for every run: SigV4 signatures
        expire after 5 minutes, and an interleaved invocation can last longer than that."""
        if not self.scenario.headers:
            return None
        return wrk.header_script(self.scenario.path, self.scenario.headers(self.work, self.port),
                                 str(self.work / "requests.lua"))

    def warm_up(self, seconds: int, connections: int) -> None:
        wrk.run(self.url, duration=seconds, connections=connections, cpu=LOADGEN_CPU, script=self._script())

    def measure(self, group: ProcessGroup, run: int, duration: int, connections: int,
                on_record: Callable[[dict], None], idle: Iterable[int] = ()) -> None:
        """One timed run, recorded and handed to ``on_record``; fails if the SUT died meanwhile."""
        group.remember()
        self.record(run, measure_run(self.url, self.roots, duration, connections, self._script(), idle), on_record)

    def record(self, run: int, result: dict, on_record: Callable[[dict], None]) -> None:
        """Keep one timed run's ``result``; fails if the SUT died meanwhile."""
        self.records.append({"type": "run", "scenario": self.scenario.key, "run": run, **result})
        on_record(self.records[-1])
        if self.sut.poll() is not None:
            raise ScenarioError(f"server under test exited with {self.sut.returncode} during run {run}")

    def summary(self, references: Iterable[Slot] = ()) -> dict:
        """Medians over the runs (min/max for RPS, max for other CPU %), and for each of
        ``references`` the median over rounds of this scenario's RPS ÷ the reference's in the same round."""
        records = self.records
        summary = {"type": "scenario", "scenario": self.scenario.key, "title": self.scenario.title,
                   "runs": len(records), "error": self.error, "log_problems": problem_lines(self.logs),
                   "smoke": self.smoke}
        if not records:
            return summary
        rps = [r["rps"] for r in records]
        noisiest = max(records, key=lambda r: r["other_cpu_pct"])
        summary.update(rps_median=statistics.median(rps), rps_min=min(rps), rps_max=max(rps),
                       other_cpu_pct_max=noisiest["other_cpu_pct"], other_top=noisiest["other_top"],
                       non_2xx=sum(r["non_2xx"] for r in records),
                       socket_errors=sum(sum(r["socket_errors"].values()) for r in records))
        for key in ("p50_ms", "p99_ms", "sut_cpu_pct", "sut_cpu_us_per_req", "sut_kernel_us_per_req",
                    "wrk_cpu_pct", "backend_cpu_pct"):
            summary[key] = statistics.median(r.get(key, 0.0) for r in records)
        paired = {}
        for ref in references:
            theirs = {r["run"]: r["rps"] for r in ref.records}
            ratios = [round(r["rps"] / theirs[r["run"]], 4) for r in records if theirs.get(r["run"])]
            if ratios:
                paired[ref.scenario.key] = {"median": round(statistics.median(ratios), 4), "rounds": ratios}
        if paired:
            summary["paired_rps_ratio"] = paired
        return summary


def run_sequential(scenarios: list[Scenario], *, runs: int, duration: int, connections: int, warmup: int,
                   out_dir: Path, on_record: Callable[[dict], None], say: Callable[[str], None]) -> list[dict]:
    """Each scenario in turn: start its processes (its own backend), warm up, ``runs`` timed runs, stop."""
    summaries = []
    for scenario in scenarios:
        say(scenario.title)
        slot = Slot(scenario, out_dir)

        def drive() -> None:
            with ProcessGroup(out_dir / "logs") as group:
                backend = start_backend(group, f"{scenario.key}/backend") if scenario.needs_backend else None
                slot.start(group, backend)
                slot.warm_up(warmup, connections)
                for run in range(1, runs + 1):
                    slot.measure(group, run, duration, connections, on_record)
        slot.attempt(drive, say)
        summaries.append(slot.summary())
        on_record(summaries[-1])
    return summaries


def run_interleaved(scenarios: list[Scenario], *, runs: int, duration: int, connections: int, warmup: int,
                    out_dir: Path, on_record: Callable[[dict], None], say: Callable[[str], None],
                    simultaneous: bool = False, slice_s: float | None = None) -> list[dict]:
    """Start every scenario's server (and one backend for all) up front, warm each up, then ``runs``
    rounds of one timed run per scenario in order (``simultaneous``, or ``slice_s``: all at once,
    see ``_measure_together``); stop everything; summaries with per-round ratios to (b) and (c)."""
    slots = [Slot(scenario, out_dir) for scenario in scenarios]
    with ProcessGroup(out_dir / "logs") as group:
        backend, users = None, [slot for slot in slots if slot.scenario.needs_backend]
        if users:
            say("starting the backend (shared)")
            try:
                backend = start_backend(group, "backend")
            except Exception as exc:
                for slot in users:
                    slot.fail(exc, say)
            for slot in users:
                slot.logs.append(group.log_path("backend"))
        for slot in slots:
            say(f"starting {slot.scenario.title}")
            slot.attempt(partial(slot.start, group, backend), say)
        say(f"warming up, {warmup} s each")
        for slot in slots:
            slot.attempt(partial(slot.warm_up, warmup, connections), say)
        for run in range(1, runs + 1):
            say(f"round {run} of {runs}")
            if simultaneous or slice_s:
                _measure_together(slots, group, run, duration, connections, on_record, say, slice_s)
                continue
            for slot in slots:
                idle = [other.sut.pid for other in slots if other is not slot and other.sut]
                slot.attempt(partial(slot.measure, group, run, duration, connections, on_record, idle), say)
    references = [slot for slot in slots if slot.scenario.key in PAIRED_WITH]
    summaries = [slot.summary(references) for slot in slots]
    for summary in summaries:
        on_record(summary)
    return summaries


def _measure_together(slots: list[Slot], group: ProcessGroup, run: int, duration: int, connections: int,
                      on_record: Callable[[dict], None], say: Callable[[str], None],
                      slice_s: float | None = None) -> None:
    """One round with every scenario's wrk running at the same time. The servers under test then
    share CPU 0, each getting an equal share while all are busy, so the ratio of two scenarios'
    RPS is the ratio of their CPU costs per request, and whatever slows the machine down slows
    them alike in the same seconds. Only for scenarios that keep their server busy (not one whose
    waits on another process leave CPU idle, like (i): the others would take its share).

    ``slice_s``: the servers take turns instead, one running at a time for ``slice_s`` (a
    ``TimeSlicer``), so none evicts another's caches request by request, and one that waits (i)
    leaves the core idle as it would alone. A run's ``rps`` is then its requests per second of its
    own turns (``time_share`` of the round); its latencies include the others' turns."""
    live = [slot for slot in slots if slot.error is None]
    group.remember()
    slicer = TimeSlicer({slot.scenario.key: slot.sut.pid for slot in live}, slice_s, LOADGEN_CPU) if slice_s else None
    if slicer:
        slicer.start()
    try:
        with ThreadPoolExecutor(max_workers=max(len(live), 1)) as pool:
            started = [(slot, pool.submit(measure_run, slot.url, slot.roots, duration, connections, slot._script()))
                       for slot in live]
            for _, result in started:
                with contextlib.suppress(Exception):  # each slot reports its own failure below
                    result.result()
    finally:
        if slicer:
            slicer.stop()
    for slot, result in started:
        def record(slot: Slot = slot, result: Future = result) -> None:
            outcome = result.result()
            if slicer:
                # wrk's window starts within milliseconds of ``started``; the turns in it are the SUT's time
                window = (outcome["started"], outcome["started"] + outcome["seconds"])
                ran = slicer.running_within(slot.scenario.key, *window)
                share = ran / outcome["seconds"]
                outcome.update(time_share=round(share, 4), rps_wall=outcome["rps"],
                               rps=round(outcome["requests"] / ran, 2),
                               sut_cpu_pct=round(outcome["sut_cpu_pct"] / share, 1))
            slot.record(run, outcome, on_record)
        slot.attempt(record, say)
