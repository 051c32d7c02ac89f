"""Weight initializers with Keras 3's names, defaults and config keys.

An initializer is called as `init(shape, dtype=None)` and returns a NumPy array (the default float
dtype when `dtype` is None). Random ones draw from `tinydl.backend.rng()`, so `td.set_seed` makes
them reproducible; an integer `seed` gives the same values on every call, as in Keras.

    initializers.get("glorot_uniform")((64, 32))
"""
import math

import numpy as np

from tinydl import backend
from tinydl.io.config import ConfigMixin, Family, register_serializable, serialize

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal",
    "LecunUniform", "Orthogonal", "Identity", "STFT", "WINDOWS", "compute_fans", "get", "serialize", "deserialize",
]


class Initializer(ConfigMixin):
    """Base class: `__call__(shape, dtype=None) -> array`, `get_config()`, `from_config(config)`."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {}


@register_serializable()
class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return np.zeros(_shape(shape), dtype=_dtype(dtype))


@register_serializable()
class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return np.ones(_shape(shape), dtype=_dtype(dtype))


@register_serializable()
class Constant(Initializer):
    """Every element equal to `value` (Keras default 0.0)."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(_shape(shape), self.value, dtype=_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class _Random(Initializer):
    """An initializer whose draws come from tinydl's generator, or a fixed one when `seed` is an int."""

    def __init__(self, seed=None):
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"{type(self).__name__}: seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)

    def _rng(self):
        return backend.rng() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


@register_serializable()
class RandomNormal(_Random):
    """Normal draws with `mean` and `stddev` (Keras defaults 0.0 and 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        draw = self._rng().normal(self.mean, self.stddev, _shape(shape))
        return draw.astype(_dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@register_serializable()
class RandomUniform(_Random):
    """Uniform draws in [minval, maxval) (Keras defaults -0.05 and 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        draw = self._rng().uniform(self.minval, self.maxval, _shape(shape))
        return draw.astype(_dtype(dtype))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@register_serializable()
class TruncatedNormal(_Random):
    """Normal draws redrawn until within two standard deviations of the mean (Keras defaults 0, 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        draw = _truncated_standard_normal(self._rng(), _shape(shape))
        return (self.mean + self.stddev * draw).astype(_dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@register_serializable()
class VarianceScaling(_Random):
    """Draws with variance `scale / n`, n the fan-in, fan-out or their mean (Keras's formula).

    distribution 'truncated_normal' uses stddev sqrt(scale/n) / 0.8796256610342398 (the stddev of a
    standard normal truncated at +-2), 'untruncated_normal' sqrt(scale/n), 'uniform' the limit
    sqrt(3 * scale / n).
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        super().__init__(seed)
        self.input_axes = None if input_axes is None else list(input_axes)
        self.output_axes = None if output_axes is None else list(output_axes)
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {self._MODES}, got {mode!r}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of {self._DISTRIBUTIONS}, "
                             f"got {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            draw = _truncated_standard_normal(rng, shape) * (math.sqrt(scale) / 0.87962566103423978)
        elif self.distribution == "untruncated_normal":
            draw = rng.normal(0.0, math.sqrt(scale), shape)
        else:
            limit = math.sqrt(3.0 * scale)
            draw = rng.uniform(-limit, limit, shape)
        return draw.astype(_dtype(dtype))

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "input_axes": self.input_axes, "output_axes": self.output_axes}


class _FixedScaling(VarianceScaling):
    """A VarianceScaling preset: `seed` and the fan axes are configurable."""
    _preset = {}

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(seed=seed, input_axes=input_axes, output_axes=output_axes, **self._preset)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


@register_serializable()
class GlorotUniform(_FixedScaling):
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) (Keras's default kernel initializer)."""
    _preset = {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}


@register_serializable()
class GlorotNormal(_FixedScaling):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out))."""
    _preset = {"scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"}


@register_serializable()
class HeNormal(_FixedScaling):
    """Truncated normal with stddev sqrt(2 / fan_in)."""
    _preset = {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}


@register_serializable()
class HeUniform(_FixedScaling):
    """Uniform in +-sqrt(6 / fan_in)."""
    _preset = {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"}


@register_serializable()
class LecunNormal(_FixedScaling):
    """Truncated normal with stddev sqrt(1 / fan_in)."""
    _preset = {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}


@register_serializable()
class LecunUniform(_FixedScaling):
    """Uniform in +-sqrt(3 / fan_in)."""
    _preset = {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}


@register_serializable()
class Orthogonal(_Random):
    """An orthogonal matrix (rows = product of all but the last dim) times `gain`, as Keras builds it."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a shape of rank >= 2, got {shape}")
        rows = int(np.prod(shape[:-1]))
        cols = shape[-1]
        a = self._rng().normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


@register_serializable()
class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape, got {shape}")
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


