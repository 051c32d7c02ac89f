"""Constraints: Keras formulas on small matrices, application by the optimizer, configs, lookup."""
import numpy as np
import pytest

from tinydl import constraints, optimizers
from tinydl.io import config

W = np.array([[3.0, 0.1], [4.0, -0.2]])   # column norms 5 and sqrt(0.05)
EPS = 1e-7


def test_max_norm_rescales_only_long_columns():
    out = constraints.MaxNorm(max_value=2)(W)
    norms = np.sqrt((W ** 2).sum(0, keepdims=True))
    np.testing.assert_allclose(out, W * np.clip(norms, 0, 2) / (EPS + norms))
    np.testing.assert_allclose(np.linalg.norm(out[:, 0]), 2, rtol=1e-6)


def test_min_max_norm_unit_norm_non_neg():
    norms = np.sqrt((W ** 2).sum(0, keepdims=True))
    half = constraints.MinMaxNorm(min_value=1.0, max_value=2.0, rate=0.5)(W)
    np.testing.assert_allclose(half, W * (0.5 * np.clip(norms, 1, 2) + 0.5 * norms) / (EPS + norms))
    np.testing.assert_allclose(np.linalg.norm(constraints.get("unit_norm")(W), axis=0), 1, rtol=1e-5)
    np.testing.assert_array_equal(constraints.get("non_neg")(W), [[3.0, 0.1], [4.0, 0.0]])


def test_optimizer_applies_the_variable_constraint_after_the_update():
    class Var:
        def __init__(self):
            self.data = np.array([1.0, -1.0])
            self.constraint = constraints.NonNeg()
    v = Var()
    optimizers.SGD(1.0).apply([np.array([2.0, -0.5])], [v])
    np.testing.assert_array_equal(v.data, [0.0, 0.0])


def test_configs_and_names():
    assert constraints.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert constraints.MinMaxNorm().get_config() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    for c in (constraints.MaxNorm(3, axis=1), constraints.MinMaxNorm(0.5, 2.0, 0.3), constraints.NonNeg(),
              constraints.UnitNorm(axis=-1)):
        again = config.deserialize(config.serialize(c))
        assert type(again) is type(c) and again.get_config() == c.get_config()
        assert constraints.deserialize(constraints.serialize(c)).get_config() == c.get_config()
    with pytest.raises(ValueError, match="unknown constraint 'maxnorm'"):
        constraints.get("maxnorm")
