"""Issue #9's scale targets: routing and IAM cost flat in the project's size, memory, start-up,
and the throughput of two workers.

    python bench/scale.py [--items 1,2,3,4,5] [--routes 10000] [--users 10000] [--output FILE]

Generated projects (``harness/scale.py``) go in a new folder under ``/tmp/lychgate-bench``:
``small`` (10 routes, 10 IAM users), ``routes`` (ROUTES routes, 10 users), ``users`` (10 routes,
USERS users) and ``big`` (ROUTES routes, USERS users). Every route is ``GET /r{n}/items/{id}``,
AWS_IAM, HTTP_PROXY to ``bench/backend.py``; every user has its own access key and policy.

1. Route matching: the gateway's stage resolution and ``Router.match`` for the same request,
   timed in this process on ``small`` and ``routes`` loaded as ``lychgate serve`` loads them,
   alternately over ``--rounds`` rounds; the median of the per-round ratios large/small.
2. Policy evaluation: SigV4 verification plus the IAM decision for one signed caller (user 7),
   ``small`` against ``users``, with the gateway's decision memo as served, and without it.
   1 and 2 end to end: ``lychgate serve`` of ``small``, ``routes`` and ``users`` (CPU 0) answer
   the same signed request from wrk (CPU 1, with the backend), in turn; SUT CPU µs per request.
3. Memory: VmRSS of ``lychgate serve big`` once it has answered and served ``--duration`` s of wrk.
4. Start-up: wall time from starting ``lychgate serve`` until its first 200, for a copy of
   ``examples/petstore`` and for ``routes`` (``--startup-runs`` each, median).
5. Scale: ``--workers 1`` and ``--workers 2`` on scenario (c)'s project, lychgate, backend and wrk
   all unpinned on CPUs 0 and 1, alternately; RPS ratio and CPU by process.

Keep a run short (about two minutes); other load on the machine makes absolute figures noisy,
the interleaved ratios much less so. Exit status 1 if a target is not met or a step failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time
import traceback
from pathlib import Path

import yaml

from harness import scale, wrk
from harness.procs import ProcessGroup, cpu_snapshot, cpu_used, free_port
from harness.scenarios import backend_command, lychgate_executable, proxy_project

RESULTS_ROOT = Path("/tmp/lychgate-bench")
REPO = Path(__file__).resolve().parent.parent
SUT_CPU, LOADGEN_CPU, BOTH = 0, 1, "0,1"
SMALL = 10
FLAT = 1.10  # "does not grow materially": at most 10 % more per request
RSS_LIMIT_MIB = 100
STARTUP_LIMIT_S = {"petstore": 1.0, "routes": 5.0}
SCALE_TARGET = 1.7
READY_S = 60.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--items", default="1,2,3,4,5", help="which targets to measure (default 1,2,3,4,5)")
    parser.add_argument("--routes", type=int, default=10_000, help="routes of the large projects")
    parser.add_argument("--users", type=int, default=10_000, help="IAM users of the large projects")
    parser.add_argument("--rounds", type=int, default=7, help="in-process rounds, small and large alternately")
    parser.add_argument("--seconds", type=float, default=0.2, help="CPU seconds per in-process timing")
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--e2e-rounds", type=int, default=3, help="wrk rounds per server (items 1, 2 and 5)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--startup-runs", type=int, default=5, help="starts per project (item 4)")
    parser.add_argument("--output", type=Path, help="append the table to this file")
    args = parser.parse_args()
    args.items = {int(i) for i in args.items.split(",") if i.strip()}
    return args


def preflight() -> None:
    missing = [tool for tool in ("taskset", "wrk") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"scale.py: missing {', '.join(missing)} on PATH (apt-get install -y wrk)")
    if not {SUT_CPU, LOADGEN_CPU} <= os.sched_getaffinity(0):
        sys.exit("scale.py: needs CPUs 0 and 1")


def say(text: str) -> None:
    print(text, flush=True)


def serve_command(project: Path, port: int, *extra: str) -> list[str]:
    return [*lychgate_executable(), "serve", str(project), "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", *extra]


# ------------------------------------------------------------------ projects

def make_projects(work: Path, routes: int, users: int) -> dict[str, Path]:
    """small, routes, users, big: two OpenAPI documents and two lychgate.yaml, combined."""
    shapes = {"small": (SMALL, SMALL), "routes": (routes, SMALL), "users": (SMALL, users), "big": (routes, users)}
    folders = {}
    written: dict[tuple, Path] = {}
    for name, (n_routes, n_users) in shapes.items():
        folder = work / name
        folder.mkdir(parents=True)
        for file, key in (("openapi.yaml", ("doc", n_routes)), ("lychgate.yaml", ("config", n_users))):
            if key in written:
                shutil.copyfile(written[key], folder / file)
            else:
                text = scale.openapi_text(n_routes, iam=True) if key[0] == "doc" else scale.project_text(n_users, 9)
                (folder / file).write_text(text)
                written[key] = folder / file
        folders[name] = folder
    return folders


def set_backend(folder: Path, port: int) -> None:
    """Point the project's stage variable at the backend (a text edit: no re-dump of 10,000 users)."""
    config = folder / "lychgate.yaml"
    config.write_text(re.sub(r"backend: http://127\.0\.0\.1:\d+\n", f"backend: http://127.0.0.1:{port}\n",
                             config.read_text(), count=1))


