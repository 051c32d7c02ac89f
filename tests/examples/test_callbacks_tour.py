"""The callbacks tour runs and leaves every log it promises."""
import os

from tinydl.examples import callbacks_tour


def test_callbacks_tour_writes_every_log(tmp_path):
    result = callbacks_tour.main(epochs=3, verbose=0, log_dir=str(tmp_path))
    names = set(os.listdir(tmp_path))
    assert {"best.keras", "training.csv", "tensorboard", "weights-01.weights.h5", "weights-03.weights.h5"} <= names
    assert "backup" not in names  # deleted after a normal finish
    assert len(open(tmp_path / "training.csv").read().splitlines()) == 1 + len(result["history"]["loss"])
    assert result["history"]["loss"][-1] < result["history"]["loss"][0]
