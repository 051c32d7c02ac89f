"""Every cupy.* / cupyx.* name tinydl uses exists in the installed CuPy (which imports without a GPU), so a
misspelt or missing CuPy function fails on the CPU. tinydl calls the array module of its arrays `xp`
(`xp = array_module(x)`): on the GPU that is cupy, so every `xp.*` name is checked against CuPy too.

Skips where CuPy is missing, unless TINYDL_REQUIRE_CUPY=1 (CI sets it).
"""
import ast
import importlib
import os
import pathlib

import pytest

if not os.environ.get("TINYDL_REQUIRE_CUPY"):
    pytest.importorskip("cupy", reason="needs cupy-cuda12x (CuPy imports without a GPU)")

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "tinydl"
CUPY_ROOTS = ("cupy", "cupyx", "cupy_backends")


def test_every_cupy_name_used_in_tinydl_exists():
    uses = [use for path in sorted(PACKAGE.rglob("*.py")) for use in cupy_names(path)]
    assert len(uses) > 200  # the kernels in backend/cuda and every `xp.` in the ops
    missing = [f"{where}: {dotted}" for where, dotted in uses if not resolves(dotted)]
    assert not missing, f"not in the installed CuPy: {missing}"


def test_a_misspelt_cupy_name_is_reported(tmp_path):
    source = tmp_path / "kernel.py"
    source.write_text("import cupy as cp\nfrom cupyx import scatter_add\n"
                      "def f(xp, x):\n    return cp.zeros_likee(x) + xp.cumsum(x) + xp.cumsumm(x)\n")
    uses = [dotted for _, dotted in cupy_names(source)]
    assert sorted(uses) == ["cupy.cumsum", "cupy.cumsumm", "cupy.zeros_likee", "cupyx.scatter_add"]
    assert [d for d in uses if not resolves(d)] == ["cupy.cumsumm", "cupy.zeros_likee"]


def cupy_names(path, xp_is_cupy=True):
    """[(file:line, 'cupy.a.b')] for every attribute chain on a name bound to CuPy in the file at `path`
    (and on `xp`, the array module, unless xp_is_cupy is False)."""
    tree = ast.parse(path.read_text())
    bound = {"xp": "cupy"} if xp_is_cupy else {}
    uses = []
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}  # only the longest chain counts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in CUPY_ROOTS:
                    bound[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in CUPY_ROOTS:
            for a in node.names:
                uses.append((f"{path.name}:{node.lineno}", f"{node.module}.{a.name}"))
    for node in ast.walk(tree):
        chain = _chain(node)
        if chain and chain[0] in bound and id(node) not in inner:
            uses.append((f"{path.name}:{node.lineno}", ".".join([bound[chain[0]], *chain[1:]])))
    return uses


def resolves(dotted):
    """True when 'pkg.a.b' is an attribute (or submodule) path of the installed package."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, name in enumerate(parts[1:], start=1):
        if hasattr(obj, name):
            obj = getattr(obj, name)
            continue
        try:
            obj = importlib.import_module(".".join(parts[:i + 1]))
        except ImportError:
            return False
    return True


def _chain(node):
    """['cupy', 'cuda', 'runtime'] for the expression cupy.cuda.runtime, None for anything else."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or not names:
        return None
    return [node.id, *reversed(names)]

