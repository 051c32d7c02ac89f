"""Fused elementwise kernels kept as data: one source that CuPy compiles and NumPy can evaluate.

An `Elementwise` holds what `cupy.ElementwiseKernel` is built from. Its body is written in a small subset
of C that reads the same in Python: statements `[type] name = expression;`, arithmetic, comparisons, calls
of the math functions and helpers below (integer division as idiv/imod), `i` the element index, raw arrays
indexed by flat position, no `?:`, `&&`, `||`, `!` or casts. So `numpy_kernel()` runs the
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
__device__ long long idiv(long long a, long long b) { return a / b; }  // for a >= 0, b > 0: floor division
__device__ long long imod(long long a, long long b) { return a % b; }
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
_STATEMENT = re.compile(r"^(?:(%s)\s+)?([A-Za-z_]\w*)\s*=\s*(.+)$" % "|".join(_C_TYPES), re.S)
# what a local declared with a C type holds in NumPy ("T": the dtype of the kernel's first T argument)
_LOCAL_DTYPES = {"bool": np.bool_, "int": np.int32, "long long": np.int64, "float": np.float32, "double": np.float64}
# CuPy's dtype names for parameters, as the C type names used for locals
_C_NAMES = {"float64": "double", "float32": "float", "int32": "int", "int64": "long long", "bool": "bool"}
# float literals are double in C but weak scalars in NumPy (float32 stays float32): write integers, or pass
# the value as a parameter
_FORBIDDEN = re.compile(r"\?|&&|\|\||!(?!=)|\(\s*(?:%s)\s*\)|\d\.|\.\d|\d[eE]" % "|".join(_C_TYPES))


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
            for name in raw_params(self.in_params):  # a raw array is indexed by flat element index
                scope[name] = np.ravel(scope[name])
            first_out = args[len(ins)]
            scope["i"] = np.arange(first_out.size).reshape(first_out.shape)  # CuPy's element index
            types = {**_LOCAL_DTYPES, "T": _placeholder_dtype(self.in_params + ", " + self.out_params, args)}
            for declared, name, expression in self.statements:
                value = eval(expression, dict(NUMPY_HELPERS), scope)  # our own kernel text, parsed above
                scope[name] = value if declared is None else np.asarray(value).astype(types[declared])
            for name, out in zip(outs, args[len(ins):]):
                np.copyto(out, scope[name], casting="unsafe")
            return tuple(args[len(ins):])
        return run


class Reduction:
    """The parameters and expressions of one `cupy.ReductionKernel` with a single output: `map_expr` per
    element (the C subset above), combined by `reduce` ('sum' or 'max') in `reduce_type`, then `post_map`
    statements setting the output from the reduced value `a`."""

    _REDUCE = {"sum": ("a + b", "0", np.sum), "max": ("fmax(a, b)", "-1.0 / 0.0", np.max)}

    def __init__(self, in_params, out_params, map_expr, reduce, post_map, name, reduce_type="double"):
        if reduce not in self._REDUCE:
            raise ValueError(f"reduce must be one of {sorted(self._REDUCE)}, got {reduce!r}")
        if reduce_type not in ("double", "float"):
            raise ValueError(f"reduce_type must be 'double' or 'float', got {reduce_type!r}")
        self.in_params, self.out_params, self.map_expr, self.name = in_params, out_params, map_expr, name
        self.reduce, self.post_map, self.reduce_type = reduce, post_map, reduce_type
        self.preamble = PREAMBLE
        self.map_statement = parse(f"mapped = {map_expr}")[0][2]
        self.post_statements = parse(post_map)

    @property
    def arguments(self):
        """The positional arguments of `cupy.ReductionKernel` (pass `preamble=self.preamble` too)."""
        expr, identity, _ = self._REDUCE[self.reduce]
        return (self.in_params, self.out_params, self.map_expr, expr, self.post_map, identity, self.name,
                self.reduce_type)

    def numpy_kernel(self):
        """A function with CuPy's calling convention, `(*inputs, axis=None, keepdims=False)`, run by NumPy."""
        ins, (out,) = param_names(self.in_params), param_names(self.out_params)
        out_type = self.out_params.split()[-2]
        dtype = np.float64 if self.reduce_type == "double" else np.float32

        def run(*args, axis=None, keepdims=False):
            scope = dict(zip(ins, np.broadcast_arrays(*[np.asarray(a) for a in args])))
            mapped = np.asarray(eval(self.map_statement, dict(NUMPY_HELPERS), scope), dtype=dtype)
            scope = {"a": self._REDUCE[self.reduce][2](mapped, axis=axis, keepdims=keepdims)}
            for _, name, expression in self.post_statements:
                scope[name] = eval(expression, dict(NUMPY_HELPERS), scope)
            return np.asarray(scope[out]).astype(_LOCAL_DTYPES.get(_C_NAMES.get(out_type, out_type), dtype))
        return run


def parse(operation):
    """[(declared C type or None, name, Python expression)] of a body in the C subset above; anything outside
    it is a ValueError."""
    statements = []
    for text in filter(None, (s.strip() for s in operation.split(";"))):
        match = _STATEMENT.match(text)
        if match is None or _FORBIDDEN.search(match.group(3)):
            raise ValueError(f"not in the fused-kernel subset of C (`[type] name = expression;`, no ?:, &&, ||, "
                             f"!, casts, float literals): {text!r}")
        statements.append((match.group(1), match.group(2), " ".join(match.group(3).split())))
    return statements


def param_names(spec):
    """The names in a CuPy parameter string such as 'T x, raw T y, int32 code'."""
    return [item.split()[-1] for item in spec.split(",") if item.strip()]


def raw_params(spec):
    """The names of the `raw` parameters in a CuPy parameter string."""
    return [item.split()[-1] for item in spec.split(",") if item.split()[:1] == ["raw"]]


def _placeholder_dtype(params, args):
    """The dtype CuPy gives the placeholder T: that of the first argument declared `T` (None if none)."""
    for item, arg in zip(params.split(","), args):
        if item.split()[-2] == "T" and hasattr(arg, "dtype"):
            return arg.dtype
    return None


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
    "choose": np.where, "idiv": np.floor_divide, "imod": np.mod,
    "activate": _typed(_activate), "activate_grad": _typed(_activate_grad),
    "exp": np.exp, "log": np.log, "tanh": np.tanh, "sqrt": np.sqrt, "fmin": np.fmin, "fmax": np.fmax,
}
