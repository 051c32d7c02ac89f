"""Every kernel in the kernel table has a CPU function and a CUDA twin with the same name and signature.

CuPy is not installed everywhere, so the twins are compared by parsing the source (ast), not by import.
"""
import ast
import pathlib

import pytest

from tinydl.backend.kernels import KERNELS

BACKEND = pathlib.Path(__file__).resolve().parent.parent / "tinydl" / "backend"


def _signature(path, name):
    """(positional args, *args, keyword-only args) of the module-level function `name`, or a reason it is absent."""
    if not path.exists():
        return f"no file {path.relative_to(BACKEND.parent.parent)}"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            a = node.args
            return ([x.arg for x in a.posonlyargs + a.args], a.vararg.arg if a.vararg else None,
                    [x.arg for x in a.kwonlyargs])
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return "assigned"
    return f"no function {name} in {path.name}"


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_cpu_kernel_and_cuda_twin_share_name_and_signature(name):
    module = KERNELS[name]
    cpu = _signature(BACKEND / "cpu" / f"{module}.py", name)
    cuda = _signature(BACKEND / "cuda" / f"{module}.py", name)
    assert isinstance(cpu, tuple), cpu
    assert cpu == cuda or cuda == "assigned", f"{name}: cpu {cpu} vs cuda {cuda}"
