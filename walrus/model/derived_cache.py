"""Tensors derived from a parameter or buffer, kept between inference calls.

Some per-call work depends on the weights alone: the encoder's and decoder's kernels collapsed over
a lifted axis, the RoPE rotations of a token grid. At inference every frame recomputes the same
values, which costs about a tenth of a streamed frame on CPU. A `DerivedCache` keeps them.

An entry is used only while its source is the *same tensor object*, over the *same storage*, at the
*same version*: an in-place update (an optimizer step, `load_state_dict`) bumps the version, `.to()`
makes a new object, `module.double()` swaps the parameter's storage (`param.data = ...`, which leaves
the version alone). The entry holds the source and its storage, so no other tensor can reuse that
memory and look like it. While gradients flow through the source nothing is kept: training builds
the graph every call.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

import torch

__all__ = ["DerivedCache"]


class DerivedCache:
    def __init__(self, max_entries: int = 32):
        self.max_entries = max_entries
        self.entries: dict[Hashable, tuple[torch.Tensor, torch.Tensor, int, Any]] = {}

    def get(self, source: torch.Tensor, key: Hashable, compute: Callable[[], Any]) -> Any:
        """`compute()`, or its kept value for `key` if `source` has not changed since."""
        if source.device.type == "meta" or (source.requires_grad and torch.is_grad_enabled()):
            return compute()
        try:
            version = source._version
        except RuntimeError:  # an inference-mode tensor keeps no version: never reuse
            return compute()
        entry = self.entries.get(key)
        if entry is not None:
            kept_source, kept_storage, kept_version, value = entry
            if (kept_source is source and kept_version == version and kept_storage.data_ptr() == source.data_ptr()
                    and kept_storage.dtype == source.dtype and kept_storage.device == source.device
                    and kept_storage.shape == source.shape):
                return value
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        value = compute()
        self.entries[key] = (source, source.detach(), version, value)
        return value

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)
