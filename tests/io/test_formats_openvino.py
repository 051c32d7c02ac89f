"""OpenVINO IR (issue 21 item 4): `model.export("m.xml", format="openvino")` converts the ONNX export with the
openvino package; the OpenVINO runtime on the CPU, at f32 inference precision, gives tinydl's outputs for every
example model. Skips without the `openvino` package (`pip install tinydl[openvino]`)."""
import importlib
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tinydl as td
from tinydl.layers import Dense, Input
from tinydl.layers.base import flatten
from tinydl.models import Sequential
from tests.io.example_models import example_inputs, example_names

ov = pytest.importorskip("openvino")


def compiled(path):
    """The IR compiled for the CPU at f32 (OpenVINO would compute in bf16 on CPUs that have it)."""
    return ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


@pytest.mark.parametrize("name", example_names())
def test_every_example_model_runs_in_openvino_with_tinydls_outputs(name, tmp_path):
    td.set_seed(0)
    model = importlib.import_module(f"tinydl.examples.{name}").build_model()
    arrays = example_inputs(model, np.random.default_rng(0))
    with td.no_grad():
        expected = [t.numpy() for t in flatten(model(arrays if len(arrays) > 1 else arrays[0], training=False))]
    model.export(tmp_path / "m.xml", format="openvino")
    got = compiled(tmp_path / "m.xml")(arrays)
    assert len(got) == len(expected)
    for i, want in enumerate(expected):
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-5)


def test_weights_are_kept_in_float32_not_compressed_to_fp16(tmp_path):
    td.set_seed(0)
    model = Sequential([Input(shape=(300,)), Dense(200)])
    model.export(tmp_path / "m.xml", format="openvino")
    constants = [layer.find("data") for layer in ET.parse(tmp_path / "m.xml").getroot().iter("layer")
                 if layer.get("type") == "Const"]
    kernels = [c for c in constants if c.get("shape").replace(" ", "") in ("300,200", "200,300")]
    assert [c.get("element_type") for c in kernels] == ["f32"]  # OpenVINO's default save makes it "f16"
    assert (tmp_path / "m.bin").stat().st_size >= 300 * 200 * 4
    x = np.random.default_rng(1).standard_normal((2, 300)).astype("float32")
    np.testing.assert_allclose(compiled(tmp_path / "m.xml")([x])[0], model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_the_file_must_be_named_xml_and_nothing_is_left_behind(tmp_path):
    model = Sequential([Input(shape=(3,)), Dense(2)])
    with pytest.raises(ValueError, match=r"'\*\.xml'"):
        model.export(tmp_path / "m.ir", format="openvino")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_export_format_names_the_supported_ones():
    model = Sequential([Input(shape=(3,)), Dense(2)])
    with pytest.raises(ValueError, match="'onnx', 'tfjs' and 'openvino'"):
        model.export("m.pb", format="saved_model")
