"""A small T5-style encoder-decoder that learns to reverse digit strings (generated data).

Source "3 1 4 1 5" -> target "5 1 4 1 3", lengths 3 to 7 digits, padded with 0 (masked via
mask_zero). Encoder: token+position embedding -> 2 TransformerEncoder blocks. Decoder: token+position
embedding of "<bos> target" -> 2 TransformerDecoder blocks (causal self-attention, cross-attention to
the encoder) -> Dense(vocabulary). Trained with teacher forcing; evaluated by greedy decoding
(exact match of the whole string, <eos> included).

    python -m tinydl.examples.t5
"""
import numpy as np

import tinydl as td
from tinydl.layers import Dense, Input, TokenAndPositionEmbedding, TransformerDecoder, TransformerEncoder
from tinydl.losses import SparseCategoricalCrossentropy
from tinydl.models import Model

PAD, BOS, EOS = 0, 1, 2
VOCAB = 13  # pad, bos, eos, digits 0-9 as 3..12
MIN_LEN, MAX_LEN = 3, 7
TARGET_LEN = MAX_LEN + 1  # digits then <eos>
WIDTH, HEADS = 64, 4


def build_model(width=WIDTH, layers=2):
    """Encoder-decoder, uncompiled: (source ids, decoder input ids) -> logits (batch, TARGET_LEN, VOCAB)."""
    source = Input(shape=(MAX_LEN,), dtype="int64", name="source")
    target_in = Input(shape=(TARGET_LEN,), dtype="int64", name="decoder_input")
    x = TokenAndPositionEmbedding(VOCAB, MAX_LEN, width, mask_zero=True, name="source_embedding")(source)
    for i in range(layers):
        x = TransformerEncoder(2 * width, HEADS, name=f"encoder_{i}")(x)
    y = TokenAndPositionEmbedding(VOCAB, TARGET_LEN, width, mask_zero=True, name="target_embedding")(target_in)
    for i in range(layers):
        y = TransformerDecoder(2 * width, HEADS, name=f"decoder_{i}")(y, x)
    logits = Dense(VOCAB, name="logits")(y)
    return Model([source, target_in], logits, name="t5_reverse")


def make_data(n, rng):
    """(source, decoder_input, target) id arrays for `n` random digit strings."""
    source = np.zeros((n, MAX_LEN), np.int64)
    target = np.zeros((n, TARGET_LEN), np.int64)
    for i, length in enumerate(rng.integers(MIN_LEN, MAX_LEN + 1, size=n)):
        digits = rng.integers(0, 10, size=length) + 3
        source[i, :length] = digits
        target[i, :length] = digits[::-1]
        target[i, length] = EOS
    decoder_input = np.concatenate([np.full((n, 1), BOS), target[:, :-1]], axis=1)
    return source, decoder_input, target


def main(epochs=None, verbose=2, train_size=5000, test_size=500):
    """Train on generated strings; print and return the greedy-decoding exact-match accuracy."""
    td.set_seed(0)
    rng = np.random.default_rng(0)
    source, decoder_input, target = make_data(train_size, rng)
    test_source, _, test_target = make_data(test_size, rng)
    model = build_model()
    model.compile(optimizer=td.optimizers.Adam(2e-3),
                  loss=SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD))
    history = model.fit([source, decoder_input], target, batch_size=64, epochs=epochs or 5, verbose=verbose)
    decoded = greedy_decode(model, test_source)
    exact = float(np.mean(np.all(decoded == test_target, axis=1)))
    print(f"t5 (reverse digit strings): greedy exact-match accuracy {exact:.3f} on {test_size} test strings")
    return {"history": history.history, "exact_match": exact, "model": model}


def greedy_decode(model, source):
    """Target ids chosen one position at a time, each the argmax given the ids chosen before it."""
    n = len(source)
    decoder_input = np.zeros((n, TARGET_LEN), np.int64)
    decoder_input[:, 0] = BOS
    out = np.zeros((n, TARGET_LEN), np.int64)
    done = np.zeros(n, bool)
    for t in range(TARGET_LEN):
        logits = model.predict([source, decoder_input], batch_size=256, verbose=0)
        step = np.where(done, PAD, logits[:, t].argmax(-1))
        out[:, t] = step
        done |= step == EOS
        if t + 1 < TARGET_LEN:
            decoder_input[:, t + 1] = step
    return out


if __name__ == "__main__":
    main()
