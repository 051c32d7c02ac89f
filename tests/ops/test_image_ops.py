"""tinydl.ops.image against keras.ops.image (Keras 3.15, torch backend) on the same images, and its gradients
against finite differences (every function composes registry-checked ops)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinydl as td  # noqa: E402
from tinydl.ops import image  # noqa: E402
from tinydl.testing import gradcheck  # noqa: E402

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

rng = np.random.default_rng(21)
IMG = rng.random((2, 5, 6, 3)).astype(np.float32)
COORDS = rng.uniform(-7.3, 12.2, (2, 4, 5)).round(3) + 0.0004  # off the half-way points where rounding differs
COORDS3 = np.concatenate([COORDS, rng.integers(0, 3, (1, 4, 5))]).astype(np.float32)
LAST = {"data_format": "channels_last"}  # Keras's torch backend reads data_format=None as channels-first here

CALLS = [
    ("rgb_to_grayscale", (IMG,), {}), ("rgb_to_grayscale", (IMG[0],), {}),
    ("rgb_to_grayscale", (IMG.transpose(0, 3, 1, 2),), {"data_format": "channels_first"}),
    ("rgb_to_hsv", (IMG,), {}), ("hsv_to_rgb", (IMG,), {}),
    ("pad_images", (IMG, 1, 2), {"target_height": 8, "target_width": 9}),
    ("pad_images", (IMG,), {"top_padding": 1, "bottom_padding": 2, "left_padding": 0, "right_padding": 3}),
    ("crop_images", (IMG, 1, 2), {"target_height": 3, "target_width": 3}),
    ("crop_images", (IMG,), {"bottom_cropping": 1, "target_height": 2, "left_cropping": 1, "right_cropping": 2}),
    ("resize", (IMG, (8, 9)), {}), ("resize", (IMG, (3, 4)), {}),
    ("resize", (IMG, (8, 4)), {"interpolation": "nearest"}), ("resize", (IMG, (3, 9)), {"interpolation": "nearest"}),
    ("extract_patches", (IMG, 2), {}), ("extract_patches", (IMG, (2, 3)), {"strides": 1, "padding": "same"}),
    ("gaussian_blur", (IMG,), LAST), ("gaussian_blur", (IMG,), {"kernel_size": (5, 5), "sigma": (0.7, 2.0), **LAST}),
    ("sobel_edges", (IMG,), LAST),
    ("ssim", (IMG, np.clip(IMG + 0.1 * rng.standard_normal(IMG.shape), 0, 1).astype(np.float32)),
     {"filter_size": 3}),
    *[("map_coordinates", (IMG[0, :, :, 0], COORDS, order), {"fill_mode": mode, "fill_value": 0.5})
      for order in (0, 1) for mode in ("constant", "nearest", "wrap", "mirror", "reflect")],
    ("map_coordinates", (IMG[0], COORDS3, 1), {}),
    ("affine_transform", (IMG[0], np.array([0.9, 0.2, 0.7, -0.1, 1.1, -0.4, 0, 0])), {}),
    ("affine_transform", (IMG, np.array([[0.9, 0.2, 0.7, -0.1, 1.1, -0.4, 0, 0],
                                         [1.2, -0.3, 0.1, 0.4, 0.8, 1.3, 0, 0]])),
     {"interpolation": "nearest", "fill_mode": "reflect"}),
    ("ssim", (IMG[0], IMG[0][::-1]), {"filter_size": 5, "filter_sigma": 1.0, "max_val": 2.0, "k1": 0.02}),
]


@pytest.mark.parametrize("name,args,kwargs", CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(CALLS)])
def test_image_op_matches_keras(name, args, kwargs):
    ours = getattr(image, name)(*args, **kwargs).numpy()
    theirs = keras.ops.convert_to_numpy(getattr(keras.ops.image, name)(*args, **kwargs))
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn", [
    lambda x: image.resize(x, (3, 5)), lambda x: image.rgb_to_grayscale(x), lambda x: image.gaussian_blur(x),
    lambda x: image.extract_patches(x, 2), lambda x: image.crop_images(x, 1, 0, target_height=2, target_width=3),
    lambda x: image.sobel_edges(x), lambda x: image.ssim(x, np.ones((1, 4, 4, 3)) * 0.5, filter_size=3),
    lambda x: image.map_coordinates(x[0, :, :, 0], COORDS / 2, 1, fill_mode="mirror"),
], ids=["resize", "rgb_to_grayscale", "gaussian_blur", "extract_patches", "crop_images", "sobel_edges", "ssim",
        "map_coordinates"])
def test_differentiable_image_ops_pass_gradcheck(fn):
    x = rng.standard_normal((1, 4, 4, 3))
    report = gradcheck(fn, [x])
    assert report.ok, report


def test_ssim_of_an_image_with_itself_is_one():
    np.testing.assert_allclose(image.ssim(IMG, IMG, filter_size=3).numpy(), [1.0, 1.0], rtol=1e-6)


def test_image_ops_refuse_what_they_cannot_do():
    with pytest.raises(ValueError, match="antialias"):
        image.resize(IMG, (2, 2), antialias=True)
    with pytest.raises(ValueError, match="interpolation"):
        image.resize(IMG, (2, 2), interpolation="bicubic")
    with pytest.raises(ValueError, match="exactly two"):
        image.pad_images(IMG, 1)
    with pytest.raises(ValueError, match="shape"):
        image.rgb_to_grayscale(td.tensor(np.ones((2, 3))))
