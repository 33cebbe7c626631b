import runpy
from pathlib import Path

import torch

EXAMPLE = Path(__file__).parents[2] / "examples" / "one_step_prediction.py"


def test_example_runs_and_returns_a_frame(capsys):
    module = runpy.run_path(str(EXAMPLE))
    frame = module["main"](size=32)
    assert frame.shape == (1, 4, 32, 32) and torch.isfinite(frame).all()
    assert "jitter spread" in capsys.readouterr().out
