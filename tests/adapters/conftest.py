"""Fixtures: an untrained walrus-tiny surrogate (fast; a fresh history per test)."""

from __future__ import annotations

import pytest
import torch

import walrus
from walrus.surrogate import Surrogate


@pytest.fixture(scope="session")
def tiny_model():
    torch.manual_seed(0)
    return walrus.get_model("walrus-tiny").eval()


@pytest.fixture
def surrogate(tiny_model):
    """A fresh surrogate (own history and jitter generator) on the shared untrained model."""
    return Surrogate(tiny_model, seed=0)
