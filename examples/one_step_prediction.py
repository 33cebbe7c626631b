"""Predict the next frame of a 2-D flow with a Walrus model, then check a few invariants.

    python examples/one_step_prediction.py [--weights walrus.pt]

Without --weights the model has fresh weights (the point is the API, not the accuracy).
"""

import argparse

import torch

import walrus
from walrus.commands.demo import vortex_pair_history
from walrus.model import predict_next


def main(weights: str | None = None, size: int = 64) -> torch.Tensor:
    model = walrus.get_model("walrus-1.3b" if weights else "walrus-tiny", weights=weights).eval()
    vocab = {name: i for i, name in enumerate(model.config.field_names)}
    names = ["pressure", "velocity_x", "velocity_y", "density"]
    fields = torch.tensor([vocab[n] for n in names])
    history = vortex_pair_history(size, model.config.history_2d).unsqueeze(1)  # (T, B=1, C, H, W)
    bcs = [[walrus.model.PERIODIC] * 2] * 2

    # Reproducible: a seeded generator fixes the patch jitter and token rolls.
    step = lambda seed: predict_next(model, history, fields, bcs, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    with torch.no_grad():
        a, b, c = step(0), step(0), step(1)
    assert torch.equal(a, b)
    print(f"prediction {tuple(a.shape)}; jitter spread between two draws: {(a - c).abs().max():.3g}")
    return a


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", default=None)
    main(parser.parse_args().weights)
