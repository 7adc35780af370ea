"""Shared fixtures: small seeded data, so unit tests train in a second or two."""

import keras
import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def backend() -> str:
    return keras.backend.backend()


@pytest.fixture
def normal_data() -> np.ndarray:
    """200 correlated normal rows with 4 features."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    return np.column_stack([z, z @ [[1.0, 0.5], [-0.5, 1.0]] + 0.1 * rng.normal(size=(200, 2))])


@pytest.fixture
def normal_frame(normal_data) -> pd.DataFrame:
    return pd.DataFrame(normal_data, columns=["a", "b", "c", "d"])
