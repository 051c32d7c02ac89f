"""Matrix products: batched, broadcasting matmul and einsum."""
import contextlib

import numpy as np

from tinydl.autograd import Function, unbroadcast
from tinydl.backend import array_module, threads
from tinydl.ops._util import pair

__all__ = ["matmul", "einsum"]


class MatMul(Function):
    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must have at least one dimension, got {a.shape} and {b.shape}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({ka} != {kb})")
        self.a, self.b = a, b
        with _blas_threads(a, b):
            return self._product(a, b, ka)

    def _product(self, a, b, ka):
        if a.ndim > 2 and b.ndim == 2:
            # (..., k) @ (k, n), as Dense on sequences: one GEMM on (rows, k) instead of NumPy's loop of
            # small products per leading index (several times faster); backward below does the same
            return (a.reshape(-1, ka) @ b).reshape(a.shape[:-1] + (b.shape[1],))
        try:
            return a @ b
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast") from None

    def backward(self, g):
        with _blas_threads(self.a, self.b):  # the gradients are products of the same size
            return self._gradients(g)

    def _gradients(self, g):
        a, b = self.a, self.b
        if a.ndim > 2 and b.ndim == 2:
            g2 = g.reshape(-1, g.shape[-1])
            ga = (g2 @ b.T).reshape(a.shape) if self.needs_grad[0] else None
            gb = a.reshape(-1, a.shape[-1]).T @ g2 if self.needs_grad[1] else None
            return ga, gb
        # 1-D operands are matrices with a unit axis, as numpy.matmul treats them
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1 and b.ndim == 1:
            g = g.reshape(1, 1)
        elif a.ndim == 1:
            g = g[..., None, :]
        elif b.ndim == 1:
            g = g[..., :, None]
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(g @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(a2.swapaxes(-1, -2) @ g, b2.shape).reshape(b.shape)
        return ga, gb


def _blas_threads(a, b):
    """The thread policy's context for a @ b (backend/threads.py): one BLAS thread for small products."""
    if array_module(a) is not np or a.ndim != 2 or b.ndim != 2:
        return contextlib.nullcontext()
    return threads.gemm(a.shape[0], b.shape[1], a.shape[1])


def matmul(a, b):
    """Matrix product with NumPy's rules: batched over leading axes, broadcast, 1-D promoted."""
    return MatMul.apply(*pair(a, b))


class Einsum(Function):
    def __init__(self, subscripts, inputs_subs, output_sub):
        self.subscripts, self.inputs_subs, self.output_sub = subscripts, inputs_subs, output_sub

    def forward(self, *operands):
        self.operands = operands
        return array_module(operands[0]).einsum(self.subscripts, *operands, optimize=len(operands) > 2)

    def backward(self, g):
        ins, out = self.inputs_subs, self.output_sub
        grads = []
        for i, (sub, x) in enumerate(zip(ins, self.operands)):
            if not self.needs_grad[i]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(ins) if j != i]
            present = set(out).union(*others)
            kept = "".join(c for c in sub if c in present)
            expr = ",".join([out] + others) + "->" + kept
            xp = array_module(g)
            gk = xp.einsum(expr, g, *[o for j, o in enumerate(self.operands) if j != i], optimize=len(ins) > 1)
            # letters summed away in x alone come back by broadcasting
            shape = [x.shape[k] if c in present else 1 for k, c in enumerate(sub)]
            gk = gk.reshape(shape)
            grads.append(xp.broadcast_to(gk, x.shape).copy())
        return tuple(grads)


def einsum(subscripts, *operands):
    """Einstein summation with explicit output (`'ij,jk->ik'`); no ellipsis or repeated letters per operand."""
    subscripts = subscripts.replace(" ", "")
    if "..." in subscripts:
        raise ValueError("einsum: ellipsis '...' is not supported; write every axis letter")
    if "->" not in subscripts:
        lhs = subscripts
        letters = [c for c in lhs if c.isalpha()]
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        subscripts = f"{lhs}->{out}"
    lhs, out = subscripts.split("->")
    ins = lhs.split(",")
    if len(ins) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(ins)} operands, got {len(operands)}")
    for sub, x in zip(ins, operands):
        if len(set(sub)) != len(sub):
            raise ValueError(f"einsum: repeated letters within one operand ({sub!r}) are not supported")
        if len(sub) != len(x.shape):
            raise ValueError(f"einsum: operand {sub!r} has {len(sub)} letters but shape {tuple(x.shape)}")
    return Einsum(subscripts=subscripts, inputs_subs=ins, output_sub=out)(*operands)
