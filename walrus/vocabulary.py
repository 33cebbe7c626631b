"""The release's 67-slot field vocabulary (ARCHITECTURE.md §2), without torch.

The encoder's first convolution and the decoder's last one hold one weight column per
vocabulary slot, so a field's *position* in this list is part of the checkpoint. The list
lives here, below the model, so that fields, plugins and I/O can name slots without importing
the network. Ids 0-2 are the boundary/bias flag channels that the patch jitterer appends.
"""

from __future__ import annotations

__all__ = ["RELEASE_FIELD_NAMES", "field_index"]

_AXES = ("x", "y", "z")
_PAIRS = tuple(a + b for a in _AXES for b in _AXES)  # row-major: xx, xy, xz, yx, ...

RELEASE_FIELD_NAMES: tuple[str, ...] = (
    "closed_boundary", "open_boundary", "bias_correction",
    "pressure", "velocity_x", "velocity_y", "velocity_z",
    "zeros_like_density", "speed_of_sound", "concentration",
    *(f"D_{p}" for p in _PAIRS),
    *(f"E_{p}" for p in _PAIRS),
    "density", "energy", "velocity_r", "velocity_theta", "velocity_phi",
    "momentum_x", "momentum_y", "momentum_z", "pressure_re", "pressure_im", "mask",
    "magnetic_field_x", "magnetic_field_y", "magnetic_field_z", "A", "B", "height",
    "internal_energy", "temperature", "electron_fraction", "entropy",
    "magnetic_field_log_r", "magnetic_field_log_theta", "magnetic_field_log_phi",
    "velocity_log_r", "buoyancy", "tracer", "log10_density", "log10_temperature",
    "c_zz",
    *(f"C_{p}" for p in _PAIRS),
)

assert len(RELEASE_FIELD_NAMES) == 67 and len(set(RELEASE_FIELD_NAMES)) == 67
assert RELEASE_FIELD_NAMES[28] == "density" and RELEASE_FIELD_NAMES[58] == "C_xx"


def field_index(names: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Map each vocabulary name to its slot."""
    return {name: i for i, name in enumerate(names)}
