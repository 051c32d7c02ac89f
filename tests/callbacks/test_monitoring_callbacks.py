"""EarlyStopping, ReduceLROnPlateau, LearningRateScheduler, TerminateOnNaN, LambdaCallback and CSVLogger,
driven by scripted `logs` sequences (exact stop epochs, lr sequences, restored weights) and by real fits."""
import csv
import inspect

import numpy as np
import pytest

import tinydl as td
from tinydl.callbacks import (CSVLogger, EarlyStopping, LambdaCallback, LearningRateScheduler, ReduceLROnPlateau,
                              TerminateOnNaN)
from tinydl.layers import Dense, Input
from tinydl.models import Sequential


class ScriptedModel:
    """Just what the callbacks touch: weights (one number per epoch), stop_training, an optimizer."""

    def __init__(self, lr=1.0):
        self.stop_training = False
        self.weights = [np.array(0.0)]
        self.optimizer = type("Opt", (), {"learning_rate": lr})()
        self._compiled = None

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


def drive(callback, values, key="val_loss", model=None, lr_log=None):
    """Run epochs with logs {key: value}; the model's weight is set to the epoch number before each
    epoch ends. Returns (epochs run, model)."""
    model = model or ScriptedModel()
    callback.set_model(model)
    callback.on_train_begin()
    run = 0
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        model.weights = [np.array(float(epoch))]
        logs = {key: value}
        callback.on_epoch_end(epoch, logs)
        if lr_log is not None:
            lr_log.append(logs.get("learning_rate"))
        run += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return run, model


# -- EarlyStopping ----------------------------------------------------------------------------
@pytest.mark.parametrize("values, patience, expected_epochs, stopped", [
    ([5, 4, 3, 2, 1], 0, 5, 0),              # always improving: never stops
    ([5, 5, 5, 5], 0, 2, 1),                 # plateau, patience 0: stops at epoch 1 (never at epoch 0)
    ([5, 6, 7, 8, 9], 2, 3, 2),              # worsening: stops when wait reaches patience
    ([5, 6, 4, 7, 8, 9], 2, 5, 4),           # noisy: the improvement at epoch 2 restarts the count
])
def test_early_stopping_stop_epochs(values, patience, expected_epochs, stopped):
    es = EarlyStopping(patience=patience)
    run, model = drive(es, values)
    assert run == expected_epochs
    assert es.stopped_epoch == stopped
    assert model.stop_training == (stopped > 0)


def test_early_stopping_min_delta_counts_small_gains_as_none():
    es = EarlyStopping(min_delta=-0.5, patience=1)  # taken as its absolute value, as Keras
    run, _ = drive(es, [10, 9.8, 9.7, 9.6, 5])
    assert run == 2 and es.stopped_epoch == 1 and es.best == 10


def test_early_stopping_mode_max_and_auto_from_metric_direction():
    es = EarlyStopping(monitor="val_acc", mode="max", patience=1)
    run, _ = drive(es, [0.5, 0.6, 0.55, 0.58], key="val_acc")
    assert run == 3 and es.best == 0.6 and es.best_epoch == 1
    auto = EarlyStopping(monitor="val_accuracy", patience=1)
    with pytest.raises(ValueError, match="maximized or minimized"):
        drive(auto, [0.5], key="val_accuracy")  # no compiled metric to ask


def test_early_stopping_baseline_keeps_counting_until_beaten():
    values = [3, 2, 2.5, 2.6, 0.5]
    plain = EarlyStopping(patience=2)
    assert drive(plain, values)[0] == 4 and plain.stopped_epoch == 3
    # improvements that do not beat the baseline do not reset wait, so patience runs out sooner
    es = EarlyStopping(baseline=1.0, patience=2)
    assert drive(es, values)[0] == 3 and es.stopped_epoch == 2


def test_early_stopping_counts_from_zero_on_every_fit():
    """wait starts at 0 in on_train_begin: with a baseline never beaten, patience 3 stops at epoch 2, twice."""
    es = EarlyStopping(baseline=1.0, patience=3)
    for _ in range(2):  # the second fit starts from a clean count, not the first fit's
        run, _ = drive(es, [3, 2.5, 2.6, 2.7, 2.8])
        assert run == 3 and es.stopped_epoch == 2 and es.wait == 3


