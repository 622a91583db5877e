"""Soak lychgate with a mixed workload at a fixed rate for a bounded time, on 127.0.0.1 only.

One gateway (pinned to CPU 0) serves four kinds of routes in front of the bench backend (CPU 1):
NONE, AWS_IAM (SigV4 + IAM), a cached Lambda TOKEN authorizer, and an API key with a usage-plan
throttle set below its share of the load. This process is the load generator (pinned to CPU 1):
an open-loop asyncio client that schedules each request at start + i / rate and sends it on one of
its own keep-alive connections; a request's latency runs from its *scheduled* time, so a stalled
gateway shows up as latency instead of silently lowering the rate (no coordinated omission). Some
requests are refused on purpose (an IAM user without permission, a Deny token, an unknown API key,
the throttle); every answer is checked against what its kind expects. Reported per window: rate,
p50/p99/max latency, unexpected answers, the gateway's resident memory (VmRSS) and CPU.

    python bench/soak.py [--duration 120] [--rate 300] [--warmup 120] [--window 10] [--output FILE]

Exit status 0 when no answer was unexpected, the generator kept to its schedule, and the
gateway's RSS at the end is at most 10 % above its RSS after the warm-up; else 1. Raw results go
to ``results.json`` in a new folder under ``/tmp/lychgate-bench``; ``--output`` appends a
markdown section to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
import yaml

from harness.auth import SCHEMES
from harness.measure import LOADGEN_CPU, SUT_CPU, ScenarioError, problem_lines, wait_ready
from harness.procs import TICK, ProcessGroup, cpu_snapshot, cpu_used, free_port
from harness.report import machine
from harness.scenarios import ITEM_PATH, backend_command, lychgate_executable

RESULTS_ROOT = Path("/tmp/lychgate-bench")
MAX_RSS_GROWTH = 0.10
CONNECTIONS = 32
REQUEST_TIMEOUT_S = 10.0
API = "soak"
USERS = 10
REGION = "us-east-1"
API_KEY = "soak-api-key-00000000000000000000000"
#: Share of the load each kind gets, and which statuses it may answer (anything else is an error).
KINDS = {  # name: (weight, expected statuses)
    "none": (25, {200}),
    "iam": (22, {200}),
    "iam_denied": (3, {403}),  # a signed caller no policy allows: implicit deny
    "token": (22, {200}),
    "token_denied": (3, {403}),  # the authorizer answers Deny
    "key": (23, {200, 429}),  # the plan's throttle is below this share: 429s are intended
    "key_unknown": (2, {403}),
}
KEY_THROTTLE_SHARE = 0.6  # the plan allows 60 % of the key route's offered rate
AUTHORIZER = '''def handler(event, context):
    token = event["authorizationToken"]
    api = event["methodArn"].split("/", 1)[0]
    effect = "Allow" if token.startswith("allow-") else "Deny" if token.startswith("deny-") else None
    if effect is None:
        raise Exception("Unauthorized")
    return {"principalId": token, "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": api + "/*"}]}}
'''


# ---------------------------------------------------------------- the project

def _proxy_route(security: str | None) -> dict:
    operation = {"parameters": [{"name": "proxy", "in": "path", "required": True, "schema": {"type": "string"}}],
                 "x-amazon-apigateway-integration": {
                     "type": "http_proxy", "httpMethod": "GET", "uri": "${stageVariables.backend}/{proxy}",
                     "requestParameters": {"integration.request.path.proxy": "method.request.path.proxy"}}}
    if security:
        operation["security"] = [{security: []}]
    return {"get": operation}


def _key_id(n: int) -> str:
    return f"AKIASOAK{n:012d}"


def soak_project(work: Path, backend_port: int, key_rate: float) -> Path:
    """Routes /none, /iam, /token and /key (each ``/{proxy+}`` to the backend) with their security."""
    project = work / "soak-project"
    project.mkdir(parents=True, exist_ok=True)
    schemes = {"sigv4": SCHEMES["iam"], "tok": SCHEMES["token"], "api_key": SCHEMES["apikey"]}
    paths = {"/none/{proxy+}": _proxy_route(None), "/iam/{proxy+}": _proxy_route("sigv4"),
             "/token/{proxy+}": _proxy_route("tok"), "/key/{proxy+}": _proxy_route("api_key")}
    document = {"openapi": "3.0.1", "info": {"title": API, "version": "1"}, "paths": paths,
                "components": {"securitySchemes": schemes}}
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                     "Resource": f"arn:aws:execute-api:*:*:{API}/prod/GET/iam/*"}]}
    users = [{"name": f"user{n}", "policies": [allow], "access_keys": [{"id": _key_id(n), "secret": f"soak-secret-{n}"}]}
             for n in range(USERS)]
    users.append({"name": "intruder", "access_keys": [{"id": _key_id(USERS), "secret": "soak-secret-intruder"}]})
    config = {
        "region": REGION, "account_id": "123456789012",
        "apis": [{"id": API, "openapi": "openapi.yaml",
                  "stages": {"prod": {"variables": {"backend": f"http://127.0.0.1:{backend_port}"}}}}],
        "functions": {"authz": "authz.py:handler"},
        "identities": {"users": users},
        "usage_plans": [{"name": "soak", "api_stages": [{"api_id": API, "stage": "prod"}],
                         "throttle": {"rate_limit": round(key_rate * KEY_THROTTLE_SHARE, 2), "burst_limit": 10}}],
        "api_keys": [{"name": "soak", "value": API_KEY, "usage_plans": ["soak"]}],
        "state": "memory",
    }
    (project / "openapi.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (project / "lychgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (project / "authz.py").write_text(AUTHORIZER)
    return project


# ---------------------------------------------------------------- the requests

def request_bytes(kind: str, host: str, rng: random.Random) -> bytes:
    """One GET of this kind, ready to write (signed now, for the IAM kinds)."""
    prefix = {"iam_denied": "iam", "token_denied": "token", "key_unknown": "key"}.get(kind, kind)
    path, query = f"/prod/{prefix}{ITEM_PATH.split('?')[0]}", ITEM_PATH.split("?")[1]
    headers = [("Host", host)]
    if kind in ("iam", "iam_denied"):
        from lychgate.sigv4 import sign_headers
        n = rng.randrange(USERS) if kind == "iam" else USERS
        headers = sign_headers("GET", path, query, headers, b"", access_key_id=_key_id(n),
                               secret_access_key=f"soak-secret-{n}" if kind == "iam" else "soak-secret-intruder",
                               region=REGION)
    elif kind == "token":
        headers.append(("Authorization", f"allow-{rng.randrange(8)}"))
    elif kind == "token_denied":
        headers.append(("Authorization", "deny-0"))
    elif kind == "key":
        headers.append(("x-api-key", API_KEY))
    elif kind == "key_unknown":
        headers.append(("x-api-key", "not-a-soak-key-000000000000000000000"))
    lines = [f"GET {path}?{query} HTTP/1.1", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode()


@dataclass
class Window:
    """What happened to the requests scheduled in one window of time."""

    start_s: float
    latencies_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> status -> count
    unexpected: int = 0
    examples: list[str] = field(default_factory=list)

    def record(self, kind: str, status: str, latency_ms: float, lag_ms: float) -> None:
        self.latencies_ms.append(latency_ms)
        self.send_lag_ms.append(lag_ms)
        counts = self.statuses.setdefault(kind, {})
        counts[status] = counts.get(status, 0) + 1
        if not status.isdigit() or int(status) not in KINDS[kind][1]:
            self.unexpected += 1
            if len(self.examples) < 5:
                self.examples.append(f"{kind}: {status}")


class Connection:
    """One keep-alive HTTP/1.1 connection; ``get`` sends a request and reads the whole answer."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, data: bytes) -> str:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while (size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        else:
            await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status_line.split(" ")[1]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def generate(port: int, rate: float, warmup_s: float, duration_s: float, window_s: float,
                   sample) -> tuple[list[Window], list[dict]]:
    """Send ``rate`` requests per second for warm-up + duration. Returns the timed windows (by
    scheduled time) and ``sample()``'s result at the start and at the end of each window."""
    rng = random.Random(8)
    kinds = [kind for kind, (weight, _) in KINDS.items() for _ in range(weight)]
    host = f"127.0.0.1:{port}"
    queue: asyncio.Queue = asyncio.Queue()
    count = int(duration_s // window_s)
    windows = [Window(i * window_s) for i in range(count)]
    total = int(rate * (warmup_s + count * window_s))
    start = time.monotonic() + 0.5
    timed = start + warmup_s

    async def worker() -> None:
        connection = Connection(port)
        while (job := await queue.get()) is not None:
            kind, scheduled, data = job
            sent = time.monotonic()
            try:
                status = await asyncio.wait_for(connection.get(data), REQUEST_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - any failure to get an answer is an error to report
                status = type(exc).__name__
                connection.close()
            index = int((scheduled - timed) // window_s)
            if 0 <= index < count:
                windows[index].record(kind, status, (time.monotonic() - scheduled) * 1000, (sent - scheduled) * 1000)
        connection.close()

    async def sampler() -> list[dict]:
        samples = []
        for k in range(count + 1):  # at the end of the warm-up, then at the end of each window
            await asyncio.sleep(max(0.0, timed + k * window_s - time.monotonic()))
            samples.append(await asyncio.to_thread(sample, windows[k - 1] if k else None))
        return samples

    workers = [asyncio.create_task(worker()) for _ in range(CONNECTIONS)]
    sampling = asyncio.create_task(sampler())
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        kind = rng.choice(kinds)
        queue.put_nowait((kind, start + i / rate, request_bytes(kind, host, rng)))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return windows, await sampling


# ---------------------------------------------------------------- measuring

def rss_kib(pid: int) -> int:
    """Resident set size of one process, from /proc/PID/status (VmRSS, KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ScenarioError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU of one process so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds() -> float:
    """Busy CPU time of the whole machine so far (user, nice, system, irq, softirq, steal)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values[i] for i in (0, 1, 2, 5, 6, 7)) / TICK


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise_window(window: Window, sample: dict, window_s: float) -> dict:
    """One row of the table: the window's requests (by scheduled time) and the sample at its end."""
    return {"start_s": window.start_s, "requests": len(window.latencies_ms),
            "rate": round(len(window.latencies_ms) / window_s, 1),
            "p50_ms": round(percentile(window.latencies_ms, 0.50), 2),
            "p99_ms": round(percentile(window.latencies_ms, 0.99), 2),
            "max_ms": round(max(window.latencies_ms, default=float("nan")), 2),
            "send_lag_p99_ms": round(percentile(window.send_lag_ms, 0.99), 2),
            "unexpected": window.unexpected, "examples": window.examples, "statuses": window.statuses,
            "sut_rss_kib": sample["rss"], "sut_cpu_pct": round(sample["cpu_pct"], 1),
            "others_cpu_pct": round(sample["others_pct"], 1)}


def markdown(meta: dict, rows: list[dict], summary: dict) -> str:
    lines = [f"### Soak: {meta['started']}, {meta['settings']['duration']} s at {meta['settings']['rate']:g} req/s",
             "",
             f"`python bench/soak.py --duration {meta['settings']['duration']} --rate {meta['settings']['rate']:g}` "
             f"(warm-up {meta['settings']['warmup']} s, {CONNECTIONS} keep-alive connections; lychgate "
             f"{meta['machine']['lychgate_source']}; others kept {meta['busy_before_pct']} % of one CPU busy just before the start).",
             "",
             "| window (s) | req/s | p50 ms | p99 ms | max ms | unexpected | SUT RSS MiB | SUT CPU % | others' CPU % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['start_s']:.0f}–{row['start_s'] + meta['settings']['window']:.0f} | {row['rate']:.0f} "
                     f"| {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['max_ms']:.2f} | {row['unexpected']} "
                     f"| {row['sut_rss_kib'] / 1024:.1f} | {row['sut_cpu_pct']:.0f} | {row['others_cpu_pct']:.0f} |")
    statuses = ", ".join(f"{kind} {dict(sorted(counts.items()))}" for kind, counts in summary["statuses"].items())
    lines += ["",
              f"- **{summary['verdict']}**: {summary['requests']:,} requests, {summary['unexpected']} unexpected "
              f"answers (errors); RSS {summary['rss_start_kib'] / 1024:.1f} MiB after the warm-up → "
              f"{summary['rss_end_kib'] / 1024:.1f} MiB at the end ({summary['rss_growth_pct']:+.1f} %, limit "
              f"+{MAX_RSS_GROWTH * 100:.0f} %); generator send lag p99 {summary['send_lag_p99_ms']:.2f} ms; "
              f"{len(summary['log_problems'])} problem line(s) in the logs.",
              f"- Answers by kind: {statuses}."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=120, help="timed seconds after the warm-up (default 120)")
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second, all kinds (default 300)")
    # The server raises the collector's thresholds: its RSS levels off only after its first full
    # collections, about 100 s into a 300 req/s load. Memory is compared from there on.
    parser.add_argument("--warmup", type=int, default=120, help="seconds at the same rate before timing (default 120)")
    parser.add_argument("--window", type=int, default=10, help="seconds per reported window (default 10)")
    parser.add_argument("--output", type=Path, help="append the markdown section to this file")
    args = parser.parse_args()
    if min(args.duration, args.warmup + 1, args.window) < 1 or args.rate <= 0 or args.duration > 3600:
        parser.error("duration 1-3600 s, window ≥ 1 s, warm-up ≥ 0 s and rate > 0")
    return args


def _machine_busy(used: dict) -> float:
    """CPUs' worth of work done by others: the machine's busy time less this process's."""
    return (used["busy"] - used["ours"]) / used["wall"]


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    args = parse_args()
    if not {SUT_CPU, LOADGEN_CPU} <= os.sched_getaffinity(0):
        sys.exit(f"soak.py: needs CPUs {SUT_CPU} and {LOADGEN_CPU} (the pinning layout)")
    signal.signal(signal.SIGTERM, _interrupt)
    out_dir = RESULTS_ROOT / time.strftime("soak-%Y%m%d-%H%M%S")
    (out_dir / "logs").mkdir(parents=True)
    before = cpu_snapshot({})
    time.sleep(1)
    meta = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
            "busy_before_pct": round(100 * _machine_busy(cpu_used(before, cpu_snapshot({}))), 1),
            "settings": {"duration": args.duration, "rate": args.rate, "warmup": args.warmup, "window": args.window,
                         "connections": CONNECTIONS, "kinds": {k: w for k, (w, _) in KINDS.items()}}}
    with ProcessGroup(out_dir / "logs") as group:
        backend_port = free_port()
        backend = group.start("backend", backend_command(backend_port), LOADGEN_CPU)
        wait_ready("backend", backend, backend_port, ITEM_PATH, group.log_path("backend"))
        key_rate = args.rate * KINDS["key"][0] / sum(w for w, _ in KINDS.values())
        project = soak_project(out_dir / "work", backend_port, key_rate)
        port = free_port()
        sut = group.start("sut", [*lychgate_executable(), "serve", str(project), "--host", "127.0.0.1",
                                  "--port", str(port)], SUT_CPU, cwd=project)
        wait_ready("lychgate", sut, port, "/prod/none/api/v1/items/42", group.log_path("sut"))
        os.sched_setaffinity(0, {LOADGEN_CPU})
        def cpu_now() -> dict:
            return {"sut": cpu_seconds(sut.pid), "ours": cpu_seconds(backend.pid) + cpu_seconds("self"),
                    "machine": machine_busy_seconds(), "time": time.monotonic()}

        last = cpu_now()

        def sample(window: Window | None) -> dict:
            """The gateway's RSS, its CPU % since the previous sample, and the CPU % others used
            meanwhile (the machine's busy time less the gateway, the backend and this process)."""
            if sut.poll() is not None:
                raise ScenarioError(f"lychgate exited with {sut.returncode}")
            now = cpu_now()
            wall, sut_cpu = now["time"] - last["time"], now["sut"] - last["sut"]
            others = now["machine"] - last["machine"] - sut_cpu - (now["ours"] - last["ours"])
            taken = {"rss": rss_kib(sut.pid), "cpu_pct": 100 * sut_cpu / wall, "others_pct": max(0.0, 100 * others / wall)}
            last.update(now)
            if window is not None:
                print(f"  {window.start_s:>5.0f} s: {len(window.latencies_ms) / args.window:>6.1f} req/s  "
                      f"p99 {percentile(window.latencies_ms, 0.99):7.2f} ms  unexpected {window.unexpected}  "
                      f"RSS {taken['rss'] / 1024:.1f} MiB  CPU {taken['cpu_pct']:.0f} %  "
                      f"others {taken['others_pct']:.0f} %", flush=True)
            return taken

        print(f"soak: {args.rate:g} req/s for {args.warmup} s warm-up + {args.duration} s, "
              f"windows of {args.window} s; logs in {out_dir}", flush=True)
        windows, samples = uvloop.run(generate(port, args.rate, args.warmup, args.duration, args.window, sample))
    rows = [summarise_window(w, s, args.window) for w, s in zip(windows, samples[1:])]
    problems = problem_lines([out_dir / "logs" / "sut.log", out_dir / "logs" / "backend.log"])
    statuses: dict[str, dict[str, int]] = {}
    for window in windows:
        for kind, counts in window.statuses.items():
            for status, count in counts.items():
                statuses.setdefault(kind, {}).setdefault(status, 0)
                statuses[kind][status] += count
    rss_start, rss_end = samples[0]["rss"], samples[-1]["rss"]
    growth = (rss_end - rss_start) / rss_start
    lag_p99 = percentile([lag for w in windows for lag in w.send_lag_ms], 0.99)
    unexpected = sum(w.unexpected for w in windows)
    kept_up = lag_p99 < 100 and all(abs(r["rate"] - args.rate) <= 0.05 * args.rate for r in rows)
    passed = unexpected == 0 and growth <= MAX_RSS_GROWTH and kept_up and not problems
    summary = {"requests": sum(len(w.latencies_ms) for w in windows), "unexpected": unexpected,
               "rss_start_kib": rss_start, "rss_end_kib": rss_end, "rss_growth_pct": round(100 * growth, 2),
               "send_lag_p99_ms": round(lag_p99, 2), "generator_kept_up": kept_up, "statuses": statuses,
               "p99_ms_overall": round(percentile([l for w in windows for l in w.latencies_ms], 0.99), 2),
               "p99_ms_by_window": [r["p99_ms"] for r in rows], "log_problems": problems,
               "verdict": "PASS" if passed else "FAIL"}
    (out_dir / "results.json").write_text(json.dumps({"meta": meta, "windows": rows, "summary": summary}, indent=1))
    text = markdown(meta, rows, summary)
    print("\n" + text)
    if args.output:
        with open(args.output, "a") as out:
            out.write("\n" + text)
    return 0 if passed else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("soak.py: interrupted; every process it started has been stopped")
    except ScenarioError as exc:
        sys.exit(f"soak.py: {exc}; every process it started has been stopped")
