"""Hypothesis strategies for property tests of differentiable code: shapes, float64 arrays, broadcasting.

    from hypothesis import given
    from tinydl.testing import arrays, broadcastable_shapes, gradcheck

    @given(broadcastable_shapes().flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1]))))
    def test_add(ab):
        assert gradcheck(lambda a, b: a + b, ab)

Finite differences go wrong where a function has a kink (relu at 0, |x| at 0) or where two values
tie (max, maximum). `arrays(..., away_from=(0,))` keeps every element at least `margin` from the
listed points, `arrays(..., distinct=True)` keeps the elements `margin` apart from each other, and
`separated_arrays(*shapes)` draws several arrays whose elements are all apart from one another.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "shapes", "arrays", "broadcastable_shapes", "separated_arrays", "positive_arrays", "array_tuples",
    "index_arrays",
]

DEFAULT_RANGE = (-2.0, 2.0)
DEFAULT_MARGIN = 0.05


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes with `min_dims..max_dims` axes, each of length `min_side..max_side`."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(shape, elements=DEFAULT_RANGE, *, distinct=False, away_from=(), margin=DEFAULT_MARGIN):
    """float64 arrays of `shape` (a tuple or a strategy of tuples) with elements in `elements` = (lo, hi).

    `away_from`: points every element stays at least `margin` from (kinks such as 0 for relu/abs).
    `distinct`: elements at least `margin` apart from each other (no ties for max/min/sort).
    """
    if isinstance(shape, st.SearchStrategy):
        return shape.flatmap(lambda s: arrays(s, elements, distinct=distinct, away_from=away_from,
                                              margin=margin))
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    lo, hi = elements
    if distinct:
        return _separated(shape, lo, hi, margin, away_from).map(lambda parts: parts[0])
    values = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if away_from:
        values = values.map(lambda v: _push_away(v, away_from, margin, lo, hi))
    return hnp.arrays(np.float64, shape, elements=values)


def positive_arrays(shape, elements=(0.2, 2.0), **kwargs):
    """float64 arrays with strictly positive elements (for log, sqrt, divisors, power bases)."""
    if elements[0] <= 0:
        raise ValueError(f"positive_arrays needs a positive lower bound, got {elements}")
    return arrays(shape, elements, **kwargs)


def separated_arrays(*shapes_, elements=DEFAULT_RANGE, away_from=(), margin=DEFAULT_MARGIN):
    """A tuple of float64 arrays, one per shape, whose elements are all `margin` apart from one another.

    Use it for ops comparing elements of different inputs (maximum(a, b), where ties across the two
    arrays would make the gradient jump). Shapes may be strategies.
    """
    if any(isinstance(s, st.SearchStrategy) for s in shapes_):
        parts = [s if isinstance(s, st.SearchStrategy) else st.just(tuple(s)) for s in shapes_]
        return st.tuples(*parts).flatmap(
            lambda ss: separated_arrays(*ss, elements=elements, away_from=away_from, margin=margin))
    lo, hi = elements
    return _separated([tuple(s) for s in shapes_], lo, hi, margin, away_from, several=True)


def broadcastable_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Pairs of shapes that broadcast together, with size-1 axes and missing leading axes on either side."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=min_dims, max_dims=max_dims,
                                              min_side=min_side, max_side=max_side).map(
        lambda bs: tuple(bs.input_shapes))


def array_tuples(*shapes_, elements=DEFAULT_RANGE, **kwargs):
    """A tuple of independent float64 arrays, one per shape (tuples or strategies)."""
    return st.tuples(*[arrays(s, elements, **kwargs) for s in shapes_])


def index_arrays(size, shape, allow_repeats=True):
    """int64 arrays of `shape` holding indices in [0, size), repeated indices included unless told not to."""
    if isinstance(shape, st.SearchStrategy):
        return shape.flatmap(lambda s: index_arrays(size, s, allow_repeats))
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return hnp.arrays(np.int64, shape, elements=st.integers(0, size - 1), unique=not allow_repeats)


def _push_away(v, points, margin, lo, hi):
    """`v` moved to at least `margin` from every point, staying inside [lo, hi] when it can."""
    for p in points:
        if abs(v - p) < margin:
            v = p + margin if (v >= p and p + margin <= hi) or p - margin < lo else p - margin
    return v


def _separated(shapes_, lo, hi, margin, away_from, several=False):
    """Arrays whose elements all sit on distinct points of a grid `margin` apart, off the `away_from` points."""
    if not several:
        shapes_ = [shapes_]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes_]
    total = sum(sizes)
    grid = np.arange(lo, hi + 1e-12, 2 * margin)
    grid = np.array([g for g in grid if all(abs(g - p) >= 1.5 * margin for p in away_from)])
    if len(grid) < total:
        raise ValueError(f"cannot fit {total} values {margin} apart in [{lo}, {hi}]: widen the range")
    picks = st.lists(st.integers(0, len(grid) - 1), min_size=total, max_size=total, unique=True)
    # a shared shift smaller than margin / 2 moves values off the grid without creating ties
    shift = st.floats(0, margin / 2)

    def build(picked_and_shift):
        picked, s = picked_and_shift
        values = grid[np.array(picked, dtype=np.int64)] + s if total else np.zeros(0)
        out, start = [], 0
        for shape, n in zip(shapes_, sizes):
            out.append(values[start:start + n].reshape(shape).astype(np.float64))
            start += n
        return tuple(out)
    return st.tuples(picks, shift).map(build)
