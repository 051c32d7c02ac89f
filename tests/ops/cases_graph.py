"""Gradient cases for the graph ops: gather_rows, scatter_add/mean/max, segment_softmax, propagate.

Indices repeat and leave segments empty on purpose (duplicate edges, isolated nodes); scatter_max
draws distinct values so no segment has a tie for its maximum.
"""
import numpy as np
from hypothesis import strategies as st

import tinydl as td
from tinydl.testing import OpCase, arrays, index_arrays, separated_arrays

TAILS = st.sampled_from([(), (2,), (3,), (2, 2)])


def scatter_inputs(distinct=False):
    """(src (E, *tail), index (E,) in [0, S)) with S drawn in 1..4; S is the last axis of a dummy."""
    def build(args):
        rows, segments, tail = args
        src = separated_arrays((rows,) + tail).map(lambda t: t[0]) if distinct else arrays((rows,) + tail)
        return st.tuples(src, index_arrays(segments, rows), st.just(np.zeros(segments, dtype=np.int64)))
    return st.tuples(st.integers(1, 6), st.integers(1, 4), TAILS).flatmap(build)


def gather_inputs():
    def build(args):
        nodes, rows, tail = args
        return st.tuples(arrays((nodes,) + tail), index_arrays(nodes, rows))
    return st.tuples(st.integers(1, 4), st.integers(1, 6), TAILS).flatmap(build)


def propagate_inputs(weighted):
    def build(args):
        nodes, edges, feats = args
        parts = [arrays((nodes, feats)), index_arrays(nodes, (2, edges))]
        if weighted:
            parts.append(arrays(edges))
        return st.tuples(*parts)
    return st.tuples(st.integers(1, 4), st.integers(1, 8), st.integers(1, 3)).flatmap(build)


def _segments(dummy):
    return dummy.shape[0]


CASES = [
    OpCase("gather_rows", lambda x, i: td.gather_rows(x, i), gather_inputs()),
    OpCase("scatter_add", lambda s, i, d: td.scatter_add(s, i, _segments(d)), scatter_inputs()),
    OpCase("scatter_sum", lambda s, i, d: td.scatter_sum(s, i, _segments(d)), scatter_inputs()),
    OpCase("scatter_mean", lambda s, i, d: td.scatter_mean(s, i, _segments(d)), scatter_inputs()),
    OpCase("scatter_max", lambda s, i, d: td.scatter_max(s, i, _segments(d)), scatter_inputs(distinct=True)),
    OpCase("segment_softmax", lambda s, i, d: td.segment_softmax(s, i, _segments(d)), scatter_inputs()),
    OpCase("propagate", lambda x, e, w: td.propagate(x, e, w), propagate_inputs(True), variant="weighted"),
    OpCase("propagate", lambda x, e: td.propagate(x, e), propagate_inputs(False)),
]
