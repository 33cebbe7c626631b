"""Shared by the training tests (a plain module: every test directory's conftest is named `conftest`)."""

from pathlib import Path


def small_config(corpus: dict, out_dir: Path, **overrides):
    """A TrainConfig for a few fast steps of walrus-tiny on `corpus` ({name: dataset root})."""
    from walrus.train import TrainConfig

    options = dict(datasets=[{"name": k, "path": str(v)} for k, v in corpus.items()], out_dir=str(out_dir),
                   history_2d=3, history_3d=2, epochs=2, steps_per_epoch=4, warmup_epochs=0, cooldown_epochs=0,
                   validate_every=0, progress=False, lr=1e-3)
    options.update(overrides)
    return TrainConfig(**options)


def assert_same_step(got: dict, ref: dict) -> None:
    """A distributed step's parameters equal the one-process step's (fp32 round-off: the reductions
    add in another order), and the step moved the weights (so equality is not two no-ops)."""
    import torch

    initial = __import__("dist_step").make_model().state_dict()
    assert got.keys() == ref.keys()
    moved = 0
    for key, expected in ref.items():
        torch.testing.assert_close(got[key], expected, rtol=1e-5, atol=1e-6, msg=key)
        moved += int(not torch.equal(expected, initial[key]))
    assert moved > 20  # the step really changed the weights
