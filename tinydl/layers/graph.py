"""Graph layers: GCNConv, GATConv, SAGEConv, GINConv and global pooling over a batch vector.

Inputs follow PyTorch Geometric: convolutions take `[x, edge_index]` or `[x, edge_index, edge_weight]`
with x (N, F), edge_index int (2, E) holding sources then targets; pools take `[x, batch]` (or x alone
for one graph). A message flows along each edge s->t, so node t aggregates from its in-neighbours.
Weights are named and laid out like Dense's: `kernel` (in, out), then `bias`.
Gradients flow to x, the weights and edge weights given as Tensors; the graph structure is data.
"""
import numpy as np

from tinydl import activations, backend, initializers, ops
from tinydl.graph import add_remaining_self_loops, check_batch, check_edge_index, gcn_norm, num_graphs_of
from tinydl.graph import add_self_loops as _add_self_loops
from tinydl.graph import remaining_self_loops_index, remove_self_loops
from tinydl.layers.base import Layer
from tinydl.tensor import Tensor
from tinydl.io.config import deserialize, serialize

__all__ = ["GCNConv", "GATConv", "SAGEConv", "GINConv", "GlobalSumPool", "GlobalMeanPool", "GlobalMaxPool"]


class _GraphConv(Layer):
    """Shared plumbing: unpack `[x, edge_index(, edge_weight)]`, check it, make kernel and bias."""

    accepts_edge_weight = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs a positive number of units, got {units}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer

    def _in_features(self, input_shape):
        shapes = input_shape if isinstance(input_shape, (list, tuple)) and input_shape and \
            isinstance(input_shape[0], (list, tuple)) else None
        if shapes is None or len(shapes) not in (2, 3):
            raise ValueError(f"{type(self).__name__} '{self.name}' takes [x, edge_index] or "
                             f"[x, edge_index, edge_weight], got input shape {input_shape}")
        x_shape = tuple(shapes[0])
        if len(x_shape) != 2 or x_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} '{self.name}' needs node features x of shape "
                             f"(num_nodes, features) with known features, got {x_shape}")
        return x_shape[-1]

    def _unpack(self, inputs):
        """(x Tensor, edge_index int64 array on x's device, edge_weight Tensor or None), checked."""
        where = f"{type(self).__name__} '{self.name}'"
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(f"{where} takes [x, edge_index] or [x, edge_index, edge_weight]")
        x = inputs[0]
        if x.ndim != 2:
            raise ValueError(f"{where} needs node features x of shape (num_nodes, features), got {x.shape}")
        edge_index = backend.to_device(check_edge_index(inputs[1], x.shape[0], where=where), x.device)
        weight = None
        if len(inputs) == 3 and inputs[2] is not None:
            if not self.accepts_edge_weight:
                raise ValueError(f"{where} does not use edge weights: pass [x, edge_index]")
            weight = inputs[2] if isinstance(inputs[2], Tensor) else Tensor(inputs[2], device=x.device)
            if tuple(weight.shape) != (edge_index.shape[1],):
                raise ValueError(f"{where}: edge_weight must have shape ({edge_index.shape[1]},), got {weight.shape}")
            if weight.dtype != x.dtype:
                weight = weight.astype(x.dtype)
        return x, edge_index, weight

    def _kernel_and_bias(self, fan_in, fan_out, bias_size=None):
        self.kernel = self.add_weight("kernel", (fan_in, fan_out), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight("bias", (bias_size or fan_out,), self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def _finish(self, out):
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        return (tuple(input_shape[0])[0], self.output_features)

    @property
    def output_features(self):
        return self.units

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer)}


