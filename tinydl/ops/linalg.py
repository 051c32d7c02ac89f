"""Matrix products (batched, broadcasting matmul, einsum, dot, tensordot, ...) and keras.ops.linalg."""
import contextlib

import numpy as np

from tinydl.autograd import Function, unbroadcast
from tinydl.backend import array_module, threads
from tinydl.ops._util import norm_axes, pair
from tinydl.ops.math import abs as _abs, exp, log, multiply, power, sqrt, square, where
from tinydl.ops.reduce import max as _max, min as _min, sum as _sum
from tinydl.ops.shape import moveaxis, reshape, stack, transpose
from tinydl.tensor import Tensor, as_tensor

__all__ = ["matmul", "einsum", "dot", "vdot", "inner", "outer", "tensordot", "kron", "cross",
           "norm", "inv", "det", "slogdet", "logdet", "solve", "solve_triangular", "cholesky", "cholesky_inverse",
           "eig", "eigh", "qr", "svd", "lstsq", "lu_factor", "matrix_rank", "pinv"]


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


def dot(x1, x2):
    """NumPy's dot: a product for scalars, matmul for 1-D/2-D, last axis of x1 with second-to-last of x2 else."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return multiply(x1, x2)
    if x2.ndim <= 2:
        return matmul(x1, x2)
    return tensordot(x1, x2, axes=([x1.ndim - 1], [x2.ndim - 2]))


def vdot(x1, x2):
    """Sum of products of the flattened inputs."""
    return _sum(multiply(reshape(as_tensor(x1), (-1,)), reshape(as_tensor(x2), (-1,))))


def inner(x1, x2):
    """Sum of products over the last axes (a product when either is a scalar)."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        return multiply(x1, x2)
    return tensordot(x1, x2, axes=([x1.ndim - 1], [x2.ndim - 1]))


def outer(x1, x2):
    """Every product of an element of x1 (flattened) with one of x2 (flattened): shape (x1.size, x2.size)."""
    return multiply(reshape(as_tensor(x1), (-1, 1)), reshape(as_tensor(x2), (1, -1)))


def tensordot(x1, x2, axes=2):
    """Sum of products over the given axes: an int N (last N of x1 with first N of x2) or two lists."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    if isinstance(axes, int):
        axes = (list(range(x1.ndim - axes, x1.ndim)), list(range(axes)))
    a_axes, b_axes = ([a] if isinstance(a, int) else list(a) for a in axes)
    a_axes, b_axes = [a % x1.ndim for a in a_axes], [b % x2.ndim for b in b_axes]
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    sub1 = [next(letters) for _ in range(x1.ndim)]
    sub2 = [next(letters) for _ in range(x2.ndim)]
    for a, b in zip(a_axes, b_axes):
        sub2[b] = sub1[a]
    out = [c for i, c in enumerate(sub1) if i not in a_axes] + [c for i, c in enumerate(sub2) if i not in b_axes]
    return einsum(f"{''.join(sub1)},{''.join(sub2)}->{''.join(out)}", x1, x2)


def kron(x1, x2):
    """Kronecker product: blocks of x2 scaled by each element of x1."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    n = max(x1.ndim, x2.ndim)
    a = reshape(x1, (1,) * (n - x1.ndim) + tuple(x1.shape))
    b = reshape(x2, (1,) * (n - x2.ndim) + tuple(x2.shape))
    interleaved_a = sum(((d, 1) for d in a.shape), ())
    interleaved_b = sum(((1, d) for d in b.shape), ())
    out = multiply(reshape(a, interleaved_a), reshape(b, interleaved_b))
    return reshape(out, tuple(p * q for p, q in zip(a.shape, b.shape)))


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors (2-vectors get a zero z) along the given axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(as_tensor(x1), axisa, -1), moveaxis(as_tensor(x2), axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError(f"cross: vectors must have 2 or 3 components, received shapes {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)}")
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    ax, ay, az = (a[..., i] if i < a.shape[-1] else 0.0 for i in range(3))
    bx, by, bz = (b[..., i] if i < b.shape[-1] else 0.0 for i in range(3))
    c = stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)
    return moveaxis(c, -1, axisc)


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002  (Keras's and NumPy's name)
    """Vector or matrix norm as numpy.linalg.norm; matrix ord 2, -2 and 'nuc' are not supported."""
    x = as_tensor(x)
    if axis is None and ord is None:
        out = sqrt(_sum(square(x)))
        return reshape(out, (1,) * x.ndim) if keepdims else out
    if axis is None:
        axis = tuple(range(x.ndim))
    axes = norm_axes(axis, x.ndim)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm: axis must name one or two axes, received {axis}")


