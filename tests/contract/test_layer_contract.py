"""Every layer honours the contract: gradients (one for every trainable weight), config round-trip, HDF5,
safetensors and pickle round-trips, ONNX export; all with randomised weights, so no weight hides behind its
zero or one start."""
import json

import numpy as np
import pytest

import tinydl as td
from tinydl.io.config import deserialize, registered_names, serialize
from tinydl.layers.base import call_args
from tinydl.layers import Layer
from tests.contract import all_cases, randomise_weights

CASES = all_cases()
IDS = [c.id for c in CASES]

# Classes that are bases or containers rather than layers a user configures directly.
EXEMPT = {"Layer", "InputLayer", "Model", "Sequential", "Functional", "Wrapper", "Merge", "RNN",
          "BaseConv", "BasePooling", "GlobalPooling"}
# Cells are called with (inputs, states): their contract runs inside the RNN(cell) cases of cases_cells.py.
EXEMPT |= {"SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"}
# Distiller is a Model (teacher + student), checked against Keras's in tests/keras_api/test_distillation.py.
EXEMPT |= {"Distiller"}


def _layer_classes():
    from tinydl.io.config import get_registered
    return {name for name in registered_names(base=Layer)
            if not name.startswith("_") and name not in EXEMPT
            and get_registered(name).__module__.startswith("tinydl.")
            and not get_registered(name).__module__.startswith("tinydl.examples.")}  # examples are user code


def test_every_layer_has_a_contract_case():
    covered = {type(c.make()).__name__ for c in CASES}
    missing = sorted(_layer_classes() - covered)
    assert not missing, f"layers without a LayerCase in tests/contract/cases_*.py: {missing}"


def _outputs(layer, case, arrays, training=False):
    """Run the layer; every output as a list of Tensors."""
    kwargs = {"training": training, **case.call_kwargs} if _takes_training(layer) else case.call_kwargs
    out = layer(case.pack([td.tensor(a) if a.dtype.kind == "f" else a for a in arrays]), **kwargs)
    from tinydl.layers.base import flatten
    return [t for t in flatten(out) if isinstance(t, td.Tensor)]


def _takes_training(layer):
    return "training" in call_args(type(layer))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_match_directional_finite_differences(case):
    if not case.grad:
        pytest.skip("case has no float path to differentiate")
    td.set_seed(0)
    rng = np.random.default_rng(0)
    layer = case.make(dtype="float64")
    arrays = case.inputs(rng, dtype="float64")
    outs = _outputs(layer, case, arrays)  # builds the weights
    randomise_weights(layer, rng)
    outs = _outputs(layer, case, arrays)
    weights = [w for w in layer.trainable_weights]
    floats = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    r = [rng.standard_normal(o.shape) for o in outs]
    directions_x = {i: rng.standard_normal(arrays[i].shape) for i in floats}
    directions_w = [rng.standard_normal(w.shape) for w in weights]

    def objective(xs):
        with td.no_grad():
            return sum(float((o.numpy() * ri).sum()) for o, ri in zip(_outputs(layer, case, xs), r))

    inputs = [td.tensor(a, requires_grad=True) if a.dtype.kind == "f" else a for a in arrays]
    for w in weights:
        w.grad = None
    out = layer(case.pack(inputs), **case.call_kwargs)
    from tinydl.layers.base import flatten
    outs = [t for t in flatten(out) if isinstance(t, td.Tensor)]
    total = sum(((o * td.tensor(ri)).sum() for o, ri in zip(outs, r)), td.tensor(0.0, dtype="float64"))
    total.backward()
    analytic = sum(float((inputs[i].grad.numpy() * directions_x[i]).sum()) for i in floats
                   if inputs[i].grad is not None)
    analytic += sum(float((w.grad.numpy() * d).sum()) for w, d in zip(weights, directions_w) if w.grad is not None)

    _assert_every_weight_has_a_gradient(case, weights)

    eps = 1e-6
    originals = [w.numpy() for w in weights]

    def shifted(sign):
        for w, o, d in zip(weights, originals, directions_w):
            w.assign(o + sign * eps * d)
        xs = [a + sign * eps * directions_x[i] if i in directions_x else a for i, a in enumerate(arrays)]
        return objective(xs)
    numeric = (shifted(+1) - shifted(-1)) / (2 * eps)
    for w, o in zip(weights, originals):
        w.assign(o)
    assert abs(analytic - numeric) <= 1e-5 + 1e-4 * abs(numeric), (analytic, numeric)


