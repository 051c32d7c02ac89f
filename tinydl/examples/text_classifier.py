"""Sentiment of generated sentences with Embedding(mask_zero=True) and a Bidirectional LSTM.

The corpus is made up: sentences of 3 to 20 words from positive, negative and filler words, where "not"
flips the sentiment word after it; the label says whether positive sentiment outweighs negative.
Sentences are padded with id 0 at the end, so the mask from the embedding makes the LSTMs skip the
padding (masked steps carry the state through).
"""
import numpy as np

import tinydl as td
from tinydl.layers import LSTM, Bidirectional, Dense, Embedding, Input
from tinydl.models import Sequential

POSITIVE = ["good", "great", "fine", "lovely", "superb", "happy", "nice", "brilliant"]
NEGATIVE = ["bad", "awful", "poor", "sad", "terrible", "boring", "ugly", "dull"]
FILLER = ["the", "a", "movie", "plot", "was", "and", "actors", "it", "very", "story", "quite", "music", "but"]
VOCAB = ["<pad>", "not"] + POSITIVE + NEGATIVE + FILLER
MAX_LEN = 20


def make_corpus(n=2000, seed=0):
    """(ids (n, MAX_LEN) int64 padded with 0 at the end, labels (n, 1) float32, lengths (n,))."""
    rng = np.random.default_rng(seed)
    index = {w: i for i, w in enumerate(VOCAB)}
    ids = np.zeros((n, MAX_LEN), np.int64)
    labels = np.zeros((n, 1), np.float32)
    lengths = np.zeros(n, np.int64)
    row = 0
    while row < n:
        length = int(rng.integers(3, MAX_LEN + 1))
        words, score, negate = [], 0, False
        for _ in range(length):
            roll = rng.random()
            if roll < 0.15:
                word = "not"
            elif roll < 0.4:
                word = POSITIVE[rng.integers(len(POSITIVE))]
            elif roll < 0.65:
                word = NEGATIVE[rng.integers(len(NEGATIVE))]
            else:
                word = FILLER[rng.integers(len(FILLER))]
            if word in POSITIVE or word in NEGATIVE:
                sign = 1 if word in POSITIVE else -1
                score += -sign if negate else sign
            negate = word == "not"
            words.append(word)
        if score == 0:
            continue  # no ties: every sentence has a sentiment
        ids[row, :length] = [index[w] for w in words]
        labels[row] = float(score > 0)
        lengths[row] = length
        row += 1
    return ids, labels, lengths


def build_model(units=16, embed=16):
    """ids -> Embedding(mask_zero) -> Bidirectional(LSTM) -> P(positive) (uncompiled)."""
    return Sequential([
        Input(shape=(MAX_LEN,), dtype="int64"),
        Embedding(len(VOCAB), embed, mask_zero=True),
        Bidirectional(LSTM(units)),
        Dense(1, activation="sigmoid"),
    ], name="sentiment_bilstm")


def main(epochs=None, verbose=2, n_train=2000):
    """Train on `n_train` sentences, test on 500 new ones; print and return the test accuracy."""
    td.set_seed(0)
    x_train, y_train, _ = make_corpus(n_train, seed=0)
    x_test, y_test, _ = make_corpus(500, seed=1)
    model = build_model()
    model.compile(optimizer=td.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs or 10, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    majority = float(max(y_test.mean(), 1 - y_test.mean()))
    print(f"sentiment Bi-LSTM: test loss {loss:.4f}, test accuracy {accuracy:.4f} (majority class {majority:.4f})")
    return {"history": history.history, "test_loss": loss, "test_accuracy": accuracy,
            "majority_accuracy": majority, "model": model}


if __name__ == "__main__":
    main()
