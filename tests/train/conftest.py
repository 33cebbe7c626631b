import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from datasets import travelling_wave_dataset  # noqa: E402


@pytest.fixture(scope="session")
def wave_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return {
        "waves2d": travelling_wave_dataset(root / "waves2d", n_dims=2, size=16, n_steps=10, name="waves2d"),
        "waves3d": travelling_wave_dataset(root / "waves3d", n_dims=3, size=8, n_steps=8, name="waves3d", seed=1),
    }


def small_config(corpus: dict, out_dir: Path, **overrides):
    from walrus.train import TrainConfig

    options = dict(datasets=[{"name": k, "path": str(v)} for k, v in corpus.items()], out_dir=str(out_dir),
                   history_2d=3, history_3d=2, epochs=2, steps_per_epoch=4, warmup_epochs=0, cooldown_epochs=0,
                   validate_every=0, progress=False, lr=1e-3)
    options.update(overrides)
    return TrainConfig(**options)
