"""keras.random: random tensors drawn from a seed, a SeedGenerator or (seed=None) tinydl's global generator.

The same integer seed always gives the same numbers; a SeedGenerator gives new numbers on every
draw and the same sequence again when rebuilt with the same seed. Results are tinydl Tensors.
"""
import numpy as np

from tinydl import backend
from tinydl.io.config import register_serializable
from tinydl.tensor import Tensor

__all__ = ["SeedGenerator", "normal", "uniform", "truncated_normal", "randint", "categorical", "dropout",
           "shuffle", "gamma", "beta", "binomial"]


@register_serializable()
class SeedGenerator:
    """A stream of seeds: each `next()` gives a new one, reproducibly from the starting `seed`."""

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"SeedGenerator got unexpected keyword arguments {sorted(kwargs)}")
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"SeedGenerator: the seed argument must be an integer or None, received seed={seed!r}")
        self.seed = int(backend.rng().integers(0, 2**31)) if seed is None else int(seed)
        self.name = name or "seed_generator"
        self._generator = np.random.default_rng(self.seed)

    def next(self, ordered=True):
        """A fresh integer seed."""
        return int(self._generator.integers(0, 2**63 - 1))

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples of N(mean, stddev**2)."""
    draws = _rng(seed).standard_normal(_shape(shape))
    return _tensor(draws * stddev + mean, dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples of U[minval, maxval)."""
    return _tensor(_rng(seed).uniform(minval, maxval, _shape(shape)), dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples of N(mean, stddev**2) redrawn until within two standard deviations of the mean."""
    rng, shape = _rng(seed), _shape(shape)
    draws = rng.standard_normal(shape)
    outside = np.abs(draws) > 2.0
    while outside.any():
        draws[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(draws) > 2.0
    return _tensor(draws * stddev + mean, dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers drawn uniformly from [minval, maxval)."""
    if not np.issubdtype(np.dtype(dtype), np.integer):
        raise ValueError(f"randint: the dtype argument must be an integer dtype, received dtype={dtype!r}")
    return Tensor(_rng(seed).integers(minval, maxval, _shape(shape)).astype(dtype))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """For each row of `logits` (batch, classes), `num_samples` class indices drawn from softmax(logits)."""
    logits = np.asarray(_raw(logits), dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"categorical: logits must have shape (batch_size, num_classes), received {logits.shape}")
    # Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits)
    noise = -np.log(-np.log(_rng(seed).uniform(np.finfo(np.float64).tiny, 1.0,
                                               (logits.shape[0], int(num_samples), logits.shape[1]))))
    return Tensor(np.argmax(logits[:, None, :] + noise, axis=-1).astype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """`inputs` with a `rate` fraction of entries zeroed and the rest scaled by 1/(1 - rate)."""
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: the rate argument must be in [0, 1), received rate={rate}")
    x = _raw(inputs)
    noise_shape = x.shape if noise_shape is None else tuple(x.shape[i] if d is None else d
                                                             for i, d in enumerate(noise_shape))
    keep = _rng(seed).uniform(size=noise_shape) >= rate
    return Tensor(np.where(keep, x / (1.0 - rate), 0).astype(x.dtype))


def shuffle(x, axis=0, seed=None):
    """`x` with its entries along `axis` in a random order."""
    x = _raw(x)
    order = _rng(seed).permutation(x.shape[axis])
    return Tensor(np.take(x, order, axis=axis))


def gamma(shape, alpha, dtype=None, seed=None):
    """Samples of the Gamma(alpha, 1) distribution."""
    return _tensor(_rng(seed).gamma(alpha, 1.0, _shape(shape)), dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples of the Beta(alpha, beta) distribution."""
    return _tensor(_rng(seed).beta(alpha, beta, _shape(shape)), dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Samples of the Binomial(counts, probabilities) distribution (as floats, like Keras)."""
    return _tensor(_rng(seed).binomial(_raw(counts), _raw(probabilities), _shape(shape)), dtype)


def _rng(seed):
    """The generator for a draw: seeded from an int or a SeedGenerator, else tinydl's global one."""
    if seed is None:
        return backend.rng()
    if isinstance(seed, SeedGenerator):
        return np.random.default_rng(seed.next())
    if isinstance(seed, (int, np.integer)):
        return np.random.default_rng(int(seed))
    raise ValueError(f"the seed argument must be an integer, a SeedGenerator or None, received seed={seed!r}")


def _shape(shape):
    """A shape as a tuple of ints."""
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


def _tensor(values, dtype):
    """A Tensor of float `values` in `dtype` (the default float dtype when None)."""
    return Tensor(np.asarray(values).astype(backend.as_dtype(dtype)))


def _raw(x):
    """The NumPy array behind a Tensor, array or list."""
    return backend.to_device(x.data, "cpu") if isinstance(x, Tensor) else np.asarray(x)
