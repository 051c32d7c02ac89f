"""fit and layer calls against Keras 3.15 itself (torch backend): constraints, activity regularizers and
add_loss, the training flag reaching nested layers. Skipped without keras and torch."""

import numpy as np
import pytest

from tests.keras_torch import keras_on_torch

keras = keras_on_torch("these comparisons run Keras on its torch backend")

import tinydl as td  # noqa: E402
from tinydl import constraints, layers, regularizers  # noqa: E402
from tinydl.models import Model, Sequential  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 3)).astype(np.float32)
Y = RNG.standard_normal((16, 4)).astype(np.float32) - 2.0  # negative targets pull a kernel below zero


def _fit_both(make_tinydl, make_keras, epochs=3, batch_size=8):
    """Fit the same model in both with SGD(0.1) on MSE from the same weights; return both models and logs."""
    tmodel, kmodel = make_tinydl(), make_keras()
    kmodel.set_weights(tmodel.get_weights())
    tmodel.compile(optimizer=td.optimizers.SGD(0.1), loss="mean_squared_error")
    kmodel.compile(optimizer=keras.optimizers.SGD(0.1), loss="mean_squared_error")
    th = tmodel.fit(X, Y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0).history
    kh = kmodel.fit(X, Y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0).history
    return tmodel, kmodel, th, kh


def _assert_same_weights(tmodel, kmodel):
    for t, k in zip(tmodel.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(t, k, rtol=1e-4, atol=1e-5)


def test_kernel_and_bias_constraints_are_applied_after_each_update_as_keras():
    tmodel, kmodel, th, kh = _fit_both(
        lambda: Sequential([layers.Input((3,)), layers.Dense(4, kernel_constraint=constraints.NonNeg(),
                                                             bias_constraint=constraints.MaxNorm(0.5))]),
        lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(
            4, kernel_constraint=keras.constraints.NonNeg(), bias_constraint=keras.constraints.MaxNorm(0.5))]))
    kernel, bias = tmodel.get_weights()
    assert kernel.min() >= 0.0 and np.linalg.norm(bias) <= 0.5 + 1e-6
    _assert_same_weights(tmodel, kmodel)
    np.testing.assert_allclose(th["loss"], kh["loss"], rtol=1e-4)


@pytest.mark.parametrize("make", [
    lambda c: layers.Dense(2, kernel_constraint=c, bias_constraint=c),
    lambda c: layers.Conv2D(2, 3, kernel_constraint=c, bias_constraint=c),
    lambda c: layers.DepthwiseConv2D(3, depthwise_constraint=c, bias_constraint=c),
    lambda c: layers.SeparableConv2D(2, 3, depthwise_constraint=c, pointwise_constraint=c, bias_constraint=c),
    lambda c: layers.LSTM(2, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c),
    lambda c: layers.Embedding(5, 2, embeddings_constraint=c),
    lambda c: layers.BatchNormalization(beta_constraint=c, gamma_constraint=c),
    lambda c: layers.LayerNormalization(beta_constraint=c, gamma_constraint=c),
    lambda c: layers.MultiHeadAttention(2, 2, kernel_constraint=c, bias_constraint=c),
])
def test_every_constraint_argument_round_trips_into_a_config_keras_loads(make):
    layer = make(constraints.MaxNorm(1.5))
    config = layer.get_config()
    keys = [k for k in config if k.endswith("_constraint")]
    assert keys and all(config[k]["class_name"] == "MaxNorm" for k in keys)
    assert all(config[k]["config"]["max_value"] == 1.5 for k in keys)
    klayer = getattr(keras.layers, type(layer).__name__).from_config(
        {k: v for k, v in config.items() if k not in ("dtype",)})
    kconfig = klayer.get_config()
    assert all(kconfig[k]["config"]["max_value"] == 1.5 for k in keys)
    again = type(layer).from_config(config)
    assert all(getattr(again, k).max_value == 1.5 for k in keys)


def test_activity_regularizer_penalty_is_in_losses_and_fit_loss_as_keras():
    reg = {"activity_regularizer": "l2"}
    tmodel, kmodel, th, kh = _fit_both(
        lambda: Sequential([layers.Input((3,)), layers.Dense(4, **reg), layers.Dense(4)]),
        lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, **reg), keras.layers.Dense(4)]))
    np.testing.assert_allclose(th["loss"], kh["loss"], rtol=1e-4)
    _assert_same_weights(tmodel, kmodel)
    hidden = X @ tmodel.get_weights()[0] + tmodel.get_weights()[1]
    tmodel(X)
    assert len(tmodel.losses) == 1
    assert float(tmodel.losses[0]) == pytest.approx(0.01 * np.sum(hidden ** 2) / len(X), rel=1e-5)


