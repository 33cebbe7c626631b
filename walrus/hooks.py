"""Hook specifications for walrus plugins, and the declarations the hooks return.

A domain plugin is any module or object with functions marked ``@hookimpl`` (re-exported as
``walrus.hookimpl``). Each hook returns plain, frozen declarations: walrus only reads them, so
a plugin never needs to import the model, the trainer or a solver.

Hooks
-----
``walrus_fields()``          -> list[FieldSpec]       names, tensor rank, units, vocabulary, transforms
``walrus_symmetry_rules()``  -> dict[str, SymmetryRule]  overrides of the rank-derived rotation law
``walrus_boundaries()``      -> list[BoundarySpec]    boundary kinds a domain uses, and their masks
``walrus_datasets()``        -> list[DatasetSpec]     generated or on-disk datasets
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional

import numpy as np
import pluggy

PROJECT_NAME = "walrus"
ENTRY_POINT_GROUP = "walrus"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

AXES = ("x", "y", "z")
BOUNDARY_KINDS = ("WALL", "OPEN", "PERIODIC")  # codes 0, 1, 2 in walrus.model.patching


# --------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------

# Point-wise transforms a field may be derived by; each is (forward, inverse).
TRANSFORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "identity": (lambda a: a, lambda a: a),
    "log10": (np.log10, lambda a: np.power(10.0, a)),
}


@dataclass(frozen=True)
class FieldSpec:
    """A physical field: what it is called, how it transforms, and where it sits in the vocabulary.

    ``vocabulary`` is the release's base name (``"velocity"`` gives ``velocity_x``, ``velocity_y``, ...;
    a scalar gives itself) so that the official checkpoint's weights apply; ``None`` means a new slot.
    A derived field (``source`` set) is computed from another field by ``transform``, e.g.
    ``log10_density`` from ``density`` by ``log10``; datasets opt into it in ``DatasetSpec.transforms``.
    """

    name: str
    rank: int = 0
    units: str = "1"
    vocabulary: Optional[str] = None
    description: str = field(default="", compare=False)
    source: Optional[str] = None
    transform: str = "identity"

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"field name {self.name!r} must be an identifier")
        if self.rank not in (0, 1, 2):
            raise ValueError(f"field {self.name!r}: rank must be 0, 1 or 2, received {self.rank!r}")
        if self.transform not in TRANSFORMS:
            raise ValueError(f"field {self.name!r}: transform must be one of {sorted(TRANSFORMS)}, "
                             f"received {self.transform!r}")
        if self.transform != "identity" and self.source is None:
            raise ValueError(f"field {self.name!r}: transform {self.transform!r} needs a source field")

    def component_suffixes(self, ndim: int) -> list[str]:
        """Row-major component suffixes, as The Well names channels: '', 'x', 'xy', ..."""
        return ["".join(p) for p in itertools.product(AXES[:ndim], repeat=self.rank)]

    def component_names(self, ndim: int) -> list[str]:
        """Channel names of this field in an ``ndim``-D dataset (``velocity_x``, ...)."""
        return [self.name if not s else f"{self.name}_{s}" for s in self.component_suffixes(ndim)]

    def vocabulary_names(self, ndim: int) -> Optional[list[str]]:
        """The release's vocabulary names of each component, or None for a field outside it."""
        if self.vocabulary is None:
            return None
        return [self.vocabulary if not s else f"{self.vocabulary}_{s}" for s in self.component_suffixes(ndim)]

    def forward(self, source_values: np.ndarray) -> np.ndarray:
        """Derive this field from its source's values."""
        return TRANSFORMS[self.transform][0](source_values)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Recover the source field's values from this field's."""
        return TRANSFORMS[self.transform][1](values)


# --------------------------------------------------------------------------------------------
# Rotation / reflection rules
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SymmetryRule:
    """How a field's components change when the axes are mapped by an orthogonal matrix R.

    The default follows the tensor rank: components of a rank-k field get one factor of R per
    index. ``pseudo`` multiplies by det(R) as well (a magnetic field, a 2-D vorticity), so it
    matters only under reflections. ``apply`` replaces the law entirely: it receives the
    components (``(..., D, ...)``, the last ``rank`` axes) and R, and returns the new components.
    """

    rank: int
    pseudo: bool = False
    apply: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None


# --------------------------------------------------------------------------------------------
# Boundaries
# --------------------------------------------------------------------------------------------

def edge_mask(n_points: int) -> np.ndarray:
    """The Well's mask for a whole-axis boundary: True on the first and last grid point."""
    mask = np.zeros(n_points, dtype=bool)
    mask[0] = mask[-1] = True
    return mask