def _vector_norm(x, ord, axis, keepdims):
    """The ord-norm along one axis."""
    if ord is None or ord == 2:
        return sqrt(_sum(square(x), axis=axis, keepdims=keepdims))
    if ord == float("inf"):
        return _max(_abs(x), axis=axis, keepdims=keepdims)
    if ord == -float("inf"):
        return _min(_abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return Tensor(array_module(x.data).sum(x.data != 0, axis=axis, keepdims=keepdims).astype(x.dtype))
    if ord == 1:
        return _sum(_abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: ord {ord!r} is a matrix norm, but one axis was given")
    return power(_sum(power(_abs(x), float(ord)), axis=axis, keepdims=keepdims), 1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    """Frobenius and induced 1 / inf norms over two axes."""
    row, col = axes
    if ord in (None, "fro"):
        return sqrt(_sum(square(x), axis=axes, keepdims=keepdims))
    if ord in (1, -1, float("inf"), -float("inf")):
        summed_axis, extreme_axis = (row, col) if ord in (1, -1) else (col, row)
        sums = _sum(_abs(x), axis=summed_axis, keepdims=True)
        pick = _max if ord in (1, float("inf")) else _min
        out = pick(sums, axis=extreme_axis, keepdims=True)
        return out if keepdims else reshape(out, tuple(d for i, d in enumerate(x.shape) if i not in axes))
    raise ValueError(f"norm: matrix ord {ord!r} is not supported (expected None, 'fro', 1, -1, inf or -inf)")


def _mT(a):
    """Swap the last two axes of a raw array."""
    return a.swapaxes(-1, -2)


class Inv(Function):
    def forward(self, a):
        self.out = array_module(a).linalg.inv(a)
        return self.out

    def backward(self, g):
        return -_mT(self.out) @ g @ _mT(self.out)


class SlogDet(Function):
    def forward(self, a):
        xp = array_module(a)
        sign, logabs = xp.linalg.slogdet(a)
        self.a = a
        return xp.asarray(sign), xp.asarray(logabs)

    def backward(self, g_sign, g_logabs):
        return g_logabs[..., None, None] * _mT(array_module(self.a).linalg.inv(self.a))


class Solve(Function):
    def forward(self, a, b):
        xp = array_module(a)
        self.vector = b.ndim == a.ndim - 1
        self.a = a
        self.x = xp.linalg.solve(a, b[..., None] if self.vector else b)
        return self.x[..., 0] if self.vector else self.x

    def backward(self, g):
        xp = array_module(g)
        g = g[..., None] if self.vector else g
        gb = xp.linalg.solve(_mT(self.a), g)
        ga = -gb @ _mT(self.x) if self.needs_grad[0] else None
        return ga, (gb[..., 0] if self.vector else gb)


class Cholesky(Function):
    def forward(self, a):
        self.L = array_module(a).linalg.cholesky(a)
        return self.L

    def backward(self, g):
        # Murray (2016): P = Phi(L^T G), S = L^-T P L^-1, dA = (S + S^T) / 2; Phi keeps the lower
        # triangle and halves the diagonal
        xp = array_module(g)
        L = self.L
        P = _phi(xp, _mT(L) @ g)
        linv = xp.linalg.inv(L)
        S = _mT(linv) @ P @ linv
        return (S + _mT(S)) / 2


def _phi(xp, m):
    return xp.tril(m) - 0.5 * xp.eye(m.shape[-1], dtype=m.dtype) * m


class Eigh(Function):
    def forward(self, a):
        self.w, self.v = array_module(a).linalg.eigh(a)
        return self.w, self.v

    def backward(self, gw, gv):
        xp = array_module(gw)
        w, v = self.w, self.v
        diff = w[..., None, :] - w[..., :, None]
        f = xp.where(diff == 0, 0, 1 / xp.where(diff == 0, 1, diff))
        inner_ = xp.eye(w.shape[-1], dtype=w.dtype) * gw[..., None, :] + f * (_mT(v) @ gv)
        ga = v @ inner_ @ _mT(v)
        return (ga + _mT(ga)) / 2


def inv(x):
    """Inverse of each square matrix in the last two axes."""
    return Inv.apply(x)


def det(x):
    """Determinant of each square matrix: sign * exp(log|det|)."""
    sign, logabs = slogdet(x)
    return sign * exp(logabs)


def slogdet(x):
    """(sign, log|det|) of each square matrix; the gradient flows through log|det|."""
    return SlogDet.apply(x)


def logdet(x):
    """log(det(x)) of positive-definite matrices (NaN where the determinant is negative)."""
    sign, logabs = slogdet(x)
    return logabs + log(sign)


def solve(a, b):
    """x with a @ x = b; b is (..., M, K) or a vector (..., M)."""
    return Solve.apply(a, b)


def solve_triangular(a, b, lower=False):
    """solve() reading only the lower (or upper) triangle of `a`."""
    a = as_tensor(a)
    xp = array_module(a.data)
    keep = xp.tril(xp.ones(a.shape[-2:], dtype=bool)) if lower else xp.triu(xp.ones(a.shape[-2:], dtype=bool))
    return solve(where(Tensor(keep), a, 0.0), b)


def cholesky(x, upper=False):
    """Lower-triangular L with L @ L^T = x (or its transpose when `upper`); x symmetric positive-definite."""
    L = Cholesky.apply(x)
    return transpose(L, tuple(range(L.ndim - 2)) + (L.ndim - 1, L.ndim - 2)) if upper else L


def cholesky_inverse(x, upper=False):
    """The inverse of A from its Cholesky factor x (A = x x^T, or x^T x when `upper`)."""
    x = as_tensor(x)
    xt = transpose(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))
    return inv(matmul(xt, x) if upper else matmul(x, xt))


def eigh(x):
    """(eigenvalues ascending, eigenvectors as columns) of symmetric matrices (lower triangle read)."""
    return Eigh.apply(x)


def eig(x):
    """(eigenvalues, eigenvectors) of general square matrices, complex (no gradient)."""
    xp = array_module(as_tensor(x).data)
    w, v = xp.linalg.eig(as_tensor(x).data)
    return Tensor(w), Tensor(v)


def qr(x, mode="reduced"):
    """Q, R with x = Q @ R (`mode` 'reduced' or 'complete'); differentiable for m >= n with Q of n columns."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode must be 'reduced' or 'complete', received {mode!r}")
    return QR(mode=mode)(x)


class QR(Function):
    def __init__(self, mode):
        self.mode = mode

    def forward(self, a):
        self.q, self.r = array_module(a).linalg.qr(a, mode=self.mode)
        return self.q, self.r

    def backward(self, gq, gr):
        # Walter & Lehmann (2018), for m >= n: with L = tril(Q^T gQ - gQ^T Q + R gR^T - gR R^T),
        # dA = Q (gR + L R^-T) + (gQ - Q Q^T gQ) R^-T
        xp = array_module(gq)
        q, r = self.q, self.r
        m, n = q.shape[-2], r.shape[-1]
        if m < n or q.shape[-1] != n:
            raise ValueError(f"qr: the gradient is defined for m >= n with mode='reduced' (or square inputs); "
                             f"received a {m} x {n} input with mode={self.mode!r}")
        qgq, rgr = _mT(q) @ gq, r @ _mT(gr)
        low = xp.tril(qgq - _mT(qgq) + rgr - _mT(rgr))

        def times_r_inv_t(b):  # b @ R^-T, as a solve
            return _mT(xp.linalg.solve(r, _mT(b)))
        return q @ (gr + times_r_inv_t(low)) + times_r_inv_t(gq - q @ qgq)


def svd(x, full_matrices=True, compute_uv=True):
    """u, s, vh with x = u @ diag(s) @ vh (or s alone); differentiable for distinct singular values (the
    columns that full_matrices adds beyond min(m, n) are arbitrary: they must not receive a gradient)."""
    if not compute_uv:
        return SVD(full_matrices=False, values_only=True)(x)
    return SVD(full_matrices=full_matrices, values_only=False)(x)


class SVD(Function):
    def __init__(self, full_matrices, values_only):
        self.full_matrices, self.values_only = full_matrices, values_only

    def forward(self, a):
        xp = array_module(a)
        u, s, vh = xp.linalg.svd(a, full_matrices=self.full_matrices)
        k = s.shape[-1]
        self.u, self.s, self.v = u[..., :k], s, _mT(vh)[..., :k]
        return s if self.values_only else (u, s, vh)

    def backward(self, *grads):
        # Townsend (2016), "Differentiating the singular value decomposition", for real matrices
        xp = array_module(grads[0])
        u, s, v = self.u, self.s, self.v
        k = s.shape[-1]
        if self.values_only:
            return (u * grads[0][..., None, :]) @ _mT(v)
        gu, gs, gvh = grads
        if (gu[..., k:] != 0).any() or (gvh[..., k:, :] != 0).any():
            raise ValueError("svd: the extra columns of full_matrices=True have no defined gradient; use "
                             "full_matrices=False or leave those columns out of the loss")
        gu, gv = gu[..., :k], _mT(gvh)[..., :k]
        diff = s[..., None, :] ** 2 - s[..., :, None] ** 2
        f = xp.where(diff == 0, 0, 1 / xp.where(diff == 0, 1, diff))
        ut_gu, vt_gv = _mT(u) @ gu, _mT(v) @ gv
        eye = xp.eye(k, dtype=s.dtype)
        inner_ = (f * (ut_gu - _mT(ut_gu))) * s[..., None, :] + eye * gs[..., None, :] \
            + s[..., :, None] * (f * (vt_gv - _mT(vt_gv)))
        ga = u @ inner_ @ _mT(v)
        m, n = u.shape[-2], v.shape[-2]
        if m > k:
            ga = ga + (xp.eye(m, dtype=s.dtype) - u @ _mT(u)) @ gu / s[..., None, :] @ _mT(v)
        if n > k:
            ga = ga + u @ (_mT(gv) / s[..., :, None]) @ (xp.eye(n, dtype=s.dtype) - v @ _mT(v))
        return ga


def lstsq(a, b, rcond=None):
    """The least-squares solution x of a @ x = b (no gradient)."""
    return Tensor(array_module(as_tensor(a).data).linalg.lstsq(as_tensor(a).data, as_tensor(b).data,
                                                                rcond=rcond)[0])


def lu_factor(x):
    """(LU, pivots) as scipy.linalg.lu_factor: L below the diagonal (unit diagonal), U on and above; no gradient."""
    a = np.array(as_tensor(x).data, dtype=np.result_type(as_tensor(x).dtype, np.float32), copy=True)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"lu_factor: expected one square matrix, received shape {a.shape}")
    n = a.shape[0]
    piv = np.zeros(n, dtype=np.int32)
    for k in range(n):  # Doolittle elimination with partial pivoting
        p = k + int(np.argmax(np.abs(a[k:, k])))
        piv[k] = p
        if p != k:
            a[[k, p]] = a[[p, k]]
        if a[k, k] != 0:
            a[k + 1:, k] /= a[k, k]
            a[k + 1:, k + 1:] -= np.outer(a[k + 1:, k], a[k, k + 1:])
    return Tensor(a), Tensor(piv)


def matrix_rank(x, tol=None):
    """Number of singular values above `tol` (default: NumPy's size- and precision-based one); no gradient."""
    a = as_tensor(x).data
    return Tensor(array_module(a).asarray(array_module(a).linalg.matrix_rank(a, tol=tol)))


def pinv(x, rcond=None):
    """Moore-Penrose pseudo-inverse, singular values below rcond * largest treated as 0 (no gradient)."""
    a = as_tensor(x).data
    return Tensor(array_module(a).linalg.pinv(a, rcond=1e-15 if rcond is None else rcond))