def test_early_stopping_state_before_and_without_monitored_epochs():
    """Keras's attributes: 0/None on a fresh instance, and still 0 when every epoch is before start_from_epoch."""
    es = EarlyStopping(start_from_epoch=5)
    assert (es.wait, es.stopped_epoch, es.best_epoch, es.best_weights) == (0, 0, 0, None)
    es.best_epoch = 7  # left over from an earlier fit
    run, _ = drive(es, [3.0, 2.0, 1.0])
    assert run == 3 and (es.wait, es.stopped_epoch, es.best_epoch) == (0, 0, 0)


def test_early_stopping_defaults_are_keras_patience_0_quiet_no_restore(capsys):
    """EarlyStopping(): monitor val_loss (minimised), patience 0, verbose 0, best weights not restored."""
    es = EarlyStopping()
    run, model = drive(es, [5.0, 6.0, 7.0])
    assert run == 2 and es.stopped_epoch == 1 and es.best == 5.0
    assert model.weights[0] == 1.0  # the last epoch's weights stay
    assert capsys.readouterr().out == ""


def test_early_stopping_beating_the_baseline_restarts_the_count():
    """An improvement that also beats the baseline resets wait (e1); one that does not, does not (e0)."""
    es = EarlyStopping(baseline=1.0, patience=2)
    run, _ = drive(es, [3, 0.8, 0.9, 0.85, 0.95])
    assert run == 4 and es.stopped_epoch == 3 and es.best == 0.8


def test_early_stopping_mode_max_starts_below_every_value():
    es = EarlyStopping(monitor="val_acc", mode="max", patience=1)
    run, _ = drive(es, [-5.0, -6.0, -7.0], key="val_acc")
    assert run == 2 and es.best == -5.0 and es.best_epoch == 0


def test_early_stopping_never_stops_at_epoch_0_even_without_improvement():
    """A NaN first value is no improvement (wait 1 >= patience 0) yet epoch 0 never stops, as Keras."""
    es = EarlyStopping(patience=0)
    run, _ = drive(es, [float("nan"), 1.0, 2.0])
    assert run == 3 and es.stopped_epoch == 2 and es.best == 1.0


def test_early_stopping_restores_the_first_monitored_epoch_when_nothing_improves():
    """restore_best_weights keeps epoch 0's weights before any improvement (NaN never improves)."""
    es = EarlyStopping(patience=5, restore_best_weights=True)
    run, model = drive(es, [float("nan"), float("nan")])
    assert run == 2 and es.best_epoch == 0 and model.weights[0] == 0.0


def test_early_stopping_restores_nothing_when_no_epoch_was_monitored():
    es = EarlyStopping(patience=0, restore_best_weights=True, start_from_epoch=5)
    run, model = drive(es, [3.0, 2.0, 1.0])
    assert run == 3 and es.best_weights is None and model.weights[0] == 2.0  # the last epoch's weights stay


class Compiled:
    """What mode='auto' asks of a compiled model: its metrics by label, each with a direction."""

    def __init__(self, **directions):
        self.directions = directions

    def named_metrics(self):
        return [(label, type("Metric", (), {"direction": d})()) for label, d in self.directions.items()]


@pytest.mark.parametrize("monitor, minimize", [
    ("val_accuracy", False), ("val_mae", True), ("recall", False), ("val_loss", True), ("out_loss", True)])
def test_mode_auto_asks_the_compiled_metric_of_that_name_for_its_direction(monitor, minimize):
    model = ScriptedModel()
    model._compiled = Compiled(accuracy="up", mae="down", recall="up")
    es = EarlyStopping(monitor=monitor, patience=1)
    drive(es, [2.0, 1.0, 3.0], key=monitor, model=model)
    assert es.minimize is minimize
    assert es.best == (1.0 if minimize else 2.0)  # maximising stops at epoch 1, before 3.0


def test_unknown_mode_warns_at_the_callers_line_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="mode 'bogus' is unknown") as record:
        es = EarlyStopping(mode="bogus")
    assert es.mode == "auto" and record[0].filename == __file__


