"""The release's learning-rate schedule: linear warmup, inverse square root decay, square-root cooldown."""

from __future__ import annotations

import math


def warmup_invsqrt_cooldown(epoch: int, max_epochs: int, warmup: int = 10, cooldown: int = 10,
                            offset: float = 128.0) -> float:
    """Multiplier of the base learning rate at `epoch` (stepped once per epoch, from 0)."""

    def decay(e: int) -> float:
        if warmup and e <= warmup:
            return 0.1 + 0.9 * e / max(warmup, 1)
        return 1.0 / (1.0 + math.sqrt(e - warmup + offset) - math.sqrt(offset))

    cooldown_start = max_epochs - cooldown
    if cooldown > 0 and epoch > cooldown_start:
        ramp = min(epoch - cooldown_start, cooldown)
        return decay(cooldown_start) * (1.0 - math.sqrt(ramp / cooldown))
    return decay(epoch)
