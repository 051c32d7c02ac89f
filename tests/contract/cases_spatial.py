"""Contract cases for issue 16's 1D and 3D spatial layers: transposed, depthwise and separable 1D convolutions,
the 3D convolutions, pooling, upsampling, padding and cropping (conv.py, pooling.py, image.py)."""
from tinydl import layers as L
from tests.contract import LayerCase

CASES = [
    LayerCase(lambda **kw: L.Conv1DTranspose(3, 3, strides=2, padding="same", **kw), (2, 4, 2)),
    LayerCase(lambda **kw: L.Conv1DTranspose(2, 2, strides=2, output_padding=1, activation="tanh", **kw), (2, 3, 2),
              name="Conv1DTranspose output_padding"),
    LayerCase(lambda **kw: L.DepthwiseConv1D(3, depth_multiplier=2, padding="same", **kw), (2, 5, 3)),
    LayerCase(lambda **kw: L.SeparableConv1D(4, 3, strides=2, depth_multiplier=2, **kw), (2, 7, 2)),
    LayerCase(lambda **kw: L.Conv3D(3, (2, 3, 2), **kw), (2, 3, 4, 3, 2)),
    LayerCase(lambda **kw: L.Conv3D(4, 3, strides=2, padding="same", groups=2, activation="relu", **kw),
              (1, 4, 3, 5, 2), name="Conv3D strided same grouped"),
    LayerCase(lambda **kw: L.Conv3D(2, 2, data_format="channels_first", dilation_rate=(1, 2, 1), **kw),
              (1, 2, 3, 4, 3), name="Conv3D channels_first dilated"),
    LayerCase(lambda **kw: L.Conv3DTranspose(2, 3, strides=2, padding="same", **kw), (1, 2, 3, 2, 2)),
    LayerCase(lambda **kw: L.Conv3DTranspose(2, 2, strides=2, output_padding=(1, 0, 1), use_bias=False, **kw),
              (1, 2, 2, 3, 2), name="Conv3DTranspose output_padding"),
    LayerCase(lambda **kw: L.MaxPooling3D(2, **kw), (2, 4, 5, 4, 2)),
    LayerCase(lambda **kw: L.MaxPooling3D((3, 2, 3), strides=(2, 1, 2), padding="same", **kw), (1, 5, 3, 5, 2),
              name="MaxPooling3D same"),
    LayerCase(lambda **kw: L.AveragePooling3D((2, 3, 2), strides=1, **kw), (2, 3, 4, 3, 2)),
    LayerCase(lambda **kw: L.AveragePooling3D(3, strides=2, padding="same", data_format="channels_first", **kw),
              (1, 2, 5, 3, 5), name="AveragePooling3D same channels_first"),
    LayerCase(lambda **kw: L.GlobalMaxPooling3D(**kw), (2, 3, 2, 4, 3)),
    LayerCase(lambda **kw: L.GlobalAveragePooling3D(keepdims=True, **kw), (2, 3, 2, 4, 3)),
    LayerCase(lambda **kw: L.UpSampling1D(3, **kw), (2, 3, 2)),
    LayerCase(lambda **kw: L.UpSampling3D((2, 1, 3), **kw), (2, 2, 3, 2, 2)),
    LayerCase(lambda **kw: L.ZeroPadding1D((2, 1), **kw), (2, 3, 2)),
    LayerCase(lambda **kw: L.ZeroPadding3D(((1, 0), (0, 2), (1, 1)), data_format="channels_first", **kw),
              (2, 2, 2, 3, 2)),
    LayerCase(lambda **kw: L.Cropping3D(((1, 0), (0, 2), (1, 1)), **kw), (2, 3, 4, 4, 2)),
]

CASES += [
    LayerCase(lambda **kw: L.AdaptiveAveragePooling1D(3, **kw), (2, 7, 2)),
    LayerCase(lambda **kw: L.AdaptiveMaxPooling1D(4, data_format="channels_first", **kw), (2, 2, 7)),
    LayerCase(lambda **kw: L.AdaptiveAveragePooling2D((3, 2), **kw), (2, 7, 5, 2)),
    LayerCase(lambda **kw: L.AdaptiveMaxPooling2D(3, **kw), (2, 5, 4, 2)),
    LayerCase(lambda **kw: L.AdaptiveAveragePooling3D((2, 3, 2), data_format="channels_first", **kw), (1, 2, 5, 7, 3)),
    LayerCase(lambda **kw: L.AdaptiveMaxPooling3D(2, **kw), (1, 5, 4, 3, 2)),
]

CASES += [
    LayerCase(lambda **kw: L.UpSampling2D((2, 3), data_format="channels_first", **kw), (2, 2, 3, 2),
              name="UpSampling2D channels_first"),
    LayerCase(lambda **kw: L.ZeroPadding2D(((1, 2), (0, 1)), data_format="channels_first", **kw), (2, 2, 3, 3),
              name="ZeroPadding2D channels_first"),
    LayerCase(lambda **kw: L.Cropping2D(((1, 0), (1, 2)), data_format="channels_first", **kw), (2, 2, 4, 5),
              name="Cropping2D channels_first"),
]