def _assert_every_weight_has_a_gradient(case, weights):
    """A trainable weight the output ignores (gradient None or all zeros) fails, unless the case says why."""
    missing = [w.name for w in weights if w.name not in case.no_grad
               and (w.grad is None or not np.any(w.grad.numpy()))]
    assert not missing, f"trainable weights without a gradient: {missing}"
    unused = set(case.no_grad) - {w.name for w in weights}
    assert not unused, f"no_grad names weights the layer does not have: {sorted(unused)}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip_gives_same_outputs(case):
    td.set_seed(0)
    rng = np.random.default_rng(1)
    layer = case.make()
    arrays = case.inputs(rng)
    _outputs(layer, case, arrays)  # builds the weights
    randomise_weights(layer, rng)
    before = [o.numpy() for o in _outputs(layer, case, arrays)]
    config = json.loads(json.dumps(serialize(layer)))
    clone = deserialize(config, safe_mode=False)  # Lambda carries bytecode; refusing it is tested elsewhere
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    _outputs(clone, case, arrays)
    clone.set_weights(layer.get_weights())
    after = [o.numpy() for o in _outputs(clone, case, arrays)]
    for a, b in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def _case_model(case, arrays):
    """A functional model around one fresh layer: fixed-shape Inputs (batch included) -> layer(**call_kwargs)."""
    from tinydl.layers import Input
    from tinydl.models import Model
    layer = case.make()
    symbolic = [Input(batch_shape=a.shape, dtype=a.dtype.name) for a in arrays]
    # Array-valued call arguments (masks) cannot live in a saved graph: the model leaves them out.
    kwargs = {k: v for k, v in case.call_kwargs.items()
              if k != "training" and not isinstance(v, (list, tuple, np.ndarray, td.Tensor))}
    outputs = layer(case.pack(symbolic), **kwargs)
    model = Model(symbolic if len(symbolic) > 1 else symbolic[0], outputs)
    randomise_weights(layer, np.random.default_rng(4))
    return model


def _run(model, arrays):
    from tinydl.layers.base import flatten
    with td.no_grad():
        out = model(arrays if len(arrays) > 1 else arrays[0], training=False)
    return [t.numpy() for t in flatten(out)]


def _skip_reason(value):
    if value is True:
        return None
    return value if isinstance(value, str) else "the case turns this part off"


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hdf5_round_trip(case, suffix, tmp_path):
    """Legacy .h5 and the Keras 3 .keras archive (whose weights tree walks sub-layers) give the same layer."""
    if _skip_reason(case.hdf5):
        pytest.skip(_skip_reason(case.hdf5))
    from tinydl.models import load_model
    td.set_seed(0)
    arrays = case.inputs(np.random.default_rng(2))
    model = _case_model(case, arrays)
    before = _run(model, arrays)
    model.save(tmp_path / f"m{suffix}")
    clone = load_model(tmp_path / f"m{suffix}", safe_mode=False)
    for a, b in zip(before, _run(clone, arrays)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    for w, v in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(w, v)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_safetensors_round_trip_into_a_fresh_model(case, tmp_path):
    """Weights by path (issue 21): a second model with other weights (and other layer names) loads them."""
    td.set_seed(0)
    arrays = case.inputs(np.random.default_rng(4))
    model = _case_model(case, arrays)
    before = _run(model, arrays)
    model.save_weights(tmp_path / "w.safetensors")
    td.set_seed(1)
    other = _case_model(case, arrays)
    other.load_weights(tmp_path / "w.safetensors")
    for w, v in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(w, v)
    for a, b in zip(before, _run(other, arrays)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pickle_round_trip(case):
    """pickle goes through the .keras bytes (issue 21), so it needs what the .keras round trip needs."""
    if _skip_reason(case.hdf5):
        pytest.skip(_skip_reason(case.hdf5))
    import pickle
    td.set_seed(0)
    arrays = case.inputs(np.random.default_rng(5))
    model = _case_model(case, arrays)
    before = _run(model, arrays)
    clone = pickle.loads(pickle.dumps(model))
    assert clone is not model
    for w, v in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(w, v)
    for a, b in zip(before, _run(clone, arrays)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_onnx_export_matches_onnxruntime(case, tmp_path):
    if _skip_reason(case.onnx):
        pytest.skip(_skip_reason(case.onnx))
    ort = pytest.importorskip("onnxruntime")
    td.set_seed(0)
    arrays = case.inputs(np.random.default_rng(3))
    model = _case_model(case, arrays)
    expected = _run(model, arrays)
    model.export(tmp_path / "m.onnx", format="onnx", opset=17)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), arrays)}
    got = session.run(None, feeds)
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b, a, rtol=case.rtol, atol=max(case.atol, 1e-5))
