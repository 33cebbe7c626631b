"""Adapters that put the Walrus surrogate inside real numerical codes."""