def test_missing_monitor_warning_points_at_the_caller_of_the_hook():
    with pytest.warns(UserWarning, match="not available") as record:
        drive(EarlyStopping(monitor="val_loss"), [1.0], key="loss")
    lines, start = inspect.getsourcelines(drive)
    hook_line = start + next(i for i, line in enumerate(lines) if "callback.on_epoch_end(" in line)
    assert (record[0].filename, record[0].lineno) == (__file__, hook_line)  # drive()'s call of the hook


def test_early_stopping_mode_max_plateau_is_no_improvement():
    es = EarlyStopping(monitor="val_acc", mode="max", patience=0)
    run, _ = drive(es, [0.5, 0.5, 0.5], key="val_acc")
    assert run == 2 and es.stopped_epoch == 1 and es.best_epoch == 0


def test_reduce_lr_mode_max_starts_below_negative_values():
    cb = ReduceLROnPlateau(monitor="val_acc", mode="max", patience=5)
    drive(cb, [-5.0, -6.0], key="val_acc")
    assert cb.best == -5.0


def test_early_stopping_start_from_epoch_ignores_warm_up():
    es = EarlyStopping(patience=0, start_from_epoch=2)
    run, _ = drive(es, [1, 5, 5, 6, 7])
    assert es.best == 5 and run == 4 and es.stopped_epoch == 3


def test_early_stopping_restores_best_weights_when_stopping_and_at_normal_end():
    es = EarlyStopping(patience=1, restore_best_weights=True)
    run, model = drive(es, [3, 1, 2, 4])
    assert run == 3 and es.best_epoch == 1 and model.weights[0] == 1.0
    es2 = EarlyStopping(patience=10, restore_best_weights=True)
    run, model = drive(es2, [3, 1, 2, 4])  # patience never runs out: still restored, as Keras
    assert run == 4 and model.weights[0] == 1.0


def test_early_stopping_warns_on_missing_key_and_is_reusable():
    es = EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match="val_loss.*not available.*loss"):
        drive(es, [1, 2], key="loss")
    run, _ = drive(es, [5, 6, 7])
    assert run == 2 and es.stopped_epoch == 1


def test_early_stopping_in_a_real_fit_restores_best_weights():
    td.set_seed(0)
    model = Sequential([Input(shape=(2,)), Dense(1)])
    model.compile(td.optimizers.SGD(0.1), "mean_squared_error")
    x = np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    snapshots = []
    watcher = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    # the loss falls for 4 epochs, then a learning rate of 3 makes gradient descent diverge
    diverge = LearningRateScheduler(lambda epoch, lr: 0.1 if epoch < 4 else 3.0)
    es = EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0, callbacks=[diverge, watcher, es])
    losses = history.history["loss"]
    best = int(np.argmin(losses))
    assert es.best_epoch == best and len(losses) == best + 3
    for a, b in zip(model.get_weights(), snapshots[best]):
        np.testing.assert_array_equal(a, b)


# -- ReduceLROnPlateau / LearningRateScheduler ------------------------------------------------
def test_reduce_lr_on_plateau_sequence_with_cooldown_and_min_lr():
    cb = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.2)
    lrs = []
    drive(cb, [1, 1, 1, 1, 1, 1, 1, 1], lr_log=lrs)
    # logged lr is the rate the epoch ran with. As Keras: the cooldown counter is decremented before
    # the check, so cooldown=2 pauses counting for one epoch; the floor 0.2 is never undercut
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
    assert cb.model.optimizer.learning_rate == 0.2


def test_reduce_lr_min_delta_and_mode_max():
    cb = ReduceLROnPlateau(monitor="val_acc", mode="max", factor=0.1, patience=2, min_delta=0.1)
    lrs = []
    drive(cb, [0.5, 0.55, 0.58, 0.9, 0.95, 0.96], key="val_acc", lr_log=lrs)
    np.testing.assert_allclose(lrs, [1.0, 1.0, 1.0, 0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_sets_and_logs_the_rate():
    model = Sequential([Input(shape=(1,)), Dense(1)])
    model.compile(td.optimizers.SGD(0.1), "mean_squared_error")
    sched = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr)
    history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=4, verbose=0, callbacks=[sched])
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.025, 0.0125])
    one_arg = LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))
    history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=2, verbose=0, callbacks=[one_arg])
    np.testing.assert_allclose(history.history["learning_rate"], [0.01, 0.02])
    with pytest.raises(ValueError, match="float learning rate"):
        model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=1, verbose=0,
                  callbacks=[LearningRateScheduler(lambda e, lr: "fast")])


