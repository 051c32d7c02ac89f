"""Merge layers: combine a list of inputs into one (Add, Subtract, Multiply, Average, Maximum,
Minimum, Concatenate, Dot), with Keras's mask rules."""
import numpy as np

from tinydl import ops
from tinydl.backend import array_module
from tinydl.layers.base import Layer

__all__ = ["Merge", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


def add(inputs, **kwargs):
    """`Add(**kwargs)(inputs)`: the elementwise sum of a list of tensors."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """`Subtract(**kwargs)(inputs)`: `inputs[0] - inputs[1]`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """`Multiply(**kwargs)(inputs)`: the elementwise product of a list of tensors."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """`Average(**kwargs)(inputs)`: the elementwise mean of a list of tensors."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """`Maximum(**kwargs)(inputs)`: the elementwise maximum of a list of tensors."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """`Minimum(**kwargs)(inputs)`: the elementwise minimum of a list of tensors."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """`Concatenate(axis, **kwargs)(inputs)`: the tensors joined along `axis`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, **kwargs):
    """`Dot(axes, **kwargs)(inputs)`: per-sample dot products of two tensors along `axes`."""
    return Dot(axes=axes, **kwargs)(inputs)


class Merge(Layer):
    """Base of the elementwise merges: checks the list of inputs, merges them, ORs their masks.

    Batch sizes must be equal. Lower-rank inputs get new axes after the batch axis, as in Keras
    ((batch, 4) with (batch, 3, 4) is (batch, 1, 4)); the shapes must then broadcast together.
    """

    supports_masking = True
    min_inputs = 1
    max_inputs = None

    def build(self, input_shape):
        self._check_shapes(input_shape)

    def call(self, inputs, mask=None):
        inputs = self._as_list(inputs)
        self._check_shapes([tuple(x.shape) for x in inputs])
        return self._merge(_same_rank(inputs))

    def _merge(self, inputs):
        raise NotImplementedError

    def _as_list(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{type(self).__name__} '{self.name}' should be called on a list of inputs, "
                             f"got one input of shape {tuple(getattr(inputs, 'shape', ()))}")
        return list(inputs)

    def _check_shapes(self, shapes):
        """Raise a clear error for a wrong number of inputs or incompatible shapes."""
        where = f"{type(self).__name__} '{self.name}'"
        if not isinstance(shapes, (list, tuple)) or not shapes or not isinstance(shapes[0], (list, tuple)):
            raise ValueError(f"{where} should be called on a list of inputs, got input shape {shapes}")
        n = len(shapes)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            wanted = (f"exactly {self.min_inputs}" if self.min_inputs == self.max_inputs
                      else f"at least {self.min_inputs}")
            raise ValueError(f"{where} should be called on a list of {wanted} inputs, got {n}: "
                             f"{[tuple(s) for s in shapes]}")
        self._check_compatible([tuple(s) for s in shapes], where)

    def _check_compatible(self, shapes, where):
        batches = {s[0] for s in shapes if s and s[0] is not None}
        if len(batches) > 1:
            raise ValueError(f"{where} got inputs with different batch sizes: {shapes}")
        rank = max(len(s) for s in shapes)
        try:
            np.broadcast_shapes(*[tuple(1 if d is None else d for d in _expanded(s, rank)) for s in shapes])
        except ValueError:
            raise ValueError(f"{where} got inputs with incompatible shapes {shapes}: they must be equal "
                             "or broadcast together") from None

    def compute_mask(self, inputs, mask=None):
        """The OR of the inputs' masks, None when any input is unmasked (Keras 3.15's rule: a step is
        kept when any input keeps it)."""
        if mask is None:
            return None
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        if any(m is None for m in masks):
            return None
        out = masks[0]
        for m in masks[1:]:
            out = array_module(out).logical_or(out, m)
        return out


