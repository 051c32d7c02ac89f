"""Connectionist temporal classification (Graves et al., 2006): the CTC loss and greedy decoding."""
import numpy as np

from tinydl import backend
from tinydl.autograd import Function
from tinydl.ops.nn import log_softmax
from tinydl.tensor import Tensor, as_tensor

__all__ = ["ctc_loss", "ctc_decode"]


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """-log p(target | output) per sample; output holds logits (batch, time, classes), mask_index is the blank."""
    output = as_tensor(output)
    labels, label_lengths, steps = (_host(v).astype(np.int64) for v in (target, target_length, output_length))
    if output.ndim != 3 or labels.ndim != 2 or labels.shape[0] != output.shape[0]:
        raise ValueError(f"ctc_loss: expected output (batch, time, classes) and target (batch, max_length), "
                         f"received {tuple(output.shape)} and {labels.shape}")
    if (steps > output.shape[1]).any() or (label_lengths > labels.shape[1]).any():
        raise ValueError("ctc_loss: output_length / target_length exceed the time / label axes")
    return CTCLoss(labels=labels, label_lengths=label_lengths, steps=steps, blank=int(mask_index))(
        log_softmax(output, axis=-1))


class CTCLoss(Function):
    """The forward-backward recursion on log-probabilities, one sample at a time (on the host)."""

    def __init__(self, labels, label_lengths, steps, blank):
        self.labels, self.label_lengths, self.steps, self.blank = labels, label_lengths, steps, blank

    def forward(self, log_probs):
        self.device = backend.device_of(log_probs)
        lp = _host(log_probs)
        losses = np.empty(lp.shape[0], dtype=lp.dtype)
        self.grad = np.zeros_like(lp)
        for b in range(lp.shape[0]):
            losses[b], self.grad[b] = _ctc_sample(lp[b, :self.steps[b]], self.labels[b, :self.label_lengths[b]],
                                                  self.blank, lp.shape[1])
        return backend.to_device(losses, self.device)

    def backward(self, g):
        return backend.to_device(self.grad * _host(g)[:, None, None], self.device)


def _ctc_sample(lp, label, blank, total_steps):
    """(loss, d loss / d log_probs padded to total_steps) for one sample: lp (T, C), label (L,)."""
    ext = np.full(2 * len(label) + 1, blank)
    ext[1::2] = label
    t_len, s_len = lp.shape[0], len(ext)
    grad = np.zeros((total_steps, lp.shape[1]), dtype=lp.dtype)
    if t_len == 0:
        return (np.inf if len(label) else 0.0), grad
    # a skip from s - 2 to s is allowed when l'_s is a label differing from l'_{s-2}
    skip = np.zeros(s_len, dtype=bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    emit = lp[:, ext]  # (T, S)
    alpha = np.full((t_len, s_len), -np.inf)
    alpha[0, :2] = emit[0, :2]
    for t in range(1, t_len):
        prev = alpha[t - 1]
        a = np.logaddexp(prev, _shift(prev, 1))
        a = np.where(skip, np.logaddexp(a, _shift(prev, 2)), a)
        alpha[t] = a + emit[t]
    beta = np.full((t_len, s_len), -np.inf)
    beta[-1, -2:] = emit[-1, -2:]
    skip_next = np.concatenate([skip[2:], [False, False]])[:s_len]  # may s jump to s + 2
    for t in range(t_len - 2, -1, -1):
        nxt = beta[t + 1]
        b_ = np.logaddexp(nxt, _shift(nxt, -1))
        b_ = np.where(skip_next, np.logaddexp(b_, _shift(nxt, -2)), b_)
        beta[t] = b_ + emit[t]
    log_p = np.logaddexp(alpha[-1, -1], alpha[-1, -2]) if s_len > 1 else alpha[-1, -1]
    if not np.isfinite(log_p):
        return np.inf, grad
    occupancy = np.exp(alpha + beta - emit - log_p)  # (T, S): posterior of being at s at time t
    for s, k in enumerate(ext):
        grad[:t_len, k] -= occupancy[:, s]
    return -log_p, grad


def _shift(v, k):
    """v moved k places right (left for negative k), -inf filling the vacated places."""
    out = np.full_like(v, -np.inf)
    if k > 0:
        out[k:] = v[:-k]
    else:
        out[:k] = v[-k:]
    return out


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1, merge_repeated=True,
               mask_index=0):
    """Greedy best paths of logits (batch, time, classes): (decoded (1, batch, time) padded with -1,
    scores (batch, 1) = minus the sum over valid steps of the largest logit, as Keras)."""
    if strategy != "greedy":
        raise ValueError(f"ctc_decode: strategy must be 'greedy' (beam search is not implemented), "
                         f"received {strategy!r}")
    if top_paths != 1:
        raise ValueError(f"ctc_decode: greedy decoding finds one path: top_paths must be 1, received {top_paths}")
    lp = _host(as_tensor(inputs))
    lengths = _host(sequence_lengths).astype(np.int64)
    batch, steps = lp.shape[:2]
    best = lp.argmax(-1)
    decoded = np.full((batch, steps), -1, dtype=np.int64)
    scores = np.empty((batch, 1), dtype=lp.dtype)
    for b in range(batch):
        path = best[b, :lengths[b]]
        scores[b, 0] = -lp[b, np.arange(lengths[b]), path].sum()
        if merge_repeated:
            path = path[np.concatenate([[True], path[1:] != path[:-1]])] if len(path) else path
        path = path[path != mask_index]
        decoded[b, :len(path)] = path
    return Tensor(decoded[None]), Tensor(scores)


def _host(x):
    a = x.data if isinstance(x, Tensor) else x
    return np.asarray(backend.to_device(a, "cpu") if hasattr(a, "shape") else a)
