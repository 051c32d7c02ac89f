"""A small BERT: masked-token pretraining of a transformer encoder, then a classification head.

Generated sentences "the <adj> <predator|prey> <verb> the <adj> <prey|predator> <adverb>" (with
optional words, padded to 12 tokens). The task: does the predator come first (is it the subject)?
Both orders use the same bag of words, so a bag-of-words classifier (also trained and printed) stays
near chance; the encoder, which sees word order through position embeddings, does not.

1. Pretraining: 15% of the tokens are replaced by [MASK] and the encoder + a Dense(vocabulary) head
   learns to restore them (loss on masked positions only).
2. Fine-tuning: the pretrained encoder's [CLS] vector -> Dense(2), trained on a small labelled set.

    python -m tinydl.examples.bert
"""
import numpy as np

import tinydl as td
from tinydl.layers import Cropping1D, Dense, Flatten, Input, TokenAndPositionEmbedding, TransformerEncoder
from tinydl.losses import SparseCategoricalCrossentropy
from tinydl.models import Model, Sequential

PAD, MASK, CLS = 0, 1, 2
PREDATORS = ["cat", "fox", "wolf", "hawk", "owl", "snake"]
PREY = ["mouse", "rabbit", "bird", "frog", "fish", "hen"]
ADJECTIVES = ["big", "small", "quick", "old", "young", "grey", "hungry", "shy"]
VERBS = ["sees", "chases", "watches", "follows", "meets", "finds"]
ADVERBS = ["today", "again", "slowly", "quietly", "at night", "by the river"]
WORDS = ["the"] + PREDATORS + PREY + ADJECTIVES + VERBS + sorted({w for a in ADVERBS for w in a.split()})
VOCAB = {w: i + 3 for i, w in enumerate(dict.fromkeys(WORDS))}
VOCAB_SIZE = len(VOCAB) + 3
LENGTH = 12
WIDTH, HEADS = 64, 4


def build_encoder(width=WIDTH, layers=2):
    """ids (batch, LENGTH) -> contextual vectors (batch, LENGTH, width); padding masked."""
    ids = Input(shape=(LENGTH,), dtype="int64", name="ids")
    x = TokenAndPositionEmbedding(VOCAB_SIZE, LENGTH, width, mask_zero=True, name="embedding")(ids)
    for i in range(layers):
        x = TransformerEncoder(2 * width, HEADS, dropout=0.1, name=f"encoder_{i}")(x)
    return Model(ids, x, name="bert_encoder")


def build_model(encoder=None):
    """The classifier: encoder -> [CLS] vector -> Dense(2) logits (uncompiled)."""
    encoder = encoder or build_encoder()
    ids = Input(shape=(LENGTH,), dtype="int64", name="ids")
    cls = Flatten(name="cls_vector")(Cropping1D((0, LENGTH - 1))(encoder(ids)))  # h[:, 0], exportable
    return Model(ids, Dense(2, name="classifier")(cls), name="bert_classifier")


def make_sentences(n, rng):
    """(ids (n, LENGTH) with [CLS] first, labels: 1 when the predator is the subject)."""
    ids = np.zeros((n, LENGTH), np.int64)
    labels = rng.integers(0, 2, size=n)
    for i, label in enumerate(labels):
        predator, prey = rng.choice(PREDATORS), rng.choice(PREY)
        first, second = (predator, prey) if label else (prey, predator)
        words = ["the"] + _maybe_adjective(rng) + [first, rng.choice(VERBS), "the"] + _maybe_adjective(rng)
        words += [second] + (rng.choice(ADVERBS).split() if rng.random() < 0.5 else [])
        ids[i, :len(words) + 1] = [CLS] + [VOCAB[w] for w in words]
    return ids, labels


def main(epochs=None, verbose=2, pretrain_size=4000, labelled_size=400, test_size=1000):
    """Pretrain, fine-tune, and compare with the bag-of-words baseline; return the accuracies."""
    td.set_seed(0)
    rng = np.random.default_rng(0)
    epochs = epochs or 8
    encoder = build_encoder()
    pretrain_ids, _ = make_sentences(pretrain_size, rng)
    masked, targets = mask_tokens(pretrain_ids, rng)
    ids = Input(shape=(LENGTH,), dtype="int64")
    mlm = Model(ids, Dense(VOCAB_SIZE, name="mlm_head")(encoder(ids)), name="bert_mlm")
    mlm.compile(optimizer=td.optimizers.Adam(2e-3), loss=SparseCategoricalCrossentropy(from_logits=True,
                                                                                        ignore_class=-1))
    pretrain = mlm.fit(masked, targets, batch_size=64, epochs=epochs, verbose=verbose)

    x, y = make_sentences(labelled_size, rng)
    x_test, y_test = make_sentences(test_size, rng)
    classifier = build_model(encoder)
    classifier.compile(optimizer=td.optimizers.Adam(1e-3),
                       loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    finetune = classifier.fit(x, y, batch_size=32, epochs=epochs, verbose=verbose)
    _, accuracy = classifier.evaluate(x_test, y_test, verbose=0)
    bow_accuracy = bag_of_words_accuracy(x, y, x_test, y_test, epochs=4 * epochs)
    print(f"bert: masked-token loss {pretrain.history['loss'][0]:.3f} -> {pretrain.history['loss'][-1]:.3f}; "
          f"classifier test accuracy {accuracy:.3f} vs bag-of-words baseline {bow_accuracy:.3f}")
    return {"history": finetune.history, "pretrain_history": pretrain.history, "test_accuracy": accuracy,
            "bag_of_words_accuracy": bow_accuracy, "model": classifier}


def mask_tokens(ids, rng, rate=0.15):
    """(inputs with ~15% of the word tokens replaced by [MASK], targets: the original id there, -1 elsewhere)."""
    words = ids > CLS
    chosen = words & (rng.random(ids.shape) < rate)
    return np.where(chosen, MASK, ids), np.where(chosen, ids, -1)


def bag_of_words_accuracy(x, y, x_test, y_test, epochs=32):
    """Test accuracy of logistic regression on word counts (order thrown away)."""
    def counts(ids):
        c = np.zeros((len(ids), VOCAB_SIZE), np.float32)
        np.add.at(c, (np.repeat(np.arange(len(ids)), ids.shape[1]), ids.ravel()), 1.0)
        c[:, :CLS + 1] = 0
        return c
    model = Sequential([Input(shape=(VOCAB_SIZE,)), Dense(2)], name="bag_of_words")
    model.compile(optimizer=td.optimizers.Adam(1e-2), loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(counts(x), y, batch_size=32, epochs=epochs, verbose=0)
    return float(model.evaluate(counts(x_test), y_test, verbose=0)[1])


def _maybe_adjective(rng):
    return [str(rng.choice(ADJECTIVES))] if rng.random() < 0.6 else []


if __name__ == "__main__":
    main()
