"""The layer contract on the device: every contract case, as a one-layer model moved to the device, gives
the CPU's outputs and gradients (float64), and a model on the device saves to .h5/.keras and exports to
ONNX with the same predictions."""
import numpy as np
import pytest

import tinydl as td
from tests.contract import all_cases
from tests.gpu.device import DEVICE, requires_device
from tinydl.layers.base import flatten

pytestmark = requires_device
CASES = all_cases()
IDS = [c.id for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_and_backward_on_the_device_match_the_cpu(case):
    arrays = case.inputs(np.random.default_rng(0), dtype="float64")
    cpu = _forward_backward(case, arrays, "cpu")
    device = _forward_backward(case, arrays, DEVICE)
    assert len(cpu) == len(device)
    for i, (a, b) in enumerate(zip(device, cpu)):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9, err_msg=f"{case.id}: output/gradient {i}")


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("case", [c for c in CASES if c.hdf5 is True], ids=lambda c: c.id)
def test_a_model_on_the_device_saves_and_loads_with_the_same_predictions(case, suffix, tmp_path):
    from tinydl.models import load_model
    arrays = case.inputs(np.random.default_rng(2))
    model = _model(case, arrays).to(DEVICE)
    before = _predict(model, arrays, DEVICE)
    model.save(tmp_path / f"m{suffix}")
    clone = load_model(tmp_path / f"m{suffix}", safe_mode=False)
    for a, b in zip(before, _predict(clone, arrays, "cpu")):
        np.testing.assert_allclose(b, a, rtol=case.rtol, atol=case.atol)
    for w, v in zip(model.get_weights(), clone.get_weights()):
        assert isinstance(w, np.ndarray)
        np.testing.assert_array_equal(w, v)


@pytest.mark.parametrize("case", [c for c in CASES if c.onnx is True], ids=lambda c: c.id)
def test_a_model_on_the_device_exports_to_onnx(case, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    arrays = case.inputs(np.random.default_rng(3))
    model = _model(case, arrays).to(DEVICE)
    expected = _predict(model, arrays, DEVICE)
    model.export(tmp_path / "m.onnx", format="onnx", opset=17)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: a for i, a in zip(session.get_inputs(), arrays)})
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b, a, rtol=case.rtol, atol=max(case.atol, 1e-5))


def test_a_model_on_the_device_takes_numpy_inputs_as_keras_does():
    from tinydl.layers import Dense, Input
    from tinydl.models import Sequential
    td.set_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(2)])
    x = np.arange(6, dtype="float32").reshape(2, 3)
    expected = x @ model.get_weights()[0] + model.get_weights()[1]
    model.to(DEVICE)
    with td.no_grad():
        np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)


def _forward_backward(case, arrays, device):
    """Outputs, input gradients and weight gradients (as NumPy arrays) of the case's layer on `device`,
    for the loss sum(outputs * fixed random weights); the layer's weights are the same on every device."""
    model = _model(case, arrays, dtype="float64").to(device)
    inputs = [td.tensor(a, requires_grad=a.dtype.kind == "f", device=device) for a in arrays]
    outs = [t for t in flatten(model(inputs if len(inputs) > 1 else inputs[0], training=False))
            if isinstance(t, td.Tensor)]
    rng = np.random.default_rng(1)
    loss = sum((o * td.tensor(rng.standard_normal(o.shape), device=device)).sum() for o in outs)
    if case.grad:
        loss.backward()
    grads = [t.grad for t in inputs + list(model.trainable_weights) if t.grad is not None]
    return [t.numpy() for t in outs + grads]


def _model(case, arrays, dtype=None):
    """The case's one-layer model, built with seed 0 (so every device gets the same weights)."""
    td.set_seed(0)
    return case.model(arrays, dtype)


def _predict(model, arrays, device):
    """The model's outputs on `arrays`, moved to `device` first, as NumPy arrays."""
    inputs = [td.tensor(a, device=device) for a in arrays]
    with td.no_grad():
        out = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    return [t.numpy() for t in flatten(out)]