# ------------------------------------------------------------------ items 1 and 2, in process

def in_process(folders: dict[str, Path], args, results: dict) -> None:
    loaded = {}
    for name in ("small", "routes", "users"):
        loaded[name] = scale.load(name, folders[name])
        say(f"  loaded {name} in {loaded[name].load_s:.2f} s")
    try:
        if 1 in args.items:
            results["route_inproc"] = scale.interleaved(scale.route_call(loaded["small"]),
                                                        scale.route_call(loaded["routes"]),
                                                        rounds=args.rounds, seconds=args.seconds)
            say(f"  routing: {_inproc_text(results['route_inproc'])}")
        if 2 in args.items:
            results["iam_inproc"] = scale.interleaved(scale.iam_call(loaded["small"]),
                                                      scale.iam_call(loaded["users"]),
                                                      rounds=args.rounds, seconds=args.seconds)
            say(f"  IAM (memo, as served): {_inproc_text(results['iam_inproc'])}")
            results["iam_eval_inproc"] = scale.interleaved(scale.iam_call(loaded["small"], memo=False),
                                                           scale.iam_call(loaded["users"], memo=False),
                                                           rounds=args.rounds, seconds=args.seconds)
            say(f"  IAM (policies evaluated every time): {_inproc_text(results['iam_eval_inproc'])}")
    finally:
        for item in loaded.values():
            item.close()


def _inproc_text(r: dict) -> str:
    return (f"{r['small_ns'] / 1e3:.2f} → {r['large_ns'] / 1e3:.2f} µs/call, ratio {r['ratio']:.3f} "
            f"({r['ratio_min']:.3f}–{r['ratio_max']:.3f}, {r['calls']} calls × {len(r['ratios'])} rounds)")


# ------------------------------------------------------------------ servers: items 1, 2 end to end, and 3

def start_backend(group: ProcessGroup, cpu) -> tuple[int, int]:
    port = free_port()
    proc = group.start("backend", backend_command(port), cpu)
    scale.time_to_ready(proc, time.perf_counter(), port, "/api/v1/items/42", timeout=20)
    return port, proc.pid


def start_sut(group: ProcessGroup, label: str, folder: Path, cpu, *extra: str) -> dict:
    port = free_port()
    started = time.perf_counter()
    proc = group.start(label, serve_command(folder, port, *extra), cpu)
    headers = scale.signed_headers(f"127.0.0.1:{port}")
    ready = scale.time_to_ready(proc, started, port, f"{scale.PATH}?{scale.QUERY}", headers=headers,
                                timeout=READY_S, every=0.05)
    return {"label": label, "port": port, "pid": proc.pid, "proc": proc, "ready_s": ready,
            "rss_ready_kb": scale.rss_kb(proc.pid)}


