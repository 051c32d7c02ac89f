"""ModelCheckpoint, BackupAndRestore (with a SIGKILL crash test) and TensorBoard (read back with
tensorboard's own event reader)."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinydl as td
from tinydl.callbacks import BackupAndRestore, LambdaCallback, ModelCheckpoint, TensorBoard
from tinydl.layers import Dense, Input
from tinydl.models import Sequential, load_model


def small_model(lr=0.05):
    td.clear_session()
    td.set_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(8, activation="tanh"), Dense(1)])
    model.compile(td.optimizers.Adam(lr), "mean_squared_error", metrics=["mae"])
    return model


def data(n=48):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    return x, (x @ np.array([[1.0], [-1.0], [0.5]], np.float32))


# -- ModelCheckpoint --------------------------------------------------------------------------
def test_checkpoint_formats_names_with_one_based_epoch_and_log_values(tmp_path):
    model = small_model()
    x, y = data()
    pattern = str(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.weights.h5")
    history = model.fit(x, y, epochs=3, validation_split=0.25, verbose=0,
                        callbacks=[ModelCheckpoint(pattern, save_weights_only=True)])
    names = sorted(os.listdir(tmp_path))
    expected = [f"m-{e + 1:02d}-{v:.3f}.weights.h5" for e, v in enumerate(history.history["val_loss"])]
    assert names == expected
    clone = small_model()
    clone.load_weights(str(tmp_path / expected[-1]))
    for a, b in zip(clone.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_save_best_only_keeps_the_best_model(tmp_path):
    model = small_model()
    x, y = data()
    path = str(tmp_path / "best.h5")
    saved_at, best_weights = [], {}

    class Spy(ModelCheckpoint):
        def _save(self, epoch, batch, logs):
            before = os.path.getmtime(path) if os.path.exists(path) else None
            super()._save(epoch, batch, logs)
            if os.path.exists(path) and os.path.getmtime(path) != before or (before is None and os.path.exists(path)):
                saved_at.append(epoch)
                best_weights["w"] = model.get_weights()

    noisy = [0.5, 0.3, 0.4, 0.2, 0.25]
    feed = LambdaCallback(on_epoch_end=lambda e, logs: logs.__setitem__("val_loss", noisy[e]))
    model.fit(x, y, epochs=5, verbose=0, callbacks=[feed, Spy(path, save_best_only=True)])
    assert saved_at == [0, 1, 3]
    loaded = load_model(path)
    for a, b in zip(loaded.get_weights(), best_weights["w"]):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_initial_value_threshold_and_batch_frequency(tmp_path):
    model = small_model()
    x, y = data(48)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        ModelCheckpoint(str(tmp_path / "never.h5"), monitor="loss", save_best_only=True, initial_value_threshold=0.0)])
    assert not os.path.exists(tmp_path / "never.h5")
    pattern = str(tmp_path / "e{epoch}-b{batch}.weights.h5")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0,
              callbacks=[ModelCheckpoint(pattern, save_weights_only=True, save_freq=2)])
    assert sorted(os.listdir(tmp_path)) == sorted(f"e1-b{b}.weights.h5" for b in (2, 4, 6))


def test_checkpoint_rejects_mismatched_suffixes():
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        ModelCheckpoint("w.h5", save_weights_only=True)
    with pytest.raises(ValueError, match=r"\.keras.*\.h5"):
        ModelCheckpoint("model.txt")


def test_a_crash_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import tinydl.io.weights_h5 as hdf5
    model = small_model()
    x, y = data()
    path = tmp_path / "ckpt.weights.h5"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(path), save_weights_only=True)])
    good = path.read_bytes()
    real_write = hdf5.write_keras3_weights

    def crash_half_way(f, m):
        real_write(f, m)  # the temporary file is complete but never renamed
        raise OSError("disk full")
    monkeypatch.setattr(hdf5, "write_keras3_weights", crash_half_way)
    with pytest.raises(OSError, match="disk full"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(path), save_weights_only=True)])
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["ckpt.weights.h5"]


# -- BackupAndRestore -------------------------------------------------------------------------
TRAIN_SCRIPT = textwrap.dedent("""
    import os, sys, numpy as np
    import tinydl as td
    from tinydl.callbacks import BackupAndRestore, LambdaCallback
    from tinydl.layers import Dense, Dropout, Input
    from tinydl.models import Sequential

    backup, out, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    td.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x @ rng.standard_normal((4, 1))).astype(np.float32)
    model = Sequential([Input(shape=(4,)), Dense(16, activation="relu"), Dropout(0.2), Dense(1)])
    model.compile(td.optimizers.Adam(0.01), "mean_squared_error")
    def maybe_die(epoch, logs):
        if epoch + 1 == kill_after:
            os.kill(os.getpid(), 9)   # SIGKILL: no cleanup, no on_train_end
    model.fit(x, y, epochs=6, batch_size=16, verbose=0,
              callbacks=[BackupAndRestore(backup), LambdaCallback(on_epoch_end=maybe_die)])
    np.savez(out, *model.get_weights())
