"""The import layers of DESIGN.md hold: import-linter's contracts (pyproject.toml) pass, and the
light entry points really load without torch.

Run in subprocesses: this test process has long since imported torch, and lint-imports reads the
source tree from the repository root.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports" + (".exe" if os.name == "nt" else ""))
    assert exe.exists(), f"lint-imports not found next to {sys.executable}: pip install import-linter (dev extra)"
    return str(exe)


def test_import_linter_contracts_are_kept():
    run = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert "0 broken" in report and "KEPT" in report, report


@pytest.mark.parametrize("statement", [
    "import walrus.io",
    "import walrus",
    "import walrus.io.well_backend",  # xarray loads it whenever it probes its backends
    "import walrus.cli",
    "import walrus.fields, walrus.plugins, walrus.boundaries, walrus.vocabulary",
    "import walrus; assert 'walrus.fields' not in sys.modules; walrus.fields.FieldSet",  # submodule on first use
    "import walrus, xarray as xr; assert hasattr(xr.Dataset, 'walrus'), 'ds.walrus accessor not registered'",
    "from walrus.io import write_well_file, read_well_file, open_dataset, check_well_file, write_dataset_stats",
])
def test_light_imports_do_not_load_torch(statement):
    code = f"import sys; {statement}; assert 'torch' not in sys.modules, 'torch was imported'"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr


def test_lazy_top_level_still_exposes_the_api():
    code = ("import sys, walrus\n"
            "names = ['State', 'Surrogate', 'Walrus', 'WalrusConfig', 'get_model', 'get_preset', 'list_models',\n"
            "         'load_checkpoint', 'load_official', 'save_checkpoint', 'hookimpl', '__version__']\n"
            "assert set(names) <= set(dir(walrus)), sorted(set(names) - set(dir(walrus)))\n"
            "assert 'torch' not in sys.modules\n"
            "from walrus.state import State\n"
            "from walrus.model import get_model\n"
            "assert walrus.State is State and walrus.get_model is get_model\n"
            "assert callable(walrus.hookimpl) and 'walrus-tiny' in walrus.list_models()\n"
            "try:\n"
            "    walrus.no_such_thing\n"
            "except AttributeError as exc:\n"
            "    assert 'no_such_thing' in str(exc)\n"
            "else:\n"
            "    raise SystemExit('walrus.no_such_thing did not raise AttributeError')\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr


def test_opening_a_netcdf_file_probes_no_other_xarray_backend(tmp_path):
    """walrus.io names its engine: xarray does not import every installed backend (Dedalus's prints warnings)."""
    code = (
        "import sys, numpy as np, xarray as xr, walrus.io\n"
        f"p = walrus.io.to_netcdf(xr.Dataset({{'p': (('x',), np.arange(3.0), {{'units': 'Pa'}})}}), r'{tmp_path / 'a.nc'}')\n"
        "assert walrus.io.open_dataset(p)['p'].attrs['units'] == 'Pa'\n"
        "assert 'dedalus' not in sys.modules, 'a backend was probed'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