class GCNConv(_GraphConv):
    """Graph convolution (Kipf & Welling 2017): `D^-1/2 A' D^-1/2 X W + b`, as PyTorch Geometric's GCNConv.

    A[t, s] sums the weights of the edges s->t (1 without edge_weight; duplicates add up). With
    `add_self_loops`, A' gives every node exactly one self loop (PyG's `add_remaining_self_loops`): an
    existing loop keeps its weight instead of getting a second one, the others weigh 1. D is the row
    sum of A', and `normalize=False` uses A' as it is.
    """

    def __init__(self, units, use_bias=True, add_self_loops=True, normalize=True, activation=None, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.add_self_loops = bool(add_self_loops)
        self.normalize = bool(normalize)

    def build(self, input_shape):
        self._kernel_and_bias(self._in_features(input_shape), self.units)

    def call(self, inputs):
        x, edge_index, weight = self._unpack(inputs)
        n = x.shape[0]
        if weight is not None:
            edge_index, weight = _gcn_weights(edge_index, weight, n, self.add_self_loops, self.normalize)
        elif self.normalize:
            edge_index, weight = gcn_norm(edge_index, None, n, add_self_loops=self.add_self_loops, dtype=x.dtype)
        elif self.add_self_loops:
            edge_index, _ = add_remaining_self_loops(edge_index, None, n)
        # A (X W) == (A X) W: multiply by the sparse matrix on the narrower side
        if self.kernel.shape[0] > self.units:
            out = ops.propagate(ops.matmul(x, self.kernel), edge_index, weight)
        else:
            out = ops.matmul(ops.propagate(x, edge_index, weight), self.kernel)
        return self._finish(out)

    def get_config(self):
        return {**super().get_config(), "add_self_loops": self.add_self_loops, "normalize": self.normalize}


class GATConv(_GraphConv):
    """Graph attention (Velickovic et al. 2018), several heads, concatenated or averaged.

    For each edge j->i and head k: `e = LeakyReLU(a_src . W x_j + a_dst . W x_i)`, softmax over the
    edges into i (self loops added when `add_self_loops`), dropout on those coefficients while
    training, and `out_i = sum_j alpha_ij W x_j`. Weights: kernel (in, heads * units),
    attention_source and attention_target (heads, units), bias (heads * units, or units when averaging).
    """

    accepts_edge_weight = False

    def __init__(self, units, heads=1, concat=True, negative_slope=0.2, dropout=0.0, add_self_loops=True,
                 use_bias=True, activation=None, attention_initializer="glorot_uniform", **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        if int(heads) <= 0:
            raise ValueError(f"GATConv '{self.name}' needs heads >= 1, got {heads}")
        if not 0 <= dropout < 1:
            raise ValueError(f"GATConv '{self.name}': dropout must be in [0, 1), got {dropout}")
        self.heads = int(heads)
        self.concat = bool(concat)
        self.negative_slope = float(negative_slope)
        self.dropout = float(dropout)
        self.add_self_loops = bool(add_self_loops)
        self.attention_initializer = attention_initializer

    @property
    def output_features(self):
        return self.heads * self.units if self.concat else self.units

    def build(self, input_shape):
        fan_in = self._in_features(input_shape)
        self.kernel = self.add_weight("kernel", (fan_in, self.heads * self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.attention_source = self.add_weight("attention_source", (self.heads, self.units),
                                                self.attention_initializer)
        self.attention_target = self.add_weight("attention_target", (self.heads, self.units),
                                                self.attention_initializer)
        self.bias = self.add_weight("bias", (self.output_features,), self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs, training=None):
        x, edge_index, _ = self._unpack(inputs)
        n = x.shape[0]
        if self.add_self_loops:
            edge_index, _ = _add_self_loops(remove_self_loops(edge_index)[0], None, n)
        src, dst = edge_index[0], edge_index[1]
        h = ops.reshape(ops.matmul(x, self.kernel), (n, self.heads, self.units))
        score_src = ops.sum(h * self.attention_source, axis=-1)
        score_dst = ops.sum(h * self.attention_target, axis=-1)
        scores = ops.leaky_relu(ops.gather_rows(score_src, src) + ops.gather_rows(score_dst, dst),
                                negative_slope=self.negative_slope)
        alpha = ops.segment_softmax(scores, dst, n)
        alpha = ops.dropout(alpha, self.dropout, training=bool(training))
        messages = ops.gather_rows(h, src) * ops.reshape(alpha, (src.shape[0], self.heads, 1))
        out = ops.scatter_add(messages, dst, n)
        out = ops.reshape(out, (n, self.heads * self.units)) if self.concat else ops.mean(out, axis=1)
        return self._finish(out)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "concat": self.concat,
                "negative_slope": self.negative_slope, "dropout": self.dropout,
                "add_self_loops": self.add_self_loops,
                "attention_initializer": serialize(self.attention_initializer)}


class SAGEConv(_GraphConv):
    """GraphSAGE with the mean aggregator (Hamilton et al. 2017): `mean_{j->i} x_j W + x_i W_root + b`.

    Weights: kernel (in, units) for the neighbours, root_kernel (in, units) for the node itself
    (when `root_weight`), bias. Nodes without in-neighbours aggregate zeros. Edge weights, when
    given, make it a weighted mean.
    """

    def __init__(self, units, use_bias=True, root_weight=True, activation=None, **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.root_weight = bool(root_weight)

    def build(self, input_shape):
        fan_in = self._in_features(input_shape)
        self.kernel = self.add_weight("kernel", (fan_in, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.root_kernel = self.add_weight("root_kernel", (fan_in, self.units), self.kernel_initializer,
                                           regularizer=self.kernel_regularizer) if self.root_weight else None
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                    regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        x, edge_index, weight = self._unpack(inputs)
        n = x.shape[0]
        if weight is None:
            weight = Tensor._wrap(backend.array_module(edge_index).ones(edge_index.shape[1], dtype=x.dtype), False)
        mean = ops.propagate(x, edge_index, weight * ops.gather_rows(_safe_inverse(
            ops.scatter_add(weight, edge_index[1], n)), edge_index[1]))
        out = ops.matmul(mean, self.kernel)
        if self.root_kernel is not None:
            out = out + ops.matmul(x, self.root_kernel)
        return self._finish(out)

    def get_config(self):
        return {**super().get_config(), "root_weight": self.root_weight}


class GINConv(Layer):
    """Graph isomorphism network layer (Xu et al. 2019): `mlp((1 + eps) x_i + sum_{j->i} x_j)`.

    `mlp` is any layer (a Dense, a Sequential, ...). With `train_eps=True`, eps is a trainable scalar
    weight named `eps`, listed before the mlp's weights. Edge weights, when given, weight the sum.
    """

    def __init__(self, mlp, eps=0.0, train_eps=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mlp, dict):
            mlp = deserialize(mlp)
        if not isinstance(mlp, Layer):
            raise TypeError(f"GINConv '{self.name}' needs a layer as mlp (e.g. a Sequential of Dense), "
                            f"got {type(mlp).__name__}")
        self.mlp = mlp
        self.initial_eps = float(eps)
        self.train_eps = bool(train_eps)
        self.eps = None

    def build(self, input_shape):
        fan_in = _GraphConv._in_features(self, input_shape)
        if self.train_eps:
            self.eps = self.add_weight("eps", (), initializers.Constant(self.initial_eps))
        if not self.mlp.built:
            self.mlp(Tensor(np.zeros((1, fan_in), dtype=self.dtype)))

    def call(self, inputs):
        x, edge_index, weight = _GraphConv._unpack(self, inputs)
        total = ops.propagate(x, edge_index, weight)
        scale = 1.0 + (self.eps if self.eps is not None else self.initial_eps)
        return self.mlp(x * scale + total)

    accepts_edge_weight = True

    def compute_output_shape(self, input_shape):
        probe = self.mlp(Tensor(np.zeros((1, tuple(input_shape[0])[-1]), dtype=self.dtype)))
        return (tuple(input_shape[0])[0],) + tuple(probe.shape[1:])

    def get_config(self):
        return {**super().get_config(), "mlp": serialize(self.mlp), "eps": self.initial_eps,
                "train_eps": self.train_eps}


def _gcn_weights(edge_index, weight, n, add_loops, normalize):
    """GCN's edge weights as a differentiable function of the given ones (see gcn_norm)."""
    xp = backend.array_module(edge_index)
    if add_loops:  # PyG's add_remaining_self_loops, gathering the given weights so they keep their gradient
        edge_index, pick = remaining_self_loops_index(edge_index, n)
        weight = ops.concatenate([weight, Tensor._wrap(xp.ones(n, dtype=weight.dtype), False)])
        weight = ops.gather_rows(weight, pick)
    if normalize:
        inv_sqrt = _safe_inverse(ops.scatter_add(weight, edge_index[1], n), power=0.5)
        weight = ops.gather_rows(inv_sqrt, edge_index[0]) * weight * ops.gather_rows(inv_sqrt, edge_index[1])
    return edge_index, weight


def _safe_inverse(t, power=1.0):
    """t ** -power where t != 0, and 0 where t == 0, with finite gradients everywhere."""
    nonzero = (t.data != 0).astype(t.dtype)
    safe = t * Tensor._wrap(nonzero, False) + Tensor._wrap(1 - nonzero, False)
    return safe ** (-power) * Tensor._wrap(nonzero, False)


class _GraphPool(Layer):
    """Reduce node features to one row per graph, over the graph ids of the `batch` vector."""

    reduce = None

    def call(self, inputs):
        where = f"{type(self).__name__} '{self.name}'"
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError(f"{where} takes [x, batch] (or x alone for one graph), got {len(inputs)} inputs")
            x, batch = inputs
        else:
            x, batch = inputs, None
        if x.ndim < 2:
            raise ValueError(f"{where} needs node features of shape (num_nodes, features), got {x.shape}")
        n = x.shape[0]
        if batch is None:
            batch = backend.array_module(x.data).zeros(n, dtype=np.int64)
        batch = backend.to_device(check_batch(batch, n, where=where), x.device)
        return self.reduce(x, batch, num_graphs_of(batch) if n else 0)

    def compute_output_shape(self, input_shape):
        x_shape = input_shape[0] if isinstance(input_shape, (list, tuple)) and input_shape and \
            isinstance(input_shape[0], (list, tuple)) else input_shape
        return (None,) + tuple(x_shape)[1:]


class GlobalSumPool(_GraphPool):
    """The sum of each graph's node features: (num_graphs, features)."""

    reduce = staticmethod(ops.scatter_add)


class GlobalMeanPool(_GraphPool):
    """The mean of each graph's node features: (num_graphs, features)."""

    reduce = staticmethod(ops.scatter_mean)


class GlobalMaxPool(_GraphPool):
    """The elementwise max of each graph's node features: (num_graphs, features)."""

    reduce = staticmethod(ops.scatter_max)
