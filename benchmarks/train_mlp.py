"""One training epoch of the digits MLP (the demo's model), tinydl against PyTorch eager.

Same model (64 -> 128 relu -> dropout 0.1 -> 64 relu -> 10 softmax), Adam, batch 32, 1,438
training images, cross-entropy from probabilities. The issue's aim: tinydl no slower than PyTorch.

    python -m benchmarks train_mlp
"""
import pathlib
import sys

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


import tinydl as td  # noqa: E402
from benchmarks.run import torch_or_none  # noqa: E402
from tinydl.datasets import digits  # noqa: E402
from tinydl.examples import mlp  # noqa: E402

BATCH = 32


def workloads():
    (x, y), _ = digits.load_data()
    td.set_seed(0)
    model = mlp.build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    def tinydl_epoch():
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)

    label = f"digits MLP epoch ({len(x)} samples, batch {BATCH})"
    torch = torch_or_none()
    if torch is None:
        return [(label, tinydl_epoch, None, "torch")]
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                              torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10),
                              torch.nn.Softmax(dim=-1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def torch_epoch():
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            probs = net(xt[idx]).clamp(1e-7, 1 - 1e-7)
            loss = torch.nn.functional.nll_loss(torch.log(probs), yt[idx])
            loss.backward()
            opt.step()
    return [(label, tinydl_epoch, torch_epoch, "torch")]


if __name__ == "__main__":
    from benchmarks.run import script_main
    sys.exit(script_main("train_mlp"))