def test_add_loss_from_a_custom_layer_counts_in_fit_as_keras():
    def make_penalty(base):
        class Penalty(base.Layer):
            def call(self, x):
                self.add_loss(0.5 * base_ops(base).mean(x * x))
                return x
        return Penalty()

    def base_ops(base):
        return keras.ops if base is keras.layers else td.ops

    tmodel, kmodel, th, kh = _fit_both(
        lambda: Sequential([layers.Input((3,)), layers.Dense(4), make_penalty(layers)]),
        lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), make_penalty(keras.layers)]))
    np.testing.assert_allclose(th["loss"], kh["loss"], rtol=1e-4)
    _assert_same_weights(tmodel, kmodel)


def test_activity_regularization_layer_matches_keras():
    x = RNG.standard_normal((5, 3)).astype(np.float32)
    tl, kl = layers.ActivityRegularization(l1=0.1, l2=0.2), keras.layers.ActivityRegularization(l1=0.1, l2=0.2)
    np.testing.assert_allclose(tl(x).numpy(), x)
    kl(x)
    assert float(tl.losses[0]) == pytest.approx(float(kl.losses[0]), rel=1e-5)
    assert tl.get_config()["l1"] == 0.1 and tl.get_config()["l2"] == 0.2


def test_training_flag_reaches_layers_nested_in_a_call_without_training_argument():
    def make(base, bn, dense):
        class Net(base):
            def __init__(self):
                super().__init__()
                self.bn, self.dense = bn(), dense(2)

            def call(self, x):
                return self.dense(self.bn(x))
        return Net()
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    tnet = make(Model, layers.BatchNormalization, layers.Dense)
    knet = make(keras.Model, keras.layers.BatchNormalization, keras.layers.Dense)
    tnet(x[:1]), knet(x[:1])
    knet.set_weights(tnet.get_weights())
    out = tnet(x, training=True).numpy()
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(knet(x, training=True)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tnet.bn.moving_mean.numpy(), keras.ops.convert_to_numpy(knet.bn.moving_mean),
                               rtol=1e-6)
    assert not np.allclose(out, tnet(x, training=False).numpy())  # inference uses the moving statistics


@pytest.mark.parametrize("name,kwargs,shape", [
    ("GlobalAveragePooling1D", {}, (2, 3, 5)),
    ("GlobalAveragePooling1D", {"keepdims": True}, (2, 3, 5)),
    ("GlobalMaxPooling1D", {}, (2, 3, 5)),
    ("GlobalAveragePooling2D", {"keepdims": True}, (2, 3, 4, 5)),
    ("GlobalMaxPooling2D", {}, (2, 3, 4, 5)),
    ("MaxPooling1D", {"pool_size": 2}, (2, 3, 5)),
    ("AveragePooling1D", {"pool_size": 2, "padding": "same"}, (2, 3, 5)),
    ("MaxPooling2D", {"pool_size": 2, "strides": 1}, (2, 3, 4, 5)),
    ("AveragePooling2D", {"pool_size": (2, 3)}, (2, 3, 4, 5)),
    ("Flatten", {}, (2, 3, 4, 5)),
])
def test_channels_first_layers_match_keras(name, kwargs, shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    tlayer = getattr(layers, name)(data_format="channels_first", **kwargs)
    klayer = getattr(keras.layers, name)(data_format="channels_first", **kwargs)
    out = tlayer(x).numpy()
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(klayer(x)), rtol=1e-6, atol=1e-6)
    if name != "Flatten":
        assert tuple(tlayer.compute_output_shape((None,) + shape[1:]))[1:] == out.shape[1:]
    assert type(tlayer).from_config(tlayer.get_config()).data_format == "channels_first"
    default = getattr(layers, name)(**kwargs)(x).numpy()
    assert default.shape != out.shape or not np.allclose(default, out)  # the argument changes the result


def test_channels_first_global_average_pooling_1d_with_a_mask_matches_keras():
    x = RNG.standard_normal((2, 3, 5)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=bool)
    tout = layers.GlobalAveragePooling1D(data_format="channels_first")(x, mask=mask).numpy()
    kout = keras.layers.GlobalAveragePooling1D(data_format="channels_first")(x, mask=mask)
    np.testing.assert_allclose(tout, keras.ops.convert_to_numpy(kout), rtol=1e-6)


