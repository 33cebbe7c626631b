"""The plugin manager and the registries built from every plugin's declarations.

Built-in domains (``walrus_plugins.*``) are registered here first, then third-party plugins from
the ``walrus`` entry-point group, then whatever code passes to :func:`register`. The registry is
rebuilt after each change and checked as a whole: two plugins declaring one field (or boundary,
or dataset) differently are refused with an error that names both.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field as dc_field
from typing import Any, Iterable, Optional

import pluggy

from walrus.errors import FieldError, WalrusError
from walrus.hooks import (BOUNDARY_KINDS, ENTRY_POINT_GROUP, PROJECT_NAME, BoundarySpec, DatasetSpec,
                          FieldSpec, SymmetryRule, WalrusHookSpecs, default_rule)

BUILTIN_PLUGINS: tuple[str, ...] = (
    "walrus_plugins.acoustics",
    "walrus_plugins.astrophysics",
    "walrus_plugins.fluids",
    "walrus_plugins.geoscience",
    "walrus_plugins.plasma",
    "walrus_plugins.rheology",
)


class PluginConflictError(WalrusError):
    """Two plugins declare the same name with different definitions."""


@dataclass
class Registry:
    """Everything the plugins declared, keyed by name, with the plugin that declared each."""

    fields: dict[str, FieldSpec] = dc_field(default_factory=dict)
    symmetry_rules: dict[str, SymmetryRule] = dc_field(default_factory=dict)
    boundaries: dict[str, BoundarySpec] = dc_field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = dc_field(default_factory=dict)
    owners: dict[tuple[str, str], str] = dc_field(default_factory=dict)
    #: The release's fields plus every plugin field, with vocabulary slots and aliases. Rebuilt with
    #: the registry, so registering or unregistering a plugin never leaves fields behind.
    fieldset: Any = None

    def owner(self, kind: str, name: str) -> str:
        """The plugin that declared ``name`` among ``kind`` ('field', 'dataset', ...)."""
        return self.owners[(kind, name)]

    def field(self, name: str) -> FieldSpec:
        try:
            return self.fields[name]
        except KeyError:
            raise KeyError(f"unknown field {name!r}; registered fields: {sorted(self.fields)}") from None

    def dataset(self, name: str) -> DatasetSpec:
        try:
            return self.datasets[name]
        except KeyError:
            raise KeyError(f"unknown dataset {name!r}; registered datasets: {sorted(self.datasets)}") from None

    def rule(self, name: str) -> SymmetryRule:
        """The rotation/reflection law of a field: the plugin's override, else its tensor rank's."""
        if name in self.symmetry_rules:
            return self.symmetry_rules[name]
        return default_rule(self.field(name))

    def boundary_kind(self, name: str) -> str:
        """WALL/OPEN/PERIODIC for a boundary name (a kind passes through)."""
        if name.upper() in BOUNDARY_KINDS:
            return name.upper()
        try:
            return self.boundaries[name].kind
        except KeyError:
            raise KeyError(f"unknown boundary {name!r}; expected one of {list(BOUNDARY_KINDS)} "
                           f"or a registered boundary {sorted(self.boundaries)}") from None

    def dataset_boundary_kinds(self, name: str) -> dict[str, str]:
        """Axis -> WALL/OPEN/PERIODIC for a dataset."""
        spec = self.dataset(name)
        return {axis: self.boundary_kind(spec.boundary_conditions[axis]) for axis in spec.axes}

    def model_field(self, dataset: str, stored: str) -> FieldSpec:
        """The field the model sees for a stored field of a dataset (after its transform, if any)."""
        spec = self.dataset(dataset)
        return self.field(spec.transforms.get(stored, stored))


def _declared_by(pm: pluggy.PluginManager, hook_name: str) -> Iterable[tuple[str, Any]]:
    """Call one hook plugin by plugin, so every declaration is tied to the plugin that made it."""
    for impl in getattr(pm.hook, hook_name).get_hookimpls():  # registration order
        result = impl.function()
        if result:
            yield impl.plugin_name, result


def _expect(items: Any, cls: type, plugin: str, hook: str) -> list:
    """The hook's result as a list of ``cls``, or a TypeError naming the plugin and what it returned."""
    items = list(items)
    for item in items:
        if not isinstance(item, cls):
            raise TypeError(f"plugin {plugin!r}: {hook} must return {cls.__name__} objects, "
                            f"received {type(item).__name__} ({item!r:.80})")
    return items


