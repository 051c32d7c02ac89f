"""Every CUDA C source in tinydl compiles through NVRTC, on any machine (no GPU or driver needed).

Skips where CuPy or the NVRTC library is missing, unless TINYDL_REQUIRE_CUPY=1 (CI sets it), where
that is a failure.
"""
import os
import pathlib

import pytest

from tests.gpu import cuda_sources

_problem = cuda_sources.nvrtc_problem()  # also says when CuPy itself is missing
if _problem and os.environ.get("TINYDL_REQUIRE_CUPY"):
    raise RuntimeError(f"TINYDL_REQUIRE_CUPY is set but {_problem}")
pytestmark = pytest.mark.skipif(_problem is not None, reason=_problem or "")

SITES = cuda_sources.call_sites()


def _kernels():
    return cuda_sources.recorded_kernels({path for path, *_ in SITES}) if _problem is None else []


KERNELS = _kernels()


def test_tinydl_has_cuda_sources_to_compile():
    # the attention softmax, the fused loss gradient, erf and the graph kernels today
    assert len(SITES) >= 8 and {kind for *_, kind in SITES} >= {"RawKernel", "ElementwiseKernel"}


@pytest.mark.parametrize("site", SITES, ids=lambda s: f"{s[0].name}:{s[1]}")
def test_every_kernel_construction_is_seen_when_its_module_loads(site):
    path, first, last, kind = site
    seen = [k for k in KERNELS if k.path == path and first <= k.line <= last and k.kind == kind]
    assert seen, (f"{kind} at {path.name}:{first} was not built when the module loaded: build CUDA kernels "
                  "at import (CuPy compiles on first launch), so this test can compile their source")


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_cuda_source_compiles(kernel):
    programs = kernel.programs()
    assert programs
    for label, source, options in programs:
        assert "tinydl" in label or kernel.kind == "RawModule", f"kernel names start with tinydl_: {label}"
        ptx = cuda_sources.compile_source(source, label, options)
        assert b".entry" in ptx or ".entry" in str(ptx)


# -- the checker itself: it passes what CuPy accepts and fails what NVRTC rejects ------------------------

def test_a_compile_error_fails_with_the_nvrtc_log():
    with pytest.raises(RuntimeError, match="NVRTC cannot compile broken"):
        cuda_sources.compile_source('extern "C" __global__ void broken(float* x) { x[0] = ; }', "broken")


def test_elementwise_and_reduction_bodies_are_wrapped_as_cupy_does(tmp_path):
    source = tmp_path / "kernels.py"
    source.write_text(
        "import cupy\n"
        "A = cupy.ElementwiseKernel('T x, raw T y, int64 n', 'T z', 'z = twice(x) + y[i % n] + (T)y.size()',\n"
        "                           'tinydl_a', preamble='__device__ T twice(T v) { return v + v; }')\n"
        "B = cupy.ReductionKernel('T x', 'T y', 'x * x', 'a + b', 'y = a', '0', 'tinydl_b', 'double')\n"
        "C = cupy.ElementwiseKernel('T x', 'T y', 'y = undefined_function(x)', 'tinydl_c')\n")
    sites = cuda_sources.call_sites(tmp_path)
    assert [kind for *_, kind in sites] == ["ElementwiseKernel", "ReductionKernel", "ElementwiseKernel"]
    a, b, c = cuda_sources.recorded_kernels([source])
    assert [label for label, _, _ in a.programs()] == ["tinydl_a<float>", "tinydl_a<double>"]
    for kernel in (a, b):
        for label, src, options in kernel.programs():
            cuda_sources.compile_source(src, label, options)
    label, src, options = c.programs()[0]
    with pytest.raises(RuntimeError, match="undefined_function"):
        cuda_sources.compile_source(src, label, options)


def test_sources_are_found_in_any_module(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "fused.py").write_text("import cupy as cp\nK = cp.RawModule(code='__global__ void f() {}')\n")
    sites = cuda_sources.call_sites(tmp_path)
    assert [(pathlib.Path(p).name, kind) for p, _, _, kind in sites] == [("fused.py", "RawModule")]
