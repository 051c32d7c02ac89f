"""Contract cases for EinsumDense (einsum_dense.py): plain, multi-axis with a bias over two axes, elided axes."""
from tinydl import layers as L
from tests.contract import LayerCase

CASES = [
    LayerCase(lambda **kw: L.EinsumDense("ab,bc->ac", 4, bias_axes="c", **kw), (3, 5)),
    LayerCase(lambda **kw: L.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="de", activation="tanh", **kw),
              (2, 4, 5), name="EinsumDense[heads,bias de]"),
    LayerCase(lambda **kw: L.EinsumDense("...b,bc->...c", 4, **kw), (2, 3, 5), name="EinsumDense[left ellipsis]"),
    LayerCase(lambda **kw: L.EinsumDense("ab...,bc->ac...", 4, bias_axes="c", **kw), (2, 5, 3),
              name="EinsumDense[right ellipsis]"),
]

CASES += [
    LayerCase(lambda **kw: L.Pipeline([L.Dense(3, **kw), L.Dense(2, activation="tanh", **kw)]), (2, 4),
              onnx="Pipeline is a preprocessing container with no converter; export a Sequential of its layers"),
]
