"""Run under KERAS_BACKEND=torch (by test_conv_layers_keras_parity.py): tinydl's conv/pool/image layers
against real Keras 3 layers with the same weights. Prints one line per mismatch, then 'checked N'."""
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tinydl import layers as L  # noqa: E402

CASES = [
    ("Conv2D", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 7, 8, 3)),
    ("Conv2D", dict(filters=4, kernel_size=(2, 3), padding="same", dilation_rate=2), (2, 7, 8, 3)),
    ("Conv2D", dict(filters=6, kernel_size=3, groups=3, activation="relu"), (2, 7, 8, 3)),
    ("Conv1D", dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2), (2, 9, 3)),
    ("Conv1D", dict(filters=4, kernel_size=4, strides=3, padding="same"), (2, 10, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 4, 5, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2, padding="valid"), (2, 4, 5, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=4, strides=2, padding="same", output_padding=1), (2, 4, 5, 3)),
    ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=3, padding="valid", output_padding=1), (2, 4, 5, 3)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=2, strides=3, padding="same"), (1, 3, 3, 2)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, strides=2, padding="same"), (2, 7, 8, 3)),
    ("SeparableConv2D", dict(filters=5, kernel_size=3, depth_multiplier=2, padding="same"), (2, 7, 8, 3)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 8, 3)),
    # odd sizes only: with an even size Keras's torch backend pads 'same' average pooling its own way
    # (TF and tinydl exclude the pad at the end from the count; torch's backend does not)
    ("AveragePooling2D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 9, 3)),
    ("AveragePooling2D", dict(pool_size=2, padding="valid"), (2, 7, 8, 3)),
    ("MaxPooling1D", dict(pool_size=2, strides=1, padding="same"), (2, 7, 3)),
    ("AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 7, 3)),
    ("GlobalAveragePooling2D", dict(keepdims=True), (2, 7, 8, 3)),
    ("GlobalMaxPooling2D", dict(), (2, 7, 8, 3)),
    ("GlobalAveragePooling1D", dict(), (2, 7, 3)),
    ("GlobalMaxPooling1D", dict(keepdims=True), (2, 7, 3)),
    ("UpSampling2D", dict(size=(2, 3)), (2, 3, 4, 3)),
    ("ZeroPadding2D", dict(padding=((1, 2), (3, 0))), (2, 3, 4, 3)),
    ("Cropping2D", dict(cropping=((1, 0), (1, 2))), (2, 5, 6, 3)),
]
SKIP_KEYS = {"name", "dtype"}


def main():
    rng = np.random.default_rng(0)
    for name, kwargs, shape in CASES:
        x = rng.standard_normal(shape).astype("float32")
        theirs = getattr(keras.layers, name)(**kwargs)
        expected = keras.ops.convert_to_numpy(theirs(x))
        ours = getattr(L, name)(**kwargs)
        ours.build(shape)
        their_weights = [(w.name, tuple(w.shape)) for w in theirs.weights]
        our_weights = [(w.name, tuple(w.shape)) for w in ours.weights]
        if our_weights != their_weights:
            print(f"{name}: weights {our_weights} != keras {their_weights}")
            continue
        ours.set_weights([keras.ops.convert_to_numpy(w) for w in theirs.weights])
        got = ours(x).numpy()
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            print(f"{name} {kwargs}: output {got.shape} differs from keras {expected.shape}")
        kc, oc = theirs.get_config(), ours.get_config()
        if set(kc) != set(oc):
            print(f"{name}: config keys differ: keras only {sorted(set(kc) - set(oc))}, "
                  f"tinydl only {sorted(set(oc) - set(kc))}")
        for key in set(kc) & set(oc) - SKIP_KEYS:
            if not isinstance(kc[key], dict) and kc[key] != oc[key]:
                print(f"{name}: config[{key!r}] = {oc[key]!r}, keras {kc[key]!r}")
    print(f"checked {len(CASES)}")


if __name__ == "__main__":
    main()
