"""keras.ops's core: conversion, facts about tensors, control flow, custom gradients, segment reductions.

Control flow runs eagerly in Python (tinydl records a tape per call, so loops need no tracing);
structures of tensors (tuples, lists, dicts) are walked with tinydl.tree, as Keras does.
"""
import numpy as np

from tinydl import backend, tree
from tinydl.autograd import Function, no_grad
from tinydl.backend import array_module
from tinydl.ops.graph import scatter_add, scatter_max
from tinydl.ops.math import cast, clip
from tinydl.ops.shape import getitem, stack
from tinydl.tensor import Tensor, as_tensor

__all__ = [
    "convert_to_tensor", "convert_to_numpy", "is_tensor", "shape", "ndim", "size", "dtype", "stop_gradient",
    "custom_gradient", "saturate_cast", "cond", "switch", "fori_loop", "while_loop", "scan", "associative_scan",
    "map", "vectorized_map", "vectorize", "segment_sum", "segment_max", "segment_min", "segment_prod",
]


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """x as a Tensor (the same Tensor when it already is one and no dtype asks for a cast)."""
    if sparse or ragged:
        raise ValueError(f"convert_to_tensor: tinydl has no sparse or ragged tensors (received sparse={sparse}, "
                         f"ragged={ragged}; expected None or False)")
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == backend.as_dtype(dtype) else cast(x, backend.as_dtype(dtype))
    return Tensor(x, dtype=dtype)


def convert_to_numpy(x):
    """x as a NumPy array on the host."""
    a = x.data if isinstance(x, Tensor) else x
    return np.asarray(backend.to_device(a, "cpu") if hasattr(a, "shape") else a)


def is_tensor(x):
    """True for a tinydl Tensor."""
    return isinstance(x, Tensor)


def shape(x):
    """The shape of x as a tuple of ints."""
    return tuple(getattr(x, "shape", np.shape(x)))


def ndim(x):
    """The number of axes of x."""
    return len(shape(x))


def size(x):
    """The number of elements of x."""
    return int(np.prod(shape(x), dtype=np.int64))


def dtype(x):
    """The dtype of x as Keras's standard name ('float32', 'int64', 'bool', ...)."""
    return str(as_tensor(x).dtype)


def stop_gradient(variable):
    """The same values, cut from the tape: no gradient flows back through it."""
    return Tensor._wrap(as_tensor(variable).data, False)


class CustomGradient(Function):
    def __init__(self, grad_fn):
        self.grad_fn = grad_fn

    def forward(self, *arrays):
        return self.values

    def backward(self, *grads):
        with no_grad():
            upstream = [Tensor._wrap(g, False) for g in grads]
            result = self.grad_fn(*upstream)
        result = result if isinstance(result, (tuple, list)) else (result,)
        out = []
        for r, shape, dtype in zip(result, self.in_shapes, self.in_dtypes):
            out.append(None if r is None else np.broadcast_to(as_tensor(r).data, shape).astype(dtype))
        self.grad_fn = None  # the closure holds forward values; free it with the node
        return tuple(out)


def custom_gradient(f):
    """Decorate f(*args) -> (output, grad_fn): backward calls grad_fn(upstream) for the inputs' gradients."""
    def wrapped(*args):
        tensors = [as_tensor(a) for a in args]
        with no_grad():
            output, grad_fn = f(*tensors)
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        node = CustomGradient(grad_fn)
        node.in_dtypes = [t.data.dtype for t in tensors]  # the engine keeps the inputs' shapes, not their arrays
        node.values = tuple(as_tensor(o).data for o in outputs) if len(outputs) > 1 else as_tensor(output).data
        return node(*tensors)
    wrapped.__name__, wrapped.__doc__ = getattr(f, "__name__", "custom_gradient"), f.__doc__
    return wrapped


def saturate_cast(x, dtype):
    """x cast to `dtype`, values first clipped to that dtype's range (no wrap-around)."""
    target = backend.as_dtype(dtype)
    x = as_tensor(x)
    info = np.iinfo(target) if target.kind in "iu" else np.finfo(target)
    if x.dtype.kind in "iub" or target.kind == "f":
        lo, hi = max(float(info.min), _lowest(x.dtype)), min(float(info.max), _highest(x.dtype))
    else:
        lo, hi = float(info.min), float(info.max)
    clipped = clip(x, lo, hi) if x.dtype.kind == "f" else Tensor(array_module(x.data).clip(x.data, lo, hi))
    return cast(clipped, target)


def _lowest(dt):
    return float(np.iinfo(dt).min) if dt.kind in "iu" else (0.0 if dt.kind == "b" else float(np.finfo(dt).min))


def _highest(dt):
    return float(np.iinfo(dt).max) if dt.kind in "iu" else (1.0 if dt.kind == "b" else float(np.finfo(dt).max))


def cond(pred, true_fn, false_fn):
    """true_fn() when pred holds, else false_fn()."""
    return true_fn() if bool(_value(pred)) else false_fn()


def switch(index, branches, *operands):
    """branches[index](*operands), the index clamped to the valid range as Keras."""
    i = int(np.clip(int(_value(index)), 0, len(branches) - 1))
    return branches[i](*operands)


