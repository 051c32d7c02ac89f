"""Internal kernels reachable from Python refuse out-of-range ids instead of crashing the process (issue 18,
item 11)."""
import numpy as np
import pytest

from tinydl import graph
from tinydl.backend.cpu.scatter import segment_csr


@pytest.mark.parametrize("index, message", [([0, 10 ** 9], "index holds 1000000000, outside \\[0, 2\\)"),
                                            ([-1, 0], "index holds -1, outside \\[0, 2\\)")])
def test_segment_csr_refuses_ids_outside_its_segments(index, message):
    with pytest.raises(IndexError, match=message):
        segment_csr(index, 2)


def test_segment_csr_still_groups_valid_ids_stably():
    order, indptr = segment_csr([1, 0, 1, 0], 2)
    assert order.tolist() == [1, 3, 0, 2] and indptr.tolist() == [0, 2, 4]


def test_degree_and_gcn_norm_refuse_node_ids_at_or_past_num_nodes():
    with pytest.raises(IndexError, match=r"degree: index holds node 5, outside \[0, 3\)"):
        graph.degree(np.array([0, 5]), num_nodes=3)
    with pytest.raises(IndexError, match=r"gcn_norm: edge_index holds node 7, outside \[0, 3\)"):
        graph.gcn_norm(np.array([[0, 1], [1, 7]]), num_nodes=3)
    assert graph.degree(np.array([0, 2, 2]), num_nodes=3).tolist() == [1, 0, 2]
