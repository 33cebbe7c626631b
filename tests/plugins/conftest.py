"""Fixtures: each built-in generator runs once per session, small; a fake Well data directory."""

from __future__ import annotations

import pytest

from generated_runs import Runs
from walrus.plugins import rebuild_registry


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("generated"))


@pytest.fixture
def well_dir(tmp_path, monkeypatch):
    """A WALRUS_WELL_PATH holding a (file-less) `shear_flow` dataset folder; the registry sees it."""
    (tmp_path / "shear_flow" / "data" / "train").mkdir(parents=True)
    monkeypatch.setenv("WALRUS_WELL_PATH", str(tmp_path))
    rebuild_registry()
    yield tmp_path
    monkeypatch.delenv("WALRUS_WELL_PATH")
    rebuild_registry()
