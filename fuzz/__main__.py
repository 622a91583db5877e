"""``python -m fuzz``: run a fuzz target, replay inputs, or rebuild the seed corpora.

    python -m fuzz TARGET [--seconds N] [--engine atheris|hypothesis]
    python -m fuzz all [--seconds N]        each target in turn, N seconds each
    python -m fuzz TARGET --replay FILE...  run saved inputs (crash artifacts, corpus files)
    python -m fuzz seed                     rewrite fuzz/corpus/ from the real inputs

atheris (coverage-guided, libFuzzer) is used when installed (``pip install -e '.[fuzz]'``), else
hypothesis. Crashing inputs are written to ``fuzz/.work/TARGET/crashes/``; the exit status is 1
when a target crashed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

from fuzz import CORPUS_DIR, TARGETS, WORK_DIR, corpus, target

EXAMPLES_PER_ROUND = 200


def _save_crash(name: str, data: bytes) -> Path:
    folder = WORK_DIR / name / "crashes"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{hashlib.sha1(data).hexdigest()}"
    path.write_bytes(data)
    return path


def replay(name: str, files: list[str]) -> int:
    """Run each file through the target; print the traceback of every failing one."""
    fuzz_one = target(name).fuzz_one
    failed = 0
    for file in files:
        try:
            fuzz_one(Path(file).read_bytes())
        except Exception:  # noqa: BLE001 - every escaping exception is a finding to show
            failed += 1
            print(f"--- {file}: CRASH", file=sys.stderr)
            traceback.print_exc()
        else:
            print(f"--- {file}: ok")
    return 1 if failed else 0


def run_hypothesis(name: str, seconds: float) -> int:
    """Replay the seed corpus, then rounds of hypothesis generation until ``seconds`` pass."""
    from hypothesis import HealthCheck, Phase, given, settings

    module = target(name)
    for index, data in enumerate(corpus(name)):
        try:
            module.fuzz_one(data)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            print(f"{name}: seed #{index} crashes; saved to {_save_crash(name, data)}", file=sys.stderr)
            return 1
    last_failure: list[bytes] = []

    def check(data: bytes) -> None:
        try:
            module.fuzz_one(data)
        except Exception:
            last_failure[:] = [data]  # the final (shrunk) failing input is the last one seen
            raise

    test = settings(max_examples=EXAMPLES_PER_ROUND, deadline=None, database=None, print_blob=False,
                    phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))(
        given(module.inputs())(check))
    start, rounds = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        try:
            test()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            print(f"{name}: crash saved to {_save_crash(name, last_failure[0])}", file=sys.stderr)
            return 1
        rounds += 1
    print(f"{name}: {rounds * EXAMPLES_PER_ROUND} hypothesis examples in {time.monotonic() - start:.0f} s, "
          "no crash")
    return 0


def run_atheris(name: str, seconds: float) -> int:
    """libFuzzer over the target with lychgate's code instrumented; never returns."""
    import atheris

    with atheris.instrument_imports(include=["lychgate"]):
        module = target(name)
    work = WORK_DIR / name / "corpus"  # new interesting inputs land here, not in the seeds
    crashes = WORK_DIR / name / "crashes"
    work.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    args = [sys.argv[0], f"-max_total_time={max(int(seconds), 1)}", "-timeout=20", "-rss_limit_mb=4096",
            "-max_len=65536", f"-artifact_prefix={crashes}/", "-print_final_stats=1", str(work),
            str(CORPUS_DIR / name)]
    atheris.Setup(args, module.fuzz_one)
    atheris.Fuzz()
    return 0


def write_seeds(names: tuple[str, ...] = TARGETS) -> None:
    for name in names:
        folder = CORPUS_DIR / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        count = 0
        for seed_name, data in target(name).seeds():
            (folder / seed_name).write_bytes(data)
            count += 1
        print(f"{name}: {count} seeds in {folder}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=[*TARGETS, "all", "seed"])
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget per target (default 60)")
    parser.add_argument("--engine", choices=["atheris", "hypothesis"],
                        default="atheris" if importlib.util.find_spec("atheris") else "hypothesis")
    parser.add_argument("--replay", nargs="+", metavar="FILE", help="run these inputs instead of fuzzing")
    args = parser.parse_args(argv)
    if args.target == "seed":
        write_seeds()
        return 0
    if args.target == "all":  # one process per target: atheris ends its process when done
        codes = [subprocess.call([sys.executable, "-m", "fuzz", name, "--seconds", str(args.seconds),
                                  "--engine", args.engine]) for name in TARGETS]
        return 1 if any(codes) else 0
    if args.replay:
        return replay(args.target, args.replay)
    if args.engine == "atheris":
        return run_atheris(args.target, args.seconds)
    return run_hypothesis(args.target, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
