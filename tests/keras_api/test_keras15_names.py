"""Keras 3.15 names closed by issue 15: fit's epoch/step caps, the new activations and losses, each against
Keras 3.15 (torch backend) on the same inputs."""
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinydl  # noqa: E402
from tests.ops.cases_keras_ops import sparsemax_reference  # noqa: E402

keras = pytest.importorskip("keras")
T = keras.ops.convert_to_tensor
rng = np.random.default_rng(15)


# -- config.max_epochs / max_steps_per_epoch --------------------------------------------------------
@pytest.fixture
def caps():
    yield
    tinydl.config.set_max_epochs(None)
    tinydl.config.set_max_steps_per_epoch(None)
    keras.config.set_max_epochs(None)
    keras.config.set_max_steps_per_epoch(None)


class _Count(tinydl.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.train, self.test, self.predict = 0, 0, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1

    def on_train_batch_end(self, batch, logs=None):
        self.train += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test += 1

    def on_predict_batch_end(self, batch, logs=None):
        self.predict += 1


class _KCount(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.train, self.test, self.predict = 0, 0, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1

    def on_train_batch_end(self, batch, logs=None):
        self.train += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test += 1

    def on_predict_batch_end(self, batch, logs=None):
        self.predict += 1


def _counts(lib, counter, x, y, **fit):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
    model.compile("sgd", "mse")
    c = counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=4, verbose=0, callbacks=[c], validation_data=(x, y), **fit)
        model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[c])
        model.predict(x, batch_size=4, verbose=0, callbacks=[c])
    limits = sorted({str(w.message) for w in caught if "Limiting" in str(w.message)})
    return (c.epochs, c.train, c.test, c.predict, len(history.history["loss"])), limits


@pytest.mark.parametrize("max_epochs,max_steps,fit", [
    (None, None, {"epochs": 3}), (2, None, {"epochs": 3}), (5, None, {"epochs": 3}),
    (None, 3, {"epochs": 1}), (2, 5, {"epochs": 4}), (None, 2, {"epochs": 2, "steps_per_epoch": 1}),
    (None, 1, {"epochs": 1, "steps_per_epoch": 3})])
def test_fit_caps_match_keras(caps, max_epochs, max_steps, fit):
    # epochs, batches seen by fit/validation/evaluate/predict and Keras's "Limiting ..." warnings. Multi-epoch
    # runs keep the step cap at or above the 5 batches of the arrays: with fewer steps than batches Keras
    # continues one array iterator across epochs (5 batches over 2 epochs of 3), tinydl restarts each epoch
    # (6) -- the same for a plain steps_per_epoch, not a difference of the caps
    x, y = rng.normal(size=(20, 3)).astype("float32"), rng.normal(size=(20, 1)).astype("float32")
    tinydl.config.set_max_epochs(max_epochs)
    tinydl.config.set_max_steps_per_epoch(max_steps)
    keras.config.set_max_epochs(max_epochs)
    keras.config.set_max_steps_per_epoch(max_steps)
    assert tinydl.config.max_epochs() == keras.config.max_epochs() == max_epochs
    assert tinydl.config.max_steps_per_epoch() == keras.config.max_steps_per_epoch() == max_steps
    assert _counts(tinydl, _Count, x, y, **fit) == _counts(keras, _KCount, x, y, **fit)


def test_caps_read_the_environment_and_refuse_bad_values(caps):
    import subprocess
    import sys
    code = "import tinydl; print(tinydl.config.max_epochs(), tinydl.config.max_steps_per_epoch())"
    env = {**os.environ, "KERAS_MAX_EPOCHS": "2", "KERAS_MAX_STEPS_PER_EPOCH": "7"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "7"]
    with pytest.raises(ValueError, match="max_epochs"):
        tinydl.config.set_max_epochs(1.5)
    with pytest.raises(ValueError, match="max_steps_per_epoch"):
        tinydl.config.set_max_steps_per_epoch(-1)


