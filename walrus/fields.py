"""Fields and the field vocabulary.

A *field* is a named physical quantity with a tensor rank (0 scalar, 1 vector, 2 rank-2 tensor)
and canonical units. The network sees *components*, one channel each, named the way The Well
names them (``velocity_x``, ``C_xy``: the field name, ``_``, then the axis names, row-major), and
identifies each channel by its *vocabulary id*: the column of the encoder/decoder weight it uses.
The release's 67 slots are built in (ids = positions in
:data:`walrus.model.vocabulary.RELEASE_FIELD_NAMES`); a new field's components get the next free ids.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, Sequence

from walrus.errors import FieldError
from walrus.vocabulary import RELEASE_FIELD_NAMES
from walrus.units import format_units, parse_units

__all__ = ["Field", "FieldSet", "component_names", "component_suffixes", "default_fieldset", "CARTESIAN_AXES",
           "lifted_axes"]

CARTESIAN_AXES = ("x", "y", "z")
# Axis families used to name the components of a lifted (padded) axis. The first family that
# contains every axis of the data names the missing axes, in family order.
_AXIS_FAMILIES = (("x", "y", "z"), ("r", "theta", "phi"), ("log_r", "theta", "phi"))


def component_suffixes(rank: int, axes: Sequence[str]) -> list[str]:
    """Suffixes of a rank-``rank`` field's components, row-major (The Well's itertools.product order)."""
    if rank not in (0, 1, 2):
        raise FieldError("unsupported tensor rank", expected="0, 1 or 2", received=rank)
    return ["".join(p) for p in itertools.product(axes, repeat=rank)]


def component_names(name: str, rank: int, axes: Sequence[str]) -> list[str]:
    """Channel names of a field: ``density``; ``velocity_x, velocity_y``; ``C_xx, C_xy, ...``."""
    return [f"{name}_{s}" if s else name for s in component_suffixes(rank, axes)]


def lifted_axes(axes: Sequence[str], n: int = 3) -> tuple[str, ...]:
    """The data's axes followed by the axes added when lifting to ``n`` dimensions.

    The added axes are the missing members of the data's axis family ((x, y, z), (r, theta, phi),
    (log_r, theta, phi)); e.g. ('x', 'y') -> ('x', 'y', 'z'), ('theta', 'phi') -> ('theta', 'phi', 'r').
    """
    axes = tuple(axes)
    if len(axes) >= n:
        return axes
    for family in _AXIS_FAMILIES:
        if set(axes) <= set(family):
            return axes + tuple(a for a in family if a not in axes)[: n - len(axes)]
    raise FieldError("cannot name the padded axes", field=",".join(axes),
                     expected=f"axes from one of {_AXIS_FAMILIES}", received=axes)


@dataclass(frozen=True)
class Field:
    """A physical field: name, tensor rank, canonical units (a CF string; '1' = dimensionless)."""

    name: str
    rank: int = 0
    units: str = "1"
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or not self.name.replace("_", "a").isalnum():
            raise FieldError("invalid field name", field=repr(self.name),
                             expected="a non-empty identifier (letters, digits, '_')", received=repr(self.name))
        if self.rank not in (0, 1, 2):
            raise FieldError("invalid tensor rank", field=self.name, expected="0, 1 or 2", received=self.rank)
        object.__setattr__(self, "units", format_units(parse_units(self.units, field=self.name)))

    @property
    def pint_units(self):
        return parse_units(self.units)

    def components(self, axes: Sequence[str] = CARTESIAN_AXES) -> list[str]:
        return component_names(self.name, self.rank, axes)


# Ranks and canonical units of the fields behind the release vocabulary. The model normalises every
# channel by its own RMS, so only the *dimension* of these units matters to it; they are the units
# a State is converted to. Data without units attributes (e.g. The Well's own files) are taken as
# already being in these units.
_RELEASE_FIELDS: tuple[Field, ...] = (
    Field("pressure", 0, "Pa"),
    Field("velocity", 1, "m s-1"),
    Field("zeros_like_density", 0, "kg m-3"),
    Field("speed_of_sound", 0, "m s-1"),
    Field("concentration", 0, "1"),
    Field("D", 2, "1"),
    Field("E", 2, "1"),
    Field("density", 0, "kg m-3"),
    Field("energy", 0, "J m-3"),
    Field("momentum", 1, "kg m-2 s-1"),
    Field("pressure_re", 0, "Pa"),
    Field("pressure_im", 0, "Pa"),
    Field("mask", 0, "1"),
    Field("magnetic_field", 1, "T"),
    Field("A", 0, "1"),
    Field("B", 0, "1"),
    Field("height", 0, "m"),
    Field("internal_energy", 0, "J kg-1"),
    Field("temperature", 0, "K"),
    Field("electron_fraction", 0, "1"),
    Field("entropy", 0, "1"),
    Field("buoyancy", 0, "m s-2"),
    Field("tracer", 0, "1"),
    Field("log10_density", 0, "1"),
    Field("log10_temperature", 0, "1"),
    Field("c_zz", 0, "1"),
    Field("C", 2, "1"),
)


class FieldSet:
    """Known fields plus the component vocabulary (component name -> id).

    Starts with the release's 67 slots. :meth:`register` adds a field; its components that are
    not yet in the vocabulary get the next free ids, in order. Registering the same definition
    twice is a no-op; a different rank or units of another dimension is refused.
    """

    def __init__(self, fields: Iterable[Field] = (), vocabulary: Sequence[str] = RELEASE_FIELD_NAMES):
        self._vocab: dict[str, int] = {}
        for name in vocabulary:
            if name in self._vocab:
                raise FieldError("duplicate vocabulary entry", field=name, expected="unique names",
                                 received=f"{name!r} twice")
            self._vocab[name] = len(self._vocab)
        self._fields: dict[str, Field] = {}
        self._aliases: dict[str, str] = {}  # component -> the vocabulary component whose slot it uses
        for f in fields:
            self.register(f)

    # ------------------------------------------------------------------ vocabulary
    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Component names in id order: ``vocabulary[i]`` has id ``i``."""
        return tuple(self._vocab)

    def __len__(self) -> int:
        return len(self._vocab)

    def id(self, component: str) -> int:
        try:
            return self._vocab[self._aliases.get(component, component)]
        except KeyError:
            raise FieldError("not in the field vocabulary", field=component,
                             expected=f"one of {len(self._vocab)} known components",
                             received=repr(component), hint="register the field with FieldSet.register") from None

    def slot_name(self, component: str) -> str:
        """The vocabulary component whose slot ``component`` uses (itself, or what it aliases)."""
        return self._aliases.get(component, component)

    def ids(self, field: str | Field, axes: Sequence[str] = CARTESIAN_AXES) -> list[int]:
        f = self[field] if isinstance(field, str) else field
        return [self.id(c) for c in f.components(axes)]

    # ------------------------------------------------------------------ fields
    def __contains__(self, name: str) -> bool:
        return name in self._fields

    def __getitem__(self, name: str) -> Field:
        try:
            return self._fields[name]
        except KeyError:
            raise FieldError("unknown field", field=name, expected=f"one of {sorted(self._fields)}",
                             received=repr(name), hint="register it with FieldSet.register(Field(...))") from None

    def get(self, name: str, default=None):
        return self._fields.get(name, default)

    @property
    def fields(self) -> dict[str, Field]:
        return dict(self._fields)

    def register(self, field: Field, axes: Sequence[str] = CARTESIAN_AXES, *, alias: str | None = None) -> Field:
        """Add ``field``; its new components (named with ``axes``) take the next free ids.

        With ``alias`` (a field name already in the vocabulary, e.g. ``"velocity"``) the new field's
        components share that field's slots instead, so pretrained weights apply to it.
        """
        if not isinstance(field, Field):
            raise FieldError("register() takes a Field", expected="walrus.fields.Field", received=type(field).__name__)
        old = self._fields.get(field.name)
        if old is not None:
            if old.rank != field.rank:
                raise FieldError("conflicting redefinition of the tensor rank", field=field.name,
                                 expected=f"rank {old.rank} (already registered)", received=f"rank {field.rank}")
            if old.pint_units.dimensionality != field.pint_units.dimensionality:
                raise FieldError("conflicting redefinition of the units", field=field.name,
                                 expected=f"units like '{old.units}' (already registered)",
                                 received=f"'{field.units}'")
            if old.units != field.units:
                raise FieldError("conflicting redefinition of the canonical units", field=field.name,
                                 expected=f"'{old.units}' (already registered)", received=f"'{field.units}'")
        else:
            clash = [n for n, f in self._fields.items() if field.name in f.components(axes) and f.rank > 0]
            if clash:
                raise FieldError("name is already a component of another field", field=field.name,
                                 expected="a new name", received=f"a component of {clash[0]!r}")
            self._fields[field.name] = field
        comps = field.components(axes)
        if alias is not None:
            targets = component_names(alias, field.rank, axes)
            missing = [t for t in targets if t not in self._vocab]
            if missing:
                raise FieldError("alias is not in the vocabulary", field=field.name,
                                 expected=f"components {targets} to exist", received=f"{missing} missing")
            for comp, target in zip(comps, targets):
                known = self._aliases.get(comp, comp if comp in self._vocab else None)
                if known is not None and known != target:
                    raise FieldError("conflicting vocabulary slot", field=comp, expected=f"slot of {known!r}",
                                     received=f"slot of {target!r}")
                if comp not in self._vocab:
                    self._aliases[comp] = target
            return self._fields[field.name]
        for comp in comps:
            if comp in self._aliases:
                raise FieldError("conflicting vocabulary slot", field=comp,
                                 expected=f"slot of {self._aliases[comp]!r} (registered as an alias)",
                                 received="a new slot")
            if comp not in self._vocab:
                self._vocab[comp] = len(self._vocab)
        return self._fields[field.name]

    def copy(self) -> "FieldSet":
        new = FieldSet(vocabulary=self.vocabulary)
        new._fields = dict(self._fields)
        new._aliases = dict(self._aliases)
        return new

    def __repr__(self) -> str:
        return f"FieldSet({len(self._fields)} fields, {len(self._vocab)} vocabulary slots)"


def default_fieldset() -> FieldSet:
    """A fresh FieldSet holding the release's 67-slot vocabulary and its fields."""
    fs = FieldSet()
    for f in _RELEASE_FIELDS:
        fs.register(f)
    assert len(fs) == len(RELEASE_FIELD_NAMES), "release fields must not add vocabulary slots"
    return fs

