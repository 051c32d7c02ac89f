"""Find every CUDA C source in tinydl and compile it through NVRTC, which needs no GPU or driver.

A source is whatever a `RawKernel`, `ElementwiseKernel`, `ReductionKernel` or `RawModule` is built from.
Call sites are found by reading the code (ast); the sources themselves by loading each module that has
one with those CuPy classes replaced by recorders, so templated and generated sources are seen exactly
as CuPy will see them. Elementwise and reduction bodies are wrapped into a complete kernel the way CuPy
does (typed pointers, `i` the element index), once per type a placeholder such as `T` can take.
"""
import ast
import importlib.util
import pathlib
import sys

KINDS = ("RawKernel", "ElementwiseKernel", "ReductionKernel", "RawModule")
PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "tinydl"
ARCH = "-arch=compute_90"  # the H200; NVRTC only needs the virtual architecture to emit PTX
PLACEHOLDER_TYPES = ("float", "double")  # what tinydl's kernels are launched with
C_TYPES = {"bool": "bool", "int8": "signed char", "int16": "short", "int32": "int", "int64": "long long",
           "uint8": "unsigned char", "uint16": "unsigned short", "uint32": "unsigned int",
           "uint64": "unsigned long long", "float32": "float", "float64": "double"}


def call_sites(root=PACKAGE):
    """[(path, first line, last line, kind)] of every construction of a CuPy kernel class under `root`."""
    sites = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name in KINDS:
                    sites.append((path, node.lineno, node.end_lineno, name))
    return sites