# -- activations -------------------------------------------------------------------------------------
def test_sparse_sigmoid_and_threshold_match_keras():
    x = (rng.normal(size=(4, 6)) * 2).astype("float32")
    np.testing.assert_allclose(tinydl.activations.sparse_sigmoid(x).numpy(),
                               np.asarray(keras.activations.sparse_sigmoid(T(x))), rtol=1e-6)
    for threshold, default in [(0.5, -1.0), (-0.3, 0.0), (1.0, 2.5)]:
        np.testing.assert_allclose(tinydl.activations.threshold(x, threshold, default).numpy(),
                                   np.asarray(keras.activations.threshold(T(x), threshold, default)), rtol=1e-6)
    for name in ("sparse_sigmoid", "sparsemax"):
        assert tinydl.activations.get(name) is getattr(tinydl.activations, name)
        assert tinydl.activations.serialize(tinydl.activations.get(name)) == name


@pytest.mark.parametrize("axis", [-1, 0])
def test_sparsemax_is_the_simplex_projection(axis):
    # Keras 3.15's torch sparsemax sums the cumulative sums over the support (not the cumulative sum at k),
    # so it returns zeros for [[0.1, 2, 1.5, -1]] instead of [0, .75, .25, 0]: the reference here is
    # Martins & Astudillo's algorithm in NumPy
    x = (rng.normal(size=(4, 6)) * 2).astype("float32")
    got = tinydl.activations.sparsemax(x, axis=axis).numpy()
    np.testing.assert_allclose(got, sparsemax_reference(x, axis=axis), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-5)
    np.testing.assert_allclose(tinydl.activations.sparsemax(np.array([[0.1, 2.0, 1.5, -1.0]])).numpy(),
                               [[0.0, 0.75, 0.25, 0.0]])


# -- losses ----------------------------------------------------------------------------------------
def _both(name, kwargs, *args):
    ours = getattr(tinydl.losses, name)(**kwargs)(*args)
    theirs = getattr(keras.losses, name)(**kwargs)(*args)
    np.testing.assert_allclose(ours.numpy(), np.asarray(theirs), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"q": 0.2}, {"q": 0.9, "reduction": "sum"}, {"reduction": "none"}])
def test_categorical_generalized_cross_entropy_matches_keras(kwargs):
    y_true = rng.integers(0, 4, size=7)
    y_pred = rng.random((7, 4)).astype("float32")
    y_pred /= y_pred.sum(axis=1, keepdims=True)
    _both("CategoricalGeneralizedCrossEntropy", kwargs, y_true, y_pred)
    q = kwargs.get("q", 0.5)
    np.testing.assert_allclose(tinydl.losses.categorical_generalized_cross_entropy(y_true, y_pred, q).numpy(),
                               np.asarray(keras.losses.categorical_generalized_cross_entropy(
                                   T(y_true), T(y_pred), q)), rtol=1e-6)
    with pytest.raises(ValueError, match="q must be"):
        tinydl.losses.CategoricalGeneralizedCrossEntropy(q=1.0)


@pytest.mark.parametrize("kwargs", [{}, {"gamma": 10.0, "margin": 0.2}, {"remove_diagonal": False},
                                    {"gamma": 4.0, "reduction": "none"}, {"gamma": 3.0, "reduction": "sum"}])
def test_circle_matches_keras(kwargs):
    emb = rng.normal(size=(8, 5)).astype("float32")
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = np.array([0, 1, 0, 1, 2, 2, 3, 1])  # label 3 has no positive pair: its loss is masked out
    _both("Circle", kwargs, labels, emb)
    ref = rng.normal(size=(5, 5)).astype("float32")
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    ref_labels = np.array([0, 1, 2, 2, 1])
    np.testing.assert_allclose(
        tinydl.losses.circle(labels, emb, ref_labels, ref, remove_diagonal=False, gamma=6.0).numpy(),
        np.asarray(keras.losses.circle(T(labels), T(emb), T(ref_labels), T(ref), remove_diagonal=False,
                                       gamma=6.0)), rtol=2e-5)


