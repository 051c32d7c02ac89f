"""data_format='channels_first' pooling and Flatten: closed forms on channels-first arrays, and the
ONNX export gives onnxruntime the same numbers."""
import numpy as np
import pytest

from tinydl import layers
from tinydl.models import Sequential

RNG = np.random.default_rng(0)


def test_channels_first_global_pooling_reduces_the_axes_after_channels():
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(layers.GlobalAveragePooling2D(data_format="channels_first")(x).numpy(),
                               x.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_allclose(layers.GlobalMaxPooling1D(data_format="channels_first")(x[:, :, 0]).numpy(),
                               x[:, :, 0].max(axis=2), rtol=1e-6)


def test_channels_first_windowed_pooling_equals_channels_last_on_moved_axes():
    x = RNG.standard_normal((2, 3, 4, 6)).astype(np.float32)
    first = layers.MaxPooling2D(2, data_format="channels_first")(x).numpy()
    last = layers.MaxPooling2D(2)(np.moveaxis(x, 1, -1)).numpy()
    np.testing.assert_allclose(first, np.moveaxis(last, -1, 1))
    np.testing.assert_allclose(first[0, 0, 0, 0], x[0, 0, :2, :2].max())


def test_unknown_data_format_is_a_clear_error():
    with pytest.raises(ValueError, match="data_format must be 'channels_last' or 'channels_first', got 'nchw'"):
        layers.AveragePooling1D(data_format="nchw")


def test_channels_first_models_export_to_onnx_and_match_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = Sequential([layers.Input((3, 4, 6)), layers.AveragePooling2D(2, data_format="channels_first"),
                        layers.Flatten(data_format="channels_first")])
    path = str(tmp_path / "m.onnx")
    model.export(path)
    x = RNG.standard_normal((2, 3, 4, 6)).astype(np.float32)
    session = ort.InferenceSession(path)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    gap = Sequential([layers.Input((3, 5)), layers.GlobalAveragePooling1D(data_format="channels_first")])
    gap.export(path)
    session = ort.InferenceSession(path)
    got = session.run(None, {session.get_inputs()[0].name: x[:, :, 0, :5]})[0]
    np.testing.assert_allclose(got, x[:, :, 0, :5].mean(axis=2), rtol=1e-5)
