"""What the harness prints: the machine and tool versions, and the markdown results table.

The table has one row per scenario: RPS median with min–max over the runs, the medians of wrk's
p50 and p99 latencies, the server under test's CPU % and CPU µs per request, the ratio of the
scenario's median RPS to scenario (b)'s from the same invocation, in interleaved mode the median
over rounds of the per-round RPS ratio to (b) and to (c) ("paired": runs seconds apart), wrk's
CPU % (near 100 % means the load generator's core, not the SUT, was the limit), the largest
"other CPU %" of any run (above ~10 %: something else used the machine, re-run) and the error
count (non-2xx responses + socket errors, and problem lines found in the logs).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import subprocess
import sys

HEADER = ("| scenario | RPS median (min–max) | p50 ms | p99 ms | SUT CPU % | SUT CPU µs/req (kernel) "
          "| × (b) RPS | × (b) RPS (paired) | × (c) RPS (paired) | wrk CPU % | other CPU % (max) "
          "| errors: http / socket / log |")
ALIGN = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
NOISY_PCT = 10.0


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def _tool_version(cmd: list[str], pattern: str) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    match = re.search(pattern, done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _lychgate_source() -> str:
    """The commit of the lychgate checkout being measured, and how many of its files differ from it
    (read-only git calls: ``--no-optional-locks`` keeps ``status`` from touching the index)."""
    spec = importlib.util.find_spec("lychgate")
    if spec is None or spec.origin is None:
        return "not found"
    git = ["git", "--no-optional-locks", "-C", os.path.dirname(spec.origin)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        status = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, text=True,
                                timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "not a git checkout"
    return f"{head.stdout.strip()} + {len(status.stdout.splitlines())} changed file(s)"


_INTERPRETER_PROBE = """
import platform, sys
shared = any("libpython" in line for line in open("/proc/self/maps"))
print(platform.python_version(), "libpython.so" if shared else "static")
"""


def sut_interpreter(python: str) -> str:
    """``python``'s version and whether its interpreter is linked as a shared libpython (as pyenv
    builds it by default, without PGO/LTO: about 10 % of lychgate's speed, RESULTS.md session 7)."""
    try:
        done = subprocess.run([python, "-c", _INTERPRETER_PROBE], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    return f"{done.stdout.strip() or 'unknown'} ({python})"


def machine(sut_python: str = sys.executable) -> dict:
    """The facts needed to compare results across machines and days."""
    return {"nproc": os.cpu_count(), "cpu_model": _cpu_model(), "kernel": platform.release(),
            "python": platform.python_version(), "python_executable": sys.executable,
            "sut_python": sut_interpreter(sut_python),
            "wrk": _tool_version(["wrk", "-v"], r"wrk (\S+)"),
            "nginx": _tool_version(["nginx", "-v"], r"nginx/(\S+)"),
            "lychgate_source": _lychgate_source(),
            **{name: _package_version(name) for name in ("lychgate", "uvloop", "httptools")}}


def _ratio(summary: dict, reference: dict | None) -> str:
    if not reference or not reference.get("rps_median") or "rps_median" not in summary:
        return "–"
    return f"{summary['rps_median'] / reference['rps_median']:.2f}"


def _paired(summary: dict, key: str) -> str:
    paired = summary.get("paired_rps_ratio", {}).get(key)
    return f"{paired['median']:.2f}" if paired else "–"


def _row(s: dict, reference: dict | None) -> str:
    errors = f"{s.get('non_2xx', '–')} / {s.get('socket_errors', '–')} / {len(s['log_problems'])}"
    error = s["error"].splitlines()[0].replace("|", "/") if s["error"] else ""
    if "rps_median" not in s:
        return f"| {s['title']} | FAILED: {error} |{' |' * (HEADER.count('|') - 4)} {errors} |"
    failed = f" (stopped: {error})" if error else ""
    return (f"| {s['title']}{failed} | {s['rps_median']:,.0f} ({s['rps_min']:,.0f}–{s['rps_max']:,.0f}) "
            f"| {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['sut_cpu_pct']:.0f} "
            f"| {s['sut_cpu_us_per_req']:.1f} ({s.get('sut_kernel_us_per_req', 0.0):.1f}) "
            f"| {_ratio(s, reference)} | {_paired(s, 'b')} | {_paired(s, 'c')} "
            f"| {s['wrk_cpu_pct']:.0f} | {s['other_cpu_pct_max']:.1f} | {errors} |")


def table(summaries: list[dict]) -> str:
    """The markdown table; ratios are to scenario (b), paired ones to (b) and (c), if they were run."""
    reference = next((s for s in summaries if s["scenario"] == "b"), None)
    return "\n".join([HEADER, ALIGN, *(_row(s, reference) for s in summaries)])


def _header(meta: dict) -> list[str]:
    m, a = meta["machine"], meta["settings"]
    if a.get("mode") == "simultaneous":
        order = (f"simultaneous: all servers started up front and warmed up {a['warmup']} s each, then "
                 f"{a['runs']} rounds in which every scenario's wrk runs at the same time (the servers share CPU 0)")
    elif a.get("mode") == "sliced":
        order = (f"sliced: all servers started up front and warmed up {a['warmup']} s each, then {a['runs']} rounds "
                 f"in which every scenario's wrk runs at the same time and the servers take turns on CPU 0, "
                 f"{a['slice_ms']} ms each (RPS per second of a server's own turns; latencies include the others' turns)")
    elif a.get("mode") == "interleaved":
        order = (f"interleaved: all servers started up front and warmed up {a['warmup']} s each, then "
                 f"{a['runs']} rounds of one run per scenario in turn")
    else:
        order = f"sequential: one scenario after the other, {a['runs']} runs after a {a['warmup']} s warm-up"
    return [f"### lychgate bench, {meta['started']}",
            "",
            f"wrk -t1 -c{a['connections']} -d{a['duration']}s --latency; {order}; "
            "SUT pinned to CPU 0, wrk and backend to CPU 1.  ",
            f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, kernel {m['kernel']}, Python {m['python']}; "
            f"lychgate served by Python {m.get('sut_python', m['python'])}.  ",
            f"Versions: lychgate {m['lychgate']} (checkout {m['lychgate_source']}), wrk {m['wrk']}, "
            f"nginx {m['nginx']}, uvloop {m['uvloop']}, httptools {m['httptools']}.  ",
            f"Other processes' CPU just before the start: {meta['busy_before_pct']:.0f} % of one CPU.  ",
            f"Raw results: {meta['results']}",
            ""]


def _notes(summaries: list[dict]) -> list[str]:
    """Lists under the table: noisy scenarios with who made the noise, and suspicious log lines."""
    lines = []
    noisy = [f"- {s['title']}: {s['other_cpu_pct_max']:.0f} %, mostly "
             + ", ".join(f"{comm} ({pct:.0f} %)" for comm, pct in s["other_top"].items())
             for s in summaries if s.get("other_cpu_pct_max", 0) > NOISY_PCT]
    if noisy:
        lines += ["", f"Other load above {NOISY_PCT:.0f} % of a CPU during a run (re-run these scenarios):", *noisy]
    problems = [f"- {s['title']}: {line}" for s in summaries for line in s["log_problems"]]
    if problems:
        lines += ["", "Log lines that look like errors or warnings:", *problems]
    return lines


def document(meta: dict, summaries: list[dict]) -> str:
    """The table with a header naming the date, settings, machine and versions, and notes below."""
    return "\n".join([*_header(meta), table(summaries), *_notes(summaries)]) + "\n"
