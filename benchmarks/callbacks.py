"""Callback overhead: a digits-MLP epoch with no callbacks against the same epoch with callbacks that
have nothing to do (EarlyStopping/ReduceLROnPlateau with huge patience, TerminateOnNaN, CSVLogger to
/dev/null, a LambdaCallback with an empty epoch hook). The reference is the bare epoch, so the ratio
is the callbacks' cost: the aim is ~1.00.

    python -m benchmarks callbacks
"""
import os
import pathlib
import sys

if __package__ in (None, ""):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import tinydl as td  # noqa: E402
from tinydl import callbacks  # noqa: E402
from tinydl.datasets import digits  # noqa: E402
from tinydl.examples import mlp  # noqa: E402


def workloads():
    (x, y), _ = digits.load_data()
    td.set_seed(0)
    model = mlp.build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    idle = [callbacks.EarlyStopping(monitor="loss", patience=10**9), callbacks.TerminateOnNaN(),
            callbacks.ReduceLROnPlateau(monitor="loss", patience=10**9), callbacks.CSVLogger(os.devnull),
            callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: None)]

    def with_callbacks():
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=idle)

    def bare():
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return [("digits MLP epoch with 5 idle callbacks", with_callbacks, bare, "no callbacks")]


if __name__ == "__main__":
    from benchmarks.run import script_main
    sys.exit(script_main("callbacks"))