def test_ctc_matches_keras_with_gradient():
    y_true = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [4, 0, 0, 0]])
    y_pred = rng.normal(size=(3, 9, 5)).astype("float32")
    _both("CTC", {}, y_true, y_pred)
    _both("CTC", {"reduction": "none"}, y_true, y_pred)
    np.testing.assert_allclose(tinydl.losses.ctc(y_true, y_pred).numpy(),
                               np.asarray(keras.losses.ctc(T(y_true), T(y_pred))), rtol=2e-5)
    import torch
    tp = torch.tensor(y_pred, requires_grad=True)
    keras.losses.CTC()(T(y_true), tp).backward()
    ours = tinydl.Tensor(y_pred, requires_grad=True)
    tinydl.losses.CTC()(y_true, ours).backward()
    np.testing.assert_allclose(ours.grad.numpy() if hasattr(ours.grad, "numpy") else ours.grad,
                               tp.grad.numpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="y_true"):
        tinydl.losses.ctc(y_true[0], y_pred)


@pytest.mark.parametrize("loss", [tinydl.losses.Circle(gamma=5.0, margin=0.3, remove_diagonal=False),
                                  tinydl.losses.CategoricalGeneralizedCrossEntropy(q=0.3),
                                  tinydl.losses.CTC(reduction="sum")])
def test_new_losses_round_trip_their_config(loss):
    again = tinydl.losses.deserialize(tinydl.losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert type(tinydl.losses.get(type(loss).__name__)) is type(loss)
    if loss.name in ("ctc", "circle"):  # the names Keras's losses.get knows
        keras.losses.get(loss.name)
        assert type(tinydl.losses.get(loss.name)) is type(loss)


# -- callbacks.SwapEMAWeights -----------------------------------------------------------------------
def _ema_run(lib, swap, **fit):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(1)])
    weights = [np.random.default_rng(i).normal(size=w.shape).astype("float32") * 0.5
               for i, w in enumerate(model.get_weights())]
    model.set_weights(weights)
    model.compile(lib.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.8), "mse")
    data = np.random.default_rng(7)
    x, y = data.normal(size=(16, 3)).astype("float32"), data.normal(size=(16, 1)).astype("float32")
    callbacks = [lib.callbacks.SwapEMAWeights(**swap)] if swap is not None else []
    history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, validation_data=(x, y),
                        callbacks=callbacks, **fit)
    after_fit = [np.array(w) for w in model.get_weights()]
    loss = model.evaluate(x, y, batch_size=4, verbose=0, callbacks=callbacks)
    return history.history, after_fit, loss


@pytest.mark.parametrize("swap", [None, {}, {"swap_on_epoch": True}])
def test_swap_ema_weights_matches_keras(swap):
    ours, theirs = _ema_run(tinydl, swap), _ema_run(keras, swap)
    assert ours[0].keys() == theirs[0].keys()
    for key in ours[0]:
        np.testing.assert_allclose(ours[0][key], theirs[0][key], rtol=2e-4, err_msg=key)
    for a, b in zip(ours[1], theirs[1]):  # fit ends with the EMA weights in the model (finalize_variable_values)
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=2e-4)


def test_swap_ema_weights_restores_the_raw_weights_after_predict_and_needs_use_ema():
    model = tinydl.Sequential([tinydl.Input((3,)), tinydl.layers.Dense(1)])
    model.compile(tinydl.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), "mse")
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    raw = model.get_weights()
    ema = [np.array(a) for a in model.optimizer._state["average"]]
    swap = tinydl.callbacks.SwapEMAWeights()
    seen = []
    spy = tinydl.callbacks.LambdaCallback(on_predict_batch_begin=lambda b, logs: seen.append(model.get_weights()))
    model.predict(x, verbose=0, callbacks=[swap, spy])
    for a, b in zip(seen[0], ema):
        np.testing.assert_allclose(a, b)
    for a, b in zip(model.get_weights(), raw):
        np.testing.assert_allclose(a, b)
    plain = tinydl.Sequential([tinydl.Input((3,)), tinydl.layers.Dense(1)])
    plain.compile("sgd", "mse")
    with pytest.raises(ValueError, match="use_ema"):
        plain.evaluate(x, y, verbose=0, callbacks=[tinydl.callbacks.SwapEMAWeights()])


