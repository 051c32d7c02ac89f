"""The import rule of docs/architecture.md, checked on the source with the ast.

Imports point down the floors below (a module may import its own floor and the floors beneath it),
no modules import each other in a circle, and an import inside a function only keeps a heavy or
optional package lazy (numba, cupy, h5py, onnx, mpi4py, ...). What breaks the rule today is listed
in the allowlists at the end, each with its reason, so that the list can only shrink.
"""
import ast
import functools
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "tinydl"

# Floors, lowest first: a module belongs to the floor of the longest prefix that names it.
FLOORS = [
    # arrays, devices and kernels; the config registry every class registers with when defined;
    # plain helpers that know nothing of Tensors
    ("foundation", ["tinydl.backend", "tinydl.io.config", "tinydl.io.files", "tinydl.io.limits", "tinydl.io.tensorboard",
                    "tinydl.tree"]),
    # Function, Tensor and the differentiable ops
    ("engine", ["tinydl.autograd", "tinydl.tensor", "tinydl.ops", "tinydl.random"]),
    # what layers and training are made of
    ("building blocks", ["tinydl.testing", "tinydl.graph", "tinydl.initializers", "tinydl.activations",
                         "tinydl.regularizers", "tinydl.constraints", "tinydl.schedules", "tinydl.optimizers",
                         "tinydl.losses", "tinydl.metrics",
                         # data parallel: layers (synchronized BatchNormalization), callbacks and fit call it
                         "tinydl.distribution"]),
    ("layers", ["tinydl.layers"]),
    ("callbacks", ["tinydl.callbacks"]),
    # model files: the saving entry point and its formats know layers and optimizers, never tinydl.models
    ("saving", ["tinydl.io"]),
    ("models", ["tinydl.models", "tinydl.data"]),
    # reading and writing models, and everything built on the whole library
    ("top", ["tinydl.io.onnx", "tinydl.io.onnx_converters", "tinydl.io.onnx_graph", "tinydl.io.onnx_recurrent",
             "tinydl.io.onnx_layers",
             "tinydl.saving", "tinydl.utils", "tinydl.wrappers",
             "tinydl.datasets", "tinydl.examples", "tinydl.distillation", "tinydl.__main__", "tinydl"]),
]

# Packages a function may import, to keep `import tinydl` fast or an optional dependency optional.
LAZY_PACKAGES = {"numba", "cupy", "cupyx", "cupy_backends", "h5py", "onnx", "onnxruntime", "mpi4py", "torch",
                 "keras", "tensorboard", "threadpoolctl", "importlib", "scipy", "PIL", "pydot", "openvino"}


def modules():
    """{module name: path} for every .py file of the package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def imports(name):
    """(imported tinydl module or outside package, line, inside a function?) for every import in `name`."""
    return _imports(name, MODULES[name])


@functools.lru_cache(maxsize=None)
def _imports(name, path):
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((_resolve(a.name), child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _absolute(name, child)
                found.extend((_resolve(f"{base}.{a.name}"), child.lineno, in_function) for a in child.names)
            visit(child, nested)
    visit(tree, False)
    return found


def _absolute(name, node):
    """The absolute module a `from ... import` reads from."""
    if not node.level:
        return node.module
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _resolve(dotted):
    """The longest prefix of `dotted` that is a tinydl module, or the outside package's top name."""
    if not dotted.startswith("tinydl"):
        return dotted.split(".")[0]
    while dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted


def floor(name):
    """The index in FLOORS of the floor `name` belongs to."""
    best = max(((len(prefix), i) for i, (_, prefixes) in enumerate(FLOORS) for prefix in prefixes
                if name == prefix or name.startswith(prefix + ".")), default=None)
    assert best is not None, f"{name} is on no floor: add it to FLOORS in {__file__}"
    return best[1]


def edges():
    """{(importer, imported)} between tinydl modules (an import of a package also imports its face)."""
    return {(name, target) for name in MODULES for target, _, _ in imports(name)
            if target.startswith("tinydl") and target != name}


def circles():
    """Strongly connected sets of two or more modules (Tarjan's algorithm, iteratively)."""
    graph = {name: [] for name in MODULES}
    for a, b in sorted(edges()):
        graph[a].append(b)
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    members = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.add(member)
                        if member == node:
                            break
                    if len(members) > 1:
                        found.append(members)
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