def signed_script(work: Path, sut: dict) -> str:
    """A wrk script sending the request signed now by user 7 (SigV4 allows 5 minutes)."""
    headers = dict(scale.signed_headers(f"127.0.0.1:{sut['port']}"))
    return wrk.header_script(f"{scale.PATH}?{scale.QUERY}", [headers], str(work / f"{sut['label']}.lua"))


def wrk_run(url: str, roots: dict[str, int], *, duration: int, connections: int, cpu, script=None) -> dict:
    """One wrk run with CPU accounting: seconds of CPU per process tree, wrk's, and others'."""
    before = cpu_snapshot(roots)
    text, wrk_cpu = wrk.run(url, duration=duration, connections=connections, cpu=cpu, script=script)
    used = cpu_used(before, cpu_snapshot(roots))
    record = wrk.parse(text)
    wall = used["wall"]
    record.update(wall_s=wall, cpu_pct={label: 100 * s / wall for label, s in used["trees"].items()},
                  wrk_cpu_pct=100 * wrk_cpu / wall, other_cpu_pct=100 * used["others"] / wall,
                  us_per_req={label: 1e6 * s / max(record["requests"], 1) for label, s in used["trees"].items()})
    record["errors"] = record["non_2xx"] + sum(record["socket_errors"].values())
    return record


def servers(folders: dict[str, Path], args, out: Path, results: dict) -> None:
    logs = out / "logs" / "servers"
    logs.mkdir(parents=True)
    with ProcessGroup(logs) as group:
        backend_port, backend_pid = start_backend(group, LOADGEN_CPU)
        for folder in folders.values():
            set_backend(folder, backend_port)
        names = (["small", "routes", "users"] if args.items & {1, 2} else []) + (["big"] if 3 in args.items else [])
        suts = {}
        for name in names:
            suts[name] = start_sut(group, name, folders[name], SUT_CPU)
            say(f"  serve {name}: ready in {suts[name]['ready_s']:.2f} s, RSS {suts[name]['rss_ready_kb'] / 1024:.1f} MiB")
        runs: dict[str, list[dict]] = {name: [] for name in suts}
        for index in range(args.e2e_rounds):
            order = list(suts) if index % 2 == 0 else list(reversed(suts))
            for name in order:
                sut = suts[name]
                script = signed_script(out, sut)
                url = f"http://127.0.0.1:{sut['port']}{scale.PATH}"
                if index == 0:  # warm-up
                    wrk.run(url, duration=1, connections=args.connections, cpu=LOADGEN_CPU, script=script)
                record = wrk_run(url, {"sut": sut["pid"], "backend": backend_pid}, duration=args.duration,
                                 connections=args.connections, cpu=LOADGEN_CPU, script=script)
                runs[name].append(record)
                say(f"  round {index + 1} {name}: {record['rps']:,.0f} rps, SUT {record['us_per_req']['sut']:.0f} µs/req "
                    f"({record['cpu_pct']['sut']:.0f} %), other {record['other_cpu_pct']:.0f} %, errors {record['errors']}")
                if sut["proc"].poll() is not None:
                    raise RuntimeError(f"lychgate serve {name} exited with {sut['proc'].returncode}")
        for name, sut in suts.items():
            sut["rss_after_kb"] = scale.rss_kb(sut["pid"])
            sut["processes"] = len(_tree_pids(sut["pid"]))
        results["servers"] = {name: {k: v for k, v in sut.items() if k != "proc"} | {"runs": runs[name]}
                              for name, sut in suts.items()}
        if args.items & {1, 2} and args.e2e_rounds:
            for large in ("routes", "users"):
                ratios = [l["us_per_req"]["sut"] / s["us_per_req"]["sut"]
                          for s, l in zip(runs["small"], runs[large])]
                results[f"e2e_{large}"] = {
                    "small_us": statistics.median(r["us_per_req"]["sut"] for r in runs["small"]),
                    "large_us": statistics.median(r["us_per_req"]["sut"] for r in runs[large]),
                    "ratio": statistics.median(ratios), "ratios": ratios,
                    "other_cpu_pct_max": max(r["other_cpu_pct"] for r in runs["small"] + runs[large])}