""")


def run_training(tmp_path, backup, out, kill_after):
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(script), str(backup), str(out), str(kill_after)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_sigkilled_training_resumes_to_the_same_weights(tmp_path):
    reference = run_training(tmp_path, tmp_path / "ref_backup", tmp_path / "ref.npz", kill_after=0)
    assert reference.returncode == 0, reference.stderr
    killed = run_training(tmp_path, tmp_path / "backup", tmp_path / "out.npz", kill_after=3)
    assert killed.returncode == -signal.SIGKILL
    assert os.path.exists(tmp_path / "backup" / "backup.npz") and not os.path.exists(tmp_path / "out.npz")
    resumed = run_training(tmp_path, tmp_path / "backup", tmp_path / "out.npz", kill_after=0)
    assert resumed.returncode == 0, resumed.stderr
    ref, out = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "out.npz")
    for key in ref.files:
        np.testing.assert_array_equal(ref[key], out[key])
    assert not os.path.exists(tmp_path / "backup")  # delete_checkpoint=True after a normal finish


def test_backup_resumes_at_the_next_epoch_in_process(tmp_path):
    model = small_model()
    x, y = data()
    backup = BackupAndRestore(str(tmp_path / "b"), delete_checkpoint=False)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[backup])
    epochs_seen = []
    history = small_model().fit(x, y, epochs=4, verbose=0, callbacks=[
        backup, LambdaCallback(on_epoch_begin=lambda e, logs: epochs_seen.append(e))])
    assert epochs_seen == [2, 3] and history.epoch == [2, 3]


# -- TensorBoard ------------------------------------------------------------------------------
def read_events(directory):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(directory), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_tensorboard_files_read_back_with_tensorboard_match_history(tmp_path):
    pytest.importorskip("tensorboard")
    model = small_model()
    x, y = data(48)
    history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0,
                        callbacks=[TensorBoard(str(tmp_path), histogram_freq=2, update_freq=2)])
    train, val = read_events(tmp_path / "train"), read_events(tmp_path / "validation")
    for key in ("loss", "mae"):
        np.testing.assert_allclose([e.value for e in train.Scalars(f"epoch_{key}")], history.history[key], rtol=1e-6)
        np.testing.assert_allclose([e.value for e in val.Scalars(f"epoch_{key}")], history.history[f"val_{key}"],
                                   rtol=1e-6)
        assert [e.step for e in train.Scalars(f"epoch_{key}")] == [0, 1, 2]
    np.testing.assert_allclose([e.value for e in train.Scalars("epoch_learning_rate")], [0.05] * 3, rtol=1e-6)
    # 36 training samples / batch 8 = 5 batches per epoch, 15 steps: batch scalars at steps 2, 4, ..., 14
    assert [e.step for e in train.Scalars("batch_loss")] == list(range(2, 16, 2))
    histograms = train.Tags()["histograms"]
    assert "dense/kernel" in histograms and "dense_1/bias" in histograms
    kernel_hist = train.Histograms("dense/kernel")
    assert [h.step for h in kernel_hist] == [0, 2]
    assert kernel_hist[-1].histogram_value.num == 3 * 8
    summary = train.Tensors("keras/model_summary")[0].tensor_proto.string_val[0].decode()
    assert "Total params: 41" in summary


def test_tensorboard_writes_no_validation_folder_without_validation_data(tmp_path):
    model = small_model()
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(str(tmp_path), write_graph=False)])
    assert os.listdir(tmp_path) == ["train"]
    name = os.listdir(tmp_path / "train")[0]
    assert name.startswith("events.out.tfevents.")


def test_checkpoint_mode_max_and_verbose(tmp_path, capsys):
    model = small_model()
    x, y = data()
    scores = [0.2, 0.5, 0.4]
    feed = LambdaCallback(on_epoch_end=lambda e, logs: logs.__setitem__("val_score", scores[e]))
    path = str(tmp_path / "best-{epoch}.weights.h5")
    model.fit(x, y, epochs=3, verbose=0, callbacks=[feed, ModelCheckpoint(
        path, monitor="val_score", mode="max", save_best_only=True, save_weights_only=True, verbose=1)])
    assert sorted(os.listdir(tmp_path)) == ["best-1.weights.h5", "best-2.weights.h5"]
    out = capsys.readouterr().out
    assert "Epoch 2: val_score improved from 0.20000 to 0.50000" in out
    assert "Epoch 3: val_score did not improve from 0.50000" in out


def test_backup_with_save_freq_false_writes_nothing(tmp_path):
    model = small_model()
    x, y = data()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(str(tmp_path / "b"), save_freq=False,
                                                                     delete_checkpoint=False)])
    assert not os.path.exists(tmp_path / "b")
