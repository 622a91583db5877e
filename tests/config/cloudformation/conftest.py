"""Fixtures for the template converter: a converted project written to disk, and loaded by the real loader."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lychgate.config.cloudformation import ConvertedProject
from lychgate.config.project import load_project


def write_converted(converted: ConvertedProject, folder: Path, source: Path) -> Path:
    """A lychgate project folder: the template's folder (its code) + lychgate.yaml + the documents."""
    shutil.copytree(source, folder, dirs_exist_ok=True)
    converted.write(folder)
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
