"""One test set over every backend: the array-code kernels of backend/cuda (the GPU path and the readable
reference) and the numba kernels of backend/cpu give the same results, run here with xp = numpy.

Every kernel in the kernel table has a CPU function and a CUDA twin with the same name and signature;
the twins written as array code are called on NumPy arrays and compared with the numba kernels, case by
case below (tests/gpu runs the same cases on CuPy arrays). CuPy is not installed everywhere, so the
signatures are compared by parsing the source (ast), not by import.
"""
import ast
import importlib
import pathlib

import numpy as np
import pytest

from tinydl.backend.kernels import KERNELS

ROOT = pathlib.Path(__file__).resolve().parent.parent
BACKEND = ROOT / "tinydl" / "backend"
# the twins written as array code on any array module; the others are CUDA C (tests/gpu/test_nvrtc.py)
ARRAY_CODE = ("norm", "conv", "pool", "rnn")


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_cpu_kernel_and_cuda_twin_share_name_and_signature(name):
    module = KERNELS[name]
    cpu = _signature(BACKEND / "cpu" / f"{module}.py", name)
    cuda = _signature(BACKEND / "cuda" / f"{module}.py", name)
    assert isinstance(cpu, tuple), cpu
    assert cpu == cuda or cuda == "assigned", f"{name}: cpu {cpu} vs cuda {cuda}"


def test_every_array_code_kernel_has_a_case():
    names = {n for n, m in KERNELS.items() if m in ARRAY_CODE}
    assert names == {n for case in CASES for n in case.__name__.split("__")[1:]}


def test_only_the_backend_imports_cupy():
    offenders = []
    for path in sorted((ROOT / "tinydl").rglob("*.py")):
        if BACKEND in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in
                          ("cupy", "cupyx", "cupy_backends")]
    assert not offenders, f"only tinydl/backend may import CuPy: {offenders}"


