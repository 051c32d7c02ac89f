"""Layer contract cases for convolution, pooling and image reshaping layers (tinydl.layers.conv, pooling, image)."""
from tinydl import layers as L
from tests.contract import LayerCase

CASES = [
    LayerCase(lambda **kw: L.Conv1D(3, 3, padding="causal", dilation_rate=2, activation="tanh", **kw), (2, 7, 2),
              name="Conv1D causal dilated"),
    LayerCase(lambda **kw: L.Conv1D(4, 2, strides=2, groups=2, **kw), (2, 7, 2), name="Conv1D grouped strided"),
    LayerCase(lambda **kw: L.Conv2D(3, 3, **kw), (2, 5, 6, 2), name="Conv2D valid"),
    LayerCase(lambda **kw: L.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu", **kw), (2, 5, 5, 2),
              name="Conv2D strided same relu"),
    LayerCase(lambda **kw: L.Conv2D(2, 2, dilation_rate=2, use_bias=False, **kw), (1, 5, 5, 3),
              name="Conv2D dilated no bias"),
    LayerCase(lambda **kw: L.Conv2DTranspose(3, 3, strides=2, padding="same", **kw), (2, 3, 3, 2),
              name="Conv2DTranspose same"),
    LayerCase(lambda **kw: L.Conv2DTranspose(2, 2, strides=2, output_padding=1, **kw), (1, 3, 2, 2),
              name="Conv2DTranspose output_padding"),
    LayerCase(lambda **kw: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", **kw), (2, 4, 4, 3)),
    LayerCase(lambda **kw: L.SeparableConv2D(4, 3, strides=2, depth_multiplier=2, **kw), (2, 6, 5, 2)),
    LayerCase(lambda **kw: L.MaxPooling1D(2, **kw), (2, 7, 3)),
    LayerCase(lambda **kw: L.MaxPooling2D((3, 3), strides=2, padding="same", **kw), (2, 5, 6, 2)),
    LayerCase(lambda **kw: L.AveragePooling1D(3, strides=1, padding="same", **kw), (2, 6, 2)),
    LayerCase(lambda **kw: L.AveragePooling2D(2, **kw), (2, 5, 4, 3)),
    LayerCase(lambda **kw: L.GlobalAveragePooling1D(**kw), (2, 5, 3)),
    LayerCase(lambda **kw: L.GlobalAveragePooling2D(keepdims=True, **kw), (2, 4, 3, 2)),
    LayerCase(lambda **kw: L.GlobalMaxPooling1D(keepdims=True, **kw), (2, 5, 3)),
    LayerCase(lambda **kw: L.GlobalMaxPooling2D(**kw), (2, 4, 3, 2)),
    LayerCase(lambda **kw: L.UpSampling2D((2, 3), **kw), (2, 3, 2, 2)),
    LayerCase(lambda **kw: L.ZeroPadding2D(((1, 2), (0, 1)), **kw), (2, 3, 3, 2)),
    LayerCase(lambda **kw: L.Cropping2D(((1, 0), (1, 2)), **kw), (2, 4, 5, 2)),
    LayerCase(lambda **kw: L.Cropping1D((0, 3), **kw), (2, 5, 3)),
    LayerCase(lambda **kw: L.Cropping1D(1, **kw), (2, 4, 3), name="Cropping1D[both ends]"),
]
