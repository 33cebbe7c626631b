"""Regenerate the golden fixtures of tests/model/test_golden.py.

Run this ONLY when a numerical change of the network is intended (a fixed bug, a new op order
that is accepted as the new reference), never to make a failing golden test pass after speed
work, and say so in the commit message:

    OMP_NUM_THREADS=1 python tests/model/golden/make_golden.py

It rebuilds every case with the test module's own builders (the same weights, inputs, draws and
chosen parameters), in float64, and writes one compressed .npz per model next to this file
(values stored as float32).
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import test_golden as golden  # noqa: E402  (the test module defines the cases)

from walrus.atomic import atomic_path  # noqa: E402


def main() -> None:
    for model_key, (preset, overrides) in golden.MODELS.items():
        arrays: dict[str, np.ndarray] = {}
        for case in golden.CASES:
            results = golden.run_case(model_key, case, torch.float64)
            arrays.update({name: v.astype(np.float32) for name, v in results.items()})
        meta = dict(model=preset, overrides=overrides, cases=[c.name for c in golden.CASES],
                    max_stored=golden.MAX_STORED, computed_in="float64", stored_as="float32", torch=torch.__version__, numpy=np.__version__,
                    machine=platform.machine(), threads=torch.get_num_threads())
        arrays["_meta"] = np.array(json.dumps(meta, sort_keys=True))
        path = golden.fixture_path(model_key)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        print(f"{path}: {path.stat().st_size / 1024:.1f} KiB, {len(arrays) - 1} arrays")


if __name__ == "__main__":
    main()
