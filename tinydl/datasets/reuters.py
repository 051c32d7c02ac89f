"""Reuters newswires: 11,228 stories as word-index sequences in 46 topics (downloaded on first use)."""
import json

import numpy as np

from tinydl.datasets.remote import drop_long, fetch, limit_vocabulary, load_npz, offset_words, ragged


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """`(x_train, y_train), (x_test, y_test)`: object arrays of word-index lists and topic labels, shuffled by
    `seed` and split at `1 - test_split`; see Keras's reuters.load_data for the encoding arguments."""
    f = load_npz(fetch("reuters.npz", fname=path))
    x, y = f["x"], f["y"]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    xs, labels = drop_long(offset_words(x[order], start_char, index_from), y[order], maxlen)
    xs = limit_vocabulary(xs, num_words, skip_top, oov_char)
    cut = int(len(xs) * (1 - test_split))
    return (ragged(xs[:cut]), np.array(labels[:cut])), (ragged(xs[cut:]), np.array(labels[cut:]))


def get_word_index(path="reuters_word_index.json"):
    """The {word: index} dict the sequences were encoded with (before `index_from` is added)."""
    with open(fetch("reuters_word_index.json", fname=path)) as f:
        return json.load(f)


def get_label_names():
    """The 46 topic names, indexed by the labels `load_data` returns (as keras.datasets.reuters)."""
    return LABEL_NAMES


LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)
