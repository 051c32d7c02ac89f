"""Loss cores fused into one op each: softmax cross-entropy on logits and cross-entropy on probabilities,
both with integer labels."""
from tinydl import backend
from tinydl.autograd import Function
from tinydl.backend import array_module

__all__ = ["sparse_softmax_cross_entropy", "sparse_probability_cross_entropy"]


class SparseSoftmaxCrossEntropy(Function):
    def forward(self, logits, labels):
        if logits.ndim < 1 or logits.shape[-1] < 1:
            raise ValueError(f"sparse_softmax_cross_entropy: logits need a class axis, got shape {logits.shape}")
        if tuple(labels.shape) != tuple(logits.shape[:-1]):
            raise ValueError(f"sparse_softmax_cross_entropy: labels of shape {tuple(labels.shape)} do not match "
                             f"logits of shape {tuple(logits.shape)} (expected labels of shape "
                             f"{tuple(logits.shape[:-1])})")
        classes = logits.shape[-1]
        self.shape = logits.shape
        self.x = logits.reshape(-1, classes)
        self.labels = _int_labels(labels.reshape(-1), classes)
        loss, self.stats = backend.kernel("softmax_xent_fwd", self.x)(self.x, self.labels)
        return loss.reshape(logits.shape[:-1])

    def backward(self, g):
        grad = backend.kernel("softmax_xent_bwd", self.x)(self.x, self.labels, self.stats, g.reshape(-1))
        return grad.reshape(self.shape), None


def sparse_softmax_cross_entropy(logits, labels):
    """-log(softmax(logits)[label]) along the last axis, one value per row (shape logits.shape[:-1]).

    Fused and stable (logits of 1e4 are fine); labels are integers in [0, classes), as an array or
    Tensor (float labels holding integers are accepted, as Keras's). Only the logits get a gradient.
    """
    return SparseSoftmaxCrossEntropy.apply(logits, labels)


class SparseProbabilityCrossEntropy(Function):
    def __init__(self, epsilon):
        self.epsilon = epsilon

    def forward(self, probs, labels):
        if tuple(labels.shape) != tuple(probs.shape[:-1]):
            raise ValueError(f"sparse_probability_cross_entropy: labels of shape {tuple(labels.shape)} do not match "
                             f"probabilities of shape {tuple(probs.shape)} (expected labels of shape "
                             f"{tuple(probs.shape[:-1])})")
        xp = array_module(probs)
        classes = probs.shape[-1]
        self.shape = probs.shape
        p = probs.reshape(-1, classes)
        self.labels = _int_labels(labels.reshape(-1), classes)
        self.rows = xp.arange(p.shape[0])
        self.total = p.sum(axis=-1)
        self.picked = p[self.rows, self.labels] / self.total
        lo, hi = self.epsilon, 1.0 - self.epsilon
        self.clipped = xp.clip(self.picked, lo, hi)
        self.inside = (self.picked >= lo) & (self.picked <= hi)
        return (-xp.log(self.clipped)).reshape(probs.shape[:-1])

    def backward(self, g):
        xp = array_module(g)
        coef = xp.where(self.inside, -g.reshape(-1) / self.clipped, 0) / self.total
        grad = xp.empty((len(coef), self.shape[-1]), dtype=g.dtype)
        grad[...] = (-coef * self.picked)[:, None]
        grad[self.rows, self.labels] += coef
        return grad.reshape(self.shape), None


def sparse_probability_cross_entropy(probs, labels, epsilon=1e-7):
    """-log(clip(p[label] / sum(p), epsilon, 1 - epsilon)) along the last axis, as Keras on probabilities.

    One fused op (instead of normalise, clip, log, one-hot, multiply, sum); only `probs` gets a gradient.
    """
    return SparseProbabilityCrossEntropy(epsilon=float(epsilon))(probs, labels)


def _int_labels(labels, classes):
    """Labels as int64, checked to lie in [0, classes)."""
    xp = array_module(labels)
    if labels.dtype.kind not in "iu":
        labels = labels.astype(xp.int64)
    elif labels.dtype != xp.int64:
        labels = labels.astype(xp.int64)
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"sparse_softmax_cross_entropy: label {bad} is out of range for {classes} classes "
                             f"(expected labels in [0, {classes - 1}])")
    return labels
