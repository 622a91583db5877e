"""Fuzz targets for lychgate's hostile-input surfaces (issue #8); see ``fuzz/README.md``.

Each target module drives real lychgate code from one byte string and asserts its contract:

* ``fuzz_one(data: bytes)`` runs one input; only the documented error types are handled, so any
  other exception (KeyError, TypeError, RecursionError...) or a failed invariant escapes as a crash;
* ``inputs()`` is a hypothesis strategy of such byte strings (structured generation plus
  mutations of the seed corpus);
* ``seeds()`` yields ``(name, bytes)`` built from real inputs, written to ``fuzz/corpus/<target>/``
  by ``python -m fuzz seed``.

Run ``python -m fuzz TARGET --seconds N`` (atheris when installed, else hypothesis).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

TARGETS = ("sigv4", "iam", "config", "tokens", "routing")
FUZZ_DIR = Path(__file__).resolve().parent
ROOT = FUZZ_DIR.parent
CORPUS_DIR = FUZZ_DIR / "corpus"
WORK_DIR = FUZZ_DIR / ".work"  # libFuzzer's growing corpus and crash artifacts (not committed)


def target(name: str) -> ModuleType:
    """The target module ``fuzz.<name>``."""
    if name not in TARGETS:
        raise ValueError(f"unknown fuzz target {name!r}; expected one of {', '.join(TARGETS)}")
    return importlib.import_module(f"fuzz.{name}")


def corpus(name: str) -> list[bytes]:
    """The committed seed inputs of a target, in a stable order."""
    folder = CORPUS_DIR / name
    return [path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()] if folder.is_dir() else []
