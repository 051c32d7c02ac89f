"""The kernel table: kernel name -> module under backend/cpu and backend/cuda that defines it.

Both devices define every kernel under the same name and signature (a test checks the twins).
Kernels take and return raw arrays and know nothing of Tensors.
"""

# The recurrent kernels take activations as int codes (the fused loops branch on an int, not a function):
# the one table of them, shared by ops/rnn.py and both devices' rnn kernels.
ACTIVATION_CODES = {"linear": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "hard_sigmoid": 4}

KERNELS = {
    # core
    "erf": "math",
    # normalization (core layers)
    "layer_norm_fwd": "norm",
    "layer_norm_bwd": "norm",
    "batch_norm_fwd": "norm",
    "batch_norm_bwd": "norm",
    # losses (layers/models issue)
    "softmax_xent_fwd": "losses",
    "softmax_xent_bwd": "losses",
    # convolution and pooling
    "im2col": "conv",
    "col2im": "conv",
    "conv2d_direct": "conv",
    "max_pool2d": "pool",
    "max_pool2d_backward": "pool",
    "avg_pool2d": "pool",
    "avg_pool2d_backward": "pool",
    # recurrent
    "lstm_fwd": "rnn",
    "lstm_bwd": "rnn",
    "gru_fwd": "rnn",
    "gru_bwd": "rnn",
    "simple_rnn_fwd": "rnn",
    "simple_rnn_bwd": "rnn",
    # attention
    "attention_softmax_fwd": "attention",
    "attention_softmax_bwd": "attention",
    # graph
    "segment_csr": "scatter",
    "gather_rows": "scatter",
    "csr_sum": "scatter",
    "csr_spmm": "scatter",
    "edge_dot": "scatter",
    "csr_max": "scatter",
    "csr_max_backward": "scatter",
    "segment_softmax_forward": "scatter",
    "segment_softmax_backward": "scatter",
}

# On the GPU these kernels come from backend/cuda/fused.py: the array code of KERNELS' module with the
# per-element work fused into few launches; KERNELS' cuda module stays their readable, tested reference.
FUSED = {name: "fused" for name in ("lstm_fwd", "lstm_bwd", "gru_fwd", "gru_bwd", "simple_rnn_fwd", "simple_rnn_bwd",
                                    "layer_norm_fwd", "layer_norm_bwd", "softmax_xent_fwd", "attention_softmax_bwd",
                                    "im2col", "conv2d_direct", "batch_norm_fwd", "batch_norm_bwd")}
