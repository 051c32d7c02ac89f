"""The autograd engine: Function nodes recorded on a tape, and an iterative backward pass.

A `Function` computes on raw arrays. `Function.apply(*inputs)` wraps its result in Tensors that
remember the function that made them (`tensor._ctx`). A node keeps, per input, only where that
input's gradient must go (`edges`: the producing node and output index, or the leaf Tensor): never
the input Tensors themselves, so an intermediate array lives only as long as someone holds it or a
Function saved it for backward (as PyTorch). That chain of node-to-node links is the tape. `backward`
walks it once, newest node first, handing each node the gradient of its outputs and passing the
gradients it returns on along its edges.
"""
import contextlib

import numpy as np

from tinydl.backend import array_module

__all__ = ["Function", "backward", "no_grad", "enable_grad", "is_grad_enabled", "unbroadcast"]

_grad_enabled = [True]
_FREED = ("backward through a graph whose saved values were already freed by an earlier backward(); "
          "pass retain_graph=True to the first backward() to go through it twice")


def is_grad_enabled():
    """True unless inside `no_grad()`."""
    return _grad_enabled[0]


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that switches gradient recording on or off."""

    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        self.previous = _grad_enabled[0]
        _grad_enabled[0] = self.enabled

    def __exit__(self, *exc):
        _grad_enabled[0] = self.previous


def no_grad(fn=None):
    """Stop recording the tape, as `with no_grad():` or as the decorator `@no_grad`."""
    mode = _GradMode(False)
    return mode(fn) if callable(fn) else mode


def enable_grad(fn=None):
    """Record the tape again inside a `no_grad` block."""
    mode = _GradMode(True)
    return mode(fn) if callable(fn) else mode


class Function:
    """One differentiable operation: `forward` and `backward` on raw arrays.

    Non-differentiable parameters (an axis, a shape) are arguments of the subclass's `__init__`:
    `Sum(axis=0, keepdims=False)(x)` makes the node and runs it; `Exp.apply(x)` is the same for a
    Function without parameters. Subclasses set what backward needs as attributes of `self` during
    forward. `forward` returns an array, or a tuple of arrays for several outputs; `backward`
    receives one gradient per output and returns one gradient (or None) per input, in the order of
    the tensor arguments.
    """

    __slots__ = ("edges", "needs_grad", "in_shapes", "n_out", "out_meta", "__dict__")
    differentiable = True

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs):
        """Run a Function that takes no parameters on `inputs`: `cls()(*inputs)`."""
        return cls()(*inputs)

    def __call__(self, *inputs):
        """Run forward on the inputs' arrays and, when gradients are needed, record this node."""
        Tensor = _Tensor or _bind_tensor()
        tensors = [x if isinstance(x, Tensor) else _as_tensor(x) for x in inputs]
        out = self.forward(*[t.data for t in tensors])
        needs = [t.requires_grad for t in tensors] if self.differentiable and _grad_enabled[0] else ()
        record = True in needs
        if type(out) is not tuple:
            result = Tensor._wrap(np.asarray(out) if isinstance(out, np.generic) else out, record)
            if record:
                self._link(tensors, needs)
                self.n_out, self.out_meta = 1, None
                result._ctx = self
            return result
        results = tuple(Tensor._wrap(_array(o), record) for o in out)
        if record:
            self._link(tensors, needs)
            self.n_out = len(results)
            self.out_meta = [(o.data.shape, o.data.dtype) for o in results]  # to zero-fill unused outputs
            for i, o in enumerate(results):
                o._ctx = self
                o._out_index = i
        return results

    def _link(self, tensors, needs):
        """Record where each input's gradient goes, without keeping the inputs (or their arrays) alive:
        (producing node, output index), or (the leaf itself, 0), or None when it needs no gradient."""
        self.needs_grad = needs
        self.in_shapes = [t.data.shape for t in tensors]
        self.edges = [None if not need else (t, 0) if t._ctx is None else (t._ctx, t._out_index)
                      for t, need in zip(tensors, needs)]


_Tensor = _as_tensor = None  # tinydl.tensor imports this module, so its names are bound on first use


