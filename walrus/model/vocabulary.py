"""The model's view of the field vocabulary: the release's 67 slots and the jitterer's flag ids.

The list itself lives in :mod:`walrus.vocabulary` (torch-free, so fields, plugins and I/O can use
it); it is re-exported here for the model code and for existing imports.
"""

from __future__ import annotations

from walrus.vocabulary import RELEASE_FIELD_NAMES, field_index

__all__ = ["RELEASE_FIELD_NAMES", "FLAG_FIELD_IDS", "field_index"]

# The ids the jitterer's three flag channels use, in the order the channels are appended.
FLAG_FIELD_IDS: tuple[int, int, int] = (2, 0, 1)  # bias_correction, closed_boundary, open_boundary
