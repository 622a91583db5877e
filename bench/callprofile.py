"""Where one scenario's requests spend their Python: calls and CPU per request, by function.

Runs one lychgate scenario of ``bench/run.py`` (c–i) the same way, with the server under test
started under ``cProfile``, drives it with wrk for ``--duration`` seconds, stops it with SIGTERM
(the profile is written on the way out) and prints the functions called at least once per
request with their calls per request and own time per request. cProfile slows every call down,
so read the times as proportions; the call counts are exact. Like ``run.py`` it installs nothing.

    python bench/callprofile.py c [--duration 5] [--top 40] [--output FILE.prof]
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from pathlib import Path

from harness import wrk
from harness.measure import LOADGEN_CPU, SUT_CPU, start_backend, wait_ready
from harness.procs import ProcessGroup, free_port
from harness.scenarios import SCENARIOS


def profile(key: str, duration: int, prof_path: Path, work: Path) -> int:
    """Serve scenario ``key`` under cProfile while wrk drives it; returns the requests wrk completed."""
    scenario = SCENARIOS[key]
    group = ProcessGroup(work)
    with group:
        backend_port = start_backend(group, "backend").port if scenario.needs_backend else None
        port = free_port()
        command = scenario.command(work, port, backend_port)
        # The command ends in ``… lychgate serve ARGS``, or is a shell that execs it (scenario i).
        profiled = f"{sys.executable} -m cProfile -o {prof_path} -m lychgate serve"
        if command[0] == "sh":
            command[-1] = command[-1].replace(command[-1].split("exec ", 1)[1].split(" serve ", 1)[0] + " serve",
                                              profiled, 1)
        else:
            command = [*profiled.split(), *command[command.index("serve") + 1:]]
        sut = group.start("sut", command, SUT_CPU, cwd=work)
        headers = scenario.headers(work, port) if scenario.headers else []
        wait_ready("server under test", sut, port, scenario.path, group.log_path("sut"),
                   headers[0] if headers else None)
        script = wrk.header_script(scenario.path, headers, str(work / "requests.lua")) if headers else None
        text, _ = wrk.run(f"http://127.0.0.1:{port}{scenario.path}", duration=duration, connections=32,
                          cpu=LOADGEN_CPU, script=script)
    return wrk.parse(text)["requests"]


def report(prof_path: Path, requests: int, top: int) -> None:
    stats = pstats.Stats(str(prof_path)).stats
    rows, calls, total = [], 0, 0.0
    for (filename, line, name), (_, ncalls, own, _, _) in stats.items():
        total += own
        if ncalls >= requests * 0.9:  # on the request path: once per request or more
            calls += ncalls
            where = f"{Path(filename).name}:{line}" if filename != "~" else "builtin"
            rows.append((ncalls / requests, own / requests * 1e6, f"{where} {name}"))
    rows.sort(key=lambda row: -row[1])
    print(f"{requests} requests; {calls / requests:.0f} calls per request on the request path "
          f"(own time is cProfile-inflated: read it as proportions)")
    print(f"all own time, start-up included: {total / requests * 1e6:.1f} µs per request")
    print(f"{'calls/req':>9} {'own µs/req':>10}  function")
    for per_request, own_us, label in rows[:top]:
        print(f"{per_request:9.1f} {own_us:10.2f}  {label}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=[k for k in SCENARIOS if k not in "ab"])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--output", type=Path, help="keep the cProfile file here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lychgate-profile-") as scratch:
        work = Path(scratch)
        prof_path = (args.output or work / "sut.prof").resolve()
        requests = profile(args.scenario, args.duration, prof_path, work)
        report(prof_path, requests, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