# -- callbacks.RemoteMonitor ------------------------------------------------------------------------
class _PostServer:
    """An HTTP server on 127.0.0.1 that records each POST as (path, content type, header X-Run, body)."""

    def __init__(self):
        import http.server
        import threading
        posts = self.posts = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append((self.path, self.headers.get("Content-Type"), self.headers.get("X-Run"), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _decoded(post):
    import json
    import urllib.parse
    path, ctype, run, body = post
    if ctype == "application/json":
        return path, ctype, run, json.loads(body)
    form = urllib.parse.parse_qs(body.decode())
    return path, ctype, run, {field: json.loads(v[0]) for field, v in form.items()}


@pytest.mark.parametrize("kwargs", [{}, {"path": "/logs/", "field": "payload", "headers": {"X-Run": "7"}},
                                    {"send_as_json": True, "headers": {"X-Run": "a"}}])
def test_remote_monitor_posts_what_keras_posts(kwargs):
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    got = {}
    for lib in (tinydl, keras):
        server = _PostServer()
        try:
            model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, kernel_initializer="ones")])
            model.compile("sgd", "mse", metrics=["mae"])
            model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0, validation_data=(x, y),
                      callbacks=[lib.callbacks.RemoteMonitor(root=server.root, **kwargs)])
        finally:
            server.close()
        got[lib.__name__] = [_decoded(p) for p in server.posts]
    ours, theirs = got["tinydl"], got["keras"]
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert a[:3] == b[:3]
        a_logs, b_logs = (a[3], b[3]) if kwargs.get("send_as_json") else (a[3][kwargs.get("field", "data")],
                                                                           b[3][kwargs.get("field", "data")])
        assert a_logs.keys() == b_logs.keys() and a_logs["epoch"] == b_logs["epoch"]
        for key in a_logs:
            np.testing.assert_allclose(a_logs[key], b_logs[key], rtol=1e-4, err_msg=key)


def test_remote_monitor_warns_when_the_server_is_unreachable():
    import socket
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monitor = tinydl.callbacks.RemoteMonitor(root=f"http://127.0.0.1:{port}")
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor root server"):
        monitor.on_epoch_end(0, {"loss": np.float32(1.5)})


# -- saving.KerasFileEditor -------------------------------------------------------------------------
def _tree_equal(a, b):
    assert list(a.keys()) == list(b.keys())
    for key in a:
        if isinstance(a[key], dict):
            _tree_equal(a[key], b[key])
        else:
            np.testing.assert_array_equal(a[key], b[key])


def _h5_tree(path):
    import h5py
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()] if isinstance(obj, h5py.Dataset) else None))
    return found


