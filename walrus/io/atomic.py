"""Atomic file writes for the I/O modules (the helper lives in `walrus.atomic`, shared with checkpoints)."""

from walrus.atomic import atomic_path

__all__ = ["atomic_path"]
