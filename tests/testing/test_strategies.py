"""The public hypothesis strategies keep their promises: bounds, broadcasting, distance from kinks and ties."""
import numpy as np
from hypothesis import given, settings, strategies as st

from tinydl.testing import (
    array_tuples, arrays, broadcastable_shapes, index_arrays, positive_arrays, separated_arrays, shapes,
)

FAST = settings(max_examples=30, deadline=None, derandomize=True)


@FAST
@given(shapes(min_dims=1, max_dims=3, min_side=2, max_side=3))
def test_shapes_respect_their_bounds(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= n <= 3 for n in shape)


@FAST
@given(arrays(shapes(), elements=(-1.0, 3.0)))
def test_arrays_are_float64_in_range(a):
    assert a.dtype == np.float64 and np.all((a >= -1) & (a <= 3))


@FAST
@given(arrays((3, 4), away_from=(0.0, 1.0), margin=0.1))
def test_arrays_keep_away_from_kinks(a):
    assert np.all(np.abs(a) >= 0.1 - 1e-12) and np.all(np.abs(a - 1) >= 0.1 - 1e-12)


@FAST
@given(arrays(shapes(1, 3, 1, 4), distinct=True, margin=0.05))
def test_distinct_arrays_have_no_near_ties(a):
    v = np.sort(a.ravel())
    assert np.all(np.diff(v) >= 0.1 - 1e-9)


@FAST
@given(broadcastable_shapes().flatmap(lambda s: separated_arrays(*s, away_from=(0,))))
def test_separated_arrays_are_apart_across_arrays_and_from_kinks(ab):
    a, b = ab
    both = np.concatenate([a.ravel(), b.ravel()])
    assert len(np.unique(both)) == both.size
    assert np.all(np.abs(both) >= 0.05 - 1e-12)


@FAST
@given(broadcastable_shapes(min_dims=0, max_dims=3))
def test_broadcastable_shapes_broadcast(pair):
    np.broadcast_shapes(*pair)


@FAST
@given(positive_arrays((5,)), array_tuples((2,), (1, 2)), index_arrays(4, (6,)))
def test_positive_tuples_and_indices(p, pair, idx):
    assert np.all(p > 0)
    assert [x.shape for x in pair] == [(2,), (1, 2)]
    assert idx.dtype == np.int64 and np.all((idx >= 0) & (idx < 4))


def test_strategies_are_importable_from_tinydl_testing():
    import tinydl.testing as tt
    assert isinstance(tt.arrays((2,)), st.SearchStrategy)
