"""Helpers for building test projects (importable from any test module: pytest's pythonpath has tests/)."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_project(folder: Path, document: dict, *, config: dict | None = None, files: dict[str, str] | None = None,
                  doc_name: str = "openapi.yaml") -> Path:
    """A project folder: lychgate.yaml (``config``, with the API defaulted), the document, extra files."""
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(config or {})
    config.setdefault("apis", [{"id": "testapi", "openapi": doc_name, "stages": {"prod": {}}}])
    (folder / "lychgate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / doc_name).write_text(yaml.safe_dump(document, sort_keys=False))
    for name, text in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def openapi(paths: dict, **root) -> dict:
    """A minimal OpenAPI 3 document with these paths and root keys."""
    return {"openapi": "3.0.1", "info": {"title": "test", "version": "1"}, "paths": paths, **root}


def lambda_uri(name: str) -> str:
    return ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:us-east-1:123456789012:function:{name}/invocations")


def proxy_op(name: str = "fn", **extra) -> dict:
    return {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                 "uri": lambda_uri(name), **extra}}