# -- the tests -------------------------------------------------------------------------------------
def test_every_module_is_on_a_floor():
    for name in MODULES:
        floor(name)


def test_imports_point_down_the_floors():
    upward = sorted(f"{a} -> {b}" for a, b in edges()
                    if floor(b) > floor(a) and (a, b) not in ALLOWED_UPWARD)
    assert not upward, ("imports from a lower floor to a higher one (docs/architecture.md, 'The import rule'): "
                        f"{upward}")


def test_no_circles_between_modules():
    unexpected = [sorted(c) for c in circles()
                  if not c <= ENGINE and not (c <= IO_CIRCLE and any(n.startswith("tinydl.io.") for n in c))]
    assert not unexpected, f"modules that import each other in a circle: {unexpected}"


def test_function_level_imports_only_keep_a_package_lazy():
    found = sorted(f"{name}:{line} imports {target}" for name in MODULES for target, line, inside in imports(name)
                   if inside and target.split(".")[0] not in LAZY_PACKAGES and (name, target) not in ALLOWED_INSIDE)
    assert not found, ("imports inside functions that keep nothing lazy: move them to the top of the module "
                       f"(or, for numba/cupy/h5py/onnx/mpi4py, add the package to LAZY_PACKAGES): {found}")


@pytest.mark.parametrize("allowlist", ["ALLOWED_UPWARD", "ALLOWED_INSIDE"])
def test_allowlists_hold_only_current_findings(allowlist):
    current = {(name, target) for name in MODULES for target, _, inside in imports(name)
               if allowlist == "ALLOWED_UPWARD" or inside}
    stale = sorted(f"{a} -> {b}" for a, b in globals()[allowlist] if (a, b) not in current)
    assert not stale, f"{allowlist} lists imports that no longer exist (remove them): {stale}"


def test_the_checker_finds_an_upward_import_and_a_circle(monkeypatch, tmp_path):
    # a self-test on a tiny made-up package: ops importing layers is upward, and a circle
    fake = {"tinydl.ops.a": "from tinydl.layers.b import x\n", "tinydl.layers.b": "from tinydl.ops.a import y\n"}
    paths = {}
    for name, text in fake.items():
        paths[name] = tmp_path / f"{name}.py"
        paths[name].write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "MODULES", paths)
    assert ("tinydl.ops.a", "tinydl.layers.b") in edges()
    assert floor("tinydl.layers.b") > floor("tinydl.ops.a")
    assert circles() == [{"tinydl.ops.a", "tinydl.layers.b"}]


# -- what breaks the rule today, and why -----------------------------------------------------------
# The engine's one knot: Function.apply wraps its results in Tensors and Tensor's operators are ops,
# so autograd, tensor and ops import each other (micrograd keeps Value and its ops in one file).
ENGINE = {name for name in MODULES if floor(name) == 1}

# tinydl/io is being split into a `saving` entry point, format modules and `files` (issue 22 item 1):
# these findings belong to that work and go with it.
IO_CIRCLE = {name for name in MODULES if name.startswith(("tinydl.io", "tinydl.models", "tinydl.callbacks"))}
ALLOWED_UPWARD = {
    ("tinydl.autograd", "tinydl.tensor"),  # the engine's knot, above
    ("tinydl.models.model", "tinydl.io.onnx"),  # Model.export
}
ALLOWED_INSIDE = {
    ("tinydl.testing", "tinydl.testing.strategies"),  # keeps hypothesis (a test dependency) lazy
    ("tinydl.autograd", "tinydl.tensor"),  # the engine's knot, above
    # the io split, above: models -> io -> models today
    ("tinydl.models.model", "tinydl.io.onnx"),
    ("tinydl.io.onnx", "tinydl.layers.base"),
    ("tinydl.io.onnx", "tinydl.layers.core"),
    ("tinydl.io.onnx", "tinydl.models.functional"),
    ("tinydl.io.onnx", "tinydl"),
    ("tinydl.io.onnx", "tinydl.io.onnx_converters"),
    ("tinydl.io.onnx", "tinydl.io.onnx_recurrent"),
    ("tinydl.io.onnx", "tinydl.io.onnx_graph"),
    ("tinydl.io.onnx", "tinydl.io.onnx_layers"),
    ("tinydl.io.onnx_converters", "tinydl.ops.convolution"),
}
