"""A small residual network on the 8x8 digits: a stem conv, two residual blocks (Conv-BN-ReLU-Conv-BN + skip),
global average pooling and a softmax head. The skip connections show in `summary()`'s 'Connected to' column.
"""
from tinydl.examples.mlp import train_and_report
from tinydl.layers import (
    Activation, Add, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, Input, Reshape,
)
from tinydl.models import Model


def residual_block(x, filters, strides=1, name="block"):
    """y = relu(BN(conv(relu(BN(conv(x))))) + shortcut(x)); the shortcut is a strided 1x1 conv when shapes change."""
    h = Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    h = Activation("relu", name=f"{name}_relu1")(BatchNormalization(name=f"{name}_bn1")(h))
    h = Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(h)
    h = BatchNormalization(name=f"{name}_bn2")(h)
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_proj")(x)
        shortcut = BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    return Activation("relu", name=f"{name}_out")(Add(name=f"{name}_add")([h, shortcut]))


def build_model():
    """The residual net, uncompiled."""
    image = Input(shape=(8, 8), name="image")
    x = Reshape((8, 8, 1), name="to_channels")(image)
    x = Activation("relu", name="stem_relu")(BatchNormalization(name="stem_bn")(
        Conv2D(16, 3, padding="same", use_bias=False, name="stem_conv")(x)))
    x = residual_block(x, 16, name="block1")
    x = residual_block(x, 32, strides=2, name="block2")
    out = Dense(10, activation="softmax", name="classifier")(GlobalAveragePooling2D(name="pool")(x))
    return Model(image, out, name="digits_resnet")


def main(epochs=None, verbose=2):
    """Train on digits; print the summary and return history and test accuracy."""
    return train_and_report(build_model, "digits ResNet", epochs or 10, verbose, summary=bool(verbose))


if __name__ == "__main__":
    main()
