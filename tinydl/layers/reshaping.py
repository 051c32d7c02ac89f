"""Reshaping layers: Permute and RepeatVector (Flatten and Reshape live in core.py)."""
from tinydl import ops
from tinydl.layers.base import InputSpec, Layer

__all__ = ["Permute", "RepeatVector"]


class Permute(Layer):
    """Permute the non-batch axes: `dims` is 1-based, e.g. Permute((2, 1)) swaps axes 1 and 2."""

    supports_masking = True  # passes a mask on unchanged, as Keras 3

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute '{self.name}' needs dims to be a permutation of 1..{len(dims)} "
                             f"(the batch axis 0 stays first), got dims={dims}")
        self.dims = dims
        self.input_spec = InputSpec(ndim=len(dims) + 1)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """Repeat a (batch, features) input `n` times: (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"RepeatVector '{self.name}' needs a positive integer n, got {n!r}")
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        batch, features = inputs.shape
        return ops.broadcast_to(ops.expand_dims(inputs, 1), (batch, self.n, features))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}