def _tree_pids(root: int) -> list[int]:
    """``root`` and its descendants (from /proc/PID/task/*/children)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            todo += [int(child) for child in task.read_text().split()]
    return found


# ------------------------------------------------------------------ item 4: start-up

def petstore_copy(work: Path) -> Path:
    """A copy of examples/petstore (with its identity provider's key) on a free idp port."""
    target = work / "petstore"
    shutil.copytree(REPO / "examples" / "petstore", target)
    config_file = target / "lychgate.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["local_idp"]["port"] = free_port()
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def startup(folders: dict[str, Path], args, out: Path, results: dict) -> None:
    logs = out / "logs" / "startup"
    logs.mkdir(parents=True)
    petstore = petstore_copy(out / "work")
    with ProcessGroup(logs) as backends:
        backend_port, _ = start_backend(backends, LOADGEN_CPU)
        set_backend(folders["routes"], backend_port)
        cases = {"petstore": (petstore, "/prod/pets", None),
                 "routes": (folders["routes"], f"{scale.PATH}?{scale.QUERY}", True)}
        times: dict[str, list[float]] = {name: [] for name in cases}
        for index in range(args.startup_runs):
            for name, (folder, path, signed) in cases.items():
                with ProcessGroup(logs) as group:
                    port = free_port()
                    headers = scale.signed_headers(f"127.0.0.1:{port}") if signed else None
                    started = time.perf_counter()
                    proc = group.start(f"{name}-{index + 1}", serve_command(folder, port), BOTH)
                    times[name].append(scale.time_to_ready(proc, started, port, path, headers=headers, timeout=READY_S))
                say(f"  start {index + 1} {name}: {times[name][-1]:.2f} s")
    results["startup"] = {name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "runs": t}
                          for name, t in times.items()}


# ------------------------------------------------------------------ item 5: two workers

def workers(args, out: Path, results: dict) -> None:
    logs = out / "logs" / "workers"
    logs.mkdir(parents=True)
    with ProcessGroup(logs) as group:
        backend_port, backend_pid = start_backend(group, BOTH)
        project = proxy_project(out / "work", backend_port)
        path = "/prod/api/v1/items/42?limit=10"
        suts = {}
        for count in (1, 2):
            port = free_port()
            started = time.perf_counter()
            proc = group.start(f"workers{count}", serve_command(project, port, "--workers", str(count)), BOTH)
            scale.time_to_ready(proc, started, port, path, timeout=READY_S)
            suts[count] = (port, proc)
        runs: dict[int, list[dict]] = {1: [], 2: []}
        for index in range(args.e2e_rounds):
            for count in ((1, 2) if index % 2 == 0 else (2, 1)):
                port, proc = suts[count]
                url = f"http://127.0.0.1:{port}{path}"
                if index == 0:
                    wrk.run(url, duration=1, connections=args.connections, cpu=BOTH)
                workers_pids = _tree_pids(proc.pid)[1:] if count > 1 else []
                roots = {"sut": proc.pid, "backend": backend_pid} | {f"worker{i + 1}": pid for i, pid in enumerate(workers_pids)}
                record = wrk_run(url, roots, duration=args.duration, connections=args.connections, cpu=BOTH)
                record["sut_processes"] = 1 + len(workers_pids)
                runs[count].append(record)
                split = " (" + " + ".join(f"{record['cpu_pct'][k]:.0f}" for k in sorted(record["cpu_pct"])
                                          if k.startswith("worker")) + ")" if count > 1 else ""
                say(f"  round {index + 1} workers {count}: {record['rps']:,.0f} rps; CPU % lychgate "
                    f"{record['cpu_pct']['sut']:.0f}{split}, backend {record['cpu_pct']['backend']:.0f}, wrk "
                    f"{record['wrk_cpu_pct']:.0f}, other {record['other_cpu_pct']:.0f}; errors {record['errors']}")
    ratios = [two["rps"] / one["rps"] for one, two in zip(runs[1], runs[2])]
    summary = {"ratio": statistics.median(ratios), "ratios": ratios, "runs": {str(k): v for k, v in runs.items()}}
    for count, items in runs.items():
        summary[f"w{count}"] = {
            "rps": statistics.median(r["rps"] for r in items),
            "lychgate_cpu_pct": statistics.median(r["cpu_pct"]["sut"] for r in items),
            "backend_cpu_pct": statistics.median(r["cpu_pct"]["backend"] for r in items),
            "wrk_cpu_pct": statistics.median(r["wrk_cpu_pct"] for r in items),
            "other_cpu_pct": statistics.median(r["other_cpu_pct"] for r in items),
            "lychgate_us_per_req": statistics.median(r["us_per_req"]["sut"] for r in items),
            "backend_us_per_req": statistics.median(r["us_per_req"]["backend"] for r in items),
            "wrk_us_per_req": statistics.median(1e4 * r["wrk_cpu_pct"] * r["wall_s"] / max(r["requests"], 1)
                                                for r in items),
            "worker_cpu_pct": sorted(statistics.median(r["cpu_pct"][k] for r in items)
                                     for k in items[0]["cpu_pct"] if k.startswith("worker"))}
    # What two workers could reach at best here: the three processes' CPU per request at one
    # worker, on the two cores they share (and at most twice one worker's throughput).
    one = summary["w1"]
    per_request = one["lychgate_us_per_req"] + one["backend_us_per_req"] + one["wrk_us_per_req"]
    summary["ceiling"] = min(2.0, 2e6 / per_request / one["rps"])
    results["workers"] = summary


