"""keras.backend / keras.config / top-level names: the same answers as Keras 3.15 on the same inputs."""
import os
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinydl  # noqa: E402
from tinydl import backend as B  # noqa: E402

keras = pytest.importorskip("keras")


@pytest.fixture(autouse=True)
def restore_settings():
    yield
    B.set_floatx("float32")
    B.set_epsilon(1e-7)
    keras.backend.set_floatx("float32")
    keras.backend.set_epsilon(1e-7)


def test_defaults_match_keras():
    assert B.epsilon() == keras.backend.epsilon() == 1e-7
    assert B.floatx() == keras.backend.floatx() == "float32"
    assert B.image_data_format() == keras.backend.image_data_format() == "channels_last"
    assert tinydl.config.floatx() == keras.config.floatx()


def test_set_epsilon_changes_epsilon():
    B.set_epsilon(1e-5)
    keras.backend.set_epsilon(1e-5)
    assert B.epsilon() == keras.backend.epsilon() == 1e-5


def test_set_floatx_changes_the_dtype_of_new_weights_and_tensors():
    tinydl.config.set_floatx("float64")
    assert B.floatx() == "float64"
    layer = tinydl.layers.Dense(2)
    out = layer(np.ones((1, 3)))
    assert layer.kernel.dtype == np.float64 and out.dtype == np.float64
    assert tinydl.tensor([1.0]).dtype == np.float64


def test_set_floatx_rejects_what_keras_rejects_and_what_tinydl_cannot_run():
    with pytest.raises(ValueError, match="int32"):
        keras.backend.set_floatx("int32")
    with pytest.raises(ValueError, match="int32"):
        B.set_floatx("int32")
    with pytest.raises(ValueError, match="float16"):  # Keras runs float16; tinydl's kernels do not
        B.set_floatx("float16")


def test_image_data_format_errors_name_the_argument():
    with pytest.raises(ValueError, match="data_format"):
        keras.backend.set_image_data_format("nchw")
    with pytest.raises(ValueError, match="data_format"):
        B.set_image_data_format("nchw")
    with pytest.raises(ValueError, match="channels_last"):
        B.set_image_data_format("channels_first")
    B.set_image_data_format("channels_last")
    assert B.image_data_format() == "channels_last"


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "uint8", "int64", "bool", int, float, bool,
                                   np.float64, np.dtype("int16"), None])
def test_standardize_dtype_matches_keras(dtype):
    assert B.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)
    assert B.is_float_dtype(B.standardize_dtype(dtype)) == keras.backend.is_float_dtype(dtype)
    assert B.is_int_dtype(B.standardize_dtype(dtype)) == keras.backend.is_int_dtype(dtype)


def test_get_uid_counts_per_prefix_and_clear_session_resets_it():
    B.clear_session()
    keras.backend.clear_session()
    ours = [B.get_uid("a"), B.get_uid("a"), B.get_uid("b"), B.get_uid("a")]
    theirs = [keras.backend.get_uid("a"), keras.backend.get_uid("a"), keras.backend.get_uid("b"),
              keras.backend.get_uid("a")]
    assert ours == theirs == [1, 2, 1, 3]
    B.clear_session()
    assert B.get_uid("a") == 1


def test_clear_session_restarts_layer_names_as_keras():
    tinydl.layers.Dense(1), tinydl.layers.Dense(1)
    keras.layers.Dense(1), keras.layers.Dense(1)
    tinydl.backend.clear_session()
    keras.backend.clear_session()
    assert tinydl.layers.Dense(1).name == keras.layers.Dense(1).name == "dense"
    tinydl.utils.clear_session()
    assert tinydl.layers.Dense(1).name == "dense"


def test_is_keras_tensor():
    assert B.is_keras_tensor(tinydl.Input((3,)))
    assert keras.backend.is_keras_tensor(keras.Input((3,)))
    assert not B.is_keras_tensor(np.ones(3)) and not keras.backend.is_keras_tensor(np.ones(3))
    assert not B.is_keras_tensor(tinydl.tensor([1.0]))


def test_top_level_classes_are_the_library_classes():
    assert tinydl.Sequential is tinydl.models.Sequential
    assert tinydl.Model is tinydl.models.Model
    assert tinydl.Layer is tinydl.layers.Layer
    assert tinydl.Loss is tinydl.losses.Loss and tinydl.Metric is tinydl.metrics.Metric
    assert tinydl.Optimizer is tinydl.optimizers.Optimizer
    assert tinydl.Regularizer is tinydl.regularizers.Regularizer
    assert tinydl.Constraint is tinydl.constraints.Constraint
    assert tinydl.Initializer is tinydl.initializers.Initializer
    assert isinstance(tinydl.Input((2,)), tinydl.KerasTensor)
    assert tinydl.version() == tinydl.__version__


