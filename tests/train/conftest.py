import pytest

from wave_datasets import travelling_wave_dataset


@pytest.fixture(scope="session")
def wave_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return {
        "waves2d": travelling_wave_dataset(root / "waves2d", n_dims=2, size=16, n_steps=10, name="waves2d"),
        "waves3d": travelling_wave_dataset(root / "waves3d", n_dims=3, size=8, n_steps=8, name="waves3d", seed=1),
    }
