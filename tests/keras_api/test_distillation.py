"""tinydl.distillation against Keras 3.15's keras.distillation: same teacher, student and data give the same
losses per epoch and the same student weights; configs round-trip; bad arguments fail clearly."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinydl  # noqa: E402
from tinydl import distillation as D  # noqa: E402


def _models(lib, out=4):
    teacher = lib.Sequential([lib.Input((6,)), lib.layers.Dense(8, activation="relu", name="th"),
                              lib.layers.Dense(out)], name="teacher")
    student = lib.Sequential([lib.Input((6,)), lib.layers.Dense(8, activation="relu", name="sh"),
                              lib.layers.Dense(out)], name="student")
    return teacher, student


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 4, size=32)


CASES = {
    "logits_default": lambda lib: dict(distillation_losses=lib.distillation.LogitsDistillation()),
    "logits_kl_object": lambda lib: dict(distillation_losses=lib.distillation.LogitsDistillation(
        temperature=2.0, loss=lib.losses.KLDivergence()), student_loss_weight=0.3),
    "logits_and_features": lambda lib: dict(distillation_losses=[
        lib.distillation.LogitsDistillation(4.0, lib.losses.KLDivergence()),
        lib.distillation.FeatureDistillation(teacher_layer_name="th", student_layer_name="sh")],
        distillation_loss_weights=[1.0, 0.3], student_loss_weight=0.4),
    "features_mae_only": lambda lib: dict(distillation_losses=lib.distillation.FeatureDistillation("mae"),
                                          student_loss_weight=0.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_matches_keras(case):
    keras = pytest.importorskip("keras")
    x, y = _data()
    kt, ks = _models(keras)
    tt, ts = _models(tinydl)
    tt.set_weights(kt.get_weights())
    ts.set_weights(ks.get_weights())
    teacher_before = [w.copy() for w in tt.get_weights()]
    runs = []
    for lib, t, s in ((keras, kt, ks), (tinydl, tt, ts)):
        distiller = lib.distillation.Distiller(t, s, **CASES[case](lib))
        distiller.compile(optimizer=lib.optimizers.SGD(0.1),
                          loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        history = distiller.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False).history
        evaluated = distiller.evaluate(x, y, verbose=0, return_dict=True)
        predicted = np.asarray(distiller.predict(x, verbose=0))
        runs.append((history, evaluated, predicted, s.get_weights()))
    (kh, ke, kp, kw), (th, te, tp, tw) = runs
    assert set(th) == set(kh) == {"loss", "accuracy", "student_loss", "distillation_loss", "total_loss"}
    for name in kh:
        np.testing.assert_allclose(th[name], kh[name], rtol=1e-4, atol=1e-5, err_msg=name)
    for name in ke:
        np.testing.assert_allclose(te[name], ke[name], rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(tp, kp, rtol=1e-4, atol=1e-5)
    for a, b in zip(tw, kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(tt.get_weights(), teacher_before):  # the teacher is frozen
        np.testing.assert_array_equal(a, b)


def test_loss_values_match_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    t, s = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    pairs = [(D.LogitsDistillation(), keras.distillation.LogitsDistillation()),
             (D.LogitsDistillation(5.0, tinydl.losses.KLDivergence()),
              keras.distillation.LogitsDistillation(5.0, keras.losses.KLDivergence())),
             (D.LogitsDistillation(2.0, "categorical_crossentropy"),
              keras.distillation.LogitsDistillation(2.0, "categorical_crossentropy")),
             (D.FeatureDistillation(), keras.distillation.FeatureDistillation()),
             (D.FeatureDistillation("cosine_similarity"), keras.distillation.FeatureDistillation("cosine_similarity")),
             (D.FeatureDistillation(["mse", None]), keras.distillation.FeatureDistillation(["mse", None]))]
    for ours, theirs in pairs:
        args = ([t, t * 2], [s, s + 1]) if isinstance(ours.loss, list) else (t, s)
        np.testing.assert_allclose(float(np.asarray(ours.compute_loss(*args).numpy())),
                                   float(keras.ops.convert_to_numpy(theirs.compute_loss(*args))), rtol=1e-5)


def test_configs_round_trip():
    for loss in (D.LogitsDistillation(2.5, "kl_divergence"), D.LogitsDistillation(loss=tinydl.losses.KLDivergence()),
                 D.FeatureDistillation("mae", "a", "b"), D.FeatureDistillation(["mse", None])):
        again = type(loss).from_config(loss.get_config())
        assert again.get_config() == loss.get_config()
    teacher, student = _models(tinydl)
    distiller = D.Distiller(teacher, student, [D.LogitsDistillation(4.0), D.FeatureDistillation(
        teacher_layer_name="th", student_layer_name="sh")], [1.0, 0.5], student_loss_weight=0.2, name="d")
    config = distiller.get_config()
    clone = D.Distiller.from_config(config)
    assert clone.name == "d" and clone.student_loss_weight == 0.2 and clone.distillation_loss_weights == [1.0, 0.5]
    assert [type(d) for d in clone.distillation_losses] == [D.LogitsDistillation, D.FeatureDistillation]
    assert clone.distillation_losses[0].temperature == 4.0 and clone.teacher.trainable is False
    assert [layer.name for layer in clone.student.layers] == [layer.name for layer in student.layers]


def test_defaults_and_call():
    teacher, student = _models(tinydl)
    distiller = D.Distiller(teacher, student, D.LogitsDistillation())
    assert distiller.name == "distiller" and distiller.student_loss_weight == 0.5
    assert distiller.distillation_loss_weights == [1.0] and teacher.trainable is False
    assert D.LogitsDistillation().temperature == 3.0
    assert D.LogitsDistillation().loss is tinydl.losses.kl_divergence  # a function, as Keras's losses.get
    x, _ = _data()
    np.testing.assert_allclose(distiller(x).numpy(), student(x).numpy())
    assert len(distiller.trainable_weights) == len(student.trainable_weights)


def test_bad_arguments():
    teacher, student = _models(tinydl)
    with pytest.raises(ValueError, match="temperature must be positive"):
        D.LogitsDistillation(temperature=0)
    with pytest.raises(ValueError, match="temperature must be a number"):
        D.LogitsDistillation(temperature="3")
    with pytest.raises(ValueError, match="At least one loss"):
        D.LogitsDistillation(loss=None)
    with pytest.raises(ValueError, match="at least one non-`None`"):
        D.FeatureDistillation(loss=[None, None])
    with pytest.raises(ValueError, match="Unknown loss function"):
        D.FeatureDistillation(loss="no_such_loss")
    with pytest.raises(ValueError, match="Teacher must be a keras.Model"):
        D.Distiller("teacher", student, D.LogitsDistillation())
    with pytest.raises(ValueError, match="between 0.0 and 1.0"):
        D.Distiller(teacher, student, D.LogitsDistillation(), student_loss_weight=1.5)
    with pytest.raises(ValueError, match="cannot be `None`"):
        D.Distiller(teacher, student, None)
    with pytest.raises(ValueError, match="must match number of distillation_losses"):
        D.Distiller(teacher, student, [D.LogitsDistillation()], [1.0, 2.0])
    with pytest.raises(ValueError, match="In teacher model"):
        D.Distiller(teacher, student, D.FeatureDistillation(teacher_layer_name="missing"))
    other_teacher, _ = _models(tinydl, out=3)
    with pytest.raises(ValueError, match="output shapes are incompatible"):
        D.Distiller(other_teacher, student, D.LogitsDistillation())
    distiller = D.Distiller(teacher, student, D.LogitsDistillation())
    with pytest.raises(ValueError, match="'loss' cannot be `None`"):
        distiller.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="metrics must be a list or tuple"):
        distiller.compile(optimizer="sgd", loss="mse", metrics="mae")
