"""A convolutional autoencoder on the 8x8 digits: Conv2D encoder (8x8 -> 4x4 -> 2x2 code), decoder with
Conv2DTranspose and UpSampling2D back to 8x8, trained to reconstruct its input.
"""
from tinydl.examples.autoencoder import train_and_report
from tinydl.layers import Conv2D, Conv2DTranspose, Input, Reshape, UpSampling2D
from tinydl.models import Model


def build_model():
    """Encoder and decoder as one functional model."""
    image = Input(shape=(8, 8), name="image")
    x = Reshape((8, 8, 1))(image)
    x = Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)            # 4x4x16
    code = Conv2D(8, 3, strides=2, padding="same", activation="relu", name="code")(x)  # 2x2x8
    x = Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(code)  # 4x4x16
    x = UpSampling2D(2)(x)                                                           # 8x8x16
    x = Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    return Model(image, Reshape((8, 8))(x), name="conv_autoencoder")


def main(epochs=None, verbose=2):
    """Train; report test reconstruction MSE against predicting the mean image (as the dense autoencoder)."""
    return train_and_report(build_model, epochs or 20, verbose, "conv autoencoder")


if __name__ == "__main__":
    main()
