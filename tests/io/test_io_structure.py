"""The shape of tinydl/io (issue 22, item 1): one saving entry point over sibling format modules, no private
names imported across modules, and the saving modules below tinydl.models (no import circle)."""
import ast
import os

import tinydl.io

IO = os.path.dirname(tinydl.io.__file__)
SAVING = ["saving", "hdf5", "weights_h5", "keras_archive", "model_config", "compile_config", "h5_utils",
          "integrity", "limits", "files", "config"]


def imports_of(module):
    """(imported module, names) for every import statement in tinydl/io/<module>.py, at any depth."""
    tree = ast.parse(open(os.path.join(IO, f"{module}.py")).read())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out.append((node.module or "", [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def test_no_io_module_imports_a_private_name():
    offenders = [(m.removesuffix(".py"), source, name) for m in os.listdir(IO) if m.endswith(".py")
                 for source, names in imports_of(m.removesuffix(".py")) if source.startswith("tinydl")
                 for name in names if name.startswith("_")]
    assert offenders == []


def test_the_saving_modules_never_import_tinydl_models():
    offenders = [(m, source) for m in SAVING for source, _ in imports_of(m) if source.startswith("tinydl.models")]
    assert offenders == []


def test_save_picks_the_format_module_from_the_file_name(tmp_path, monkeypatch):
    from tinydl.io import hdf5, keras_archive, saving, weights_h5
    calls = []
    monkeypatch.setattr(hdf5, "save_model", lambda m, p, include_optimizer: calls.append(("hdf5", p)))
    monkeypatch.setattr(keras_archive, "save_model", lambda m, p, include_optimizer: calls.append(("keras", p)))
    monkeypatch.setattr(weights_h5, "save_weights", lambda m, p: calls.append(("weights_h5", p)))
    monkeypatch.setattr(hdf5, "save_weights", lambda m, p: calls.append(("hdf5 weights", p)))
    for name in ("a.h5", "b.hdf5", "c.keras"):
        saving.save_model(None, str(tmp_path / name))
    for name in ("d.weights.h5", "e.h5"):
        saving.save_weights(None, str(tmp_path / name))
    assert [(kind, os.path.basename(p)) for kind, p in calls] == [
        ("hdf5", "a.h5"), ("hdf5", "b.hdf5"), ("keras", "c.keras"), ("weights_h5", "d.weights.h5"),
        ("hdf5 weights", "e.h5")]


def test_include_optimizer_false_saves_an_uncompiled_model_in_both_formats(tmp_path):
    import numpy as np
    import tinydl as td
    from tinydl.layers import Dense, Input
    from tinydl.models import Sequential, load_model
    td.set_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(2)])
    model.compile("adam", "mean_squared_error")
    model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)
    for name in ("m.h5", "m.keras"):
        model.save(tmp_path / name, include_optimizer=False)
        loaded = load_model(tmp_path / name)
        assert not loaded.compiled, name
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
        model.save(tmp_path / name)
        assert load_model(tmp_path / name).compiled, name
