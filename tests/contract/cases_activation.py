"""Contract cases for the activation layers, the noise/dropout variants and UnitNormalization,
RMSNormalization, GroupNormalization, SpectralNormalization (issue 16, part A)."""
import numpy as np

from tinydl import layers as L
from tests.contract import LayerCase


def _away_from_kinks(rng, shape=(2, 3, 4), kinks=(0.0,)):
    """Inputs at least 0.05 from every kink, so finite differences do not straddle one."""
    x = rng.standard_normal(shape)
    for k in kinks:
        near = np.abs(x - k) < 0.05
        x[near] = k + np.where(x[near] >= k, 0.1, -0.1)
    return [x]


def _channels_with_offsets(rng):
    """(2, 3, 3, 4) images whose channels have different means, so group statistics matter."""
    return [rng.standard_normal((2, 3, 3, 4)) + np.array([0.0, 1.0, -2.0, 3.0])]


CASES = [
    # activation layers
    LayerCase(lambda **kw: L.ReLU(**kw), make_inputs=_away_from_kinks),
    LayerCase(lambda **kw: L.ReLU(max_value=0.8, negative_slope=0.1, threshold=0.3, **kw),
              make_inputs=lambda rng: _away_from_kinks(rng, kinks=(0.3, 0.8)), name="ReLU[cap,slope,threshold]"),
    LayerCase(lambda **kw: L.LeakyReLU(**kw), make_inputs=_away_from_kinks),
    LayerCase(lambda **kw: L.LeakyReLU(negative_slope=0.05, **kw), make_inputs=_away_from_kinks,
              name="LeakyReLU[0.05]"),
    LayerCase(lambda **kw: L.PReLU(alpha_initializer="random_uniform", **kw), make_inputs=_away_from_kinks),
    LayerCase(lambda **kw: L.PReLU(alpha_initializer="random_uniform", shared_axes=[1], **kw),
              make_inputs=_away_from_kinks, name="PReLU[shared_axes]"),
    LayerCase(lambda **kw: L.ELU(**kw), make_inputs=_away_from_kinks),
    LayerCase(lambda **kw: L.ELU(alpha=0.5, **kw), make_inputs=_away_from_kinks, name="ELU[alpha=0.5]"),
    LayerCase(lambda **kw: L.Softmax(**kw), (2, 3, 4)),
    LayerCase(lambda **kw: L.Softmax(axis=1, **kw), (2, 3, 4), name="Softmax[axis=1]"),
    LayerCase(lambda **kw: L.Softmax(axis=[1, 2], **kw), (2, 3, 4), name="Softmax[axes 1,2]"),
    # noise and dropout variants (inference: identity; training is tested in tests/layers/test_noise.py)
    LayerCase(lambda **kw: L.GaussianNoise(0.1, **kw), (2, 3)),
    LayerCase(lambda **kw: L.GaussianDropout(0.3, **kw), (2, 3)),
    LayerCase(lambda **kw: L.AlphaDropout(0.2, **kw), (2, 3)),
    LayerCase(lambda **kw: L.SpatialDropout1D(0.5, **kw), (2, 3, 4)),
    LayerCase(lambda **kw: L.SpatialDropout2D(0.5, **kw), (2, 3, 3, 2)),
    LayerCase(lambda **kw: L.SpatialDropout3D(0.5, data_format="channels_first", **kw), (2, 2, 2, 2, 2)),
    # normalisation
    LayerCase(lambda **kw: L.UnitNormalization(**kw), (2, 3, 4)),
    LayerCase(lambda **kw: L.UnitNormalization(axis=[1, 2], **kw), (2, 3, 4), name="UnitNormalization[axes 1,2]"),
    LayerCase(lambda **kw: L.RMSNormalization(**kw), (2, 3, 4)),
    LayerCase(lambda **kw: L.RMSNormalization(axis=[1, 2], epsilon=0.1, **kw), (2, 3, 4),
              name="RMSNormalization[axes 1,2]"),
    LayerCase(lambda **kw: L.RMSNormalization(axis=1, **kw), (2, 3, 4), name="RMSNormalization[axis=1]"),
    LayerCase(lambda **kw: L.GroupNormalization(groups=2, gamma_initializer="random_normal",
                                                beta_initializer="random_normal", **kw),
              make_inputs=_channels_with_offsets),
    LayerCase(lambda **kw: L.GroupNormalization(groups=3, axis=1, scale=False, epsilon=0.1, **kw), (2, 6, 4),
              name="GroupNormalization[axis=1,no scale]"),
    LayerCase(lambda **kw: L.GroupNormalization(groups=4, center=False, **kw), (2, 5, 4),
              name="GroupNormalization[instance norm,no center]"),
    LayerCase(lambda **kw: L.SpectralNormalization(L.Dense(3, **kw), **kw), (2, 4)),
    # training calls rescale the kernel in place (stateful, as Keras): tested in tests/layers/test_norms.py
    LayerCase(lambda **kw: L.SpectralNormalization(L.Dense(3, **kw), power_iterations=2, **kw), (2, 4),
              name="SpectralNormalization[2 iterations]"),
]
