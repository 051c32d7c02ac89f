"""MixUp and CutMix against Keras 3.15 on given permutations and weights, and its invariants."""
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


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cutmix_matches_keras_on_given_boxes_and_permutation(data_format):
    keras = pytest.importorskip("keras")
    x = IMAGES if data_format == "channels_last" else IMAGES.transpose(0, 3, 1, 2)
    corners = (np.array([0.5, 2.0, 0.0, 1.0]), np.array([3.2, 5.0, 5.0, 1.5]), np.array([1.0, 0.0, 0.5, 0.0]),
               np.array([2.0, 2.0, 3.0, 3.0]))
    order = np.array([3, 2, 0, 1])
    layer = keras.layers.CutMix(data_format=data_format)
    masks, weights = layer._generate_batch_mask(x.shape, tuple(keras.ops.convert_to_tensor(c.astype("float32"))
                                                                for c in corners))
    t = {"permutation_order": keras.ops.convert_to_tensor(order.astype("int32")), "batch_masks": masks,
         "mix_weight": weights}
    ours = L.CutMix(data_format=data_format).cut(td.tensor(x), LABELS, corners, order)
    np.testing.assert_array_equal(ours["images"].numpy(), keras.ops.convert_to_numpy(
        layer.transform_images(keras.ops.convert_to_tensor(x), t)))
    np.testing.assert_allclose(ours["labels"].numpy(), keras.ops.convert_to_numpy(
        layer.transform_labels(keras.ops.convert_to_tensor(LABELS), t)), rtol=1e-6)


def test_cutmix_pastes_one_box_from_another_image_and_passes_gradients():
    x = td.tensor(IMAGES.astype("float64"), requires_grad=True)
    out = L.CutMix(seed=5, dtype="float64")({"images": x, "labels": LABELS.astype("float64")}, training=True)
    y = out["images"].numpy()
    np.testing.assert_allclose(out["labels"].numpy().sum(axis=1), 1.0)
    changed = (y != IMAGES).any(axis=-1)
    assert changed.any()
    for i, box in enumerate(changed):
        if box.any():
            rows, cols = np.nonzero(box)
            assert box[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
            assert any(np.array_equal(y[i][box], IMAGES[j][box]) for j in range(4) if j != i)
    out["images"].sum().backward()
    np.testing.assert_allclose(x.grad.numpy().sum(), IMAGES.size)  # each output pixel comes from one input pixel


def test_cutmix_leaves_unbatched_images_and_inference_alone():
    np.testing.assert_array_equal(L.CutMix(seed=0)(IMAGES[0], training=True).numpy(), IMAGES[0])
    np.testing.assert_array_equal(L.CutMix()(IMAGES).numpy(), IMAGES)
    with pytest.raises(ValueError, match="factor"):
        L.CutMix(factor=1.5)
    with pytest.raises(ValueError, match="segmentation_masks"):
        L.CutMix()({"images": IMAGES, "segmentation_masks": IMAGES}, training=True)
