"""Every callback takes Keras 3.15's constructor arguments with Keras's defaults (a wrong default is a silent bug:
`patience=1` instead of 0 stops training at another epoch). Needs keras; CI installs it."""
import inspect
import os

import pytest

import tinydl.callbacks as callbacks

# LambdaCallback takes Keras's hook names through **kwargs (each one is tested in test_monitoring_callbacks).
NOT_COMPARED = {"LambdaCallback"}
# tinydl's own helpers, which keras.callbacks does not have.
TINYDL_ONLY = {"MonitorCallback", "Progbar"}
KNOWN_MISSING = {
    "BackupAndRestore": "Keras 3.15's double_checkpoint is not implemented (issue 18, BackupAndRestore state)",
    "TerminateOnNaN": "Keras 3.15's raise_error is not implemented",
}


def keras_callbacks():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # as the other Keras comparisons (tensorflow is not installed)
    keras = pytest.importorskip("keras")
    return keras.callbacks


def constructor_defaults(cls):
    """{argument: default} of cls.__init__, without self, *args and **kwargs."""
    parameters = inspect.signature(cls.__init__).parameters
    return {name: p.default for name, p in parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


SHARED = sorted(name for name in dir(callbacks) if isinstance(getattr(callbacks, name), type)
                and name not in NOT_COMPARED | TINYDL_ONLY)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSING[n]))
                                  if n in KNOWN_MISSING else n for n in SHARED])
def test_callback_arguments_and_defaults_are_keras_3s(name):
    keras_class = getattr(keras_callbacks(), name)
    ours, theirs = constructor_defaults(getattr(callbacks, name)), constructor_defaults(keras_class)
    assert list(ours) == list(theirs), f"{name}: arguments {list(ours)} != Keras's {list(theirs)}"
    assert ours == theirs


def test_tinydl_only_callbacks_are_not_in_keras():
    assert not [name for name in TINYDL_ONLY if hasattr(keras_callbacks(), name)]
