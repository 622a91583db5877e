"""The bounded CI fuzz run (issue #8): every ``fuzz/`` target on its seed corpus, then on a fixed
number of hypothesis-generated inputs (structured generation and mutations of the seeds).

Generation is derandomized, so every CI run checks the same inputs and a failure here is a real
regression, reproducible with ``python -m fuzz TARGET --replay FILE``; the random, coverage-guided
and long runs are ``python -m fuzz`` (see fuzz/README.md).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from fuzz import TARGETS, corpus, target
from fuzz.__main__ import main

# Per target, sized so that the whole file stays well under a minute on a 2-core machine.
EXAMPLES = {"sigv4": 400, "iam": 300, "config": 100, "tokens": 300, "routing": 200}


@pytest.mark.parametrize("name", TARGETS)
def test_seed_corpus(name: str) -> None:
    seeds = corpus(name)
    assert len(seeds) >= 4, f"fuzz/corpus/{name} is missing: run python -m fuzz seed"
    fuzz_one = target(name).fuzz_one
    for data in seeds:
        fuzz_one(data)


@pytest.mark.parametrize("name", TARGETS)
def test_generated_inputs(name: str) -> None:
    module = target(name)
    bounded = settings(max_examples=EXAMPLES[name], derandomize=True, database=None, deadline=None,
                       phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    bounded(given(module.inputs())(module.fuzz_one))()


def test_runner_fuzzes_and_replays(tmp_path, capsys) -> None:
    assert main(["routing", "--engine", "hypothesis", "--seconds", "1"]) == 0
    assert "no crash" in capsys.readouterr().out
    seed = tmp_path / "request"
    seed.write_bytes(corpus("sigv4")[0])
    assert main(["sigv4", "--replay", str(seed)]) == 0
    assert main(["sigv4", "--replay", str(tmp_path / "missing")]) == 1  # an unreadable input is reported
