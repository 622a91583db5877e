"""Fixtures for the template converter: the fixture templates, and a converted project on disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from lychgate.config.cloudformation import ConvertedProject
from lychgate.config.project import load_project

def write_converted(converted: ConvertedProject, folder: Path, source: Path) -> Path:
    """A lychgate project folder: the template's folder (its code) + lychgate.yaml + the documents."""
    shutil.copytree(source, folder, dirs_exist_ok=True)
    (folder / "lychgate.yaml").write_text(yaml.safe_dump(converted.config, sort_keys=False))
    for name, document in converted.documents.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=1))
    return folder


@pytest.fixture
def materialize(tmp_path):
    """``materialize(converted, template_folder)`` -> the project folder, written under tmp_path."""
    def make(converted: ConvertedProject, source: Path, name: str = "project") -> Path:
        assert not converted.errors, "\n".join(map(str, converted.errors))
        return write_converted(converted, tmp_path / name, source)
    return make


@pytest.fixture
def load_converted(materialize):
    """``load_converted(converted, template_folder)`` -> the model.Project the existing loader makes of it."""
    def load(converted: ConvertedProject, source: Path):
        return load_project(materialize(converted, source))
    return load
