"""Contract cases for the augmentation layers. Training cases use factors with lower == upper, so the
transform is the same on every call and finite differences apply; saved models run in inference (identity)."""
from tinydl import layers as L
from tests.contract import LayerCase

TRAINING = {"training": True}

CASES = [
    LayerCase(lambda **kw: L.RandomFlip(**kw), (2, 4, 5, 2)),
    LayerCase(lambda **kw: L.RandomRotation(0.1, **kw), (2, 4, 5, 2)),
    LayerCase(lambda **kw: L.RandomRotation((0.05, 0.05), fill_mode="constant", fill_value=0.5, **kw), (2, 4, 5, 2),
              call_kwargs=TRAINING, name="RandomRotation[training,constant fill]"),
    LayerCase(lambda **kw: L.RandomZoom((0.2, 0.2), (-0.1, -0.1), fill_mode="wrap", **kw), (2, 5, 4, 1),
              call_kwargs=TRAINING, name="RandomZoom[training,wrap]"),
    LayerCase(lambda **kw: L.RandomTranslation((0.3, 0.3), (-0.2, -0.2), interpolation="nearest",
                                               data_format="channels_first", **kw), (2, 2, 5, 5),
              call_kwargs=TRAINING, name="RandomTranslation[training,nearest,channels_first]"),
    LayerCase(lambda **kw: L.RandomCrop(3, 4, **kw), (2, 3, 4, 2)),
    LayerCase(lambda **kw: L.RandomContrast((-0.5, 0.5), value_range=(-20, 20), **kw), (2, 3, 4, 2),
              call_kwargs=TRAINING, name="RandomContrast[training]"),
    LayerCase(lambda **kw: L.RandomBrightness((0.1, 0.1), value_range=(-20, 20), **kw), (2, 3, 4, 2),
              call_kwargs=TRAINING, name="RandomBrightness[training]"),
    LayerCase(lambda **kw: L.RandomGrayscale(1.0, **kw), (2, 3, 4, 3), call_kwargs=TRAINING,
              name="RandomGrayscale[training]"),
    LayerCase(lambda **kw: L.RandomInvert((1.0, 1.0), value_range=(-20, 20), **kw), (2, 3, 4, 2),
              call_kwargs=TRAINING, name="RandomInvert[training]"),
    LayerCase(lambda **kw: L.Solarization(0.0, 0.0, value_range=(-20, 20), **kw), (2, 3, 4, 2),
              call_kwargs=TRAINING, name="Solarization[training]"),
    LayerCase(lambda **kw: L.AutoContrast(value_range=(-20, 20), **kw), (2, 3, 4, 2)),
    LayerCase(lambda **kw: L.RandomColorDegeneration((0.4, 0.4), value_range=(-20, 20), **kw), (2, 3, 4, 3),
              call_kwargs=TRAINING, name="RandomColorDegeneration[training]"),
    LayerCase(lambda **kw: L.RandomSharpness((0.9, 0.9), value_range=(-20, 20), data_format="channels_first", **kw),
              (2, 2, 4, 5), call_kwargs=TRAINING, name="RandomSharpness[training,channels_first]"),
    LayerCase(lambda **kw: L.RandomPosterization(4, **kw), (2, 3, 4, 3)),
    LayerCase(lambda **kw: L.RandomSaturation((0.7, 0.7), value_range=(0, 1), **kw), (2, 3, 4, 3),
              call_kwargs=TRAINING, name="RandomSaturation[training]"),
    LayerCase(lambda **kw: L.RandomHue(0.3, value_range=(-4, 4), data_format="channels_first", **kw), (2, 3, 4, 5)),
    # in inference only: every training call draws a new sign, so finite differences do not apply (the shear's
    # affine_transform is gradient-checked through RandomRotation above)
    LayerCase(lambda **kw: L.RandomShear((0.3, 0.3), (0.2, 0.2), fill_mode="nearest", **kw), (2, 4, 5, 2)),
    LayerCase(lambda **kw: L.RandomGaussianBlur((1.0, 1.0), 3, (0.6, 0.6), value_range=(-20, 20), **kw),
              (2, 4, 5, 2), call_kwargs=TRAINING, name="RandomGaussianBlur[training]"),
    LayerCase(lambda **kw: L.Equalization(value_range=(-3, 3), **kw), (2, 3, 4, 3)),  # a lookup: inference only
    LayerCase(lambda **kw: L.MixUp(**kw), (2, 3, 4, 3)),  # each training call draws a new mix: inference only
    LayerCase(lambda **kw: L.RandomErasing(**kw), (2, 3, 4, 3)),  # each training call draws new boxes
    LayerCase(lambda **kw: L.CutMix(**kw), (2, 3, 4, 3)),  # each training call draws new boxes
    LayerCase(lambda **kw: L.RandomColorJitter((-20, 20), (0.1, 0.1), (0.0, 0.0), (0.6, 0.6), **kw), (2, 3, 4, 3),
              call_kwargs=TRAINING, name="RandomColorJitter[training]"),
    LayerCase(lambda **kw: L.RandomPerspective(**kw), (2, 3, 4, 3)),  # each training call draws new corners
]
