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



def reference_segments(src, index, dummy, reduce):
    """One loop per segment: `reduce` over the rows that index into it, zeros for an empty segment."""
    out = np.zeros((dummy.shape[0],) + src.shape[1:])
    for s in range(dummy.shape[0]):
        if (index == s).any():
            out[s] = reduce(src[index == s], axis=0)
    return out


def reference_segment_softmax(scores, index, dummy):
    out = np.zeros_like(scores)
    for s in range(dummy.shape[0]):
        e = np.exp(scores[index == s])
        out[index == s] = e / e.sum(axis=0)
    return out


def reference_propagate(x, edge_index, weight):
    """The dense adjacency A[target, source] (duplicate edges add up) times x."""
    a = np.zeros((x.shape[0], x.shape[0]))
    for (source, target), w in zip(edge_index.T, weight):
        a[target, source] += w
    return a @ x


CASES = [
    OpCase("gather_rows", lambda x, i: td.gather_rows(x, i), gather_inputs(), reference=lambda x, i: x[i]),
    OpCase("scatter_add", lambda s, i, d: td.scatter_add(s, i, _segments(d)), scatter_inputs(),
           reference=lambda s, i, d: reference_segments(s, i, d, np.sum)),
    OpCase("scatter_sum", lambda s, i, d: td.scatter_sum(s, i, _segments(d)), scatter_inputs(),
           reference=lambda s, i, d: reference_segments(s, i, d, np.sum)),
    OpCase("scatter_mean", lambda s, i, d: td.scatter_mean(s, i, _segments(d)), scatter_inputs(),
           reference=lambda s, i, d: reference_segments(s, i, d, np.mean)),
    OpCase("scatter_max", lambda s, i, d: td.scatter_max(s, i, _segments(d)), scatter_inputs(distinct=True),
           reference=lambda s, i, d: reference_segments(s, i, d, np.max)),
    OpCase("segment_softmax", lambda s, i, d: td.segment_softmax(s, i, _segments(d)), scatter_inputs(),
           reference=reference_segment_softmax),
    OpCase("propagate", lambda x, e, w: td.propagate(x, e, w), propagate_inputs(True), variant="weighted",
           reference=reference_propagate),
    OpCase("propagate", lambda x, e: td.propagate(x, e), propagate_inputs(False),
           reference=lambda x, e: reference_propagate(x, e, np.ones(e.shape[1]))),
]
