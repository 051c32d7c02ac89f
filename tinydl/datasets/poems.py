"""English poems in the public domain (~18 KB of text), bundled for character language models.

    text = tinydl.datasets.poems.load_text()
    (train, valid), vocab = tinydl.datasets.poems.load_data()

Shakespeare's sonnets 18, 29, 30, 55, 60, 65, 71, 73, 104, 106, 116, 130 and 146; Blake's "The Tyger",
"London" and "The Lamb"; Wordsworth's "I Wandered Lonely as a Cloud"; Shelley's "Ozymandias";
Keats's "Bright Star" and "To Autumn"; Byron's "She Walks in Beauty"; Poe's "Annabel Lee" and the
first six stanzas of "The Raven". All were published before 1850; typed from memory, so a word may
differ from a printed edition.
"""
import os

import numpy as np

__all__ = ["load_text", "load_data"]

_PATH = os.path.join(os.path.dirname(__file__), "data", "poems.txt")


def load_text():
    """The whole text as one string (poems separated by blank lines, each headed by its title)."""
    with open(_PATH, encoding="utf-8") as f:
        return f.read()


def load_data(validation_fraction=0.1):
    """((train_ids, valid_ids), vocab): the text as int64 character ids, split by position, and the
    sorted list of characters (id i is vocab[i]). The validation part is the last poems' text."""
    text = load_text()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = np.array([index[c] for c in text], dtype=np.int64)
    cut = int(len(ids) * (1 - validation_fraction))
    return (ids[:cut], ids[cut:]), vocab
