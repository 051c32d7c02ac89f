"""A small GPT: a decoder-only character language model on the bundled public-domain poems.

Token and position embedding -> 2 pre-norm TransformerDecoder blocks (causal self-attention, no
encoder) -> LayerNormalization -> Dense(vocabulary) logits. Trained on random 64-character windows
to predict every next character; reports the validation perplexity against the unigram baseline
(character frequencies of the training text) and prints a sample drawn with temperature and top-k.

    python -m tinydl.examples.gpt
"""
import math

import numpy as np

import tinydl as td
from tinydl.datasets import poems
from tinydl.layers import Dense, Input, LayerNormalization, TokenAndPositionEmbedding, TransformerDecoder
from tinydl.losses import SparseCategoricalCrossentropy
from tinydl.models import Model

CONTEXT = 64
WIDTH = 96
HEADS = 4
LAYERS = 2


def build_model(vocabulary_size=73, context=CONTEXT, width=WIDTH, layers=LAYERS, dropout=0.2):
    """The decoder-only transformer, uncompiled: ids (batch, T) -> next-character logits (batch, T, vocab)."""
    ids = Input(shape=(None,), dtype="int64", name="ids")
    x = TokenAndPositionEmbedding(vocabulary_size, context, width, name="embedding")(ids)
    for i in range(layers):
        x = TransformerDecoder(2 * width, HEADS, dropout=dropout, normalize_first=True, activation="gelu",
                               name=f"decoder_{i}")(x)
    x = LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = Dense(vocabulary_size, name="logits")(x)
    return Model(ids, logits, name="gpt")


def main(epochs=None, verbose=2, windows_per_epoch=1600, sample_length=240, temperature=0.8, top_k=8):
    """Train, report validation perplexity vs the unigram baseline, print a sample; return the figures."""
    td.set_seed(0)
    rng = np.random.default_rng(0)
    (train, valid), vocab = poems.load_data()
    model = build_model(len(vocab))
    model.compile(optimizer=td.optimizers.Adam(2e-3), loss=SparseCategoricalCrossentropy(from_logits=True))
    x_valid, y_valid = _windows(valid, np.arange(0, len(valid) - CONTEXT - 1, CONTEXT))
    histories = {"loss": [], "val_loss": []}
    for _ in range(epochs or 10):
        starts = rng.integers(0, len(train) - CONTEXT - 1, size=windows_per_epoch)
        x, y = _windows(train, starts)
        h = model.fit(x, y, batch_size=32, epochs=1, validation_data=(x_valid, y_valid), verbose=verbose)
        for key in histories:
            histories[key] += h.history[key]
    val_loss = histories["val_loss"][-1]
    unigram = _unigram_loss(train, valid, len(vocab))
    sample = generate(model, vocab, "Shall I ", sample_length, temperature, top_k, rng)
    print(f"gpt: validation loss {val_loss:.3f} nats/char (perplexity {math.exp(val_loss):.2f}); unigram baseline "
          f"{unigram:.3f} (perplexity {math.exp(unigram):.2f})")
    print(f"sample (temperature {temperature}, top-k {top_k}):\n{sample}")
    return {"history": histories, "val_loss": val_loss, "val_perplexity": math.exp(val_loss),
            "unigram_loss": unigram, "unigram_perplexity": math.exp(unigram), "sample": sample, "model": model}


def generate(model, vocab, prompt, length, temperature=0.8, top_k=8, rng=None):
    """`prompt` continued by `length` characters, each drawn from the top-k softmax(logits / temperature)."""
    rng = rng or np.random.default_rng(0)
    index = {c: i for i, c in enumerate(vocab)}
    ids = [index[c] for c in prompt if c in index]
    for _ in range(length):
        context = np.array([ids[-CONTEXT:]], dtype=np.int64)
        with td.no_grad():
            logits = model(context).numpy()[0, -1].astype(np.float64) / temperature
        top = np.argsort(logits)[-top_k:]
        p = np.exp(logits[top] - logits[top].max())
        ids.append(int(rng.choice(top, p=p / p.sum())))
    return "".join(vocab[i] for i in ids)


def _windows(ids, starts):
    """Inputs ids[s:s+T] and next-character targets ids[s+1:s+T+1] for each start s."""
    offsets = np.arange(CONTEXT)
    return ids[starts[:, None] + offsets], ids[starts[:, None] + offsets + 1]


def _unigram_loss(train, valid, vocabulary_size):
    """Cross-entropy (nats/char) on the validation text of the training text's character frequencies."""
    counts = np.bincount(train, minlength=vocabulary_size) + 1.0  # add-one: unseen characters stay finite
    p = counts / counts.sum()
    return float(-np.log(p[valid]).mean())


if __name__ == "__main__":
    main()
