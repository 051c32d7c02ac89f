"""Attention: a transformer encoder block training step and the attention op alone, against PyTorch CPU.

Block: batch 16, 64 tokens, d_model 128, 4 heads, feed-forward 512, dropout 0.1, post-norm; one
step = forward (training mode), mean-square loss, backward, Adam update. tinydl's keras_hub-style
TransformerEncoder against `nn.TransformerEncoderLayer(batch_first=True)`.
Op: scaled dot-product attention on (16, 4, 64, 32) float32 q, k, v with a causal mask, forward +
backward, against `torch.nn.functional.scaled_dot_product_attention(is_causal=True)`.
The issue's aim: the block step <= 1.5x PyTorch.

    python -m benchmarks attention
"""
import pathlib
import sys

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402

BATCH, TOKENS, D_MODEL, HEADS, FF, DROPOUT = 16, 64, 128, 4, 512, 0.1


def workloads():
    torch = torch_or_none()
    return encoder_block(torch) + attention_op(torch)


def encoder_block(torch):
    """One training step of a transformer encoder block."""
    from tinydl import layers, optimizers
    td.set_seed(0)
    x = np.random.default_rng(0).standard_normal((BATCH, TOKENS, D_MODEL)).astype(np.float32)
    block = layers.TransformerEncoder(FF, HEADS, dropout=DROPOUT)
    block(x)
    opt = optimizers.Adam(1e-3)
    weights = block.trainable_weights

    def tinydl_step():
        for w in weights:
            w.grad = None
        out = block(x, training=True)
        loss = td.mean(out * out)
        loss.backward()
        opt.apply([w.grad for w in weights], weights)

    label = f"encoder block train step (B{BATCH}, T{TOKENS}, d{D_MODEL}, h{HEADS}, ff{FF})"
    if torch is None:
        return [(label, tinydl_step, None, "torch")]
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, dim_feedforward=FF, dropout=DROPOUT,
                                             batch_first=True)
    layer.train()
    topt = torch.optim.Adam(layer.parameters(), lr=1e-3)
    xt = torch.tensor(x)

    def torch_step():
        topt.zero_grad()
        out = layer(xt)
        loss = (out * out).mean()
        loss.backward()
        topt.step()
    return [(label, tinydl_step, torch_step, "torch")]


def attention_op(torch):
    """The fused attention op alone, forward + backward, causal."""
    rng = np.random.default_rng(1)
    shape = (BATCH, HEADS, TOKENS, D_MODEL // HEADS)
    arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    q, k, v = (td.tensor(a, requires_grad=True) for a in arrays)

    def tinydl_attention():
        for t in (q, k, v):
            t.grad = None
        td.scaled_dot_product_attention(q, k, v, causal=True).sum().backward()

    label = f"attention op fwd+bwd causal {shape}"
    if torch is None:
        return [(label, tinydl_attention, None, "torch")]
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in arrays)

    def torch_attention():
        for t in (tq, tk, tv):
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True).sum().backward()
    return [(label, tinydl_attention, torch_attention, "torch")]


if __name__ == "__main__":
    from benchmarks.run import script_main
    sys.exit(script_main("attention"))
