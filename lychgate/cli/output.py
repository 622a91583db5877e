"""Exit statuses and how the CLI prints problems: one line each, file#pointer first."""

from __future__ import annotations

import enum
import sys
from typing import Iterable

from lychgate.errors import Problem


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1  # an unexpected failure: a bug to report
    CONFIG = 2  # the project has problems (the same status for `check` and `serve`)


def print_problems(problems: Iterable[Problem], stream=None) -> None:
    stream = stream or sys.stderr
    for problem in problems:
        print(f"lychgate: {problem}", file=stream)


def error(message: str, hint: str | None = None) -> None:
    print(f"lychgate: error: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
