"""Fixtures for the I/O tests: small Well files written by walrus."""

import numpy as np
import pytest

from walrus.io.examples import write_example_well_file


@pytest.fixture(params=[2, 3], ids=["2d", "3d"])
def well_file(request, tmp_path):
    n = request.param
    return write_example_well_file(tmp_path / f"tiny_{n}d.hdf5", n_dims=n, size=16 if n == 2 else 8, n_traj=2,
                                   n_steps=12)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
