"""Layer configs written the way Keras 3 and Keras 2 write them build the same layers here."""
import numpy as np

from tinydl import layers as L
from tinydl.io.config import deserialize

POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def init(name, **config):
    return {"module": "keras.initializers", "class_name": name, "config": config, "registered_name": None}


def layer(class_name, **config):
    return {"module": "keras.layers", "class_name": class_name, "registered_name": None,
            "config": {"name": class_name.lower(), "trainable": True, "dtype": POLICY, **config}}


def test_keras3_batchnormalization_config():
    bn = deserialize(layer("BatchNormalization", axis=-1, momentum=0.9, epsilon=0.001, center=True, scale=False,
                           beta_initializer=init("Zeros"), gamma_initializer=init("Ones"),
                           moving_mean_initializer=init("Zeros"), moving_variance_initializer=init("Ones"),
                           beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                           gamma_constraint=None, synchronized=False))
    assert isinstance(bn, L.BatchNormalization) and bn.momentum == 0.9 and not bn.scale
    bn.build((None, 3))
    assert [w.name for w in bn.weights] == ["beta", "moving_mean", "moving_variance"]
    np.testing.assert_array_equal(bn.moving_variance.numpy(), np.ones(3))


def test_keras2_batchnormalization_axis_list():
    bn = deserialize({"class_name": "BatchNormalization",
                      "config": {"name": "bn", "trainable": True, "dtype": "float32", "axis": [3],
                                 "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True}})
    assert bn.axis == 3


def test_keras3_embedding_config_with_its_initializer_dict():
    emb = deserialize(layer("Embedding", input_dim=10, output_dim=4,
                            embeddings_initializer=init("RandomUniform", seed=None, minval=-0.05, maxval=0.05),
                            embeddings_regularizer=None, activity_regularizer=None, embeddings_constraint=None,
                            mask_zero=True))
    out = emb(np.array([[1, 0]]))
    assert out.shape == (1, 2, 4) and emb.mask_zero
    assert np.abs(emb.get_weights()[0]).max() <= 0.05


def test_keras2_embedding_config_with_input_length():
    emb = deserialize({"class_name": "Embedding",
                       "config": {"name": "e", "trainable": True, "batch_input_shape": [None, 7], "dtype": "float32",
                                  "input_dim": 5, "output_dim": 2, "embeddings_initializer": {
                                      "class_name": "RandomUniform",
                                      "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
                                  "embeddings_regularizer": None, "activity_regularizer": None,
                                  "embeddings_constraint": None, "mask_zero": False, "input_length": 7}})
    assert emb(np.zeros((2, 7), np.int64)).shape == (2, 7, 2)


def test_keras3_layernormalization_and_merge_and_reshaping_configs():
    ln = deserialize(layer("LayerNormalization", axis=[-1], epsilon=0.001, center=True, scale=True,
                           rms_scaling=False, beta_initializer=init("Zeros"), gamma_initializer=init("Ones"),
                           beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                           gamma_constraint=None))
    assert ln(np.ones((2, 3), np.float32)).shape == (2, 3)
    assert deserialize(layer("Concatenate", axis=1)).axis == 1
    dot = deserialize(layer("Dot", axes=[1, 2], normalize=True))
    assert dot.axes == [1, 2] and dot.normalize
    assert deserialize(layer("Permute", dims=[2, 1])).dims == (2, 1)
    assert deserialize(layer("RepeatVector", n=3)).n == 3
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        assert type(deserialize(layer(name))).__name__ == name


def test_identity_layer_and_identity_initializer_share_a_name_and_both_load():
    ident = deserialize(layer("Identity"))
    assert isinstance(ident, L.Identity)
    dense = deserialize(layer("Dense", units=3, kernel_initializer=init("Identity", gain=2.0)))
    dense.build((None, 3))
    np.testing.assert_array_equal(dense.kernel.numpy(), 2 * np.eye(3))
