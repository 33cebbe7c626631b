"""Implementations of the `walrus` sub-commands, one module each, imported lazily by `walrus.cli`."""