class Add(Merge):
    """Elementwise sum of the inputs."""

    def _merge(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Subtract(Merge):
    """`inputs[0] - inputs[1]` (exactly two inputs)."""

    min_inputs = max_inputs = 2

    def _merge(self, inputs):
        return inputs[0] - inputs[1]


class Multiply(Merge):
    """Elementwise product of the inputs."""

    def _merge(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Average(Merge):
    """Elementwise mean of the inputs."""

    def _merge(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out * (1.0 / len(inputs))


class Maximum(Merge):
    """Elementwise maximum of the inputs."""

    def _merge(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.maximum(out, x)
        return out


class Minimum(Merge):
    """Elementwise minimum of the inputs."""

    def _merge(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.minimum(out, x)
        return out


class Concatenate(Merge):
    """Join the inputs along `axis`; every other axis must match.

    The mask is Keras's: masks (all-True for unmasked inputs, broadcast over the features) are
    concatenated along `axis`, then reduced with any() over the last axis.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _check_compatible(self, shapes, where):
        ranks = {len(s) for s in shapes}
        if len(ranks) > 1:
            raise ValueError(f"{where} needs inputs of the same rank, got shapes {shapes}")
        rank = ranks.pop()
        if not -rank <= self.axis < rank:
            raise ValueError(f"{where} cannot concatenate inputs of shapes {shapes} along axis {self.axis}")
        axis = self.axis % rank
        for i in range(rank):
            sizes = {s[i] for s in shapes if s[i] is not None}
            if i != axis and len(sizes) > 1:
                raise ValueError(f"{where} needs inputs with matching shapes except on the concatenation axis "
                                 f"{self.axis}, got shapes {shapes}")

    def _merge(self, inputs):
        return ops.concatenate(inputs, axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        xp = array_module(next(m for m in mask if m is not None))
        masks = []
        for x, m in zip(inputs, mask):
            if m is None:
                masks.append(xp.ones(x.shape, dtype=bool))
            elif m.ndim < x.ndim:
                masks.append(xp.broadcast_to(xp.expand_dims(m, -1), x.shape))
            else:
                masks.append(m)
        return xp.concatenate(masks, axis=self.axis).any(axis=-1)

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        out = list(input_shape[0])
        axis = self.axis % len(out)
        sizes = [s[axis] for s in input_shape]
        out[axis] = None if None in sizes else sum(sizes)
        for i in range(len(out)):
            if out[i] is None and i != axis:
                out[i] = next((s[i] for s in input_shape if s[i] is not None), None)
        return tuple(out)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Dot product of two inputs along `axes` (an int or one axis per input), per sample.

    With `normalize=True` each input is L2-normalised along its axis first (cosine similarity).
    Output shape: the first input's shape without its axis, then the second's without the batch
    axis and its axis; (batch, 1) when nothing else remains. Masks are dropped, as in Keras.
    """

    min_inputs = max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, int) for a in axes):
                raise ValueError(f"Dot '{self.name}' needs axes as an int or two ints, got axes={axes}")
            axes = list(axes)
        elif not isinstance(axes, int):
            raise TypeError(f"Dot '{self.name}' needs axes as an int or two ints, got axes={axes!r}")
        self.axes = axes
        self.normalize = bool(normalize)

    def _axes_for(self, shapes):
        if isinstance(self.axes, int):
            return [self.axes % len(s) if self.axes < 0 else self.axes for s in shapes]
        return [a % len(s) if a < 0 else a for a, s in zip(self.axes, shapes)]

    def _check_compatible(self, shapes, where):
        super_batches = {s[0] for s in shapes if s and s[0] is not None}
        if len(super_batches) > 1:
            raise ValueError(f"{where} got inputs with different batch sizes: {shapes}")
        if any(len(s) < 2 for s in shapes):
            raise ValueError(f"{where} needs inputs with at least 2 dimensions, got shapes {shapes}")
        axes = self._axes_for(shapes)
        for a, s in zip(axes, shapes):
            if not 0 < a < len(s):
                raise ValueError(f"{where} has axes={self.axes}, which inputs of shapes {shapes} do not have "
                                 "(axis 0 is the batch)")
        d1, d2 = shapes[0][axes[0]], shapes[1][axes[1]]
        if d1 is not None and d2 is not None and d1 != d2:
            raise ValueError(f"{where} got incompatible shapes {shapes[0]} and {shapes[1]}: "
                             f"axis {axes[0]} has size {d1}, axis {axes[1]} has size {d2}")

    def _merge(self, inputs):
        x, y = inputs
        a, b = self._axes_for([x.shape, y.shape])
        if self.normalize:
            x, y = _l2_normalize(x, a), _l2_normalize(y, b)
        return _batch_dot(x, y, a, b)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        s1, s2 = list(input_shape[0]), list(input_shape[1])
        a, b = self._axes_for([s1, s2])
        s1.pop(a)
        s2.pop(b)
        out = s1 + s2[1:]
        return tuple(out + [1] if len(out) == 1 else out)

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _expanded(shape, rank):
    """A shape with length-1 axes inserted after the batch axis up to `rank` (Keras's merge reshaping)."""
    shape = tuple(shape)
    return shape[:1] + (1,) * (rank - len(shape)) + shape[1:]


def _same_rank(inputs):
    """Inputs reshaped to the highest rank among them by `_expanded`."""
    rank = max(x.ndim for x in inputs)
    return [x if x.ndim == rank else ops.reshape(x, _expanded(x.shape, rank)) for x in inputs]


def _l2_normalize(x, axis):
    """x / max(||x||, 1e-7) along `axis` (Keras's normalize)."""
    sq = ops.sum(x * x, axis=axis, keepdims=True)
    return x / ops.sqrt(ops.maximum(sq, 1e-14))


def _batch_dot(x, y, a, b):
    """Per-sample contraction of x's axis `a` with y's axis `b` (Keras's batch_dot), via one matmul."""
    batch = x.shape[0]
    x_rest = [n for i, n in enumerate(x.shape) if i not in (0, a)]
    y_rest = [n for i, n in enumerate(y.shape) if i not in (0, b)]
    k = x.shape[a]
    xm = ops.reshape(ops.moveaxis(x, a, -1), (batch, -1, k))
    ym = ops.reshape(ops.moveaxis(y, b, 1), (batch, k, -1))
    out = ops.matmul(xm, ym)
    shape = [batch] + x_rest + y_rest
    return ops.reshape(out, shape if len(shape) > 1 else [batch, 1])
