"""Conv, pooling and image layers: weight shapes and parameter counts in closed form, Keras configs, errors."""
import re

import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L
from tinydl.models import Input, Model, Sequential


@pytest.mark.parametrize("make, shape, weights, params", [
    (lambda: L.Conv2D(8, 3), (2, 9, 9, 3), [(3, 3, 3, 8), (8,)], 3 * 3 * 3 * 8 + 8),
    (lambda: L.Conv2D(6, (3, 1), groups=3, use_bias=False), (2, 9, 9, 6), [(3, 1, 2, 6)], 3 * 1 * 2 * 6),
    (lambda: L.Conv1D(5, 4), (2, 9, 3), [(4, 3, 5), (5,)], 4 * 3 * 5 + 5),
    (lambda: L.Conv2DTranspose(7, 3), (2, 4, 4, 3), [(3, 3, 7, 3), (7,)], 3 * 3 * 7 * 3 + 7),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2), (2, 5, 5, 4), [(3, 3, 4, 2), (8,)], 3 * 3 * 4 * 2 + 8),
    (lambda: L.SeparableConv2D(10, 3, depth_multiplier=2), (2, 5, 5, 4), [(3, 3, 4, 2), (1, 1, 8, 10), (10,)],
     3 * 3 * 4 * 2 + 8 * 10 + 10),
])
def test_weights_have_keras_shapes_and_counts(make, shape, weights, params):
    layer = make()
    layer(np.zeros(shape, dtype="float32"))
    assert [tuple(w.shape) for w in layer.weights] == weights
    assert layer.count_params() == params


def test_weight_names_are_keras_names():
    sep = L.SeparableConv2D(4, 3)
    sep(np.zeros((1, 5, 5, 2), dtype="float32"))
    assert [w.name for w in sep.weights] == ["depthwise_kernel", "pointwise_kernel", "bias"]
    depthwise = L.DepthwiseConv2D(3)
    depthwise(np.zeros((1, 5, 5, 2), dtype="float32"))
    assert [w.name for w in depthwise.weights] == ["kernel", "bias"]  # Keras 3 (Keras 2: depthwise_kernel)
    conv = L.Conv2D(4, 3)
    conv(np.zeros((1, 5, 5, 2), dtype="float32"))
    assert [w.name for w in conv.weights] == ["kernel", "bias"]


