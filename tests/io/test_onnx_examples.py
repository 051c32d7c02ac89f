"""Every example model (a module in tinydl/examples with `build_model()`) exports to ONNX and onnxruntime
gives tinydl's outputs; the few that cannot be exported fail with a clear OnnxExportError."""
import importlib
import pkgutil

import numpy as np
import pytest

import tinydl as td
import tinydl.examples
from tinydl.io.onnx import OnnxExportError

ort = pytest.importorskip("onnxruntime")

# Examples whose models hold something ONNX cannot express, and the words the error must contain.
NOT_EXPORTABLE = {
}


def _examples():
    names = []
    for info in pkgutil.iter_modules(tinydl.examples.__path__):
        module = importlib.import_module(f"tinydl.examples.{info.name}")
        if hasattr(module, "build_model"):
            names.append(info.name)
    return names


def _inputs(model, rng, batch=3):
    """Random inputs for the model's Inputs: None dims become small sizes, int inputs small ids."""
    arrays = []
    for kt in model._graph.input_tensors:
        shape = tuple(batch if i == 0 and d is None else (5 if d is None else d) for i, d in enumerate(kt.shape))
        if np.dtype(kt.dtype).kind in "iu":
            arrays.append(rng.integers(0, 3, size=shape).astype(kt.dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(kt.dtype))
    return arrays


def _graph_inputs(model, rng, nodes=5, edges=8):
    """Graph examples: node features (nodes, F), edge_index (2, edges) and a sorted graph id per node."""
    arrays = []
    for kt in model._graph.input_tensors:
        if np.dtype(kt.dtype).kind == "f":
            arrays.append(rng.standard_normal((nodes,) + tuple(kt.shape[1:])).astype(kt.dtype))
        elif len(kt.shape) == 2:
            arrays.append(rng.integers(0, nodes, size=(2, edges)).astype(kt.dtype))
        else:
            arrays.append(np.array([0, 0, 0, 1, 1], dtype=kt.dtype))
    return arrays


@pytest.mark.parametrize("name", _examples())
def test_example_model_exports_and_matches_onnxruntime(name, tmp_path):
    td.set_seed(0)
    model = importlib.import_module(f"tinydl.examples.{name}").build_model()
    if name in NOT_EXPORTABLE:
        with pytest.raises(OnnxExportError, match=NOT_EXPORTABLE[name]):
            model.export(tmp_path / "m.onnx")
        return
    if model._graph is None:
        pytest.skip("a subclassed example that was never called")
    graph_inputs = any(kt.shape[0] is not None for kt in model._graph.input_tensors)
    rng = np.random.default_rng(0)
    arrays = _graph_inputs(model, rng) if graph_inputs else _inputs(model, rng)
    with td.no_grad():
        out = model(arrays if len(arrays) > 1 else arrays[0], training=False)
    from tinydl.layers.base import flatten
    expected = [t.numpy() for t in flatten(out)]
    model.export(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: a for i, a in zip(session.get_inputs(), arrays)})
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