# ------------------------------------------------------------------ the table

def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**not met**")


def table(results: dict, args) -> tuple[str, bool]:
    rows, all_met = [], True

    def row(item: str, measured: str, target: str, ok: bool | None) -> None:
        nonlocal all_met
        all_met &= ok is not False
        rows.append(f"| {item} | {measured} | {target} | {_verdict(ok)} |")

    def inproc(key: str, item: str, what: str, target: bool = True) -> None:
        if key in results:
            r = results[key]
            row(item, f"{r['small_ns'] / 1e3:.2f} µs → {r['large_ns'] / 1e3:.2f} µs per {what}: ×{r['ratio']:.3f} "
                      f"(rounds {r['ratio_min']:.2f}–{r['ratio_max']:.2f})",
                f"× ≤ {FLAT:.2f}" if target else "(context)", r["ratio"] <= FLAT if target else None)

    inproc("route_inproc", f"1. route matching, {SMALL} → {args.routes:,} routes, in process", "match")
    if "e2e_routes" in results:
        r = results["e2e_routes"]
        row(f"1. same, end to end (SUT CPU per signed request, {len(r['ratios'])} rounds)",
            f"{r['small_us']:.0f} → {r['large_us']:.0f} µs/req: ×{r['ratio']:.3f}", f"× ≤ {FLAT:.2f}", r["ratio"] <= FLAT)
    inproc("iam_inproc", f"2. SigV4 + IAM decision, one caller, {SMALL} → {args.users:,} identities, in process",
           "request")
    inproc("iam_eval_inproc", "2. same, policies evaluated every time (decision memo off)", "request", target=False)
    if "e2e_users" in results:
        r = results["e2e_users"]
        row(f"2. same, end to end (SUT CPU per signed request, {len(r['ratios'])} rounds)",
            f"{r['small_us']:.0f} → {r['large_us']:.0f} µs/req: ×{r['ratio']:.3f}", f"× ≤ {FLAT:.2f}", r["ratio"] <= FLAT)
    big = results.get("servers", {}).get("big")
    if big:
        mib = big["rss_after_kb"] / 1024
        row(f"3. RSS of `lychgate serve`, {args.routes:,} routes + {args.users:,} identities, after "
            f"{args.e2e_rounds * args.duration + 1} s of wrk",
            f"{mib:.1f} MiB (at ready {big['rss_ready_kb'] / 1024:.1f} MiB)", f"< {RSS_LIMIT_MIB} MiB",
            mib < RSS_LIMIT_MIB)
        for name, label in (("small", f"{SMALL} routes + {SMALL} identities"),
                            ("routes", f"{args.routes:,} routes + {SMALL} identities"),
                            ("users", f"{SMALL} routes + {args.users:,} identities")):
            other = results["servers"].get(name)
            if other:
                row(f"3. (context) RSS, {label}", f"{other['rss_after_kb'] / 1024:.1f} MiB", "", None)
    for name, label in (("petstore", "examples/petstore"), ("routes", f"{args.routes:,} routes")):
        s = results.get("startup", {}).get(name)
        if s:
            limit = STARTUP_LIMIT_S[name]
            row(f"4. start-up to first 200, {label} ({len(s['runs'])} starts)",
                f"median {s['median_s']:.2f} s ({s['min_s']:.2f}–{s['max_s']:.2f})", f"< {limit:.0f} s",
                s["median_s"] < limit)
    if big:
        row(f"4. (context) start-up to first 200, {args.routes:,} routes + {args.users:,} identities (1 start)",
            f"{big['ready_s']:.2f} s", "", None)
    w = results.get("workers")
    if w:
        one, two = w["w1"], w["w2"]
        row(f"5. `--workers 2` ÷ `--workers 1` RPS, all unpinned on CPUs 0–1 ({len(w['ratios'])} rounds)",
            f"{one['rps']:,.0f} → {two['rps']:,.0f} rps: ×{w['ratio']:.2f} (rounds "
            f"{min(w['ratios']):.2f}–{max(w['ratios']):.2f})", f"× ≥ {SCALE_TARGET}", w["ratio"] >= SCALE_TARGET)
        for count, r in ((1, one), (2, two)):
            split = f" = {' + '.join(f'{p:.0f}' for p in r['worker_cpu_pct'])}" if r["worker_cpu_pct"] else ""
            row(f"5. (context) CPU, {count} worker{'s' if count > 1 else ''}",
                f"lychgate {r['lychgate_cpu_pct']:.0f} %{split} ({r['lychgate_us_per_req']:.0f} µs/req), backend "
                f"{r['backend_cpu_pct']:.0f} % ({r['backend_us_per_req']:.0f} µs/req), wrk {r['wrk_cpu_pct']:.0f} % "
                f"({r['wrk_us_per_req']:.0f} µs/req), others {r['other_cpu_pct']:.0f} % (100 % = one core; 200 % "
                f"available)", "", None)
        row("5. (context) best ratio possible in this layout (1 worker's CPU per request of lychgate + backend "
            "+ wrk, on 2 cores)", f"×{w['ceiling']:.2f}", "", None)
    for failure in results.get("failures", []):
        row(f"{failure['item']} failed", failure["error"].replace("|", "/")[:200], "", False)
    header = ["| item | measured | target | verdict |", "|---|---|---|---|"]
    return "\n".join(header + rows), all_met


