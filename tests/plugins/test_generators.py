"""Every built-in generator: real solver output, Well-format splits, readable by walrus and by The Well."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from walrus.cli import app
from walrus.data.generators.pipeline import generate_dataset, split_trajectories
from walrus.io import check_well_file, read_well_file
from walrus.plugins import get_registry
from walrus.units import format_units

from generated_runs import BUILTIN_GENERATED, SMALL

CODES = {"WALL": 0, "OPEN": 1, "PERIODIC": 2}


def test_every_domain_has_a_generated_dataset():
    domains = {get_registry().dataset(n).domain for n in BUILTIN_GENERATED}
    assert domains == {"acoustics", "astrophysics", "fluids", "geoscience", "plasma", "rheology"}


@pytest.mark.parametrize("name", BUILTIN_GENERATED)
def test_generated_files_pass_walrus_reader(runs, name):
    reg = get_registry()
    spec = reg.dataset(name)
    root = runs.files(name)
    files = {s: sorted((root / "data" / s).glob("*.hdf5")) for s in ("train", "valid", "test")}
    assert all(files.values()) and (root / "stats.yaml").is_file()
    n_per_split = {s: sum(read_well_file(f).sizes["sample"] for f in fs) for s, fs in files.items()}
    assert n_per_split == {"train": 1, "valid": 1, "test": 1}
    ds = read_well_file(files["train"][0])
    check_well_file(files["train"][0])
    assert ds.attrs["dataset_name"] == name
    declared = runs.arrays(name).units  # the generator's own statement (test_generator_units.py)
    for field in (*spec.fields, *spec.constant_fields):
        f = reg.field(field)
        var = ds[field]
        assert var.attrs.get("units") == (format_units(declared[field]) if field in declared else None)
        time_dims = 1 if field in spec.fields else 0
        assert var.ndim == 1 + time_dims + spec.ndim + f.rank
        assert var.sizes["x"] == var.sizes["y"] == SMALL["res"]
    for axis, kind in reg.dataset_boundary_kinds(name).items():
        assert ds.attrs[f"bc_{axis}"] == f"{kind} {kind}"
    stats = yaml.safe_load((root / "stats.yaml").read_text())
    assert set(stats["mean"]) >= set(spec.fields)


@pytest.mark.parametrize("name", BUILTIN_GENERATED)
def test_generated_files_load_in_the_well(runs, name):
    from the_well.data import WellDataset
    from the_well.data.normalization import ZScoreNormalization

    reg = get_registry()
    spec = reg.dataset(name)
    root = runs.files(name)
    n_channels = sum(2 ** reg.field(f).rank for f in spec.fields)
    for split in ("train", "valid", "test"):
        ds = WellDataset(path=str(root), well_split_name=split, n_steps_input=2, n_steps_output=1,
                         use_normalization=True, normalization_type=ZScoreNormalization)
        assert len(ds) == SMALL["steps"] - 2
        sample = ds[0]
        assert tuple(sample["input_fields"].shape) == (2, SMALL["res"], SMALL["res"], n_channels)
        assert np.isfinite(sample["input_fields"].numpy()).all()
        expected_bcs = [[CODES[k]] * 2 for k in reg.dataset_boundary_kinds(name).values()]
        assert sample["boundary_conditions"].tolist() == expected_bcs
        if spec.constant_fields:
            assert sample["constant_fields"].shape[-1] == len(spec.constant_fields)


def test_splits():
    assert {k: v.tolist() for k, v in split_trajectories(3).items()} == {"train": [0], "valid": [1], "test": [2]}
    assert [len(v) for v in split_trajectories(20).values()] == [16, 2, 2]
    with pytest.raises(ValueError, match="at least 3"):
        split_trajectories(2)


@pytest.mark.parametrize("name", ["euler_blast_pyclaw", "shear_flow_dedalus"])
def test_generators_are_deterministic_by_seed(name):
    gen = get_registry().dataset(name).generator
    a, b, c = (gen(n_traj=1, res=16, steps=3, seed=s) for s in (7, 7, 8))
    for field in a.fields:
        np.testing.assert_array_equal(a.fields[field], b.fields[field])
    assert not np.array_equal(a.fields["pressure"][:, -1], c.fields["pressure"][:, -1])


def test_cli_generates_a_builtin_dataset(tmp_path):
    result = CliRunner().invoke(app, ["generate", "shallow_water_pyclaw", "--out", str(tmp_path), "--n-traj", "3",
                                      "--res", "16", "--steps", "4", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "shallow_water_pyclaw" / "stats.yaml").is_file()
    assert len(list((tmp_path / "shallow_water_pyclaw" / "data").rglob("*.hdf5"))) == 3


def test_rerun_replaces_the_files_of_a_previous_run(tmp_path):
    for n_traj in (12, 3):
        generate_dataset("gray_scott_pypde", tmp_path, n_traj=n_traj, res=8, steps=2, progress=False)
    files = sorted((tmp_path / "gray_scott_pypde" / "data").rglob("*.hdf5"))
    assert [f.parent.name for f in files] == ["test", "train", "valid"]


def test_cli_refuses_bad_requests(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["generate", "no_such_dataset", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "unknown dataset 'no_such_dataset'" in r.output
    r = runner.invoke(app, ["generate", "euler_blast_pyclaw", "--out", str(tmp_path), "--n-traj", "2"])
    assert r.exit_code == 2 and "n_traj must be at least 3" in r.output
    r = runner.invoke(app, ["generate", "euler_blast_pyclaw"])
    assert r.exit_code == 2 and "--out" in r.output


def test_generate_dataset_refuses_disk_datasets(tmp_path, well_dir):
    with pytest.raises(ValueError, match="not generated"):
        generate_dataset("shear_flow", tmp_path)
