"""The training runs the MPI tests compare: built the same way on every rank and in the single-process reference.

Kept free of MPI so pytest can compute the single-process reference in its own process.
"""
import numpy as np

import tinydl as td
from tinydl import layers, models, optimizers

N_SAMPLES = 70        # 70 = 4 batches of 16 and a last batch of 6: uneven shards on 4 ranks
BATCH = 16
EPOCHS = 3
SEED = 100            # rank 0's seed; other ranks use SEED + rank, so only the broadcast makes them agree


def data():
    """A fixed 3-class problem: 70 training and 20 validation samples with 6 features."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(N_SAMPLES + 20, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 0.8)
    return (x[:N_SAMPLES], y[:N_SAMPLES]), (x[N_SAMPLES:], y[N_SAMPLES:])


def build(seed, optimizer, width=8, synchronized=True):
    """Dense -> synchronized BatchNormalization -> Dense softmax, compiled with `optimizer` ('sgd' or 'adam')."""
    td.clear_session()
    td.set_seed(seed)
    model = models.Sequential([layers.Input((6,)), layers.Dense(width, activation="relu"),
                               layers.BatchNormalization(synchronized=synchronized, momentum=0.9),
                               layers.Dense(3, activation="softmax")])
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9) if optimizer == "sgd" else optimizers.Adam(0.01)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train(seed, optimizer, callbacks=(), epochs=EPOCHS, verbose=0, synchronized=True):
    """Fit for `epochs` on the fixed data with shuffling; returns (model, history dict)."""
    (x, y), (vx, vy) = data()
    model = build(seed, optimizer, synchronized=synchronized)
    history = model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=True, validation_data=(vx, vy),
                        callbacks=list(callbacks), verbose=verbose)
    return model, history.history


def reference(optimizer, epochs=EPOCHS):
    """What one process computes: final weights, History, evaluate() and predict() on the validation data."""
    model, history = train(SEED, optimizer, epochs=epochs)
    (_, _), (vx, vy) = data()
    return {"weights": model.get_weights(), "history": history,
            "evaluate": model.evaluate(vx, vy, batch_size=8, verbose=0, return_dict=True),
            "predict": model.predict(vx, batch_size=8, verbose=0)}


class Batches:
    """A Sequence-like source (`__len__` + `__getitem__`) of the training data in global batches of BATCH;
    with `part=(r, n)`, only part r of n of each global batch (what rank r reads when it shards itself)."""

    def __init__(self, part=(0, 1)):
        (self.x, self.y), _ = data()
        self.part = part

    def __len__(self):
        return -(-len(self.x) // BATCH)

    def __getitem__(self, i):
        lo, hi = i * BATCH, min((i + 1) * BATCH, len(self.x))
        r, n = self.part
        cut = slice(lo + r * (hi - lo) // n, lo + (r + 1) * (hi - lo) // n)
        return self.x[cut], self.y[cut]


def train_on_sequence(seed, source=None):
    """Two epochs with SGD+momentum reading a Sequence, the model built by fit (no Input); final weights."""
    td.clear_session()
    td.set_seed(seed)
    model = models.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    model.fit(source or Batches(), epochs=2, verbose=0)
    return model.get_weights()