@pytest.fixture
def keras_files(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="dense_a"),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(2, name="dense_b")])
    model.compile("adam", "mse")
    model.fit(rng.normal(size=(8, 3)), rng.normal(size=(8, 2)), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    return tmp_path


@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5"])
def test_file_editor_reads_and_edits_as_keras_does(keras_files, name):
    import contextlib
    import io
    path = str(keras_files / name)
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = keras.saving.KerasFileEditor(path)
    out = io.StringIO()
    ours = tinydl.saving.KerasFileEditor(path, stream=out)
    _tree_equal(ours.weights_dict, theirs.weights_dict)
    assert ours.config == theirs.config and ours.metadata == theirs.metadata
    assert "Keras model file" in out.getvalue()
    ours.summary()
    assert "shape=(3, 4), dtype=float32" in out.getvalue()
    kernel = rng.normal(size=(4, 4)).astype("float32")
    for editor in (ours, theirs):
        # objects are named by the layer's snake-case class. Paths, not bare names: Keras 3.15 counts a bare
        # name's occurrences wrongly (it passes the running count into each later subtree), so 'dense'
        # "occurs more than once" there as soon as another object ('optimizer') follows 'layers'
        editor.rename_object("layers/dense", "first")
        editor.delete_weight("layers/batch_normalization", "3")
        editor.add_weights("layers/first", {"2": np.arange(3.0)})
        editor.add_object("layers/extra", {"0": kernel})
        editor.delete_object("layers/dense_1")
    _tree_equal(ours.weights_dict, theirs.weights_dict)
    ours.save(keras_files / "ours.weights.h5")
    theirs.save(str(keras_files / "theirs.weights.h5"))
    a, b = _h5_tree(keras_files / "ours.weights.h5"), _h5_tree(keras_files / "theirs.weights.h5")
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key]) if a[key] is not None else None
    # the saved file reads back as the same tree (HDF5 lists keys sorted), with either editor
    with contextlib.redirect_stdout(io.StringIO()):
        again = keras.saving.KerasFileEditor(str(keras_files / "ours.weights.h5")).weights_dict
    _tree_equal(again, tinydl.saving.KerasFileEditor(str(keras_files / "ours.weights.h5"), stream=out).weights_dict)
    assert sorted(again["layers"]) == sorted(ours.weights_dict["layers"])


def test_file_editor_errors_and_compare(keras_files):
    import io
    editor = tinydl.saving.KerasFileEditor(str(keras_files / "m.weights.h5"), stream=io.StringIO())
    with pytest.raises(ValueError, match="does not appear"):
        editor.delete_object("nope")
    editor.rename_object("dense", "first")  # a bare name found once is edited (see above for Keras)
    assert "first" in editor.weights_dict["layers"] and "dense" not in editor.weights_dict["layers"]
    with pytest.raises(ValueError, match="occurs more than once"):
        editor.delete_object("0")
    with pytest.raises(ValueError, match="leaf name"):
        editor.rename_object("first", "layers/x")
    with pytest.raises(ValueError, match="should be a dict"):
        editor.add_object("layers/x", [np.zeros(2)])
    with pytest.raises(ValueError, match="Weight 9 not found"):
        editor.delete_weight("layers/batch_normalization", "9")
    with pytest.raises(ValueError, match=".weights.h5"):
        editor.save(keras_files / "x.h5")
    with pytest.raises(ValueError, match="Invalid filename"):
        tinydl.saving.KerasFileEditor(str(keras_files / "x.h5"))
    model = tinydl.Sequential([tinydl.Input((3,)), tinydl.layers.Dense(4), tinydl.layers.BatchNormalization(),
                               tinydl.layers.Dense(2)])
    weights_only = tinydl.saving.KerasFileEditor(str(keras_files / "m.weights.h5"), stream=io.StringIO())
    assert weights_only.compare(model)["status"] == "error"  # the file has the optimizer's variables
    weights_only.delete_object("optimizer")
    assert weights_only.compare(model) == {"status": "success", "error_count": 0, "match_count": 8}
    weights_only.rename_object("dense_1", "other")
    weights_only.delete_weight("layers/dense", "1")
    assert weights_only.compare(model) == {"status": "error", "error_count": 3, "match_count": 5}
    weights_only.rename_object("other", "dense_1")
    weights_only.add_weights("layers/dense", {"1": np.ones(4, "float32")})
    # an edited file loads into a tinydl model
    weights_only.save(keras_files / "edited.weights.h5")
    model.load_weights(str(keras_files / "edited.weights.h5"))
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], weights_only.weights_dict["layers"]["dense"]["0"])
