"""Issue 16's optimizers (Adafactor, Ftrl, Lamb, Muon, ScheduleFreeAdamW, LossScaleOptimizer, MultiOptimizer)
and the base options every optimizer takes (use_ema, gradient_accumulation_steps, global_clipnorm,
weight_decay) against Keras 3 itself on its torch backend: the same gradients give the same weight
trajectory, step by step, and the same state list. Skipped without keras and torch."""

import numpy as np
import pytest

from tests.keras_torch import keras_on_torch

keras = keras_on_torch("these comparisons run Keras on its torch backend")

from tinydl import optimizers  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

RNG = np.random.default_rng(160)
SHAPES = {"kernel": (3, 4), "bias": (4,), "tall": (6, 2), "conv": (2, 2, 3, 2), "token_embedding": (5, 3)}
W0 = {name: RNG.normal(size=shape).astype(np.float32) for name, shape in SHAPES.items()}
STEPS = [{name: RNG.normal(size=shape).astype(np.float32) for name, shape in SHAPES.items()} for _ in range(5)]

BASE_OPTIONS = [{}, {"use_ema": True, "ema_momentum": 0.9}, {"use_ema": True, "ema_overwrite_frequency": 3},
                {"gradient_accumulation_steps": 2}, {"global_clipnorm": 0.7}, {"clipnorm": 0.3},
                {"clipvalue": 0.1}, {"weight_decay": 0.05}]
CASES = [
    ("Adafactor", {"learning_rate": 0.05}), ("Adafactor", {"learning_rate": 0.5, "clip_threshold": 0.5,
                                                           "beta_2_decay": -0.5, "epsilon_2": 0.01}),
    ("Ftrl", {"learning_rate": 0.1}),
    ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.7, "l1_regularization_strength": 0.05,
              "l2_regularization_strength": 0.1, "l2_shrinkage_regularization_strength": 0.02, "beta": 0.3,
              "initial_accumulator_value": 0.5}),
    ("Lamb", {"learning_rate": 0.01}), ("Lamb", {"learning_rate": 0.02, "beta_1": 0.8, "epsilon": 1e-4}),
    ("Muon", {"learning_rate": 0.02}),
    ("Muon", {"learning_rate": 0.02, "nesterov": False, "exclude_layers": ["tall"], "exclude_embeddings": False,
              "adam_lr_ratio": 0.5, "ns_steps": 3, "rms_rate": None, "momentum": 0.8, "adam_weight_decay": 0.1}),
]
CASES += [(name, {**kwargs, **extra}) for name, kwargs in CASES[::2] for extra in BASE_OPTIONS[1:]]
CASES += [(name, {"learning_rate": 0.01, **extra}) for name in ("SGD", "Adam", "RMSprop", "Adagrad", "Adadelta",
                                                                   "Adamax", "Nadam", "Lion", "AdamW")
          for extra in BASE_OPTIONS[1:] if not (name == "AdamW" and "weight_decay" in extra)]


class Var:
    def __init__(self, value, path):
        self.data = value.copy()
        self.path = path


