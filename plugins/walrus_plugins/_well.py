"""The Well's real datasets: declared by each domain, registered only where a user has the files.

Set ``WALRUS_WELL_PATH`` to the directory that holds The Well's dataset folders (its
``datasets/`` directory: ``<path>/<name>/data/{train,valid,test}``); several directories may be
given, separated by ``os.pathsep``. A dataset registers when its folder exists in one of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

from walrus.hooks import DatasetSpec

ENV_VAR = "WALRUS_WELL_PATH"


def locate(name: str) -> Optional[Path]:
    """The first ``<dir>/<name>`` with a ``data`` folder among the directories in WALRUS_WELL_PATH."""
    for base in filter(None, os.environ.get(ENV_VAR, "").split(os.pathsep)):
        candidate = Path(base).expanduser() / name
        if (candidate / "data").is_dir():
            return candidate
    return None


def well_datasets(domain: str, table: Mapping[str, dict]) -> list[DatasetSpec]:
    """DatasetSpecs for the datasets of ``table`` found on disk (name -> DatasetSpec keywords)."""
    found = []
    for name, kw in table.items():
        path = locate(name)
        if path is not None:
            found.append(DatasetSpec(name=name, domain=domain, path=path, solver="The Well", **kw))
    return found