def test_summary_counts_match_closed_forms():
    td.layers.clear_session()
    model = Sequential([Input(shape=(28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
                        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(128),
                        L.Dense(10)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    conv1, conv2 = 3 * 3 * 1 * 32 + 32, 3 * 3 * 32 * 64 + 64
    dense1, dense2 = 5 * 5 * 64 * 128 + 128, 128 * 10 + 10
    for count in (conv1, conv2, dense1, dense2):
        assert f"{count:,}" in text
    assert f"Total params: {conv1 + conv2 + dense1 + dense2:,}" in text
    assert "(None, 13, 13, 32)" in text and "(None, 5, 5, 64)" in text


def test_symbolic_shapes_follow_keras_arithmetic():
    x = Input(shape=(None, 9, 3))
    assert L.Conv2D(4, 3, strides=2, padding="same")(x).shape == (None, None, 5, 4)
    assert L.Conv2DTranspose(2, 3, strides=2)(x).shape == (None, None, 19, 2)
    assert L.MaxPooling2D(2)(x).shape == (None, None, 4, 3)
    assert L.AveragePooling2D(3, strides=2, padding="same")(x).shape == (None, None, 5, 3)
    assert L.UpSampling2D(2)(x).shape == (None, None, 18, 3)
    assert L.ZeroPadding2D(1)(x).shape == (None, None, 11, 3)
    assert L.Cropping2D((1, 2))(x).shape == (None, None, 5, 3)
    assert L.GlobalMaxPooling2D()(x).shape == (None, 3)


def test_config_has_keras_keys():
    config = L.Conv2D(4, 3).get_config()
    assert {"filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation",
            "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
            "activity_regularizer", "kernel_constraint", "bias_constraint"} <= set(config)
    assert config["kernel_size"] == (3, 3) and config["strides"] == (1, 1) and config["padding"] == "valid"
    assert set(L.MaxPooling2D().get_config()) >= {"pool_size", "strides", "padding", "data_format"}
    assert L.MaxPooling2D().get_config()["strides"] == (2, 2)
    assert L.ZeroPadding2D(2).get_config()["padding"] == ((2, 2), (2, 2))
    assert L.Conv2DTranspose(2, 3).get_config()["output_padding"] is None


def test_upsampling_is_nearest_and_cropping_cuts_edges():
    x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    up = L.UpSampling2D((2, 1))(x).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(up, [[0, 1], [0, 1], [2, 3], [2, 3]])
    big = np.arange(20, dtype="float32").reshape(1, 4, 5, 1)
    np.testing.assert_array_equal(L.Cropping2D(((1, 0), (1, 2)))(big).numpy()[0, :, :, 0], big[0, 1:, 1:3, 0])


def test_errors_name_the_layer_and_shapes():
    conv = L.Conv2D(2, 3, name="conv2d")
    conv(np.zeros((2, 8, 8, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d' expected input with 3 channels, got \(2, 8, 8, 4\)"):
        conv(np.zeros((2, 8, 8, 4), dtype="float32"))
    with pytest.raises(ValueError, match=r"Conv2D 'big'.*kernel \(5, 5\).*\(4, 4\) with padding='valid'"):
        L.Conv2D(2, 5, name="big")(np.zeros((2, 4, 4, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"Conv1D 'c1' expected input with 3 dimensions, got shape \(2, 4, 4, 3\)"):
        L.Conv1D(2, 3, name="c1")(np.zeros((2, 4, 4, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"MaxPooling2D 'pool'.*pool_size \(3, 3\).*\(2, 2\)"):
        L.MaxPooling2D(3, name="pool")(np.zeros((1, 2, 2, 1), dtype="float32"))
    with pytest.raises(ValueError, match="divisible by groups"):
        L.Conv2D(3, 3, groups=2)


def test_functional_residual_block_shows_its_skip_connection():
    inp = Input(shape=(8, 8, 4))
    h = L.Conv2D(4, 3, padding="same", name="c1")(inp)
    out = L.GlobalAveragePooling2D()(h + inp)
    model = Model(inp, out)
    assert model(np.ones((2, 8, 8, 4), dtype="float32")).shape == (2, 4)


def test_layers_match_keras_3_outputs_weights_and_configs():
    """Real Keras 3 (torch backend) layers with the same weights give the same outputs and configs."""
    import os
    import subprocess
    import sys
    import importlib.util
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("needs keras and torch installed (benchmark/dev extras)")
    script = os.path.join(os.path.dirname(__file__), "keras_conv_parity.py")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    out = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)
    if missing_optional_dependency(out.stderr):
        pytest.skip(f"keras with the torch backend is not importable: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("checked 24") and out.stdout.count("\n") == 1, out.stdout


def missing_optional_dependency(stderr):
    """True when keras or torch itself is missing: an import error inside tinydl must fail, not skip."""
    return re.search(r"No module named '(keras|torch)(\.[\w.]+)?'", stderr) is not None


@pytest.mark.parametrize("stderr, skips", [
    ("ModuleNotFoundError: No module named 'keras'", True),
    ("ModuleNotFoundError: No module named 'torch._C'", True),
    ("ModuleNotFoundError: No module named 'tinydl.layers.conv'", False),
    ("ModuleNotFoundError: No module named 'kerasx'", False),
])
def test_parity_skips_only_on_a_missing_keras_or_torch(stderr, skips):
    assert missing_optional_dependency(stderr) is skips
