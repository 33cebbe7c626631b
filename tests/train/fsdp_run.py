"""Run under torchrun for the FSDP2 kill-and-resume test: train `steps` steps of walrus-tiny into OUT
with FSDP2 on every process (resuming from OUT's newest checkpoint if there is one), then export.

Usage: torchrun --standalone --nproc_per_node 2 fsdp_run.py CORPUS_JSON OUT STEPS [slow]
"""

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
                   max_steps=steps, augment=True, max_dt_stride=2, engine="fsdp")
trainer = Trainer(cfg)
if slow:  # give the test time to kill the run between steps
    original = trainer.loss
    trainer.loss = lambda batch, seed: (time.sleep(0.25), original(batch, seed))[1]
trainer.fit()
exported = trainer.export()  # collective; rank 0 alone writes the file
assert (exported is None) == (trainer.info.rank != 0), (trainer.info.rank, exported)
trainer.close()