@register_serializable()
class STFT(Initializer):
    """The real (cos) or imaginary (sin) part of a windowed DFT kernel of shape (frame_length, channels,
    fft_bins), as Keras's STFT initializer: a Conv1D with it computes a short-time Fourier transform.

    `window` is a name ('hann', 'hamming', 'blackman', 'bartlett', 'boxcar'), an array of frame_length
    values, or None; `periodic` takes the window of frame_length + 1 points without its last (for FFTs);
    `scaling` divides by the window's L2 norm ('density'), its sum ('spectrum'), or nothing (None).
    Every input channel gets the same kernel (Keras 3.15 returns one channel whatever the shape asks).
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"STFT: side must be 'real' or 'imag', got {side!r}")
        if isinstance(window, str) and window not in WINDOWS:
            raise ValueError(f"STFT: window {window!r} is not supported; use one of {sorted(WINDOWS)}, an array "
                             "of frame_length values or None")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"STFT: scaling must be None, 'density' or 'spectrum', got {scaling!r}")
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 3:
            raise ValueError(f"STFT initializer needs a shape (frame_length, input_channels, fft_bins), got {shape}")
        frame_length, _, bins = shape
        dtype = _dtype(dtype)
        time = np.arange(frame_length, dtype=dtype).reshape(frame_length, 1, 1)
        freq = np.arange(bins, dtype=dtype).reshape(1, 1, bins) / dtype.type((bins - 1) * 2)
        args = (-2 * time) * freq * np.arccos(dtype.type(-1))
        kernel = (np.cos(args) if self.side == "real" else np.sin(args)).astype(dtype)
        if self.window is None:
            return np.broadcast_to(kernel, shape).copy()
        win = self._window(frame_length).astype(dtype)
        scale = np.sqrt(np.sum(win * win)) if self.scaling == "density" else \
            np.sum(np.abs(win)) if self.scaling == "spectrum" else 1
        return np.broadcast_to(kernel * win.reshape(frame_length, 1, 1) / scale, shape).astype(dtype)

    def _window(self, frame_length):
        """The window's frame_length values."""
        if isinstance(self.window, str):
            if not self.periodic:
                return WINDOWS[self.window](frame_length)
            return WINDOWS[self.window](frame_length + 1)[:-1]
        win = np.asarray(self.window, dtype=np.float64)
        if win.shape != (frame_length,):
            raise ValueError(f"STFT: window must have shape ({frame_length},) (frame_length), got {win.shape}")
        return win

    def get_config(self):
        window = self.window.tolist() if isinstance(self.window, np.ndarray) else self.window
        return {"side": self.side, "window": window, "periodic": self.periodic, "scaling": self.scaling}


# symmetric windows by name (scipy.signal.get_window's formulas for these)
WINDOWS = {"hann": np.hanning, "hanning": np.hanning, "hamming": np.hamming, "blackman": np.blackman,
           "bartlett": np.bartlett, "boxcar": np.ones, "rect": np.ones, "rectangular": np.ones}


def compute_fans(shape, input_axes=None, output_axes=None):
    """(fan_in, fan_out) as Keras computes them: conv kernels multiply by the receptive field size.

    With both `input_axes` and `output_axes` (Keras 3.15's option for einsum kernels), the fans are
    the products of those axes' sizes.
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return int(np.prod([shape[a] for a in input_axes])), int(np.prod([shape[a] for a in output_axes]))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = int(np.prod(shape[:-2]))
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


_ALIASES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_normal": RandomNormal, "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_normal": HeNormal, "he_uniform": HeUniform, "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform, "orthogonal": Orthogonal, "identity": Identity, "stft": STFT,
    "OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity, "STFTInitializer": STFT,
}


_FAMILY = Family("initializer", _ALIASES, Initializer)
get = _FAMILY.get
deserialize = _FAMILY.deserialize


def _shape(shape):
    """A shape as a tuple of ints."""
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _dtype(dtype):
    """The requested dtype, or tinydl's default float dtype."""
    return backend.as_dtype(dtype)


def _truncated_standard_normal(rng, shape):
    """Standard normal draws, each redrawn until |x| <= 2."""
    draw = rng.standard_normal(shape)
    bad = np.abs(draw) > 2.0
    while bad.any():
        draw[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(draw) > 2.0
    return draw


# Keras's lower-case names for the same classes (keras.initializers.glorot_uniform is GlorotUniform)
zeros, ones, constant, identity, orthogonal = Zeros, Ones, Constant, Identity, Orthogonal
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, glorot_uniform, glorot_normal = VarianceScaling, GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal, lecun_uniform = HeNormal, HeUniform, LecunNormal, LecunUniform
IdentityInitializer, OrthogonalInitializer, STFTInitializer, stft = Identity, Orthogonal, STFT, STFT
__all__ += ["zeros", "ones", "constant", "identity", "orthogonal", "random_normal", "random_uniform",
            "truncated_normal", "variance_scaling", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
            "lecun_normal", "lecun_uniform", "IdentityInitializer", "OrthogonalInitializer", "STFTInitializer",
            "stft"]
