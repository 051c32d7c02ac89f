"""Recipes for TensorFlow's formats (issue 21 item 5): Keras 3 on its TensorFlow backend loads tinydl's `.keras`
file and exports a SavedModel, which TensorFlow's own loader runs and the TFLite converter turns into a model the
TFLite interpreter runs; all three give tinydl's outputs. Skips without TensorFlow (1.4 GB installed, so not in
CI); `TINYDL_TF_PYTHON=/path/to/python` runs the recipe with another interpreter that has it."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinydl as td
from tinydl.layers import LSTM, Conv2D, Dense, Flatten, Input, MaxPooling2D
from tinydl.models import Sequential

# The recipe, as the docs give it (docs/saving_and_export.md, "SavedModel and TFLite").
RECIPE = textwrap.dedent("""
    import os, sys
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import numpy as np, keras, tensorflow as tf
    folder = sys.argv[1]
    x = np.load(os.path.join(folder, "x.npy"))
    model = keras.saving.load_model(os.path.join(folder, "m.keras"))
    # a static input shape: TFLite's converter needs it for recurrent layers (their TensorLists)
    model.export(os.path.join(folder, "saved_model"), format="tf_saved_model",
                 input_signature=[tf.TensorSpec(x.shape, tf.float32)])
    reloaded = tf.saved_model.load(os.path.join(folder, "saved_model"))  # keep it: serve() uses its variables
    served = reloaded.serve(x).numpy()
    converter = tf.lite.TFLiteConverter.from_saved_model(os.path.join(folder, "saved_model"))
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.save(os.path.join(folder, "saved_model.npy"), served)
    np.save(os.path.join(folder, "tflite.npy"), lite)
""")


def tensorflow_python():
    python = os.environ.get("TINYDL_TF_PYTHON")
    if python:
        return python
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed (the SavedModel/TFLite recipe needs it)")
    return sys.executable


def cnn():
    return Sequential([Input(shape=(8, 8, 1)), Conv2D(4, 3, activation="relu"), MaxPooling2D(2), Flatten(), Dense(3)])


def lstm():
    return Sequential([Input(shape=(6, 2)), LSTM(5), Dense(2, activation="softmax")])


@pytest.mark.parametrize("make, shape", [(cnn, (3, 8, 8, 1)), (lstm, (3, 6, 2))], ids=["cnn", "lstm"])
def test_keras_on_tensorflow_turns_a_tinydl_keras_file_into_a_saved_model_and_tflite(make, shape, tmp_path):
    python = tensorflow_python()
    td.set_seed(0)
    model = make()
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "recipe.py").write_text(RECIPE)
    done = subprocess.run([python, str(tmp_path / "recipe.py"), str(tmp_path)], capture_output=True, text=True,
                          timeout=600, env={k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"})
    assert done.returncode == 0, done.stderr[-3000:]
    expected = model.predict(x, verbose=0)
    for name in ("saved_model", "tflite"):
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.npy"), expected, rtol=1e-4, atol=1e-5)
