"""tinydl.ops against keras.ops (Keras 3.15, torch backend) on the same inputs: forward values of every
keras.ops name tinydl has, one row per call. Gradients are checked by the registry (cases_*.py)."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinydl as td  # noqa: E402
from tinydl import ops  # noqa: E402

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

rng = np.random.default_rng(16)
A = rng.standard_normal((3, 4)).astype(np.float32)            # any values
B = rng.standard_normal((3, 4)).astype(np.float32)
V = rng.standard_normal(5).astype(np.float32)
W = rng.standard_normal(3).astype(np.float32)
U = rng.uniform(-0.9, 0.9, (3, 4)).astype(np.float32)         # inside (-1, 1)
P = rng.uniform(0.2, 3.0, (3, 4)).astype(np.float32)          # positive
G = rng.uniform(1.1, 3.0, (3, 4)).astype(np.float32)          # above 1
I = rng.integers(0, 20, (3, 4)).astype(np.int32)              # small non-negative integers
J = rng.integers(1, 5, (3, 4)).astype(np.int32)
M = rng.standard_normal((2, 3, 3)).astype(np.float32)         # batched square matrices
SPD = (M @ M.transpose(0, 2, 1) + 3 * np.eye(3)).astype(np.float32)
IMG = rng.standard_normal((2, 4, 4, 8)).astype(np.float32)
Q = rng.standard_normal((2, 5, 2, 4)).astype(np.float32)      # (batch, seq, heads, dim)
K = rng.standard_normal((2, 6, 2, 4)).astype(np.float32)
NAN = A.copy()
NAN[0, 1] = NAN[2, 3] = np.nan
PROB = np.abs(A) / np.abs(A).sum(-1, keepdims=True)
ONEHOT = np.eye(4, dtype=np.float32)[[0, 3, 1]]
SEG = np.array([0, 0, 2, 1, 2], dtype=np.int32)
DATA = rng.standard_normal((5, 3)).astype(np.float32)
SIGNAL = rng.standard_normal((2, 40)).astype(np.float32)
CTC_LOGITS = rng.standard_normal((3, 8, 5)).astype(np.float32)
CTC_TARGET = np.array([[1, 2, 2, 0], [3, 0, 0, 0], [0, 1, 3, 2]])

# (name, positional args, keyword args); each row is one call of both libraries
CALLS = [(n, (A,), {}) for n in ["absolute", "fabs", "sin", "cos", "tan", "arctan", "sinh", "cosh", "arcsinh",
                                 "exp2", "expm1", "cbrt", "deg2rad", "rad2deg", "sinc", "erfc", "floor", "ceil",
                                 "trunc", "signbit", "isfinite", "isinf", "isnan", "isneginf", "isposinf",
                                 "isreal", "logical_not", "relu6", "celu", "glu", "hard_shrink", "hard_silu",
                                 "hard_swish", "hard_tanh", "log_sigmoid", "soft_shrink", "softsign",
                                 "sparse_plus", "sparse_sigmoid", "squareplus", "swish", "tanh_shrink",
                                 "normalize", "ravel", "fliplr", "flipud", "tril", "triu",
                                 "diagonal", "diag", "diagflat", "trace", "ptp", "median", "cumprod",
                                 "diff", "trapezoid", "sort", "argsort", "count_nonzero", "all", "any", "amax",
                                 "amin", "copy", "real", "conj", "conjugate", "angle", "corrcoef",
                                 "zeros_like", "ones_like", "nan_to_num", "rot90", "nancumsum", "nancumprod",
                                 "nonzero", "unique", "ndim", "size", "dtype", "shape", "layer_normalization",
                                 "rms_normalization", "reciprocal"]]
CALLS += [(n, (U,), {}) for n in ["arcsin", "arccos", "arctanh", "erfinv"]]
CALLS += [(n, (P,), {}) for n in ["log2", "log10", "rsqrt"]]
CALLS += [("arccosh", (G,), {})]
CALLS += [(n, (A, B), {}) for n in ["arctan2", "hypot", "logaddexp", "logaddexp2", "fmax", "fmin", "mod", "fmod",
                                    "divide_no_nan", "true_divide", "floor_divide", "heaviside", "nextafter",
                                    "logical_and", "logical_or", "logical_xor", "isclose", "allclose", "inner",
                                    "append", "cdist"]]
CALLS += [(n, (I, J), {}) for n in ["gcd", "lcm", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
                                    "bitwise_right_shift", "left_shift", "right_shift"]]
CALLS += [(n, (I,), {}) for n in ["bitwise_not", "bitwise_invert"]]
CALLS += [(n, (NAN,), {}) for n in ["nansum", "nanmean", "nanmax", "nanmin", "nanprod", "nanvar", "nanstd",
                                    "nanargmax", "nanargmin", "nanmedian"]]
CALLS += [(n, (NAN,), {"axis": 1}) for n in ["nansum", "nanmean", "nanmax", "nanvar", "nanmedian"]]
CALLS += [
    ("ldexp", (A, J), {}), ("round", (A * 10,), {"decimals": 1}), ("divide_no_nan", (A, B * (I > 9)), {}),
    ("threshold", (A, 0.3, -2.0), {}), ("celu", (A,), {"alpha": 0.5}), ("squareplus", (A,), {"b": 2}),
    ("glu", (A[:2],), {"axis": 0}), ("hard_shrink", (A,), {"threshold": 1.0}),
    ("normalize", (A,), {"axis": 0, "order": 1}), ("vdot", (V, V), {}),
    ("moments", (A, (0,)), {}), ("moments", (A, (0, 1)), {"keepdims": True}),
    ("layer_normalization", (A, W[:1].repeat(4), V[:4]), {"epsilon": 1e-5}),
    ("rms_normalization", (A,), {"scale": V[:4], "axis": -1, "epsilon": 1e-6}),
    ("batch_normalization", (A, V[:4], P[0], -1), {"offset": V[1:], "scale": B[0]}),
    ("batch_normalization", (A, V[:3], P[:, 0], 0), {"epsilon": 0.1}),
    ("binary_crossentropy", (np.abs(np.sign(A)) * (A > 0), np.clip(P / 3, 0, 1)), {}),
    ("binary_crossentropy", ((A > 0).astype(np.float32), B), {"from_logits": True}),
    ("categorical_crossentropy", (ONEHOT, PROB), {}), ("categorical_crossentropy", (ONEHOT, A), {"from_logits": True}),
    ("sparse_categorical_crossentropy", (np.array([0, 3, 1]), PROB), {}),
    ("sparse_categorical_crossentropy", (np.array([0, 3, 1]), A), {"from_logits": True}),
    ("multi_hot", (np.array([[0, 2], [1, 1]]),), {"num_classes": 4}),
    ("psnr", (P, P + 0.1 * A, 3.0), {}),
    ("dot_product_attention", (Q, K, K), {}), ("dot_product_attention", (Q, K, K), {"scale": 0.3}),
    ("dot_product_attention", (Q, K[:, :5], K[:, :5]), {"is_causal": True}),
    ("dot_product_attention", (Q, K, K), {"bias": rng.standard_normal((2, 2, 5, 6)).astype(np.float32)}),
    ("dot_product_attention", (Q, K, K), {"mask": rng.random((2, 2, 5, 6)) > 0.3}),
    ("depth_to_space", (IMG, 2), {}), ("space_to_depth", (IMG, 2), {}),
    ("separable_conv", (IMG, rng.standard_normal((3, 3, 8, 2)).astype(np.float32),
                        rng.standard_normal((1, 1, 16, 5)).astype(np.float32)), {"padding": "same"}),
    ("average", (A,), {"axis": 1, "weights": P[0]}), ("average", (A,), {}),
    ("quantile", (A, 0.3), {}), ("quantile", (A, np.array([0.1, 0.5, 0.9])), {"axis": 1, "keepdims": True}),
    ("quantile", (A, 0.3), {"axis": 0, "method": "nearest"}), ("quantile", (A, 0.7), {"method": "midpoint"}),
    ("quantile", (A, 0.7), {"method": "lower"}), ("quantile", (A, 0.7), {"method": "higher"}),
    ("percentile", (A, 40.0), {"axis": 1}), ("median", (A,), {"axis": 0}),
    ("cumprod", (A,), {"axis": 1}), ("diff", (A,), {"n": 2, "axis": 0}), ("trapezoid", (A,), {"dx": 0.5, "axis": 0}),
    ("trapezoid", (A, np.cumsum(P[0])), {}), ("trace", (M,), {"offset": 1, "axis1": 1, "axis2": 2}),
    ("diagonal", (A,), {"offset": -1}), ("diag", (V,), {"k": 2}), ("diag", (V,), {"k": -1}),
    ("diagflat", (A[:2, :2],), {"k": 1}), ("tril", (A,), {"k": 1}), ("triu", (M,), {"k": -1}),
    ("swapaxes", (M, 0, 2), {}), ("hstack", ([A, B],), {}), ("vstack", ([V, V],), {}), ("dstack", ([A, B],), {}),
    ("hsplit", (A, 2), {}), ("vsplit", (np.vstack([A, B]), 3), {}), ("dsplit", (IMG[0], 4), {}),
    ("array_split", (V, 3), {}), ("unstack", (A,), {"axis": 1}), ("roll", (A, 2), {}),
    ("roll", (A, (1, -1), (0, 1)), {}), ("rot90", (A,), {"k": 3}), ("rot90", (M,), {"k": 2, "axes": (1, 2)}),
    ("append", (A, B), {"axis": 0}), ("take_along_axis", (A, np.argsort(A, axis=1)[:, :2]), {"axis": 1}),
    ("take_along_axis", (A, np.array([[2, 0, 1, 2]])), {"axis": 0}),
    ("get_item", (A, 2), {}), ("slice", (A, (1, 1), (2, 2)), {}), ("slice_update", (A, (1, 2), B[:2, :2]), {}),
    ("scatter", (np.array([[0, 1], [2, 3], [0, 1]]), V[:3], (3, 4)), {}),
    ("scatter_update", (A, np.array([[0, 1], [2, 3]]), V[:2]), {}),
    ("select", ([A > 0.5, A < -0.5], [A, B]), {"default": 7.0}), ("sort", (A,), {"axis": 0}),
    ("argsort", (A,), {"axis": 0}), ("top_k", (A, 2), {}), ("in_top_k", (np.array([0, 3, 1]), A, 2), {}),
    ("vander", (V,), {"N": 3, "increasing": True}), ("meshgrid", (V, W), {}), ("meshgrid", (V, W), {"indexing": "ij"}),
    ("unravel_index", (np.array([3, 7, 11]), (3, 4)), {}), ("unique", (I.ravel(),), {"return_counts": True}),
    ("searchsorted", (np.sort(V), A), {}), ("searchsorted", (np.sort(V), A), {"side": "right"}),
    ("digitize", (A, np.sort(V)), {}), ("bincount", (I.ravel(),), {"minlength": 25}),
    ("bincount", (I[0],), {"weights": P[0]}), ("histogram", (V,), {"bins": 4}), ("isin", (I, J), {}),
    ("nan_to_num", (np.array([np.nan, np.inf, -np.inf, 1.0], dtype=np.float32),), {"nan": 2.0, "posinf": 9.0}),
    ("correlate", (V, W), {}), ("correlate", (V, W), {"mode": "full"}), ("correlate", (V, W), {"mode": "same"}),
    ("correlate", (W, V), {"mode": "valid"}),
    ("correlate", (V[:4], W[:2]), {"mode": "same"}), ("cdist", (M, M[:, :2]), {}),
    ("dot", (A, B.T), {}), ("dot", (M, A[:3]), {}), ("dot", (V, 2.0), {}), ("outer", (V, W), {}),
    ("tensordot", (M, A[:3]), {"axes": 1}), ("tensordot", (M, M), {"axes": ([1, 2], [2, 1])}),
    ("kron", (A[:2, :2], B), {}), ("kron", (V, W), {}), ("cross", (A[:2, :3], B[:2, :3]), {}),
    ("norm", (A,), {}), ("norm", (A,), {"ord": 1, "axis": 1}),
    ("norm", (A,), {"ord": np.inf, "axis": 0}), ("norm", (A,), {"ord": 3, "axis": -1, "keepdims": True}),
    ("norm", (A,), {"ord": "fro", "axis": (0, 1)}), ("norm", (A,), {"ord": 1, "axis": (0, 1)}),
    ("norm", (A,), {"ord": -np.inf, "axis": (0, 1)}), ("norm", (A,), {"ord": 0, "axis": 1}),
    ("inv", (SPD,), {}), ("det", (M,), {}), ("slogdet", (M,), {}), ("logdet", (SPD,), {}),
    ("solve", (SPD, M), {}), ("solve_triangular", (SPD, M), {"lower": True}), ("cholesky", (SPD,), {}),
    ("cholesky", (SPD,), {"upper": True}), ("cholesky_inverse", (np.linalg.cholesky(SPD),), {}),
    ("eigh", (SPD,), {}), ("qr", (A,), {}), ("svd", (A,), {"full_matrices": False}),
    ("svd", (A,), {"compute_uv": False}),
    ("lstsq", (A, B[:, :2]), {}), ("matrix_rank", (A,), {}), ("pinv", (A,), {}), ("lu_factor", (SPD[0],), {}),
    ("arange", (2, 11, 3), {}), ("arange", (5,), {}), ("arange", (0.5, 2.0, 0.25), {}), ("eye", (3, 4, 1), {}),
    ("identity", (3,), {}), ("zeros", ((2, 3),), {}), ("ones", ((2, 3),), {"dtype": "int32"}),
    ("full", ((2, 3), 2.5), {}), ("full_like", (A, 3), {}), ("zeros_like", (I,), {"dtype": "float32"}),
    ("linspace", (0.0, 1.0, 7), {}), ("linspace", (0.0, 1.0, 7), {"endpoint": False}),
    ("logspace", (0.0, 2.0, 5), {}), ("geomspace", (1.0, 100.0, 5), {}), ("tri", (3, 4, 1), {}),
    ("bartlett", (7,), {}), ("blackman", (7,), {}), ("hamming", (7,), {}), ("hanning", (7,), {}),
    ("kaiser", (7, 2.0), {}), ("array", (A,), {}), ("convert_to_tensor", (A,), {"dtype": "float64"}),
    ("convert_to_numpy", (A,), {}), ("saturate_cast", (A * 300, "uint8"), {}),
    ("saturate_cast", (np.array([-70000, 5, 70000], dtype=np.int64), "int16"), {}),
    ("segment_sum", (DATA, SEG), {}), ("segment_max", (DATA, SEG), {"num_segments": 3}),
    ("segment_min", (DATA, SEG), {}), ("segment_prod", (DATA, SEG), {}),
    ("count_nonzero", (I > 9,), {"axis": 0}), ("all", (I > 0,), {"axis": 1}), ("any", (I > 15,), {"axis": 0}),
    ("fft", ((A, B),), {}), ("fft2", ((M, M[::-1]),), {}), ("ifft2", ((M, M[::-1]),), {}), ("rfft", (A,), {}),
    ("rfft", (A,), {"fft_length": 6}), ("irfft", ((A, B),), {}), ("irfft", ((A, B),), {"fft_length": 5}),
    ("stft", (SIGNAL, 10, 4, 16), {}), ("stft", (SIGNAL, 16, 5, 16), {"center": False}),
    ("stft", (SIGNAL, 8, 3, 12), {"window": "hamming"}), ("stft", (SIGNAL, 8, 4, 8), {"window": None}),
    ("ctc_loss", (CTC_TARGET, CTC_LOGITS, np.array([3, 1, 4]), np.array([8, 5, 8])), {}),
    ("ctc_loss", (CTC_TARGET, CTC_LOGITS, np.array([2, 1, 0]), np.array([3, 6, 2])), {"mask_index": 4}),
    ("ctc_decode", (CTC_LOGITS, np.array([8, 5, 8])), {}),
    ("ctc_decode", (CTC_LOGITS, np.array([2, 8, 6])), {"merge_repeated": False, "mask_index": 2}),
    ("extract_sequences", (A, 2, 1), {}), ("extract_sequences", (V, 3, 2), {}),
    ("adaptive_average_pool", (IMG[:, :3], (2, 3)), {}), ("adaptive_max_pool", (IMG[:, :3], (2, 3)), {}),
    ("adaptive_average_pool", (IMG[..., 0], 3), {"data_format": "channels_first"}),
    ("unfold", (IMG, (2, 3)), {"dilation": (1, 2), "padding": 1, "stride": 2}), ("unfold", (IMG, 2), {}),
    ("fold", (IMG[:, :2].reshape(2, 8, 8)[:, :, :4], (3, 3), 2), {}),
    ("fold", (IMG.reshape(2, -1)[:, :48].reshape(2, 4, 12), (4, 5), (2, 2)), {"stride": (2, 1), "padding": (1, 0)}),
    ("i0", (A,), {}), ("rearrange", (IMG, "b h w (c k) -> (b k) c w h"), {"k": 2}),
    ("rearrange", (M, "b h w -> h (b w)"), {}),
    ("jvp", (lambda x, y: x * x * y, (A, B), (B, A)), {}),
    ("one_hot", (np.array([[0, 2], [1, 3]]), 4), {"axis": 0}), ("one_hot", (np.array([1, 0]), 3), {"dtype": "int32"}),
    ("max", (A,), {"axis": 1, "initial": 0.5}), ("min", (A,), {"initial": -0.1}),
    ("cumsum", (I,), {"axis": 0, "dtype": "float32"}), ("prod", (J,), {"axis": 1, "dtype": "float32"}),
    ("view", (A,), {"dtype": "int32"}), ("view_as_real", (A + 1j * B,), {}),
    ("view_as_complex", (np.stack([A, B], -1),), {}), ("polar", (P, A), {}),
]
NEEDS_KERAS_TENSORS = {"unstack", "unfold", "fold", "jvp"}  # Keras's torch backend calls tensor methods on the input


def _keras_tensors(x):
    if isinstance(x, tuple):
        return tuple(_keras_tensors(v) for v in x)
    return keras.ops.convert_to_tensor(x) if isinstance(x, np.ndarray) else x


def _numpy(x):
    if isinstance(x, (tuple, list)):
        return [_numpy(v) for v in x]
    if isinstance(x, td.Tensor):
        return x.numpy()
    return np.asarray(keras.ops.convert_to_numpy(x))


def _ids(calls):
    seen, ids = {}, []
    for name, _, kwargs in calls:
        n = seen[name] = seen.get(name, 0) + 1
        ids.append(name if n == 1 else f"{name}#{n}")
    return ids


@pytest.mark.parametrize("name,args,kwargs", CALLS, ids=_ids(CALLS))
def test_forward_matches_keras(name, args, kwargs):
    keras_fn = getattr(keras.ops, name)
    ours = _numpy(getattr(ops, name)(*args, **kwargs))
    if name in NEEDS_KERAS_TENSORS:
        args = [_keras_tensors(a) for a in args]
    theirs = _numpy(keras_fn(*args, **kwargs))
    if name in ("dtype",):
        assert ours == theirs
        return
    if isinstance(theirs, list) or isinstance(ours, list):
        assert len(ours) == len(theirs), name
        for o, t in zip(ours, theirs):
            _close(name, o, t)
    else:
        _close(name, ours, theirs)


def _close(name, ours, theirs):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    if name in ("qr", "svd", "eigh", "lu_factor"):  # signs of vectors are a convention: compare magnitudes
        ours, theirs = np.abs(ours), np.abs(theirs)
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} != keras {theirs.shape}"
    if theirs.dtype.kind == "f" and ours.dtype.kind == "f":  # float32 in, float32 out (index dtypes may differ)
        assert ours.dtype == theirs.dtype, f"{name}: dtype {ours.dtype} != keras {theirs.dtype}"
    if theirs.dtype == bool or theirs.dtype.kind in "iu":
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-5, err_msg=name)


def test_keras_ops_numpy_names_are_in_tinydl_ops_numpy():
    theirs = {n for n in dir(keras.ops.numpy) if not n.startswith("_")}
    assert sorted(n for n in theirs if not hasattr(ops.numpy, n)) == []
    assert ops.numpy.sum is ops.sum and ops.numpy.quantile is ops.quantile


def test_ops_shape_and_norm_are_keras_s_functions_not_the_submodules():
    assert ops.shape(np.zeros((2, 3))) == (2, 3)
    np.testing.assert_allclose(ops.norm(np.array([3.0, 4.0])).numpy(), 5.0)


@pytest.mark.parametrize("args,kwargs", [((10, 4, 16), {}), ((8, 3, 12), {"window": "hamming", "length": 40}),
                                         ((12, 4, 12), {"length": 33})])
def test_istft_inverts_stft(args, kwargs):
    # Keras's NumPy backend (scipy) inverts exactly; its torch backend differs near the ends, so the
    # reference here is the signal itself
    length = kwargs.pop("length", None)
    spectrum = ops.stft(SIGNAL.astype(np.float64), *args, **kwargs)
    back = ops.istft(spectrum, *args, length=length, **kwargs).numpy()
    expected = SIGNAL[:, :length] if length else SIGNAL
    np.testing.assert_allclose(back, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("call,match", [
    (lambda: ops.dot_product_attention(Q, K, K, flash_attention=True), "flash_attention"),
    (lambda: ops.scatter_update(A, np.array([[0, 1]]), V[:1], reduction="max"), "reduction"),
    (lambda: ops.convert_to_tensor(A, sparse=True), "sparse"),
    (lambda: ops.multi_hot(np.array([[0, 1]]), 3, sparse=True), "sparse"),
    (lambda: ops.one_hot(np.array([0, 1]), 3, sparse=True), "sparse"),
    (lambda: ops.moments(A, (0,), synchronized=True), "synchronized"),
    (lambda: ops.quantile(A, 0.5, method="weibull"), "method"),
    (lambda: ops.quantile(A, 1.5), "q must be"),
    (lambda: ops.unique(I, sorted=False), "sorted"),
    (lambda: ops.vectorize(np.sin, signature="()->()"), "signature"),
    (lambda: ops.ctc_decode(CTC_LOGITS, np.array([8, 8, 8]), strategy="beam_search"), "greedy"),
    (lambda: ops.norm(A, ord="nuc"), "not supported"),
    (lambda: ops.glu(A[:, :3]), "even"),
    (lambda: ops.fft(A), "real, imag"),
    (lambda: ops.extract_sequences(V, 9, 1), "longer"),
    (lambda: ops.unfold(IMG, 9), "does not fit"),
    (lambda: ops.rearrange(A, "a b -> a c"), "same axes"),
    (lambda: ops.stft(SIGNAL, 16, 4, 8), "fft_length"),
    (lambda: ops.slice_update(A, (2, 2), B), "do not fit"),
    (lambda: ops.bincount(I[0], sparse=True), "sparse"),
])
def test_unsupported_arguments_raise_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_vectorize_maps_a_scalar_function_elementwise():
    f = ops.vectorize(lambda a, b: a * 2 + b if a > 0 else b)
    np.testing.assert_allclose(f(A, 1.0).numpy(), np.vectorize(lambda a, b: a * 2 + b if a > 0 else b)(A, 1.0))


def test_svd_refuses_a_gradient_on_the_arbitrary_columns_of_full_matrices():
    x = td.tensor(A.astype(np.float64), requires_grad=True)
    u, s, vh = ops.svd(x)  # (3, 3), (3,), (4, 4): the last row of vh is arbitrary
    (u.sum() + s.sum() + vh[:3].sum()).backward()  # rows that are defined: fine
    assert x.grad.shape == A.shape
    x.grad = None
    u, s, vh = ops.svd(x)
    with pytest.raises(ValueError, match="full_matrices"):
        vh.sum().backward()


def test_qr_gradient_is_refused_for_wide_matrices():
    x = td.tensor(A[:2].astype(np.float64), requires_grad=True)  # 2 x 4: R is not square
    q, r = ops.qr(x)
    with pytest.raises(ValueError, match="m >= n"):
        r.sum().backward()