def k2np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}{k}" for n, k in CASES])
def test_trajectory_and_state_match_keras(name, kwargs):
    kvars = [keras.Variable(w.copy(), name=path) for path, w in W0.items()]
    tvars = [Var(w, path) for path, w in W0.items()]
    kopt, topt = getattr(keras.optimizers, name)(**kwargs), getattr(optimizers, name)(**kwargs)
    for step in STEPS:
        grads = list(step.values())
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], kvars))
        topt.apply(grads, tvars)
        for kv, tv in zip(kvars, tvars):
            np.testing.assert_allclose(tv.data, k2np(kv.value), rtol=2e-5, atol=2e-6, err_msg=tv.path)
    assert topt.iterations == int(k2np(kopt.iterations))
    kstate = [k2np(v.value) for v in kopt.variables]
    tstate = topt.variables()
    assert [a.shape for a in tstate] == [a.shape for a in kstate]
    for a, b in zip(tstate, kstate):
        np.testing.assert_allclose(a.astype(np.float64), b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name,kwargs", CASES[:8], ids=[f"{n}{k}" for n, k in CASES[:8]])
def test_config_matches_keras_and_state_resumes_exactly(name, kwargs):
    kconfig = getattr(keras.optimizers, name)(**kwargs).get_config()
    topt = getattr(optimizers, name)(**kwargs)
    config = topt.get_config()
    assert set(config) == set(kconfig)
    for key in config:
        if key not in ("name", "learning_rate"):
            assert config[key] == kconfig[key], key
    tvars = [Var(w, path) for path, w in W0.items()]
    for step in STEPS[:2]:
        topt.apply(list(step.values()), tvars)
    clone = optimizers.deserialize(optimizers.serialize(topt))
    clone_vars = [Var(v.data, v.path) for v in tvars]
    clone.set_state(topt.get_state())
    for step in STEPS[2:]:
        topt.apply(list(step.values()), tvars)
        clone.apply(list(step.values()), clone_vars)
    for a, b in zip(tvars, clone_vars):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("kwargs", [{}, {"learning_rate": 0.02, "beta_1": 0.8, "epsilon": 1e-6, "warmup_steps": 3},
                                    {"learning_rate": 0.01, "weight_decay": 0.1, "global_clipnorm": 1.0}])
def test_schedule_free_adamw_follows_the_paper_in_float64(kwargs):
    """y = (1 - b1) z + b1 x with z Adam-scaled SGD steps from w0 and x the running mean of z (Defazio et
    al. 2024, as Keras writes it). Not compared with Keras on torch: there its "momentum_old" is a view of z
    and is read after z's update, which changes the steps (JAX's immutable arrays give these)."""
    opt = optimizers.ScheduleFreeAdamW(**kwargs)
    config = opt.get_config()
    assert set(config) == set(keras.optimizers.ScheduleFreeAdamW(**kwargs).get_config())
    lr, b1, b2, eps = config["learning_rate"], config["beta_1"], config["beta_2"], config["epsilon"]
    w0 = W0["kernel"].astype(np.float64)
    var, y, z, v = Var(w0, "kernel"), w0.copy(), w0.copy(), np.zeros_like(w0)
    for t, step in enumerate(STEPS, start=1):
        g = step["kernel"].astype(np.float64)
        if kwargs.get("global_clipnorm"):
            g = g * min(1.0, kwargs["global_clipnorm"] / np.sqrt((g * g).sum()))
        if kwargs.get("weight_decay"):
            y = y - y * kwargs["weight_decay"] * lr
        rate = lr * min(t / config["warmup_steps"], 1.0) if config["warmup_steps"] else lr
        x = (y - (1 - b1) * z) / b1
        v = b2 * v + (1 - b2) * g * g
        z = z - rate * g / (np.sqrt(v / (1 - b2 ** t)) + eps)
        x = (1 - 1 / t) * x + z / t
        y = (1 - b1) * z + b1 * x
        opt.apply([step["kernel"].astype(np.float64)], [var])
        np.testing.assert_allclose(var.data, y, rtol=1e-12, atol=1e-12)


def test_adafactor_keeps_factored_moments_only_for_matrices():
    opt = optimizers.Adafactor()
    tvars = [Var(w, path) for path, w in W0.items()]
    opt.apply(list(STEPS[0].values()), tvars)
    state = opt.get_state()["slots"]
    assert state["r"][0].shape == (3,) and state["c"][0].shape == (4,)
    assert state["r"][1].shape == state["c"][1].shape == ()            # the bias has a full velocity only
    assert state["velocity"][1].shape == (4,) and state["velocity"][0].shape == (3, 4)
    assert state["r"][3].shape == (2, 2, 3) and state["c"][3].shape == (2, 2, 2)


def test_muon_routes_variables_as_keras():
    opt = optimizers.Muon(exclude_layers=["ker"])
    routes = {path: opt.uses_adamw(Var(w, path)) for path, w in W0.items()}
    assert routes == {"kernel": True, "bias": True, "tall": False, "conv": True, "token_embedding": True}
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        opt.newton_schulz(np.ones(3), 5)


def test_newton_schulz_makes_singular_values_near_one():
    x = RNG.normal(size=(8, 5))
    out = optimizers.Muon().newton_schulz(x, 5)
    singular = np.linalg.svd(out, compute_uv=False)
    assert out.shape == (8, 5) and np.all(np.abs(singular - 1) < 0.35)   # NS5 targets ~[0.7, 1.2], not 1


@pytest.mark.parametrize("inner,kwargs", [("SGD", {"learning_rate": 0.1, "momentum": 0.5}),
                                          ("Adam", {"learning_rate": 0.01})])
def test_loss_scale_optimizer_matches_keras(inner, kwargs):
    kvars = [keras.Variable(w.copy(), name=path) for path, w in W0.items()]
    tvars = [Var(w, path) for path, w in W0.items()]
    kopt = keras.optimizers.LossScaleOptimizer(getattr(keras.optimizers, inner)(**kwargs), initial_scale=8.0,
                                               dynamic_growth_steps=2)
    topt = optimizers.LossScaleOptimizer(getattr(optimizers, inner)(**kwargs), initial_scale=8.0,
                                         dynamic_growth_steps=2)
    assert float(k2np(kopt.scale_loss(3.0))) == float(topt.scale_loss(3.0)) == 24.0
    for k, step in enumerate(STEPS):
        grads = [g * 8.0 for g in step.values()]
        if k == 2:
            grads[1] = grads[1].copy()
            grads[1][0] = np.inf                                   # skipped step: the scale halves
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], kvars))
        topt.apply(grads, tvars)
        for kv, tv in zip(kvars, tvars):
            np.testing.assert_allclose(tv.data, k2np(kv.value), rtol=2e-5, atol=2e-6)
        assert topt.dynamic_scale == float(k2np(kopt.dynamic_scale))
        assert topt.iterations == int(k2np(kopt.iterations))
    kstate = [k2np(v.value) for v in kopt.variables]
    tstate = topt.variables()
    assert len(tstate) == len(kstate)
    for a, b in zip(tstate, kstate):
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64), b, rtol=2e-5, atol=2e-6)
    config = topt.get_config()
    assert set(config) == set(kopt.get_config())
    clone = optimizers.deserialize(optimizers.serialize(topt))
    assert isinstance(clone.inner_optimizer, getattr(optimizers, inner))
    assert clone.get_config() == config


