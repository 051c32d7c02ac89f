"""keras.ops.numpy: the NumPy-like ops of tinydl.ops under Keras's submodule name (`tinydl.ops.numpy.sum`)."""
from tinydl.ops.core import (  # noqa: F401
    ndim, size, vectorize,
)
from tinydl.ops.elementwise import (  # noqa: F401
    absolute, allclose, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, bitwise_and, bitwise_invert,
    bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor, cbrt, ceil, cos, cosh,
    deg2rad, divide_no_nan, exp2, expm1, fabs, floor, floor_divide, fmax, fmin, fmod, gcd, heaviside, hypot,
    isclose, isfinite, isinf, isnan, isneginf, isposinf, isreal, lcm, ldexp, left_shift, log10, log2, logaddexp,
    logaddexp2, logical_and, logical_not, logical_or, logical_xor, mod, nextafter, rad2deg, reciprocal,
    right_shift, round, signbit, sin, sinc, sinh, tan, true_divide, trunc,
)
from tinydl.ops.linalg import (  # noqa: F401
    cross, dot, einsum, inner, kron, matmul, outer, slogdet, tensordot, vdot,
)
from tinydl.ops.math import (  # noqa: F401
    abs, add, clip, divide, equal, exp, greater, greater_equal, less, less_equal, log, log1p, maximum, minimum,
    multiply, negative, not_equal, power, sign, sqrt, square, subtract, where,
)
from tinydl.ops.nn import (  # noqa: F401
    tanh,
)
from tinydl.ops.numpy_ops import (  # noqa: F401
    all, amax, amin, angle, any, append, arange, argpartition, argsort, array, array_split, average, bartlett,
    bincount, blackman, conj, conjugate, copy, corrcoef, correlate, count_nonzero, cumprod, diag, diagflat,
    diagonal, diff, digitize, dsplit, dstack, empty, empty_like, eye, fliplr, flipud, full, full_like,
    geomspace, get_item, hamming, hanning, histogram, hsplit, hstack, identity, imag, isin, kaiser, linspace,
    logspace, median, meshgrid, nan_to_num, nanargmax, nanargmin, nancumprod, nancumsum, nanmax, nanmean,
    nanmedian, nanmin, nanpercentile, nanprod, nanquantile, nanstd, nansum, nanvar, nonzero, ones, ones_like,
    percentile, ptp, quantile, ravel, real, roll, rot90, searchsorted, select, sort, swapaxes, take_along_axis,
    trace, trapezoid, tri, tril, triu, unique, unravel_index, vander, view, vsplit, vstack, zeros, zeros_like,
)
from tinydl.ops.reduce import (  # noqa: F401
    argmax, argmin, cumsum, max, mean, min, prod, std, sum, var,
)
from tinydl.ops.shape import (  # noqa: F401
    broadcast_to, concatenate, expand_dims, flip, moveaxis, pad, repeat, reshape, split, squeeze, stack, take,
    tile, transpose,
)
from tinydl.ops.signal import (  # noqa: F401
    i0,
)