@pytest.mark.parametrize("module", ARRAY_CODE)
def test_array_code_twins_import_without_cupy(module):
    source = (BACKEND / "cuda" / f"{module}.py").read_text()
    imported = {a.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for a in node.names}
    imported |= {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert not {n for n in imported if n.startswith("cupy")}, imported


# -- the cases: each calls one array-code twin and its numba kernel with the same arguments --------------

def case__layer_norm_fwd__layer_norm_bwd(same, r, dtype):
    x, g, gamma, beta = r(7, 5), r(7, 5), r(5), r(5)
    _, xhat, _, _, inv = same("norm", "layer_norm_fwd", x, gamma, beta, 1e-3)
    same("norm", "layer_norm_bwd", g, xhat, inv, gamma)


def case__batch_norm_fwd__batch_norm_bwd(same, r, dtype):
    x, g, gamma, beta = r(9, 4), r(9, 4), r(4), r(4)
    _, mean, _, inv = same("norm", "batch_norm_fwd", x, gamma, beta, 1e-3)
    same("norm", "batch_norm_bwd", g, x, mean, inv, gamma)


def case__im2col__col2im__conv2d_direct(same, r, dtype):
    # 6x5 image, 3x2 kernel, strides (2, 1), dilation (1, 2), padding top/left 1 (bottom/right follow)
    n, h, w, c, groups = 2, 6, 5, 4, 2
    kh, kw, sh, sw, dh, dw, pt, pl = 3, 2, 2, 1, 1, 2, 1, 1
    oh, ow = (h + 2 * pt - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pl - dw * (kw - 1) - 1) // sw + 1
    geometry = (kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
    x = r(n, h, w, c)
    cols = same("conv", "im2col", x, *geometry, groups)
    same("conv", "col2im", r(*cols.shape), x.shape, *geometry)
    same("conv", "conv2d_direct", x, r(kh, kw, c, 3), *geometry[2:])


def case__max_pool2d__max_pool2d_backward__avg_pool2d__avg_pool2d_backward(same, r, dtype):
    # 3x2 windows, stride 2, top padding 1: the border windows hold padded taps
    n, h, w, c = 2, 6, 5, 3
    ph, pw, sh, sw, pt, pl = 3, 2, 2, 2, 1, 0
    oh, ow = (h + 2 * pt - ph) // sh + 1, (w + pl - pw) // sw + 1
    x, g = r(n, h, w, c), r(n, oh, ow, c)
    _, argmax = same("pool", "max_pool2d", x, ph, pw, sh, sw, pt, pl, oh, ow)
    same("pool", "max_pool2d_backward", g, argmax, x.shape)
    same("pool", "avg_pool2d", x, ph, pw, sh, sw, pt, pl, oh, ow)
    same("pool", "avg_pool2d_backward", g, x.shape, ph, pw, sh, sw, pt, pl)


def case__lstm_fwd__lstm_bwd__gru_fwd__gru_bwd__simple_rnn_fwd__simple_rnn_bwd(same, r, dtype):
    n, t, u = 3, 5, 4
    mask = np.random.default_rng(1).random((n, t)) < 0.7
    h0, c0, dh, dc, dhs = r(n, u), r(n, u), r(n, u), r(n, u), r(n, t, u)
    for act, rec in [(1, 2), (3, 4), (0, 2)]:  # tanh/sigmoid, relu/hard_sigmoid, linear/sigmoid
        xw, U = r(n, t, 4 * u), r(u, 4 * u) * 0.5
        _, cs, gates = same("rnn", "lstm_fwd", xw, h0, c0, U, mask, act, rec)
        same("rnn", "lstm_bwd", dhs, dh, dc, gates, cs, c0, U, mask, act, rec)
        for reset_after in (True, False):
            xw, U, b = r(n, t, 3 * u), r(u, 3 * u) * 0.5, r(3 * u)
            hs, gates, aux = same("rnn", "gru_fwd", xw, h0, U, b, mask, act, rec, reset_after)
            same("rnn", "gru_bwd", dhs, dh, gates, aux, hs, h0, U, mask, act, rec, reset_after)
        xw, U = r(n, t, u), r(u, u) * 0.5
        hs = same("rnn", "simple_rnn_fwd", xw, h0, U, mask, act)
        same("rnn", "simple_rnn_bwd", dhs, dh, hs, h0, U, mask, act)


CASES = [case__layer_norm_fwd__layer_norm_bwd, case__batch_norm_fwd__batch_norm_bwd,
         case__im2col__col2im__conv2d_direct,
         case__max_pool2d__max_pool2d_backward__avg_pool2d__avg_pool2d_backward,
         case__lstm_fwd__lstm_bwd__gru_fwd__gru_bwd__simple_rnn_fwd__simple_rnn_bwd]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.split("__")[1])
def test_array_code_twin_matches_the_numba_kernel(case, dtype):
    case(same_on(np, dtype), draws(dtype), dtype)


def same_on(xp, dtype):
    """same(module, name, *args): run the twin on `xp` arrays and the numba kernel on NumPy arrays, assert
    equal values, dtypes and shapes, and return the numba kernel's outputs (inputs of the next kernel)."""
    tol = {"rtol": 2e-4, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}

    def same(module, name, *args):
        cpu = getattr(importlib.import_module(f"tinydl.backend.cpu.{module}"), name)(*args)
        twin_args = [xp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        twin = getattr(importlib.import_module(f"tinydl.backend.cuda.{module}"), name)(*twin_args)
        pairs = zip(twin, cpu) if isinstance(cpu, tuple) else [(twin, cpu)]
        for i, (a, b) in enumerate(pairs):
            a = a.get() if hasattr(a, "get") else np.asarray(a)
            assert a.dtype == b.dtype and a.shape == b.shape, (name, i, a.dtype, b.dtype, a.shape, b.shape)
            if b.dtype.kind in "iub":
                np.testing.assert_array_equal(a, b, err_msg=f"{name} output {i}")
            else:
                np.testing.assert_allclose(a, b, **tol, err_msg=f"{name} output {i}")
        return cpu
    return same


def draws(dtype):
    """r(*shape): standard normal draws in `dtype` from a fixed seed."""
    rng = np.random.default_rng(4)
    return lambda *shape: rng.standard_normal(shape).astype(dtype)


def _signature(path, name):
    """(positional args, *args, keyword-only args) of the module-level function `name`, or a reason it is absent."""
    if not path.exists():
        return f"no file {path.relative_to(ROOT)}"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            a = node.args
            return ([x.arg for x in a.posonlyargs + a.args], a.vararg.arg if a.vararg else None,
                    [x.arg for x in a.kwonlyargs])
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return "assigned"
    return f"no function {name} in {path.name}"