# -- TerminateOnNaN, LambdaCallback, CSVLogger -------------------------------------------------
def test_terminate_on_nan_stops_on_the_first_bad_batch():
    model = Sequential([Input(shape=(1,)), Dense(1)])
    model.compile(td.optimizers.SGD(0.1), "mean_squared_error")
    x = np.ones((8, 1), np.float32)
    y = np.ones((8, 1), np.float32)
    y[5] = np.nan
    seen = []
    history = model.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0,
                        callbacks=[TerminateOnNaN(), LambdaCallback(on_train_batch_end=lambda b, l: seen.append(b))])
    assert seen == [0, 1, 2] and len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])


def test_lambda_callback_calls_each_given_hook_in_order():
    events = []
    cb = LambdaCallback(on_train_begin=lambda logs: events.append("train_begin"),
                        on_epoch_begin=lambda e, logs: events.append(f"epoch_begin {e}"),
                        on_batch_end=lambda b, logs: events.append(f"batch_end {b}"),
                        on_train_end=lambda logs: events.append("train_end"))
    model = Sequential([Input(shape=(1,)), Dense(1)])
    model.compile("sgd", "mean_squared_error")
    model.fit(np.ones((4, 1)), np.ones((4, 1)), batch_size=2, epochs=2, verbose=0, callbacks=[cb])
    assert events == ["train_begin", "epoch_begin 0", "batch_end 0", "batch_end 1", "epoch_begin 1",
                      "batch_end 0", "batch_end 1", "train_end"]
    with pytest.raises(ValueError, match="unknown hook"):
        LambdaCallback(on_lunch=print)


def test_csv_logger_header_once_rows_flushed_and_appends_on_resume(tmp_path):
    path = tmp_path / "log.csv"
    model = Sequential([Input(shape=(1,)), Dense(1)])
    model.compile("sgd", "mean_squared_error", metrics=["mae"])
    x, y = np.ones((4, 1), np.float32), np.zeros((4, 1), np.float32)
    rows_at_epoch_end = []
    reader = LambdaCallback(on_epoch_end=lambda e, logs: rows_at_epoch_end.append(len(path.read_text().splitlines())))
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(path), reader])
    assert rows_at_epoch_end == [2, 3]  # flushed each epoch (header + rows)
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0, callbacks=[CSVLogger(path, append=True)])
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert list(rows[0]) == ["epoch", "loss", "mae"]
    assert float(rows[1]["loss"]) == pytest.approx(history.history["loss"][1])
    semi = tmp_path / "semi.csv"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(semi, separator=";")])
    assert semi.read_text().splitlines()[0] == "epoch;loss;mae"


def test_verbose_messages_as_keras(capsys):
    drive(EarlyStopping(patience=0, verbose=1, restore_best_weights=True), [1, 2, 3])
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out and "Restoring model weights from the end of the best epoch: 1." in out
    drive(ReduceLROnPlateau(patience=1, factor=0.5, verbose=1), [1, 1])
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.5." in capsys.readouterr().out
    drive(LearningRateScheduler(lambda epoch: 0.3, verbose=1), [1])
    assert "Epoch 1: LearningRateScheduler setting learning rate to 0.3." in capsys.readouterr().out
    drive(EarlyStopping(patience=0, verbose=0), [1, 2])
    assert capsys.readouterr().out == ""
    drive(EarlyStopping(patience=2, verbose=1, restore_best_weights=True), [9, 8, 7, 6, 10, 11])
    out = capsys.readouterr().out  # odd 0-based epochs 3 and 5, where + 1 differs from | 1, ^ 1 and << 1
    assert "Epoch 6: early stopping" in out and "the end of the best epoch: 4." in out
    drive(EarlyStopping(patience=5, verbose=1), [3, 2, 1])
    assert "early stopping" not in capsys.readouterr().out  # never stopped: no message
    drive(EarlyStopping(patience=1, verbose=0, restore_best_weights=True), [1, 2, 3])
    assert capsys.readouterr().out == ""  # restoring quietly
