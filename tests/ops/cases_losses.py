"""Gradient cases for the loss cores (fused sparse softmax cross-entropy)."""
import numpy as np
from hypothesis import strategies as st

import tinydl as td
from tinydl.testing import OpCase, arrays, index_arrays


def logits_and_labels():
    """Logits of shape (*rows, classes) with integer labels of shape rows (labels stay constant)."""
    rows = st.sampled_from([(1,), (3,), (2, 2)])
    classes = st.integers(2, 4)
    return st.tuples(rows, classes).flatmap(
        lambda rc: st.tuples(arrays(rc[0] + (rc[1],), (-3.0, 3.0)), index_arrays(rc[1], rc[0])))



def reference_cross_entropy(scores, labels):
    """-log of the labelled class's share of the positive scores, per row."""
    picked = np.take_along_axis(scores, labels[..., None], axis=-1)[..., 0]
    return -np.log(picked / scores.sum(axis=-1))


CASES = [
    OpCase("sparse_softmax_cross_entropy", lambda x, y: td.sparse_softmax_cross_entropy(x, y),
           logits_and_labels(), wrt=[0], reference=lambda x, y: reference_cross_entropy(np.exp(x), y)),
]


def probabilities_and_labels():
    """Positive scores (not normalised: the op divides by their sum) with integer labels."""
    rows = st.sampled_from([(1,), (3,), (2, 2)])
    classes = st.integers(2, 4)
    return st.tuples(rows, classes).flatmap(
        lambda rc: st.tuples(arrays(rc[0] + (rc[1],), (0.1, 1.0)), index_arrays(rc[1], rc[0])))


CASES.append(OpCase("sparse_probability_cross_entropy", lambda p, y: td.sparse_probability_cross_entropy(p, y),
                    probabilities_and_labels(), wrt=[0], reference=reference_cross_entropy))