def _bind_tensor():
    """Look up Tensor and as_tensor once (a function-level import on every op costs microseconds)."""
    global _Tensor, _as_tensor
    from tinydl.tensor import Tensor, as_tensor
    _Tensor, _as_tensor = Tensor, as_tensor
    return Tensor


def _array(out):
    """NumPy reductions return scalars (np.float32); Tensors always hold arrays."""
    return np.asarray(out) if isinstance(out, np.generic) else out


def backward(root, gradient, retain_graph=False):
    """Backpropagate `gradient` (an array shaped like root) from `root` to every leaf that requires grad."""
    if root._ctx is None:
        _accumulate_leaf(root, gradient)
        return
    pending = {root._ctx: [None] * root._ctx.n_out}  # node -> gradients of its outputs, summed so far
    pending[root._ctx][root._out_index] = gradient
    for fn in _topological_order(root._ctx):
        grads = pending.pop(fn, None)
        if grads is None:
            continue
        if fn.edges is None:
            raise RuntimeError(_FREED)
        if fn.n_out == 1:
            in_grads = fn.backward(grads[0])
        else:
            xp = array_module(gradient)
            in_grads = fn.backward(*[xp.zeros(shape, dtype) if g is None else g
                                     for g, (shape, dtype) in zip(grads, fn.out_meta)])
        if type(in_grads) is not tuple and type(in_grads) is not list:
            in_grads = (in_grads,)
        for i, (edge, shape, g) in enumerate(zip(fn.edges, fn.in_shapes, in_grads)):
            if g is None or edge is None:
                continue
            if isinstance(g, np.generic):  # numpy arithmetic on 0-d arrays returns scalars
                g = np.asarray(g)
            if g.shape != shape:
                raise _wrong_shape(fn, i, shape, g.shape)
            node, index = edge
            if not isinstance(node, Function):
                _accumulate_leaf(node, g)
                continue
            slot = pending.get(node)
            if slot is None:
                slot = pending[node] = [None] * node.n_out
            slot[index] = g if slot[index] is None else _array(slot[index] + g)
        if not retain_graph:
            _free(fn)


def _accumulate_leaf(t, g):
    """Add gradient array `g` into leaf tensor `t`'s `.grad` (PyTorch-style accumulation)."""
    Tensor = _Tensor or _bind_tensor()
    if g.dtype != t.data.dtype:
        g = g.astype(t.data.dtype)
    if t.grad is None:
        t.grad = Tensor._wrap(g, False)
    else:
        t.grad = Tensor._wrap(_array(t.grad.data + g), False)


def _wrong_shape(fn, index, expected, received):
    """The error for a backward that returned a gradient not shaped like its input."""
    return ValueError(f"{type(fn).__name__}.backward returned a gradient of shape {tuple(received)} for input "
                      f"{index}, expected the input's shape {tuple(expected)}; a Function whose forward broadcasts "
                      "must reduce its gradient with unbroadcast(g, shape) itself")


def _topological_order(start):
    """Function nodes reachable from `start`, each before every node that produced its inputs.

    A depth-first walk with an explicit stack (deep graphs do not hit the recursion limit): a node
    is emitted once all of its producers have been, and the reversed list puts consumers first.
    """
    if start.edges is None:
        raise RuntimeError(_FREED)
    visited = {start}
    postorder = []
    stack = [(start, iter(start.edges))]
    while stack:
        fn, edges = stack[-1]
        for edge in edges:
            parent = edge[0] if edge is not None else None
            if isinstance(parent, Function) and parent not in visited:
                if parent.edges is None:
                    raise RuntimeError(_FREED)
                visited.add(parent)
                stack.append((parent, iter(parent.edges)))
                break
        else:
            stack.pop()
            postorder.append(fn)
    postorder.reverse()
    return postorder


def _free(fn):
    """Drop what a node saved for backward, so memory goes as soon as the pass is past it."""
    fn.__dict__.clear()
    fn.edges = None


def unbroadcast(grad, shape):
    """Sum `grad` over the axes that broadcasting added or stretched, so it has `shape` again."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return _array(grad.reshape(shape))
