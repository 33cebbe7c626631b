"""A hybrid loop drives a Surrogate with a token budget: its surrogate steps run on the budget's grid."""

import numpy as np
import torch

import walrus
from adapter_helpers import DT, UNITS, shallow_water
from walrus.surrogate import Surrogate
from walrus_adapters import SURROGATE, HybridPolicy
from walrus_adapters.pyclaw import PyClawHybrid


def test_pyclaw_hybrid_runs_the_surrogate_at_its_budget():
    torch.manual_seed(0)
    model = walrus.get_model("walrus-tiny").eval()
    seen = []  # tokens per frame the first block sees (from the tensor's size, whatever its axis order)
    hidden = model.config.hidden_dim
    model.blocks[0].register_forward_pre_hook(
        lambda module, args: seen.append(args[0].numel() // (args[0].shape[0] * hidden)))
    solver, solution = shallow_water(16)
    hybrid = PyClawHybrid(solver, solution, Surrogate(model, tokens_per_axis=4), physics="shallow_water", units=UNITS,
                          dt=DT, policy=HybridPolicy(k=2, m=1))
    records = hybrid.run(8)
    assert sum(r.kind == SURROGATE for r in records) == 2
    wall = [[0, 0], [0, 0], [2, 2]]  # the basin's walls, lifted to 3 axes
    budget_tokens = int(np.prod([p.n_tokens for p in model.plan((16, 16, 1), wall, 4)]))
    assert budget_tokens != int(np.prod([p.n_tokens for p in model.plan((16, 16, 1), wall)]))  # not the config's
    assert seen == [budget_tokens] * 2
