"""Contract cases for the core layers (core.py, normalization, embedding, reshaping, merge)."""
import numpy as np

from tinydl import layers as L
from tests.contract import LayerCase


def _ids_with_padding(rng):
    """Token ids (2, 5) with zeros (padding) at the end of each row."""
    ids = rng.integers(1, 7, size=(2, 5))
    ids[0, 3:] = 0
    ids[1, 4:] = 0
    return [ids.astype("int64")]


def _distinct_pair(rng):
    """Two float inputs whose elements never tie (for Maximum/Minimum gradients)."""
    values = rng.permutation(np.linspace(-2.0, 2.0, 24))
    return [values[:12].reshape(2, 2, 3), values[12:].reshape(2, 2, 3)]


def _distinct_three(rng):
    values = rng.permutation(np.linspace(-2.0, 2.0, 18))
    return [values[:6].reshape(2, 3), values[6:12].reshape(2, 3), values[12:].reshape(2, 3)]


CASES = [
    # core.py
    LayerCase(lambda **kw: L.Dense(4, activation="tanh", **kw), (3, 5)),
    LayerCase(lambda **kw: L.Dense(3, use_bias=False, **kw), (2, 4, 5), name="Dense[3d,no bias]"),
    LayerCase(lambda **kw: L.Activation("sigmoid", **kw), (2, 3, 4)),
    LayerCase(lambda **kw: L.Dropout(0.5, **kw), (3, 4)),
    LayerCase(lambda **kw: L.Flatten(**kw), (2, 3, 2, 2)),
    LayerCase(lambda **kw: L.Flatten(data_format="channels_first", **kw), (2, 3, 2, 4), name="Flatten[channels_first]"),
    LayerCase(lambda **kw: L.Reshape((3, 4), **kw), (2, 12)),
    LayerCase(lambda **kw: L.Reshape((-1, 2), **kw), (2, 3, 4), name="Reshape[-1]"),
    LayerCase(lambda **kw: L.Lambda(lambda x: x * x + 1.0, **kw), (2, 3),
              onnx="a Lambda holds Python code, which ONNX cannot express"),
    LayerCase(lambda **kw: L.Identity(**kw), (2, 3)),
    LayerCase(lambda **kw: L.ActivityRegularization(l1=0.01, l2=0.02, **kw), (2, 3)),
    # normalization
    LayerCase(lambda **kw: L.BatchNormalization(**kw), (6, 3), name="BatchNormalization[inference]"),
    LayerCase(lambda **kw: L.BatchNormalization(momentum=0.9, **kw), (4, 2, 3), call_kwargs={"training": True},
              name="BatchNormalization[training]"),
    LayerCase(lambda **kw: L.BatchNormalization(axis=1, center=False, **kw), (3, 2, 4),
              call_kwargs={"training": True}, name="BatchNormalization[axis=1,no center]"),
    LayerCase(lambda **kw: L.LayerNormalization(**kw), (3, 5)),
    LayerCase(lambda **kw: L.LayerNormalization(axis=[1, 2], scale=False, **kw), (2, 3, 4),
              name="LayerNormalization[axes 1,2]"),
    LayerCase(lambda **kw: L.LayerNormalization(rms_scaling=True, **kw), (3, 4), name="LayerNormalization[rms_scaling]"),
    LayerCase(lambda **kw: L.LayerNormalization(axis=[1, 2], rms_scaling=True, **kw), (2, 3, 4),
              name="LayerNormalization[rms_scaling,axes 1,2]"),
    # embedding
    LayerCase(lambda **kw: L.Embedding(7, 3, **kw), (2, 4), input_dtypes="int64", int_high=7),
    LayerCase(lambda **kw: L.Embedding(7, 3, mask_zero=True, **kw), make_inputs=_ids_with_padding,
              name="Embedding[mask_zero]"),
    LayerCase(lambda **kw: L.ReversibleEmbedding(7, 3, mask_zero=True, **kw), make_inputs=_ids_with_padding,
              name="ReversibleEmbedding[mask_zero]"),
    LayerCase(lambda **kw: L.ReversibleEmbedding(7, 3, **kw), (2, 4, 3), call_kwargs={"reverse": True},
              name="ReversibleEmbedding[reverse]"),
    LayerCase(lambda **kw: L.ReversibleEmbedding(7, 3, tie_weights=False, logit_soft_cap=2.0, **kw), (2, 4, 3),
              call_kwargs={"reverse": True}, name="ReversibleEmbedding[reverse,untied,soft cap]",
              no_grad={"embeddings": "reverse calls read only reverse_embeddings when the weights are untied"}),
    # reshaping
    LayerCase(lambda **kw: L.Permute((2, 1), **kw), (2, 3, 4)),
    LayerCase(lambda **kw: L.Permute((3, 1, 2), **kw), (2, 3, 4, 2), name="Permute[4d]"),
    LayerCase(lambda **kw: L.RepeatVector(3, **kw), (2, 4)),
    # merge
    LayerCase(lambda **kw: L.Add(**kw), [(2, 3, 4), (2, 3, 4), (2, 3, 4)]),
    LayerCase(lambda **kw: L.Add(**kw), [(2, 3, 4), (2, 1, 4)], name="Add[broadcast]"),
    LayerCase(lambda **kw: L.Subtract(**kw), [(2, 5), (2, 5)]),
    LayerCase(lambda **kw: L.Multiply(**kw), [(2, 3), (2, 3), (2, 3)]),
    LayerCase(lambda **kw: L.Average(**kw), [(2, 4), (2, 4)]),
    LayerCase(lambda **kw: L.Maximum(**kw), make_inputs=_distinct_pair),
    LayerCase(lambda **kw: L.Minimum(**kw), make_inputs=_distinct_three),
    LayerCase(lambda **kw: L.Concatenate(**kw), [(2, 3, 2), (2, 3, 4)]),
    LayerCase(lambda **kw: L.Concatenate(axis=1, **kw), [(2, 1, 4), (2, 3, 4)], name="Concatenate[axis=1]"),
    LayerCase(lambda **kw: L.Dot(axes=1, **kw), [(3, 4), (3, 4)]),
    LayerCase(lambda **kw: L.Dot(axes=(1, 2), normalize=True, **kw), [(2, 3, 4), (2, 5, 3)],
              name="Dot[normalize,(1,2)]"),
    LayerCase(lambda **kw: L.Dot(axes=-1, **kw), [(2, 3, 4), (2, 2, 4)], name="Dot[3d]"),
]
