"""Benchmark lychgate against a raw backend and nginx on this machine, over 127.0.0.1 only.

The chosen scenarios (a: backend direct, b: nginx proxy, c: lychgate HTTP_PROXY, d: lychgate
AWS_PROXY to an in-process handler, e–i: (c) with authorization, n and k: (c) sent the requests of
e and h; harness/scenarios.py) each have a server under test pinned to CPU 0, on a free port; the
backend and wrk run on CPU 1. By default
(interleaved) every server is started up front with one shared backend, each is checked to
answer and warmed up for 2 s, then N rounds give each scenario in turn one timed
``wrk -t1 -cC -dDs --latency`` run, so runs of different scenarios are seconds apart and the
per-round RPS ratios to (b) and (c) survive a machine whose speed drifts from minute to minute.
``--sequential`` instead starts, measures N times and stops one scenario after the other;
``--simultaneous`` runs every scenario's wrk at once in each round, so that the servers share
CPU 0 and their RPS ratio is a CPU-cost ratio; ``--sliced MS`` also runs them at once, but the
servers take turns on CPU 0, MS milliseconds each (bench/README.md says when to use which). CPU
time is sampled around every run. Everything started is stopped at the end, also on errors,
Ctrl-C and SIGTERM, and a markdown table is printed. Raw results go to ``results.jsonl`` in a new
folder under ``/tmp/lychgate-bench``; ``--output FILE`` appends the table to FILE. It installs
nothing: wrk and nginx must be on PATH (README.md says how).

    python bench/run.py [--runs 3] [--duration 10] [--connections 32] [--scenarios a,b,c,d]
                        [--sequential | --simultaneous | --sliced MS] [--python PATH] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from functools import partial
from pathlib import Path

from harness import report, scenarios
from harness.measure import LOADGEN_CPU, SUT_CPU, run_interleaved, run_sequential
from harness.procs import cpu_snapshot, cpu_used
from harness.scenarios import SCENARIOS

RESULTS_ROOT = Path("/tmp/lychgate-bench")
WARMUP_S = 2


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _scenario_keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"choose from {','.join(SCENARIOS)}; got {text!r}")
    return keys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=_positive, default=3, help="timed wrk runs per scenario (default 3)")
    parser.add_argument("--duration", type=_positive, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=_positive, default=32, help="wrk connections (default 32)")
    parser.add_argument("--scenarios", type=_scenario_keys, default=list(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (default all)")
    order = parser.add_mutually_exclusive_group()
    order.add_argument("--sequential", action="store_true",
                       help="one scenario after the other instead of interleaved rounds")
    order.add_argument("--simultaneous", action="store_true",
                       help="each round runs every scenario at once, the servers sharing CPU 0: "
                            "ratios of CPU cost that the machine's drift cannot skew (not for i)")
    order.add_argument("--sliced", type=_positive, metavar="MS",
                       help="each round runs every scenario at once, the servers taking turns on CPU 0 "
                            "for MS milliseconds each: drift-proof ratios with little cache bias "
                            "(any scenario, i included)")
    parser.add_argument("--output", type=Path, help="append the markdown table to this file")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter that serves lychgate, with lychgate installed (default: this one)")
    return parser.parse_args()


def preflight(keys: list[str]) -> None:
    """Exit with a clear message if a tool or the two CPUs of the pinning layout are missing."""
    needed = ["taskset", "wrk"] + (["nginx"] if "b" in keys else [])
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        sys.exit(f"run.py: missing {', '.join(missing)} on PATH; install with: apt-get install -y wrk nginx")
    if not {SUT_CPU, LOADGEN_CPU} <= os.sched_getaffinity(0):
        sys.exit(f"run.py: needs CPUs {SUT_CPU} and {LOADGEN_CPU} (the pinning layout); "
                 f"this process may use {sorted(os.sched_getaffinity(0))}")


def busy_before(seconds: float = 1.0) -> float:
    """CPU used by other processes over ``seconds`` before anything starts, in % of one CPU."""
    before = cpu_snapshot({})
    time.sleep(seconds)
    busy = 100 * cpu_used(before, cpu_snapshot({}))["others"] / seconds
    if busy > report.NOISY_PCT:
        print(f"run.py: warning: the machine is already {busy:.0f} % busy (of one CPU); "
              "results will be noisy, check `top` and re-run when it is idle", flush=True)
    return busy


def _stop_on_sigterm() -> None:
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)


def _progress(record: dict) -> None:
    errors = record["non_2xx"] + sum(record["socket_errors"].values())
    print(f"  ({record['scenario']}) run {record['run']}: {record['rps']:>9,.0f} rps  "
          f"p50 {record['p50_ms']:.2f} ms  p99 {record['p99_ms']:.2f} ms  SUT {record['sut_cpu_pct']:.0f} % "
          f"{record['sut_cpu_us_per_req']:.1f} µs/req ({record['sut_kernel_us_per_req']:.1f} kernel)  "
          f"wrk {record['wrk_cpu_pct']:.0f} %  "
          f"other {record['other_cpu_pct']:.1f} % {_named(record['other_top'])}"
          + (f"idle {record['idle_cpu_pct']:.1f} %  " if "idle_cpu_pct" in record else "")
          + f"errors {errors}", flush=True)


def _named(top: dict) -> str:
    return "(" + ", ".join(f"{comm} {pct:.0f} %" for comm, pct in top.items()) + ") " if top else ""


def _say(text: str) -> None:
    print(text, flush=True)


def run_all(args: argparse.Namespace, out_dir: Path) -> tuple[dict, list[dict]]:
    """Run the chosen scenarios, writing every record to ``results.jsonl`` at once."""
    results = out_dir / "results.jsonl"
    mode = ("sequential" if args.sequential else "simultaneous" if args.simultaneous
            else "sliced" if args.sliced else "interleaved")
    meta = {"type": "meta", "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "results": str(results),
            "busy_before_pct": round(busy_before(), 1), "machine": report.machine(args.python),
            "settings": {"mode": mode, "runs": args.runs, "duration": args.duration,
                         "connections": args.connections, "warmup": WARMUP_S, "scenarios": args.scenarios,
                         **({"slice_ms": args.sliced} if args.sliced else {})}}
    with open(results, "a") as sink:
        def record(item: dict) -> None:
            sink.write(json.dumps(item) + "\n")
            sink.flush()
            if item["type"] == "run":
                _progress(item)

        record(meta)
        run = run_sequential if args.sequential else partial(
            run_interleaved, simultaneous=args.simultaneous, slice_s=args.sliced / 1000 if args.sliced else None)
        summaries = run([SCENARIOS[key] for key in args.scenarios], runs=args.runs, duration=args.duration,
                        connections=args.connections, warmup=WARMUP_S, out_dir=out_dir, on_record=record, say=_say)
    return meta, summaries


def main() -> int:
    args = parse_args()
    scenarios.SUT_PYTHON = args.python
    preflight(args.scenarios)
    _stop_on_sigterm()
    out_dir = RESULTS_ROOT / time.strftime("run-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True)
    meta, summaries = run_all(args, out_dir)
    text = report.document(meta, summaries)
    print("\n" + text)
    (out_dir / "table.md").write_text(text)
    if args.output:
        with open(args.output, "a") as out:
            out.write("\n" + text)
    return 1 if any(s["error"] for s in summaries) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("run.py: interrupted; every process it started has been stopped")
