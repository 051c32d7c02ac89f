"""MixUp against Keras 3.15 on given permutations and weights, and its invariants."""
import os

import numpy as np
import pytest

import tinydl as td
from tinydl import layers as L

os.environ.setdefault("KERAS_BACKEND", "torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
IMAGES = np.random.default_rng(0).uniform(0, 255, (4, 3, 5, 3)).astype("float32")
LABELS = np.eye(3, dtype="float32")[[0, 1, 2, 1]]


def test_mixup_matches_keras_on_a_given_permutation_and_weights():
    keras = pytest.importorskip("keras")
    order, weights = np.array([2, 0, 3, 1]), np.array([0.1, 0.5, 0.9, 0.3])
    ours = L.MixUp().mix(td.tensor(IMAGES), LABELS, order, weights)
    layer = keras.layers.MixUp()
    t = {"mix_weight": keras.ops.convert_to_tensor(weights.astype("float32")),
         "permutation_order": keras.ops.convert_to_tensor(order)}
    np.testing.assert_allclose(ours["images"].numpy(), keras.ops.convert_to_numpy(
        layer.transform_images(keras.ops.convert_to_tensor(IMAGES), t)), rtol=1e-6)
    np.testing.assert_allclose(ours["labels"].numpy(), keras.ops.convert_to_numpy(
        layer.transform_labels(keras.ops.convert_to_tensor(LABELS), t)), rtol=1e-6)


def test_mixup_mixes_images_and_labels_with_the_same_weights_and_passes_gradients():
    x = td.tensor(IMAGES.astype("float64"), requires_grad=True)
    out = L.MixUp(alpha=0.5, seed=2, dtype="float64")({"images": x, "labels": LABELS.astype("float64")},
                                                      training=True)
    np.testing.assert_allclose(out["labels"].numpy().sum(axis=1), 1.0)
    rng = np.random.default_rng(2)  # the seeded layer's draws: a permutation, then Beta(alpha, alpha) weights
    order, w = rng.permutation(4), rng.beta(0.5, 0.5, size=4)
    expected = w[:, None, None, None] * IMAGES + (1 - w[:, None, None, None]) * IMAGES[order]
    np.testing.assert_allclose(out["images"].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(out["labels"].numpy(), w[:, None] * LABELS + (1 - w[:, None]) * LABELS[order], rtol=1e-6)
    out["images"].sum().backward()
    np.testing.assert_allclose(x.grad.numpy().sum(), IMAGES.size)  # weights w and 1 - w sum to one per pixel
    again = L.MixUp(alpha=0.5, seed=2, dtype="float64")({"images": IMAGES.astype("float64"), "labels": LABELS},
                                                        training=True)
    np.testing.assert_array_equal(again["images"].numpy(), out["images"].numpy())


def test_mixup_on_one_unbatched_image_is_the_identity_and_inference_is_too():
    y = L.MixUp(seed=0)({"images": IMAGES[0], "labels": LABELS[0]}, training=True)
    np.testing.assert_allclose(y["images"].numpy(), IMAGES[0], rtol=1e-6)
    np.testing.assert_allclose(y["labels"].numpy(), LABELS[0], rtol=1e-6)
    np.testing.assert_array_equal(L.MixUp()(IMAGES).numpy(), IMAGES)


@pytest.mark.parametrize("make,message", [(lambda: L.MixUp(alpha=0), "alpha"), (lambda: L.MixUp(alpha="x"), "alpha"),
                                          (lambda: L.MixUp(data_format="nchw"), "data_format")])
def test_bad_arguments_raise_naming_themselves(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unsupported_keys_are_refused_by_name():
    with pytest.raises(ValueError, match="bounding_boxes"):
        L.MixUp()({"images": IMAGES, "bounding_boxes": np.zeros((4, 1, 4))}, training=True)
