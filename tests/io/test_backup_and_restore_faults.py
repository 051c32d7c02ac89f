"""BackupAndRestore under SIGKILL at every phase of training, damaged backups, and what it deletes (issue 18,
items 7, 8 and the garbage-backup case of 10)."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinydl as td
from tinydl.callbacks import BackupAndRestore
from tinydl.layers import Dense, Input
from tinydl.models import Sequential

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# One process per plan: train 4 epochs (killed at the plan's point, or not at all; a rerun resumes), then
# save, load and train one more epoch; print the optimizer's variable count after the first fit and a
# digest of the final weights and optimizer variables.
SCRIPT = textwrap.dedent("""
    import hashlib, os, sys, numpy as np
    import tinydl as td
    from tinydl.callbacks import BackupAndRestore, LambdaCallback
    from tinydl.layers import Dense, Dropout, Input
    from tinydl.models import Sequential

    backup, plan = sys.argv[1], sys.argv[2]
    td.set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 4)).astype(np.float32)
    y = (x @ rng.standard_normal((4, 1))).astype(np.float32)
    model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dropout(0.2), Dense(1)])
    model.compile(td.optimizers.Adam(0.01), "mean_squared_error")

    epoch = [0]

    def die(when):
        if plan == when:
            os.kill(os.getpid(), 9)   # SIGKILL: no cleanup, no on_train_end
    def begin(e, logs):
        epoch[0] = e
        die(f"begin{e}")
    before = LambdaCallback(on_epoch_begin=begin, on_train_end=lambda logs: die("train_end"),
                            on_train_batch_end=lambda b, logs: die(f"batch{epoch[0]}") if b == 1 else None)
    after = LambdaCallback(on_epoch_end=lambda e, logs: die(f"end{e}"))  # runs after the backup is written
    model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[before, BackupAndRestore(backup), after])
    count = len(model.optimizer.variables())
    model.save(backup + ".keras")  # save, load and continue: the same as continuing in memory
    model = td.models.load_model(backup + ".keras")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    state = model.get_weights() + model.optimizer.variables()
    print(count, hashlib.sha256(b"".join(np.asarray(a).tobytes() for a in state)).hexdigest())
""")

# begin1: before epoch 1's first batch (one backup in place); batch2: mid-epoch 2; end3: right after the last
# epoch's backup (the resumed fit runs no epoch); train_end: before the callback cleans up.
PLANS = ["begin1", "batch2", "end3", "train_end"]


def run(tmp_path, backup, plan):
    return subprocess.run([sys.executable, "-c", SCRIPT, str(backup), plan], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": REPO, "OPENBLAS_NUM_THREADS": "1"})


def test_a_run_killed_at_any_phase_resumes_to_the_uninterrupted_weights_and_optimizer_state(tmp_path):
    reference = run(tmp_path, tmp_path / "ref", "never")
    assert reference.returncode == 0, reference.stderr[-2000:]
    os.remove(tmp_path / "ref.keras")
    count, digest = reference.stdout.split()
    assert count == "10"  # iteration, learning rate, and Adam's two slots for four weights
    for plan in PLANS:
        backup = tmp_path / plan
        killed = run(tmp_path, backup, plan)
        assert killed.returncode == -signal.SIGKILL, (plan, killed.stderr[-2000:])
        resumed = run(tmp_path, backup, "never")
        assert resumed.returncode == 0, (plan, resumed.stderr[-2000:])
        assert resumed.stdout.split() == [count, digest], plan
        assert not backup.exists(), plan
        os.remove(f"{backup}.keras")


def small_model():
    td.set_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(2)])
    model.compile("adam", "mean_squared_error")
    return model


def test_a_finished_run_deletes_only_the_backup_it_wrote(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    x, y = np.ones((8, 3), "float32"), np.ones((8, 2), "float32")
    small_model().fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert os.listdir(tmp_path) == ["notes.txt"]
    own = tmp_path / "own"
    small_model().fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(own)])
    assert not own.exists()  # a folder it leaves empty goes too


@pytest.mark.parametrize("content", [b"garbage, not a zip", b"PK\x03\x04 truncated"])
def test_a_damaged_backup_is_a_clear_error_naming_it(tmp_path, content):
    (tmp_path / "backup.npz").write_bytes(content)
    x, y = np.ones((8, 3), "float32"), np.ones((8, 2), "float32")
    with pytest.raises(ValueError, match=r"BackupAndRestore: cannot resume from .*backup\.npz: the backup is damaged"):
        small_model().fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(tmp_path)])


def test_a_backup_missing_its_record_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "backup.npz", w0=np.ones(3))
    x, y = np.ones((8, 3), "float32"), np.ones((8, 2), "float32")
    with pytest.raises(ValueError, match=r"backup\.npz: the backup is damaged or not tinydl's \(KeyError"):
        small_model().fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
