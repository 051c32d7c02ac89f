"""IMDB movie reviews: 50,000 reviews as word-index sequences, labelled positive/negative (downloaded)."""
import json

import numpy as np

from tinydl.datasets.remote import drop_long, fetch, limit_vocabulary, load_npz, offset_words, ragged


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, **kwargs):
    """`(x_train, y_train), (x_test, y_test)`: object arrays of word-index lists and 0/1 labels, each split
    shuffled by `seed`; see Keras's imdb.load_data for the encoding arguments."""
    if kwargs:
        raise TypeError(f"Unrecognized keyword arguments: {kwargs}.")
    f = load_npz(fetch("imdb.npz", fname=path))
    rng = np.random.RandomState(seed)
    splits = []
    for x, y in ((f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])):
        order = np.arange(len(x))
        rng.shuffle(order)
        xs = offset_words(x[order], start_char, index_from)
        splits.append(drop_long(xs, y[order], maxlen))
    if maxlen and (not splits[0][0] or not splits[1][0]):
        raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
                         "Increase maxlen.")
    xs = limit_vocabulary(splits[0][0] + splits[1][0], num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(splits[0][1]), np.asarray(splits[1][1])])
    cut = len(splits[0][0])
    return (ragged(xs[:cut]), labels[:cut]), (ragged(xs[cut:]), labels[cut:])


def get_word_index(path="imdb_word_index.json"):
    """The {word: index} dict the sequences were encoded with (before `index_from` is added)."""
    with open(fetch("imdb_word_index.json", fname=path)) as f:
        return json.load(f)