def main() -> int:
    args = parse_args()
    preflight()
    out = RESULTS_ROOT / time.strftime("scale-%Y%m%d-%H%M%S")
    (out / "work").mkdir(parents=True)
    results: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "settings": {
        k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "failures": []}
    say(f"scale.py: results in {out}")
    started = time.monotonic()
    folders = make_projects(out / "work", args.routes, args.users)
    say(f"generated projects in {time.monotonic() - started:.1f} s")

    def step(label: str, items: set[int], run) -> None:
        if not args.items & items:
            return
        say(label)
        try:
            run()
        except Exception as exc:  # reported in the table; the next step still runs
            traceback.print_exc()
            results["failures"].append({"item": label, "error": f"{type(exc).__name__}: {exc}"})

    step("items 1, 2: in process", {1, 2}, lambda: in_process(folders, args, results))
    step("items 1, 2 end to end, 3: servers", {1, 2, 3}, lambda: servers(folders, args, out, results))
    step("item 4: start-up", {4}, lambda: startup(folders, args, out, results))
    step("item 5: one and two workers", {5}, lambda: workers(args, out, results))
    text, all_met = table(results, args)
    results["elapsed_s"] = time.monotonic() - started
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "table.md").write_text(text + "\n")
    say(f"\n{text}\n\n({results['elapsed_s']:.0f} s; raw results: {out / 'results.json'})")
    if args.output:
        with open(args.output, "a") as sink:
            sink.write("\n" + text + "\n")
    return 0 if all_met else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("scale.py: interrupted; every process it started has been stopped")
