"""Checks of what fit/evaluate/predict are given, before any work: each wrong argument is a TypeError or
ValueError naming the argument, what was expected and what was received (never a silent default, an empty
History or an error from deep inside an op)."""
import numbers

import numpy as np

from tinydl.layers.base import flatten

__all__ = ["check_fit_arguments", "check_data", "check_array_dtypes", "check_finite", "finite_batches"]


def check_fit_arguments(batch_size=None, epochs=1, validation_split=0.0, initial_epoch=0, steps_per_epoch=None,
                        validation_freq=1, validation_batch_size=None, validation_steps=None):
    """Types and ranges of fit()'s scalar arguments, as Keras accepts them."""
    _int("batch_size", batch_size, minimum=1, optional=True)
    _int("epochs", epochs, minimum=0)
    _int("initial_epoch", initial_epoch, minimum=0)
    _int("steps_per_epoch", steps_per_epoch, minimum=1, optional=True)
    _int("validation_freq", validation_freq, minimum=1)
    _int("validation_batch_size", validation_batch_size, minimum=1, optional=True)
    _int("validation_steps", validation_steps, minimum=1, optional=True)
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or \
            not 0 <= validation_split < 1:
        raise ValueError(f"fit(validation_split=...) expects a float in [0, 1), got {validation_split!r}")


def check_data(data, validation_split=0.0, validation=False):
    """Array data (a DataHandler's) must be numeric and hold at least one sample (after `validation_split`)."""
    if data.kind != "arrays":
        return
    prefix = "validation_data's " if validation else ""
    check_array_dtypes(data.x, f"{prefix}x")
    check_array_dtypes(data.y, f"{prefix}y")
    check_array_dtypes(data.sample_weight, f"{prefix}sample_weight")
    if data.n > 0:
        return
    raise ValueError("x holds 0 samples: there is nothing to train on")


def check_array_dtypes(struct, what):
    """Arrays must be numeric (bool, int, float): strings, objects and complex numbers are refused by name."""
    if struct is None:
        return
    for i, a in enumerate(flatten(struct)):
        kind = getattr(getattr(a, "dtype", None), "kind", None)
        if kind in ("U", "S", "O", "c", "V", "M", "m"):
            where = what if len(flatten(struct)) == 1 else f"{what}[{i}]"
            raise TypeError(f"{where} has dtype {a.dtype} (shape {a.shape}); tinydl trains on numeric arrays "
                            "(float, int or bool): convert it first, e.g. with np.asarray(..., dtype='float32')")


def check_finite(struct, what, model_name):
    """With check_numerics: refuse NaN/inf in float arrays, naming which array."""
    for i, a in enumerate(flatten(struct) if struct is not None else []):
        a = np.asarray(a)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = int((~np.isfinite(a)).sum())
            raise ValueError(f"model '{model_name}': {what}[{i}] (shape {a.shape}) holds {bad} NaN or "
                             "infinite value(s); clean the data or compile with check_numerics=False")


def finite_batches(batches, model_name):
    """`batches` ((x, y, sample_weight) tuples, e.g. from a generator), each checked by `check_finite`."""
    for xb, yb, swb in batches:
        for what, struct in (("x", xb), ("y", yb), ("sample_weight", swb)):
            check_finite(struct, what, model_name)
        yield xb, yb, swb


def _int(name, value, minimum, optional=False):
    """`value` is an int (not a bool) >= minimum, or None when optional."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = f"an int >= {minimum}" + (" or None" if optional else "")
        raise TypeError(f"fit({name}=...) expects {expected}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"fit({name}=...) expects an int >= {minimum}, got {value}")
