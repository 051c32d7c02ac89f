"""Fused elementwise kernels kept as data: one source that CuPy compiles and NumPy can evaluate.

An `Elementwise` holds what `cupy.ElementwiseKernel` is built from. Its body is written in a small subset
of C that reads the same in Python: statements `[type] name = expression;`, arithmetic, comparisons, calls
of the math functions and helpers below, no `?:`, `&&`, `||`, `!` or casts. So `numpy_kernel()` runs the
very expressions the GPU runs, on NumPy arrays, and the CPU tests check a kernel's arithmetic against the
readable array-code reference; NVRTC checks that the same text compiles (tests/gpu/test_nvrtc.py).
This module never imports CuPy: backend/cuda/fused.py builds the CuPy kernels.
"""
import re

import numpy as np

# Device helpers every fused body may call; numpy_kernel() gives each its NumPy meaning (NUMPY_HELPERS).
# Activation codes are backend.kernels.ACTIVATION_CODES; activate_grad takes the activation's output.
PREAMBLE = r"""
template <typename V> __device__ V choose(bool keep, V a, V b) { return keep ? a : b; }
template <typename V> __device__ V activate(V x, int code) {
    switch (code) {
        case 1: return tanh(x);
        case 2: return V(0.5) * (V(1) + tanh(V(0.5) * x));
        case 3: return x > V(0) ? x : V(0);
        case 4: return fmin(fmax(x / V(6) + V(0.5), V(0)), V(1));
        default: return x;
    }
}
template <typename V> __device__ V activate_grad(V y, int code) {
    switch (code) {
        case 1: return V(1) - y * y;
        case 2: return y * (V(1) - y);
        case 3: return y > V(0) ? V(1) : V(0);
        case 4: return (y > V(0) && y < V(1)) ? V(1) / V(6) : V(0);
        default: return V(1);
    }
}
"""

_C_TYPES = ("T", "bool", "int", "long long", "float", "double")
_STATEMENT = re.compile(r"^(?:(?:%s)\s+)?([A-Za-z_]\w*)\s*=\s*(.+)$" % "|".join(_C_TYPES), re.S)
_FORBIDDEN = re.compile(r"\?|&&|\|\||!(?!=)|\(\s*(?:%s)\s*\)" % "|".join(_C_TYPES))


class Elementwise:
    """The parameters, body and name of one `cupy.ElementwiseKernel` (name starting with `tinydl_`)."""

    def __init__(self, in_params, out_params, operation, name):
        self.in_params, self.out_params, self.operation, self.name = in_params, out_params, operation, name
        self.preamble = PREAMBLE
        self.statements = parse(operation)

    @property
    def arguments(self):
        """The positional arguments of `cupy.ElementwiseKernel` (pass `preamble=self.preamble` too)."""
        return self.in_params, self.out_params, self.operation, self.name

    def numpy_kernel(self):
        """A function with CuPy's calling convention, `(*inputs, *outputs)`, evaluating the body with NumPy."""
        ins, outs = param_names(self.in_params), param_names(self.out_params)

        def run(*args):
            if len(args) != len(ins) + len(outs):
                raise TypeError(f"{self.name} takes {len(ins)} inputs and {len(outs)} outputs, got {len(args)}")
            scope = dict(zip(ins, args))
            for name, expression in self.statements:
                scope[name] = eval(expression, dict(NUMPY_HELPERS), scope)  # our own kernel text, parsed above
            for name, out in zip(outs, args[len(ins):]):
                np.copyto(out, scope[name], casting="unsafe")
            return tuple(args[len(ins):])
        return run


def parse(operation):
    """[(name, Python expression)] of a body in the C subset above; anything outside it is a ValueError."""
    statements = []
    for text in filter(None, (s.strip() for s in operation.split(";"))):
        match = _STATEMENT.match(text)
        if match is None or _FORBIDDEN.search(match.group(2)):
            raise ValueError(f"not in the fused-kernel subset of C (`[type] name = expression;`, no ?:, &&, ||, "
                             f"!, casts): {text!r}")
        statements.append((match.group(1), " ".join(match.group(2).split())))
    return statements


def param_names(spec):
    """The names in a CuPy parameter string such as 'T x, raw T y, int32 code'."""
    return [item.split()[-1] for item in spec.split(",") if item.strip()]


def _activate(x, code):
    if code == 1:
        return np.tanh(x)
    if code == 2:
        return 0.5 * (1 + np.tanh(0.5 * x))
    if code == 3:
        return np.where(x > 0, x, 0)
    if code == 4:
        return np.fmin(np.fmax(x / 6 + 0.5, 0), 1)
    return x


def _activate_grad(y, code):
    if code == 1:
        return 1 - y * y
    if code == 2:
        return y * (1 - y)
    if code == 3:
        return np.where(y > 0, 1, 0)
    if code == 4:
        return np.where((y > 0) & (y < 1), 1 / 6, 0)
    return np.ones_like(y)


def _typed(fn):
    """fn, with its result cast back to the dtype of its first argument (C keeps a helper's type V)."""
    def typed(x, *rest):
        return np.asarray(fn(x, *rest)).astype(np.result_type(x), copy=False)
    return typed


NUMPY_HELPERS = {
    "choose": np.where, "activate": _typed(_activate), "activate_grad": _typed(_activate_grad),
    "exp": np.exp, "log": np.log, "tanh": np.tanh, "sqrt": np.sqrt, "fmin": np.fmin, "fmax": np.fmax,
}
