import pytest

import walrus
from model_helpers import tiny


@pytest.fixture
def tiny_model() -> walrus.Walrus:
    return tiny()
