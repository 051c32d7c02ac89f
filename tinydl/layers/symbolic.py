"""The functional API's symbolic values: KerasTensor (a shape and dtype standing for a future
Tensor) and Node (one recorded call of a layer), with the nesting helpers both use."""
import numpy as np

from tinydl.io.config import get_registered
from tinydl.layers.naming import unique_name

__all__ = ["KerasTensor", "Node", "flatten", "pack_like"]


class KerasTensor:
    """A symbolic tensor of the functional API: a shape (batch dim None), a dtype and the node that made it."""

    def __init__(self, shape, dtype="float32", name=None, history=None, sparse=False):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self._keras_history = history  # (layer, node_index, tensor_index)

    ndim = property(lambda self: len(self.shape))

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __getitem__(self, index):
        return _symbolic_op(lambda t: t[index], self, "getitem")

    def __add__(self, other):
        return _symbolic_op(lambda a, b: a + b, self, "add", other)

    def __sub__(self, other):
        return _symbolic_op(lambda a, b: a - b, self, "subtract", other)

    def __mul__(self, other):
        return _symbolic_op(lambda a, b: a * b, self, "multiply", other)


def _symbolic_op(fn, x, name, other=None):
    """An operator on KerasTensors, recorded as a Lambda layer node.

    Lambda is a Layer, on a floor above this module: it is found by its registered name, as a
    config would name it, instead of by an upward import.
    """
    Lambda = get_registered("Lambda", module="tinydl.layers")
    if other is None:
        return Lambda(fn, name=unique_name(name))(x)
    if isinstance(other, KerasTensor):
        return Lambda(lambda ab: fn(ab[0], ab[1]), name=unique_name(name))([x, other])
    return Lambda(lambda a: fn(a, other), name=unique_name(name))(x)


class Node:
    """One call of a layer in a functional graph: its arguments (with KerasTensors) and outputs."""

    def __init__(self, layer, args, kwargs, outputs):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.input_tensors = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
        self.output_tensors = flatten(outputs)


def flatten(struct):
    """The leaves of nested lists, tuples and dicts (dicts in key order), in order."""
    if isinstance(struct, (list, tuple)):
        return [leaf for item in struct for leaf in flatten(item)]
    if isinstance(struct, dict):
        return [leaf for key in sorted(struct) for leaf in flatten(struct[key])]
    return [struct]


def pack_like(struct, leaves):
    """Rebuild `struct`'s nesting with the values of `leaves` (the inverse of `flatten`)."""
    return _pack(struct, iter(leaves))


def _pack(struct, leaves):
    # a module-level function, not a closure calling itself: that closure is a reference cycle which
    # kept every packed value (a whole training step's activations) alive until the garbage collector ran
    if isinstance(struct, (list, tuple)):
        return type(struct)([_pack(item, leaves) for item in struct])
    if isinstance(struct, dict):
        return {key: _pack(struct[key], leaves) for key in sorted(struct)}
    return next(leaves)