def test_a_keras_script_runs_with_tinydl_as_keras():
    """The first lines of a typical Keras example, unchanged, give the same output shapes."""
    outputs = []
    for lib in (keras, tinydl):
        lib.utils.set_random_seed(0)
        x = lib.utils.to_categorical([0, 1, 2, 1], 3)
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, kernel_regularizer=lib.regularizers.l2(0.01),
                                                                 kernel_constraint=lib.constraints.max_norm(2.0),
                                                                 kernel_initializer=lib.initializers.glorot_uniform()),
                                lib.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=lib.optimizers.Adam(lib.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9)),
                      loss="categorical_crossentropy")
        model.fit(x, x, epochs=1, verbose=0)
        outputs.append(np.asarray(model.predict(x, verbose=0)).shape)
    assert outputs[0] == outputs[1] == (4, 3)


def test_lower_case_aliases_are_keras_s():
    for module in ("initializers", "regularizers", "constraints"):
        theirs, ours = getattr(keras, module), getattr(tinydl, module)
        for name in dir(theirs):
            if name[0].islower() and isinstance(getattr(theirs, name), type) and hasattr(ours, name):
                assert getattr(ours, name).__name__ == getattr(theirs, name).__name__, (module, name)
    assert tinydl.regularizers.l2(0.1).get_config() == keras.regularizers.l2(0.1).get_config()
    assert tinydl.constraints.max_norm(3).get_config() == keras.constraints.max_norm(3).get_config()


def test_enable_unsafe_deserialization_lets_lambda_configs_load():
    code = ("import tinydl, numpy as np\n"
            "cfg = tinydl.saving.serialize_keras_object(tinydl.layers.Lambda(lambda x: x * 2))\n"
            "try:\n    tinydl.saving.deserialize_keras_object(cfg, safe_mode=None)\n    print('loaded')\n"
            "except Exception as e:\n    print('refused')\n"
            "tinydl.config.enable_unsafe_deserialization()\n"
            "layer = tinydl.saving.deserialize_keras_object(cfg, safe_mode=None)\n"
            "print(float(layer(np.ones((1, 1))).numpy()[0, 0]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.split() == ["refused", "2.0"], out.stderr[-2000:]


def test_import_tinydl_reaches_every_submodule_without_numba():
    code = ("import sys, tinydl\n"
            "mods = [tinydl.utils, tinydl.random, tinydl.tree, tinydl.saving, tinydl.config, tinydl.constraints,"
            " tinydl.wrappers, tinydl.datasets, tinydl.optimizers.schedules, tinydl.Sequential]\n"
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.split() == ["False"], out.stderr[-2000:]


def test_without_interactive_logging_progress_goes_to_the_log(capsys, caplog):
    assert tinydl.config.is_interactive_logging_enabled() == keras.config.is_interactive_logging_enabled() is True
    model = tinydl.Sequential([tinydl.Input((2,)), tinydl.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    tinydl.config.disable_interactive_logging()
    try:
        with caplog.at_level("INFO", logger="tinydl"):
            model.fit(x, y, epochs=2, batch_size=4, verbose=1)
    finally:
        tinydl.utils.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    lines = [r.getMessage() for r in caplog.records if r.name == "tinydl"]
    assert lines[0::2] == ["Epoch 1/2", "Epoch 2/2"]
    assert all(line.startswith("2/2 - ") and "loss:" in line for line in lines[1::2]) and len(lines) == 4
    model.fit(x, y, epochs=1, batch_size=4, verbose=1)
    assert "2/2" in capsys.readouterr().out


def _shown(text):
    """The metric values of a progress bar's last drawn line, ANSI colours removed."""
    import re
    last = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\b", "").split("\r")[-1]
    return dict(re.findall(r"(\w+): ([-0-9.e]+)", last))


@pytest.mark.parametrize("kwargs", [{}, {"stateless_metrics": ["loss"]}, {"stateful_metrics": ["acc"]},
                                    {"stateless_metrics": set()}])
def test_progbar_shows_and_averages_values_as_keras(capsys, kwargs):
    shown = []
    for lib in (keras, tinydl):
        bar = lib.utils.Progbar(10, verbose=1, interval=0.0, **kwargs)
        bar.update(1, [("loss", 1.0), ("acc", 0.1)])
        bar.update(3, [("loss", 3.0), ("acc", 0.2)])
        bar.add(2, [("loss", 6.0), ("acc", 0.3)])
        shown.append(_shown(capsys.readouterr().out))
    assert shown[0] == shown[1] and set(shown[0]) == {"loss", "acc"}


def test_progbar_takes_only_one_of_stateful_and_stateless():
    with pytest.raises(ValueError, match="Only one"):
        keras.utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    with pytest.raises(ValueError, match="Only one"):
        tinydl.utils.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
