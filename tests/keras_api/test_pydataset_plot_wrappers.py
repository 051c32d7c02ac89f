"""PyDataset workers prefetch for fit, plot_model draws a real picture, the scikit-learn wrappers pass
scikit-learn's estimator checks."""
import os
import threading
import time

import numpy as np
import pytest

import tinydl
from tinydl import utils as U


class Slow(U.PyDataset):
    """Batches that take a while to make, recording when and on which thread each was made."""

    def __init__(self, n=6, delay=0.05, **kwargs):
        super().__init__(**kwargs)
        self.n, self.delay, self.made, self.lock = n, delay, [], threading.Lock()

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        time.sleep(self.delay)
        with self.lock:
            self.made.append((index, threading.current_thread() is threading.main_thread()))
        x = np.full((4, 3), index, dtype="float32")
        return x, x.sum(axis=1, keepdims=True)


def test_workers_make_the_next_batches_ahead_of_the_request():
    ds = Slow(workers=3, max_queue_size=4)
    first = ds[0]
    time.sleep(0.3)  # the workers run while the caller does other work
    made = sorted(i for i, _ in ds.made)
    assert made == [0, 1, 2, 3, 4]  # batch 0 plus max_queue_size ahead
    assert not any(on_main for _, on_main in ds.made)
    np.testing.assert_array_equal(first[0], np.zeros((4, 3)))
    assert [float(b[0][0, 0]) for b in ds] == [0, 1, 2, 3, 4, 5]


class Pids(U.PyDataset):
    """Batch i is [i, pid of the process that made it]."""

    def __len__(self):
        return 5

    def __getitem__(self, index):
        return np.array([index, os.getpid()])


def test_worker_processes_make_the_same_batches():
    batches = list(Pids(workers=2, use_multiprocessing=True, max_queue_size=2))
    assert [int(b[0]) for b in batches] == [0, 1, 2, 3, 4]
    assert os.getpid() not in {int(b[1]) for b in batches}  # made in the worker processes


def test_one_worker_makes_batches_on_demand_in_the_caller():
    ds = Slow(workers=1)
    ds[2]
    assert ds.made == [(2, True)]


def test_fit_overlaps_batch_making_with_training():
    ds = Slow(n=8, delay=0.05, workers=4, max_queue_size=8)
    model = tinydl.Sequential([tinydl.Input((3,)), tinydl.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    start = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    elapsed = time.perf_counter() - start
    assert sorted(i for i, _ in ds.made) == list(range(8))
    assert elapsed < 8 * 0.05  # serial making alone would take 0.4 s


def test_pydataset_arguments_are_checked():
    with pytest.raises(ValueError, match="workers"):
        Slow(workers=0)
    with pytest.raises(ValueError, match="max_queue_size"):
        Slow(max_queue_size=-1)
    assert Slow(workers=2).workers == 2 and U.Sequence is U.PyDataset  # as keras.utils.Sequence


def test_plot_model_writes_a_picture_with_shapes_and_nested_models(tmp_path):
    pytest.importorskip("pydot")
    import shutil
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    a, b = tinydl.Input((3,), name="in_a"), tinydl.Input((2,), name="in_b")
    inner = tinydl.Sequential([tinydl.Input((6,)), tinydl.layers.Dense(5, name="inner_dense")], name="head")
    # every layer the edges name is named here: default names count on from layers other tests made
    joined = tinydl.layers.Concatenate(name="joined")([tinydl.layers.Dense(4, name="dense_a")(a), b])
    model = tinydl.Model([a, b], tinydl.layers.Dense(1, name="out")(inner(joined)))
    U.plot_model(model, tmp_path / "m.png", show_shapes=True, expand_nested=True, dpi=50)
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    U.plot_model(model, tmp_path / "m.svg", show_shapes=True, show_layer_names=True, expand_nested=True)
    svg = (tmp_path / "m.svg").read_text()
    for text in ("in_a (InputLayer)", "inner_dense (Dense)", "cluster_head", "output: (None, 1)",
                 "input: [(None, 4), (None, 2)]", "output: (None, 5)"):
        assert text.replace("<", "&lt;").replace(">", "&gt;") in svg, text
    dot = U.model_to_dot(model)
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"')) for e in dot.get_edges()}
    assert ("in_a", "dense_a") in edges and ("dense_a", "joined") in edges and ("in_b", "joined") in edges
    assert ("joined", "head") in edges and ("head", "out") in edges
    with pytest.raises(ValueError, match="rankdir"):
        U.model_to_dot(model, rankdir="XY")


def _classifier_model(X, y, hidden=8):
    tinydl.utils.set_random_seed(0)  # the same weights and batch order on every fit: sklearn checks refits
    model = tinydl.Sequential([tinydl.Input((X.shape[1],)), tinydl.layers.Dense(hidden, activation="relu"),
                               tinydl.layers.Dense(y.shape[1], activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def _regressor_model(X, y):
    tinydl.utils.set_random_seed(0)
    model = tinydl.Sequential([tinydl.Input((X.shape[1],)), tinydl.layers.Dense(y.shape[1])])
    model.compile(optimizer="adam", loss="mse")
    return model


# Checks that do not apply, as in Keras's own wrapper tests: decision_function returns the model's raw
# outputs (probabilities or logits, one column per class), not sklearn's binary (n,) scores.
NOT_APPLICABLE = {"check_classifiers_train": "decision_function returns the model's raw outputs",
                  "check_classifiers_classes": "decision_function returns the model's raw outputs"}


def test_sklearn_estimator_checks_pass():
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator
    from tinydl.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer
    fit = {"epochs": 1, "verbose": 0}
    for est in (SKLearnClassifier(_classifier_model, fit_kwargs=fit),
                SKLearnRegressor(_regressor_model, fit_kwargs=fit),
                SKLearnTransformer(_regressor_model, fit_kwargs=fit)):
        expected = NOT_APPLICABLE if isinstance(est, SKLearnClassifier) else {}
        results = check_estimator(est, on_fail=None, expected_failed_checks=expected)
        failures = [check for check in results if check["status"] == "failed"]
        assert sum(check["status"] == "passed" for check in results) > 30
        assert failures == [], [(f["check_name"], str(f["exception"])[:200]) for f in failures]


def test_sklearn_classifier_learns_iris_and_returns_labels():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    from tinydl.wrappers import SKLearnClassifier
    tinydl.utils.set_random_seed(0)
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = SKLearnClassifier(_classifier_model, model_kwargs={"hidden": 16},
                            fit_kwargs={"epochs": 60, "verbose": 0, "batch_size": 16}).fit(X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert set(clf.predict(X)) <= set(names) and clf.score(X, names) > 0.8
    assert clf.epoch_ == 60
    with pytest.raises(RuntimeError, match="compiled"):
        SKLearnClassifier(tinydl.Sequential([tinydl.Input((4,)), tinydl.layers.Dense(3)])).fit(X, y)


def test_wrappers_without_scikit_learn_say_what_to_install():
    import subprocess
    import sys
    code = ("import sys; sys.modules['sklearn'] = None\nimport tinydl.wrappers as w\n"
            "try:\n    w.SKLearnRegressor(lambda X, y: None)\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert "pip install scikit-learn" in out.stdout, out.stderr[-2000:]