def _differences(a: Any, b: Any) -> str:
    """'rank: 1 vs 0; units: ...' for the compared attributes where two declarations disagree."""
    if not (dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b)):
        return f"{a!r} vs {b!r}"
    diffs = [f"{f.name}: {getattr(a, f.name)!r} vs {getattr(b, f.name)!r}" for f in dataclasses.fields(a)
             if f.compare and getattr(a, f.name) != getattr(b, f.name)]
    return "; ".join(diffs)


def _add(registry: Registry, table: dict, kind: str, name: str, value: Any, plugin: str) -> None:
    if name in table:
        other = registry.owners[(kind, name)]
        if table[name] != value:
            raise PluginConflictError(
                f"{kind} {name!r} is declared differently by plugin {other!r} and by plugin {plugin!r} "
                f"({_differences(table[name], value)}); rename one, or make the definitions agree")
        return
    table[name] = value
    registry.owners[(kind, name)] = plugin


def _canonical(spec: FieldSpec, plugin: str) -> FieldSpec:
    """The same field with its units in CF spelling, so 'm/s' and 'm s-1' compare equal."""
    from walrus.units import format_units

    try:
        return dataclasses.replace(spec, units=format_units(spec.units))
    except WalrusError as exc:
        raise FieldError(f"plugin {plugin!r} declares unparsable units", field=spec.name,
                         expected="a CF/UDUNITS unit string such as 'm s-1'", received=repr(spec.units)) from exc


def _check_vocabulary(reg: Registry) -> None:
    """A field's vocabulary name must be a release name, so the official checkpoint's slots apply."""
    from walrus.vocabulary import RELEASE_FIELD_NAMES

    for name, spec in reg.fields.items():
        if spec.vocabulary is None:
            continue
        comps = spec.vocabulary_names(2)
        missing = [c for c in comps if c not in RELEASE_FIELD_NAMES]
        if missing:
            raise FieldError(f"plugin {reg.owner('field', name)!r} maps the field onto vocabulary names that "
                             f"the release does not have", field=name,
                             expected="names from walrus.model.vocabulary.RELEASE_FIELD_NAMES",
                             received=missing)


def build_fieldset(reg: Registry):
    """A fresh FieldSet: the release's 67 slots and fields, then every registered field.

    A field whose vocabulary name differs from its own name shares that name's slots (an alias).
    """
    from walrus.fields import Field, default_fieldset

    fieldset = default_fieldset()
    for name, spec in reg.fields.items():
        alias = spec.vocabulary if spec.vocabulary not in (None, name) else None
        try:
            fieldset.register(Field(name, spec.rank, spec.units, spec.description), alias=alias)
        except WalrusError as exc:
            raise PluginConflictError(f"field {name!r} of plugin {reg.owner('field', name)!r} conflicts with "
                                      f"walrus's field set: {exc}") from exc
    return fieldset


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Collect and cross-check every plugin's declarations."""
    reg = Registry()
    for plugin, specs in _declared_by(pm, "walrus_fields"):
        for spec in _expect(specs, FieldSpec, plugin, "walrus_fields"):
            _add(reg, reg.fields, "field", spec.name, _canonical(spec, plugin), plugin)
    for plugin, rules in _declared_by(pm, "walrus_symmetry_rules"):
        if not isinstance(rules, dict):
            raise TypeError(f"plugin {plugin!r}: walrus_symmetry_rules must return a dict of field name -> "
                            f"SymmetryRule, received {type(rules).__name__}")
        for name, rule in zip(rules, _expect(list(rules.values()), SymmetryRule, plugin, "walrus_symmetry_rules")):
            _add(reg, reg.symmetry_rules, "symmetry rule", name, rule, plugin)
    for plugin, specs in _declared_by(pm, "walrus_boundaries"):
        for spec in _expect(specs, BoundarySpec, plugin, "walrus_boundaries"):
            _add(reg, reg.boundaries, "boundary", spec.name, spec, plugin)
    for plugin, specs in _declared_by(pm, "walrus_datasets"):
        for spec in _expect(specs, DatasetSpec, plugin, "walrus_datasets"):
            _add(reg, reg.datasets, "dataset", spec.name, spec, plugin)
    _check(reg)
    _check_vocabulary(reg)
    reg.fieldset = build_fieldset(reg)
    return reg


