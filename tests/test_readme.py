"""README's python blocks run in order, as written, in one namespace, and give the numbers they promise."""
import pathlib
import re

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    """The ```python blocks of README.md, in order."""
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def check_autograd_tour(ns):
    """w.grad is the closed form outer(x, g * (1 - tanh(x @ w)^2)); no tape inside no_grad."""
    x, w = np.array([1.0, 2.0, 3.0]), np.array([[1.0, 0.0], [0.5, 1.0], [0.0, 2.0]])
    g = np.array([1.0, 0.5])
    expected = np.outer(x, g * (1 - np.tanh(x @ w) ** 2))
    np.testing.assert_allclose(ns["w"].grad.numpy(), expected, rtol=1e-5, atol=1e-6)  # float32 tanh near saturation
    assert ns["z"].requires_grad is False
    np.testing.assert_array_equal(ns["z"].numpy(), 2 * x)


def check_custom_function(ns):
    np.testing.assert_allclose(ns["y"].numpy(), np.array([1.0, 8.0, 27.0]), rtol=1e-6)


def check_digits_model(ns, tmp_path):
    loss, accuracy = ns["model"].evaluate(ns["x_test"], ns["y_test"], verbose=0)
    assert accuracy > 0.9, accuracy
    assert (tmp_path / "digits.h5").stat().st_size > 0
    assert len((tmp_path / "training.csv").read_text().splitlines()) == len(ns["history"].history["loss"]) + 1
    assert list((tmp_path / "logs").rglob("events.out.tfevents*"))


def check_coming_from_keras(ns):
    """Keras 3 code under `import tinydl as keras`: the padded ids its comment shows, two Adam steps on the
    decayed learning rate, the kernel's l2 penalty, and a clone with the same architecture and new weights."""
    np.testing.assert_array_equal(ns["x"], [[0, 3, 1], [0, 0, 2]])
    np.testing.assert_array_equal(ns["y"], [[1.0, 0.0], [0.0, 1.0]])
    model, clone = ns["model"], ns["clone"]
    assert int(model.optimizer.iterations) == 2  # two epochs of one batch
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 1e-2 * 0.9 ** (2 / 10), rtol=1e-6)
    kernel = model.layers[0].kernel.numpy()
    np.testing.assert_allclose([float(p.numpy()) for p in model.losses], [1e-3 * np.sum(kernel ** 2)], rtol=1e-5)
    assert clone is not model
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert not np.array_equal(clone.layers[0].kernel.numpy(), kernel)


def check_sequence_model(ns):
    ids = np.random.default_rng(0).integers(0, 5000, (2, 20))
    assert ns["model"].predict(ids, verbose=0).shape == (2, 1)


def check_graph_model(ns):
    assert len(ns["graphs"]) > 300
    losses = ns["model"].history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses


def test_every_test_file_that_can_skip_as_a_whole_is_named_in_the_readme():
    """A module-level skip (or importorskip) hides a whole file: README must say which files and why."""
    tests = README.parent / "tests"
    readme = README.read_text()
    pattern = re.compile(r"^\S.*importorskip\(|allow_module_level=True|^pytestmark\b.*skipif", re.M)
    unnamed = []
    for path in sorted(tests.rglob("test_*.py")):
        if path != pathlib.Path(__file__).resolve() and pattern.search(path.read_text()):
            relative = path.relative_to(README.parent).as_posix()
            folders = [p.as_posix() + "/" for p in path.relative_to(README.parent).parents][:-2]  # below tests/
            if f"`{relative}`" not in readme and not any(f"`{folder}`" in readme for folder in folders):
                unnamed.append(relative)
    assert not unnamed, f"test files that can skip as a whole but are not named in README: {unnamed}"


def test_readme_has_the_six_blocks_this_test_checks():
    assert len(python_blocks()) == 6


def test_readme_python_blocks_run_in_order(tmp_path, monkeypatch):
    """Each block runs after the ones above it (as a reader would paste them) and is checked on its results."""
    monkeypatch.chdir(tmp_path)  # the blocks write logs/, training.csv and digits.h5 where they run
    import tinydl as td
    td.set_seed(0)
    checks = [check_autograd_tour, check_custom_function, lambda ns: check_digits_model(ns, tmp_path),
              check_coming_from_keras, check_sequence_model, check_graph_model]
    namespace = {"__name__": "readme"}
    for number, (block, check) in enumerate(zip(python_blocks(), checks), start=1):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as error:  # name the block, so a failure points at the README
            pytest.fail(f"README python block {number} raised {error!r}")
        check(namespace)
