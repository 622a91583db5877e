"""lychgate.iam is a pure, standard-library-only package (brief: hard constraints)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import lychgate.iam

PACKAGE = Path(lychgate.iam.__file__).parent
ENGINE = ("__init__", "arn", "conditions", "errors", "evaluate", "messages", "policy", "request", "results",
          "variables")


def _modules() -> list[Path]:
    return [PACKAGE / f"{name}.py" for name in ENGINE]
FORBIDDEN = {"asyncio", "socket", "ssl", "http", "urllib.request", "selectors", "threading", "subprocess"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_only_standard_library_and_relative_imports() -> None:
    for path in _modules():
        for level, module in _imports(path):
            if level:
                continue  # relative import inside lychgate.iam
            top = module.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", f"{path.name} imports {module}"
            assert module not in FORBIDDEN and top not in FORBIDDEN, f"{path.name} imports {module}"


def test_every_module_has_a_docstring() -> None:
    for path in _modules():
        assert ast.get_docstring(ast.parse(path.read_text())), path.name


def test_no_function_over_fifty_lines() -> None:
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 50, f"{path.name}:{node.name}"