def _citation_gnn(base_model, L, ops, gather, segment_mean, features, edges):
    """Keras's GNN citation example in small: feed-forward blocks Sequential([BatchNormalization, Dropout,
    Dense(gelu)]), a graph-conv layer, the whole graph inside the model, node ids as the batch; its
    call() has no `training` argument."""
    def ffn():
        return (keras.Sequential if L is keras.layers else td.models.Sequential)(
            [L.BatchNormalization(), L.Dropout(0.2), L.Dense(8, activation="gelu")])

    class GraphConv(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.prepare, self.update = ffn(), ffn()

        def call(self, inputs):
            x, e = inputs
            messages = self.prepare(gather(x, e[1]))
            return self.update(ops.concatenate([x, segment_mean(messages, e[0], x.shape[0])], axis=1))

    class NodeClassifier(base_model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.pre, self.conv, self.post, self.logits = ffn(), GraphConv(), ffn(), L.Dense(3)

        def call(self, node_ids):
            x = self.pre(features)
            x = self.conv((x, edges)) + x
            return self.logits(gather(self.post(x), node_ids))
    return NodeClassifier()


def test_gnn_with_batch_normalization_trains_step_for_step_as_keras():
    """Keras passes training=True only to a call() that declares it: this model's BatchNormalization and
    Dropout stay in inference mode through fit (moving statistics unchanged), in tinydl as in Keras."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 40)
    features = (rng.standard_normal((3, 6))[labels] + rng.standard_normal((40, 6))).astype(np.float32)
    edges = np.stack([np.repeat(np.arange(40), 3), rng.integers(0, 40, 120)]).astype(np.int64)
    tmodel = _citation_gnn(Model, layers, td.ops, td.ops.gather_rows, td.ops.scatter_mean, features, edges)

    def kgather(x, ids):
        return keras.ops.take(x, keras.ops.cast(keras.ops.reshape(ids, (-1,)), "int32"), axis=0)

    def ksegment_mean(m, ids, n):
        counts = keras.ops.segment_sum(keras.ops.ones_like(m[:, :1]), ids, num_segments=n)
        return keras.ops.segment_sum(m, ids, num_segments=n) / keras.ops.maximum(counts, 1.0)
    kmodel = _citation_gnn(keras.Model, keras.layers, keras.ops, kgather, ksegment_mean, features, edges)
    ids = np.arange(40)
    tmodel(ids[:2]), kmodel(ids[:2])
    weights = tmodel.get_weights()
    kmodel.set_weights(weights)
    tmodel.compile(td.optimizers.Adam(0.01), td.losses.SparseCategoricalCrossentropy(from_logits=True))
    kmodel.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    th = tmodel.fit(ids, labels, batch_size=10, epochs=3, shuffle=False, verbose=0).history
    kh = kmodel.fit(ids, labels, batch_size=10, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(th["loss"], kh["loss"], rtol=1e-4)
    np.testing.assert_allclose(tmodel.pre.layers[0].moving_mean.numpy(), weights[2])  # never updated


@pytest.mark.parametrize("name,kwargs,shape", [
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, (2, 3, 7)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "softmax"},
     (2, 3, 7, 6)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2}, (2, 3, 4, 5)),
    ("DepthwiseConv2D", {"kernel_size": 2, "depth_multiplier": 2}, (2, 3, 4, 5)),
    ("SeparableConv2D", {"filters": 4, "kernel_size": 2}, (2, 3, 4, 5)),
])
def test_channels_first_convolutions_match_keras_and_onnxruntime(name, kwargs, shape, tmp_path):
    x = RNG.standard_normal(shape).astype(np.float32)
    tlayer = getattr(layers, name)(data_format="channels_first", **kwargs)
    klayer = getattr(keras.layers, name)(data_format="channels_first", **kwargs)
    out = tlayer(x).numpy()
    klayer(x)
    klayer.set_weights(tlayer.get_weights())
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(klayer(x)), rtol=1e-4, atol=1e-5)
    assert tuple(tlayer.compute_output_shape((None,) + shape[1:]))[1:] == out.shape[1:]
    assert type(tlayer).from_config(tlayer.get_config()).data_format == "channels_first"
    ort = pytest.importorskip("onnxruntime")
    model = Sequential([layers.Input(shape[1:]), tlayer])
    model.export(str(tmp_path / "m.onnx"))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, out, rtol=1e-4, atol=1e-5)