def recorded_kernels(paths):
    """[Kernel] built when each file in `paths` is loaded (as a fresh module) with CuPy's classes recorded."""
    import cupy  # lazy: the callers skip without CuPy
    kernels = []
    saved = {kind: getattr(cupy, kind) for kind in KINDS}
    try:
        for kind in KINDS:
            setattr(cupy, kind, _recorder(kind, kernels))
        for i, path in enumerate(sorted(set(paths))):
            spec = importlib.util.spec_from_file_location(f"_tinydl_nvrtc_probe_{i}", path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
    finally:
        for kind, cls in saved.items():
            setattr(cupy, kind, cls)
    return kernels


class Kernel:
    """One recorded construction: its kind, arguments and where it happened."""

    def __init__(self, kind, args, kwargs, path, line):
        self.kind, self.args, self.kwargs, self.path, self.line = kind, args, kwargs, pathlib.Path(path), line

    def __repr__(self):
        return f"{self.kind} at {self.path.name}:{self.line}"

    def programs(self):
        """[(label, complete CUDA C source, extra NVRTC options)] to compile for this kernel."""
        at = {"RawKernel": 2, "ReductionKernel": 10}.get(self.kind, len(self.args))  # options' position
        options = tuple(self._arg(at, "options", ()) or ())
        if self.kind == "RawKernel":
            return [(self._arg(1, "name"), self._arg(0, "code"), options)]
        if self.kind == "RawModule":
            return [("module", self._arg(0, "code"), options)]
        placeholders = _placeholders(self._arg(0, "in_params"), self._arg(1, "out_params"))
        typings = [dict(zip(placeholders, types)) for types in _product(PLACEHOLDER_TYPES, len(placeholders))]
        build = _elementwise_source if self.kind == "ElementwiseKernel" else _reduction_source
        return [(f"{self._name()}<{','.join(t.values())}>", build(self, t), options) for t in typings or [{}]]

    def _arg(self, i, key, default=None):
        """Argument `key` of CuPy's constructor, given at position i or by name (or `default`)."""
        if len(self.args) > i:
            return self.args[i]
        if default is None:
            return self.kwargs[key]
        return self.kwargs.get(key, default)

    def _name(self):
        return self._arg(3, "name", "kernel") if self.kind == "ElementwiseKernel" else \
            self._arg(6, "name", "reduce_kernel")

    def _preamble(self):
        return self._arg(5, "preamble", "") if self.kind == "ElementwiseKernel" else self._arg(9, "preamble", "")


def compile_source(source, label, options=()):
    """PTX of `source`; a compile error raises with NVRTC's log."""
    from cupy_backends.cuda.libs import nvrtc  # lazy: needs CuPy
    program = nvrtc.createProgram(source, f"{label}.cu", [], [])
    try:
        nvrtc.compileProgram(program, [ARCH, *options])
    except nvrtc.NVRTCError as error:
        raise RuntimeError(f"NVRTC cannot compile {label}: {error}\n{nvrtc.getProgramLog(program)}\n"
                           f"-- source --\n{source}") from None
    try:
        return nvrtc.getPTX(program)
    finally:
        nvrtc.destroyProgram(program)


def nvrtc_problem():
    """Why NVRTC cannot be used here (a sentence), or None when it compiles a trivial kernel."""
    try:
        compile_source('extern "C" __global__ void probe(float* x) { x[0] = 1.0f; }', "probe")
    except Exception as error:  # ImportError, a missing libnvrtc, a broken install: all mean "cannot test here"
        return f"NVRTC unusable ({type(error).__name__}: {error}); pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12"
    return None


# -- wrapping elementwise and reduction bodies as CuPy does --------------------------------------

_PRELUDE = """
template <typename V> struct RawArray {
    V* p; long long n;
    __device__ V& operator[](long long k) const { return p[k]; }
    __device__ long long size() const { return n; }
};
"""


def _params(spec):
    """[(raw, type, name)] from CuPy's parameter string such as 'raw T x, int64 n'."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        words = item.split()
        out.append((words[0] == "raw", words[-2], words[-1]))
    return out


def _placeholders(*specs):
    """Type names in the parameter strings that are not dtypes: CuPy's type placeholders, in order."""
    seen = []
    for spec in specs:
        for _, t, _ in _params(spec):
            if t not in C_TYPES and t not in seen:
                seen.append(t)
    return seen


def _product(values, n):
    """All n-tuples of `values`."""
    out = [()]
    for _ in range(n):
        out = [t + (v,) for t in out for v in values]
    return out if n else []


def _declarations(kernel, typing):
    """(typedefs, kernel parameters, per-element bindings) for the in and out parameters."""
    typedefs = "".join(f"typedef {c} {t};\n" for t, c in typing.items())
    ins, outs = _params(kernel._arg(0, "in_params")), _params(kernel._arg(1, "out_params"))
    params, bind = [], []
    for is_out, (raw, t, name) in [(False, p) for p in ins] + [(True, p) for p in outs]:
        c = C_TYPES.get(t, t)
        if raw:
            params.append(f"RawArray<{c}> {name}")
        else:
            params.append(f"{'' if is_out else 'const '}{c}* _raw_{name}")
            bind.append(f"{'' if is_out else 'const '}{c}& {name} = _raw_{name}[i];")
    return typedefs, params, bind


def _elementwise_source(kernel, typing):
    typedefs, params, bind = _declarations(kernel, typing)
    return (f"{_PRELUDE}{typedefs}{kernel._preamble()}\n"
            f'extern "C" __global__ void {kernel._name()}({", ".join(params + ["long long _n"])}) {{\n'
            "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < _n;\n"
            "       i += (long long)blockDim.x * gridDim.x) {\n"
            f"    {' '.join(bind)}\n    {kernel._arg(2, 'operation')};\n  }}\n}}\n")


def _reduction_source(kernel, typing):
    typedefs, params, bind = _declarations(kernel, typing)
    ins = _params(kernel._arg(0, "in_params"))
    reduce_type = kernel._arg(7, "reduce_type", "") or C_TYPES.get(ins[0][1], ins[0][1])
    identity = kernel._arg(5, "identity")
    inputs = [b for b in bind if b.startswith("const ")]
    outputs = [b.replace("[i]", "[blockIdx.x]") for b in bind if not b.startswith("const ")]
    return (f"{_PRELUDE}{typedefs}typedef {reduce_type} _type_reduce;\n{kernel._preamble()}\n"
            f"#define REDUCE(a, b) ({kernel._arg(3, 'reduce_expr')})\n"
            f'extern "C" __global__ void {kernel._name()}({", ".join(params + ["long long _n"])}) {{\n'
            f"  _type_reduce a = _type_reduce({identity});\n"
            "  for (long long i = threadIdx.x; i < _n; i += blockDim.x) {\n"
            f"    {' '.join(inputs)}\n    _type_reduce b = _type_reduce({kernel._arg(2, 'map_expr')});\n"
            "    a = REDUCE(a, b);\n  }\n"
            f"  {{ {' '.join(outputs)} {kernel._arg(4, 'post_map_expr')}; }}\n}}\n")


def _recorder(kind, into):
    """A stand-in for a CuPy kernel class that records how it was built."""
    def record(*args, **kwargs):
        frame = sys._getframe(1)
        into.append(Kernel(kind, args, kwargs, frame.f_code.co_filename, frame.f_lineno))
        return None
    return record