def fori_loop(lower, upper, body_fun, init_val):
    """val = body_fun(i, val) for i in range(lower, upper)."""
    val = init_val
    for i in range(int(_value(lower)), int(_value(upper))):
        val = body_fun(i, val)
    return val


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """loop_vars = body(*loop_vars) while cond(*loop_vars), at most maximum_iterations times."""
    single = not isinstance(loop_vars, (tuple, list))
    state = (loop_vars,) if single else tuple(loop_vars)
    steps = 0
    while (maximum_iterations is None or steps < maximum_iterations) and bool(_value(cond(*state))):
        out = body(*state)
        state = (out,) if single else tuple(out) if isinstance(out, (tuple, list)) else (out,)
        steps += 1
    return state[0] if single else type(loop_vars)(state) if isinstance(loop_vars, tuple) else list(state)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """carry, y = f(carry, x) over the leading axis of xs (a structure); returns (carry, stacked ys)."""
    if xs is None and length is None:
        raise ValueError("scan: pass xs or length")
    leaves = tree.flatten(xs) if xs is not None else []
    n = length if length is not None else as_tensor(leaves[0]).shape[0]
    carry, ys = init, []
    steps = range(n - 1, -1, -1) if reverse else range(n)
    for i in steps:
        x = None if xs is None else tree.pack_sequence_as(xs, [getitem(as_tensor(leaf), i) for leaf in leaves])
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, _stack_structures(ys)


def associative_scan(f, elems, reverse=False, axis=0):
    """Inclusive scan with an associative f over `axis` of elems (a structure): [e0, f(e0, e1), ...]."""
    leaves = [as_tensor(e) for e in tree.flatten(elems)]
    n = leaves[0].shape[axis]
    lead = (slice(None),) * (axis % leaves[0].ndim)

    def element(i):
        return tree.pack_sequence_as(elems, [getitem(leaf, lead + (i,)) for leaf in leaves])

    order = list(range(n - 1, -1, -1)) if reverse else list(range(n))
    acc, outs = None, {}
    for i in order:
        acc = element(i) if acc is None else f(acc, element(i))
        outs[i] = acc
    stacked = [stack([tree.flatten(outs[i])[j] for i in range(n)], axis=axis) for j in range(len(leaves))]
    return tree.pack_sequence_as(elems, stacked)


def map(f, xs):  # noqa: A001  (Keras's name)
    """f applied to each slice of xs along the leading axis, results stacked."""
    leaves = tree.flatten(xs)
    n = as_tensor(leaves[0]).shape[0]
    ys = [f(tree.pack_sequence_as(xs, [getitem(as_tensor(leaf), i) for leaf in leaves])) for i in range(n)]
    return _stack_structures(ys)


def vectorized_map(function, elements):
    """function applied to each slice of elements along the leading axis (a Python loop here), stacked."""
    return map(function, elements)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """A function that maps pyfunc over the leading axis of its tensor arguments (NumPy's vectorize without
    a signature: elementwise on scalars)."""
    if signature is not None:
        raise ValueError(f"vectorize: signature is not supported (received {signature!r}; expected None)")
    excluded = set(excluded or ())

    def vectorized(*args):
        mapped = [i for i in range(len(args)) if i not in excluded]
        arrays = np.broadcast_arrays(*[convert_to_numpy(args[i]) for i in mapped])
        out = np.empty(arrays[0].shape, dtype=object)
        for idx in np.ndindex(out.shape):
            call = list(args)
            for i, a in zip(mapped, arrays):
                call[i] = Tensor(a[idx])
            out[idx] = convert_to_numpy(pyfunc(*call))
        return Tensor(np.array(out.tolist()) if out.size else np.zeros(out.shape))
    return vectorized


def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002  (Keras's name)
    """Sum of the rows of data sharing a segment id (num_segments defaults to max id + 1)."""
    return scatter_add(as_tensor(data), _ids(segment_ids), _count(segment_ids, num_segments))


def segment_max(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Maximum of the rows of data sharing a segment id."""
    return scatter_max(as_tensor(data), _ids(segment_ids), _count(segment_ids, num_segments))


def segment_min(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Minimum of the rows of data sharing a segment id."""
    return -scatter_max(-as_tensor(data), _ids(segment_ids), _count(segment_ids, num_segments))


def segment_prod(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Product of the rows of data sharing a segment id (1 for empty segments; no gradient)."""
    x = as_tensor(data).data
    device = backend.device_of(x)
    ids = convert_to_numpy(_ids(segment_ids))
    out = np.ones((_count(segment_ids, num_segments),) + x.shape[1:], dtype=x.dtype)
    np.multiply.at(out, ids, convert_to_numpy(x))  # on the host: CuPy has no multiply.at
    out = backend.to_device(out, device)
    return Tensor(out)


def _ids(segment_ids):
    t = as_tensor(segment_ids)
    return t if t.dtype.kind in "iu" else Tensor(t.data.astype(np.int64))


def _count(segment_ids, num_segments):
    if num_segments is not None:
        return int(num_segments)
    ids = convert_to_numpy(segment_ids)
    return int(ids.max()) + 1 if ids.size else 0


def _value(x):
    """A Python scalar from a Tensor, array or scalar."""
    return convert_to_numpy(x).item() if isinstance(x, Tensor) or hasattr(x, "shape") else x


def _stack_structures(ys):
    """A list of same-structured outputs as one structure of stacked tensors (None stays None)."""
    if not ys or ys[0] is None:
        return None
    leaves = [tree.flatten(y) for y in ys]
    stacked = [stack([as_tensor(leaf[j]) for leaf in leaves], axis=0) for j in range(len(leaves[0]))]
    return tree.pack_sequence_as(ys[0], stacked)