def _check(reg: Registry) -> None:
    """Every name a declaration refers to must itself be declared."""
    for name, spec in reg.fields.items():
        if spec.source is not None and spec.source not in reg.fields:
            raise KeyError(f"field {name!r} (plugin {reg.owner('field', name)!r}) is derived from "
                           f"{spec.source!r}, which no plugin declares")
    for name, rule in reg.symmetry_rules.items():
        if name not in reg.fields:
            raise KeyError(f"symmetry rule for {name!r} (plugin {reg.owner('symmetry rule', name)!r}) "
                           f"names a field no plugin declares")
        if rule.rank != reg.fields[name].rank:
            raise ValueError(f"symmetry rule for {name!r} has rank {rule.rank}, but the field is declared "
                             f"with rank {reg.fields[name].rank}")
    for name, spec in reg.datasets.items():
        plugin = reg.owner("dataset", name)
        for f in (*spec.fields, *spec.constant_fields, *spec.transforms.values()):
            if f not in reg.fields:
                raise KeyError(f"dataset {name!r} (plugin {plugin!r}) uses field {f!r}, which no plugin declares")
        for stored, derived in spec.transforms.items():
            if reg.fields[derived].source not in (stored, None):
                raise ValueError(f"dataset {name!r}: {derived!r} is derived from "
                                 f"{reg.fields[derived].source!r}, not from {stored!r}")
        for axis, bc in spec.boundary_conditions.items():
            reg.boundary_kind(bc)  # raises with the list of known names


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """Register every plugin of the ``walrus`` entry-point group (a built-in listed there is skipped)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise ImportError(f"walrus plugin {ep.name!r} (entry point {ep.value!r}) failed to import: {exc}") from exc
        if not pm.is_registered(plugin):
            pm.register(plugin, name=ep.name)


class _Manager:
    """The process-wide plugin manager and its cached registry."""

    def __init__(self) -> None:
        self.pm: Optional[pluggy.PluginManager] = None
        self.registry: Optional[Registry] = None

    def get(self) -> pluggy.PluginManager:
        if self.pm is None:
            pm = pluggy.PluginManager(PROJECT_NAME)
            pm.add_hookspecs(WalrusHookSpecs)
            for module_name in BUILTIN_PLUGINS:
                pm.register(importlib.import_module(module_name), name=module_name)
            _load_entry_points(pm)
            self.registry = build_registry(pm)
            self.pm = pm
        return self.pm


_MANAGER = _Manager()


def reload_plugins() -> None:
    """Forget the manager and registry; the next call rediscovers built-ins and entry points.

    For programs that install a plugin package or change ``WALRUS_WELL_PATH`` at run time.
    """
    _MANAGER.pm = None
    _MANAGER.registry = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager with built-in and entry-point plugins registered."""
    return _MANAGER.get()


def get_registry() -> Registry:
    """The registry of fields, rules, boundaries and datasets from every registered plugin."""
    _MANAGER.get()
    assert _MANAGER.registry is not None
    return _MANAGER.registry


def register(plugin: Any, name: Optional[str] = None) -> str:
    """Register a local plugin (a module, class or object with ``@hookimpl`` functions).

    The registry is rebuilt at once; on a conflict the plugin is taken out again and the error
    (which names both plugins) is raised, so a refused plugin leaves no trace.
    """
    pm = get_plugin_manager()
    plugin_name = pm.register(plugin, name=name)
    if plugin_name is None:
        raise ValueError(f"plugin {name or plugin!r} is blocked and was not registered")
    try:
        _MANAGER.registry = build_registry(pm)
    except Exception:
        pm.unregister(name=plugin_name)
        raise
    return plugin_name


def unregister(plugin: Any = None, name: Optional[str] = None) -> None:
    """Remove a plugin registered with :func:`register` (by object or by name)."""
    pm = get_plugin_manager()
    pm.unregister(plugin=plugin, name=name)
    _MANAGER.registry = build_registry(pm)


def rebuild_registry() -> Registry:
    """Re-run every plugin's hooks (e.g. after WALRUS_WELL_PATH changed) without reloading plugins."""
    _MANAGER.registry = build_registry(get_plugin_manager())
    return _MANAGER.registry


def fields() -> dict[str, FieldSpec]:
    """Registered fields by name."""
    return dict(get_registry().fields)


def fieldset():
    """The FieldSet of the release's fields and every registered plugin's fields (see Registry.fieldset)."""
    return get_registry().fieldset


def datasets() -> dict[str, DatasetSpec]:
    """Registered datasets by name."""
    return dict(get_registry().datasets)
