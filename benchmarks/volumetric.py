"""Issue 16's hot new layers: a Conv3D training step and a ConvLSTM2D training step, against PyTorch.

- Conv3D step: batch 8 of 16x16x16x2 volumes, Conv3D(16, 3, relu) - MaxPooling3D(2) - Conv3D(32, 3, relu) -
  GlobalAveragePooling3D - Dense(10), softmax cross-entropy from logits, Adam; `train_on_batch` against the
  same model in torch (NCDHW, its native layout).
- ConvLSTM2D step: batch 8 of 6 frames of 16x16x2, ConvLSTM2D(16, 3, 'same') - GlobalAveragePooling2D -
  Dense(10), same loss and optimizer. torch has no ConvLSTM: the reference is the same algorithm written with
  torch ops (the input convolution of every frame batched, then one recurrent convolution per frame).

    python -m benchmarks volumetric
"""
import pathlib
import sys

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402


def workloads():
    torch = torch_or_none()
    return conv3d_rows(torch) + conv_lstm_rows(torch)


def _compiled(model):
    from tinydl.losses import SparseCategoricalCrossentropy
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True))
    return model


def conv3d_rows(torch):
    from tinydl import layers as L
    rng = np.random.default_rng(0)
    x = rng.random((8, 16, 16, 16, 2)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    td.set_seed(0)
    model = _compiled(td.models.Sequential([
        L.Input(shape=(16, 16, 16, 2)), L.Conv3D(16, 3, activation="relu"), L.MaxPooling3D(2),
        L.Conv3D(32, 3, activation="relu"), L.GlobalAveragePooling3D(), L.Dense(10)]))

    def ours():
        model.train_on_batch(x, y)

    label = "Conv3D train step (batch 8, 16^3x2, conv16-pool-conv32-gap-dense10, Adam)"
    if torch is None:
        return [(label, ours, None, "torch")]
    nn = torch.nn
    net = nn.Sequential(nn.Conv3d(2, 16, 3), nn.ReLU(), nn.MaxPool3d(2), nn.Conv3d(16, 32, 3), nn.ReLU(),
                        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    tx, ty = torch.tensor(x.transpose(0, 4, 1, 2, 3).copy()), torch.tensor(y)

    def theirs():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(tx), ty).backward()
        opt.step()
    return [(label, ours, theirs, "torch")]


def conv_lstm_rows(torch):
    from tinydl import layers as L
    rng = np.random.default_rng(0)
    n, t, h, w, c, f = 8, 6, 16, 16, 2, 16
    x = rng.random((n, t, h, w, c)).astype(np.float32)
    y = rng.integers(0, 10, n)
    td.set_seed(0)
    model = _compiled(td.models.Sequential([
        L.Input(shape=(t, h, w, c)), L.ConvLSTM2D(f, 3, padding="same"), L.GlobalAveragePooling2D(), L.Dense(10)]))

    def ours():
        model.train_on_batch(x, y)

    label = "ConvLSTM2D train step (batch 8, 6 frames 16x16x2, convlstm16-gap-dense10, Adam)"
    if torch is None:
        return [(label, ours, None, "torch")]
    nn = torch.nn
    conv_x, conv_h = nn.Conv2d(c, 4 * f, 3, padding=1), nn.Conv2d(f, 4 * f, 3, padding=1, bias=False)
    head = nn.Linear(f, 10)
    params = list(conv_x.parameters()) + list(conv_h.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    tx, ty = torch.tensor(x.transpose(0, 1, 4, 2, 3).copy()), torch.tensor(y)

    def forward():
        gates_x = conv_x(tx.reshape(n * t, c, h, w)).reshape(n, t, 4 * f, h, w)
        hs = cs = torch.zeros(n, f, h, w)
        for i in range(t):
            z = gates_x[:, i] + conv_h(hs)
            gi, gf, gc, go = torch.split(z, f, dim=1)
            cs = torch.sigmoid(gf) * cs + torch.sigmoid(gi) * torch.tanh(gc)
            hs = torch.sigmoid(go) * torch.tanh(cs)
        return head(hs.mean(dim=(2, 3)))

    def theirs():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(forward(), ty).backward()
        opt.step()
    return [(label, ours, theirs, "torch")]


if __name__ == "__main__":
    from benchmarks.run import script_main
    sys.exit(script_main("volumetric"))