@dataclass(frozen=True)
class BoundarySpec:
    """A boundary treatment a domain uses, and which of the model's three kinds it counts as.

    ``solver_names`` records what each numerical code calls it (e.g. ``{"clawpack": "wall"}``) so
    generators and adapters translate in one place; ``mask`` builds the Well mask of one axis.
    """

    name: str
    kind: str
    description: str = ""
    solver_names: Mapping[str, str] = field(default_factory=dict)
    mask: Callable[[int], np.ndarray] = edge_mask

    def __post_init__(self) -> None:
        if self.kind not in BOUNDARY_KINDS:
            raise ValueError(f"boundary {self.name!r}: kind must be one of {BOUNDARY_KINDS}, "
                             f"received {self.kind!r}")


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------

@dataclass
class GeneratedData:
    """What a generator returns: arrays in The Well's layout, before splitting and writing.

    ``fields`` are (n_traj, n_steps, *spatial[, D[, D]]); ``constant_fields`` (n_traj, *spatial[, D..]);
    ``scalars`` are constant per dataset (0-d). Boundary conditions come from the DatasetSpec.

    ``units`` states the units the solver's numbers are really in, for any field, constant field,
    axis, ``"time"``, scalar or trajectory parameter: ``"1"`` for nondimensional quantities, or a
    dimensional unit (``"m"``, ``"Pa"``, ...) compatible with the field's canonical units. A
    dimensional unit on a solver's code units is true only under a stated scaling, so any
    dimensional unit needs ``unit_scaling``: what one code unit of each base quantity is (e.g.
    "lengths in units of the box width L0 = 1 m, ..."). Both are written into the files (``units``
    attributes, and the root attribute ``unit_scaling``); a name left out gets no units attribute.
    """

    dimensions: dict[str, np.ndarray]
    time: np.ndarray
    fields: dict[str, np.ndarray]
    constant_fields: dict[str, np.ndarray] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)
    trajectory_parameters: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    unit_scaling: str = ""


# generator(n_traj=, res=, steps=, seed=, progress=) -> GeneratedData; ``progress(k)`` advances the bar
Generator = Callable[..., GeneratedData]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a plugin provides: either a ``generator`` (a real solver) or a ``path`` on disk.

    ``axes`` defaults to x, y[, z]. ``boundary_conditions`` maps each axis to a boundary name from
    ``walrus_boundaries`` or directly to WALL/OPEN/PERIODIC. ``transforms`` maps a stored field to the derived field the
    model sees (``{"density": "log10_density"}``). ``defaults`` holds n_traj, res and steps.
    """

    name: str
    domain: str
    fields: tuple[str, ...]
    boundary_conditions: Mapping[str, str]
    ndim: int = 2
    constant_fields: tuple[str, ...] = ()
    axes: Optional[tuple[str, ...]] = None
    grid_type: str = "cartesian"
    generator: Optional[Generator] = None
    path: Optional[Path] = None
    solver: str = ""
    description: str = field(default="", compare=False)
    transforms: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, int] = field(default_factory=lambda: {"n_traj": 6, "res": 64, "steps": 30})

    def __post_init__(self) -> None:
        if (self.generator is None) == (self.path is None):
            raise ValueError(f"dataset {self.name!r} needs exactly one of generator= or path=")
        if self.axes is None:
            object.__setattr__(self, "axes", AXES[:self.ndim])
        if len(self.axes) != self.ndim:
            raise ValueError(f"dataset {self.name!r}: axes {self.axes} do not match ndim={self.ndim}")
        if set(self.boundary_conditions) != set(self.axes):
            raise ValueError(f"dataset {self.name!r}: boundary_conditions must name each axis once; "
                             f"expected {list(self.axes)}, received {list(self.boundary_conditions)}")

    @property
    def source(self) -> str:
        return "generated" if self.generator is not None else "disk"


# --------------------------------------------------------------------------------------------
# Specifications
# --------------------------------------------------------------------------------------------

class WalrusHookSpecs:
    """The hooks a walrus plugin may implement. None is required."""

    @hookspec
    def walrus_fields(self) -> list[FieldSpec]:
        """Declare the fields of a domain (name, rank, units, vocabulary name, transform)."""

    @hookspec
    def walrus_symmetry_rules(self) -> dict[str, SymmetryRule]:
        """Override the rank-derived rotation/reflection law of some fields (e.g. pseudo-vectors)."""

    @hookspec
    def walrus_boundaries(self) -> list[BoundarySpec]:
        """Declare the boundary treatments a domain uses and which model kind each maps to."""

    @hookspec
    def walrus_datasets(self) -> list[DatasetSpec]:
        """Declare datasets: generated by a solver, or Well-format files found on disk."""


def default_rule(spec: FieldSpec) -> SymmetryRule:
    """The law implied by tensor rank alone."""
    return SymmetryRule(rank=spec.rank)

