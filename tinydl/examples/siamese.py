"""A siamese network: one shared encoder applied to two digit images, trained with a contrastive
loss so that same-digit pairs land close together and different-digit pairs at least `margin` apart.

The model outputs the difference of the two embeddings (a `Subtract` layer, so it exports to ONNX);
the loss and the evaluation turn that difference into a Euclidean distance."""
import numpy as np

import tinydl as td
from tinydl.datasets import digits
from tinydl.layers import Dense, Flatten, Input, Subtract
from tinydl.models import Model, Sequential

MARGIN = 1.0


def build_encoder():
    """The twin: image -> 16-d embedding."""
    return Sequential([Input(shape=(8, 8)), Flatten(), Dense(64, activation="relu"), Dense(16)], name="encoder")


def build_model():
    """Two inputs through one encoder (shared weights); the output is the embeddings' difference."""
    encoder = build_encoder()
    left, right = Input(shape=(8, 8), name="left"), Input(shape=(8, 8), name="right")
    difference = Subtract(name="difference")([encoder(left), encoder(right)])
    return Model(inputs=[left, right], outputs=difference, name="siamese")


def distance(difference):
    """Euclidean length of each row of the embeddings' difference, shape (batch,)."""
    return td.sqrt(td.sum(td.square(difference), axis=-1) + 1e-9)


def contrastive_loss(y_true, difference):
    """y_true 1 for same-digit pairs: d^2; 0 for different: max(margin - d, 0)^2 (Hadsell et al. 2006)."""
    d = distance(difference)
    y = td.as_tensor(np.asarray(y_true, dtype=d.dtype).reshape(d.shape))
    return y * td.square(d) + (1 - y) * td.square(td.relu(MARGIN - d))


def make_pairs(x, y, n_pairs, rng):
    """Half same-class, half different-class pairs, with label 1 for same."""
    by_class = [np.flatnonzero(y == c) for c in range(10)]
    a, b, same = [], [], []
    for i in range(n_pairs):
        c = rng.integers(10)
        first = rng.choice(by_class[c])
        if i % 2 == 0:
            second, label = rng.choice(by_class[c]), 1.0
        else:
            other = (c + rng.integers(1, 10)) % 10
            second, label = rng.choice(by_class[other]), 0.0
        a.append(first)
        b.append(second)
        same.append(label)
    return [x[a], x[b]], np.array(same, dtype=np.float32)[:, None]


def pair_accuracy(difference, same):
    """Fraction of pairs classified right by thresholding the distance at margin / 2."""
    d = np.sqrt((difference ** 2).sum(axis=-1))
    return float(np.mean((d < MARGIN / 2).astype(np.float32) == same.reshape(-1)))


def main(epochs=None, verbose=2):
    td.set_seed(0)
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    pairs_train, same_train = make_pairs(x_train, y_train, 4000, rng)
    pairs_test, same_test = make_pairs(x_test, y_test, 1000, rng)
    model = build_model()
    model.compile(optimizer="adam", loss=contrastive_loss)
    history = model.fit(pairs_train, same_train, epochs=epochs or 15, batch_size=64, verbose=verbose)
    accuracy = pair_accuracy(model.predict(pairs_test, verbose=0), same_test)
    print(f"siamese: test pair accuracy {accuracy:.4f} (chance 0.5)")
    return {"history": history.history, "pair_accuracy": accuracy, "model": model}


if __name__ == "__main__":
    main()