def test_loss_scale_optimizer_rejects_base_options_as_keras():
    with pytest.raises(ValueError, match="inner_optimizer"):
        optimizers.LossScaleOptimizer(optimizers.SGD(), clipnorm=1.0)
    with pytest.raises(ValueError, match="dynamic=False"):
        optimizers.LossScaleOptimizer(optimizers.SGD(), dynamic=False)


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.1, loss_scale_factor=64.0),
                                  lambda: optimizers.LossScaleOptimizer(optimizers.SGD(0.1), initial_scale=64.0)],
                         ids=["loss_scale_factor", "LossScaleOptimizer"])
def test_fit_scales_the_loss_so_scaled_training_equals_plain_training(make):
    import tinydl as td
    x = RNG.normal(size=(16, 3)).astype(np.float32)

    def train(optimizer):
        td.set_seed(3)
        model = td.models.Sequential([td.layers.Input((3,)), td.layers.Dense(2)])
        model.compile(optimizer=optimizer, loss="mean_squared_error")
        model.fit(x, x[:, :2] * 2, epochs=2, batch_size=4, verbose=0, shuffle=False)
        return [w.numpy() for w in model.weights]

    for plain, scaled in zip(train(optimizers.SGD(0.1)), train(make())):
        np.testing.assert_allclose(scaled, plain, rtol=1e-5, atol=1e-6)


def multi(lib):
    """The same MultiOptimizer built from `lib` (keras.optimizers or tinydl.optimizers)."""
    mapping = lib.OptimizerMap(lib.Adam(learning_rate=0.01),
                               {"kernel": lib.SGD(learning_rate=0.1, momentum=0.9), "t.*|conv": lib.Lamb(0.02)})
    return lib.MultiOptimizer(mapping)


def test_multi_optimizer_matches_keras():
    kvars = [keras.Variable(w.copy(), name=path) for path, w in W0.items()]
    tvars = [Var(w, path) for path, w in W0.items()]
    kopt, topt = multi(keras.optimizers), multi(optimizers)
    for step in STEPS:
        grads = list(step.values())
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], kvars))
        topt.apply(grads, tvars)
    for kv, tv in zip(kvars, tvars):
        np.testing.assert_allclose(tv.data, k2np(kv.value), rtol=2e-5, atol=2e-6, err_msg=tv.path)
    assert topt.iterations == int(k2np(kopt.iterations)) == len(STEPS)
    kstate, tstate = [k2np(v.value) for v in kopt.variables], topt.variables()
    assert [a.shape for a in tstate] == [a.shape for a in kstate]
    for a, b in zip(tstate, kstate):
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64), b, rtol=2e-5, atol=2e-6)
    assert [type(o).__name__ for o in topt.optimizers] == [type(o).__name__ for o in kopt.optimizers]
    config = topt.get_config()
    assert set(config) == set(kopt.get_config())
    clone = optimizers.deserialize(optimizers.serialize(topt))
    assert [o.get_config() for o in clone.optimizers] == [o.get_config() for o in topt.optimizers]
    with pytest.raises(AttributeError, match="learning rate"):
        topt.learning_rate


def test_optimizer_map_lookup_rules_as_keras():
    mapping = optimizers.OptimizerMap(optimizers.Adam(), {"dense/kernel": optimizers.SGD(),
                                                          "dense/.*": optimizers.Lion()})
    assert isinstance(mapping["dense/kernel"], optimizers.SGD)            # an exact key wins over a pattern
    assert isinstance(mapping["dense/bias"], optimizers.Lion)
    assert isinstance(mapping["other/bias"], optimizers.Adam)
    mapping["dense/b.*"] = optimizers.SGD()
    with pytest.raises(ValueError, match="several patterns"):
        mapping["dense/bias"]
    with pytest.raises(ValueError, match="already maps"):
        mapping["dense/kernel"] = optimizers.Adam()
    with pytest.raises(ValueError, match="plain Optimizer"):
        mapping["x"] = optimizers.LossScaleOptimizer(optimizers.SGD())
    with pytest.raises(TypeError, match="default_optimizer"):
        optimizers.OptimizerMap("adam")


def test_multi_optimizer_state_resumes_bit_exactly():
    def make():
        return multi(optimizers), [Var(w, path) for path, w in W0.items()]
    full, full_vars = make()
    for step in STEPS:
        full.apply(list(step.values()), full_vars)
    first, first_vars = make()
    for step in STEPS[:2]:
        first.apply(list(step.values()), first_vars)
    second, second_vars = make()
    second.build(second_vars)
    second.set_state(first.get_state())
    for a, b in zip(second_vars, first_vars):
        a.data[...] = b.data
    for step in STEPS[2:]:
        second.apply(list(step.values()), second_vars)
    for a, b in zip(second_vars, full_vars):
        np.testing.assert_array_equal(a.data, b.data)
