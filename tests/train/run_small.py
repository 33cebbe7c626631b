"""Subprocess helper for the kill-and-resume test: train `steps` steps into OUT (resuming if possible)."""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from train_helpers import small_config  # noqa: E402
from walrus.train import Trainer  # noqa: E402

corpus, out, steps = json.loads(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
slow = len(sys.argv) > 4
cfg = small_config({k: Path(v) for k, v in corpus.items()}, out, epochs=3, steps_per_epoch=4, checkpoint_every=2,
                   max_steps=steps, augment=True, max_dt_stride=2)
trainer = Trainer(cfg)
if slow:  # give the test time to kill us between steps
    original = trainer.loss
    trainer.loss = lambda batch, seed: (time.sleep(0.3), original(batch, seed))[1]
trainer.fit()
