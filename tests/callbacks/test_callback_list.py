"""CallbackList and LambdaCallback: every hook is a written-out method that forwards its arguments."""
import inspect

import pytest

from tinydl import callbacks
from tinydl.callbacks.callback import HOOKS


class Recorder(callbacks.Callback):
    """Appends (name, hook, args) for every hook it receives."""

    def __init__(self, name, log):
        super().__init__()
        self.name, self.log = name, log


for _hook in HOOKS:  # a test double: one recording method per hook
    setattr(Recorder, _hook, lambda self, *args, _h=_hook: self.log.append((self.name, _h, args)))


def call(target, hook):
    """Call `hook` on `target` with Keras's arguments: (index, logs) or (logs,)."""
    args = (3, {"loss": 0.5}) if "epoch" in hook or "batch" in hook else ({"loss": 0.5},)
    getattr(target, hook)(*args)
    return args


@pytest.mark.parametrize("hook", HOOKS)
def test_callback_list_forwards_each_hook_to_every_callback_in_order(hook):
    log = []
    cbs = callbacks.CallbackList([Recorder("a", log), Recorder("b", log)])
    args = call(cbs, hook)
    assert log == [("a", hook, args), ("b", hook, args)]
    assert cbs.wants(hook)


@pytest.mark.parametrize("hook", HOOKS)
def test_hooks_are_written_in_their_class_bodies(hook):
    for cls in (callbacks.CallbackList, callbacks.LambdaCallback):
        assert f"def {hook}(" in inspect.getsource(cls), f"{cls.__name__}.{hook} is not written out"


def test_batch_hooks_nobody_overrides_are_not_wanted():
    cbs = callbacks.CallbackList([callbacks.History()])
    assert cbs.wants("on_epoch_end") and not cbs.wants("on_train_batch_end")
    cbs.on_train_batch_end(0, {"loss": 1.0})  # nobody listens: nothing happens


@pytest.mark.parametrize("hook", HOOKS)
def test_lambda_callback_calls_the_given_function_with_the_hook_arguments(hook):
    seen = []
    cb = callbacks.LambdaCallback(**{hook: lambda *args: seen.append(args)})
    args = call(cb, hook)
    assert seen == [args]
    other = next(h for h in HOOKS if h != hook)
    call(cb, other)  # a hook without a function does nothing
    assert seen == [args]


def test_lambda_callback_keras_batch_aliases_and_unknown_hooks():
    seen = []
    cb = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: seen.append(batch))
    cb.on_train_batch_end(7, {})
    assert seen == [7]
    with pytest.raises(ValueError, match="on_epoch_ended"):
        callbacks.LambdaCallback(on_epoch_ended=print)
