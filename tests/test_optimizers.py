"""Optimizers: each update against its closed form written out here (Keras 3's formulas), Keras
defaults, clipping, weight decay, EMA, exact state save/restore, configs and lookup by name."""
import math

import numpy as np
import pytest

import tinydl as td
from tinydl import optimizers, schedules

W0 = np.array([1.0, -2.0, 0.5])
GRADS = [np.array([0.1, -0.3, 0.2]), np.array([0.4, 0.1, -0.2]), np.array([-0.5, 0.2, 0.3])]


class Var:
    """The minimal variable protocol: a `.data` array updated in place."""

    def __init__(self, values, name="dense/kernel"):
        self.data = np.array(values, dtype=np.float64)
        self.path = name


def run(opt, grads=GRADS, w0=W0):
    var = Var(w0)
    buffer = var.data
    for g in grads:
        opt.apply([g], [var])
    assert var.data is buffer, "updates must be in place"
    return var.data


def test_keras_defaults():
    assert optimizers.SGD().get_config()["learning_rate"] == 0.01
    adam = optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert adam.amsgrad is False
    assert optimizers.AdamW().weight_decay == 0.004
    rms = optimizers.RMSprop()
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.001, 0.9, 0.0, 1e-7, False)
    ada = optimizers.Adagrad()
    assert (ada.learning_rate, ada.initial_accumulator_value, ada.epsilon) == (0.001, 0.1, 1e-7)
    delta = optimizers.Adadelta()
    assert (delta.learning_rate, delta.rho, delta.epsilon) == (0.001, 0.95, 1e-7)
    assert [o().name for o in (optimizers.SGD, optimizers.Adam, optimizers.AdamW, optimizers.RMSprop,
                               optimizers.Adagrad, optimizers.Adadelta)] == [
        "SGD", "adam", "adamw", "rmsprop", "adagrad", "adadelta"]


def test_sgd_plain_momentum_and_nesterov():
    lr, mu = 0.1, 0.9
    np.testing.assert_allclose(run(optimizers.SGD(lr)), W0 - lr * sum(GRADS), rtol=1e-14)
    w, v = W0.copy(), np.zeros(3)
    wn, vn = W0.copy(), np.zeros(3)
    for g in GRADS:
        v = mu * v - lr * g
        w = w + v
        vn = mu * vn - lr * g
        wn = wn + mu * vn - lr * g
    np.testing.assert_allclose(run(optimizers.SGD(lr, momentum=mu)), w, rtol=1e-14)
    np.testing.assert_allclose(run(optimizers.SGD(lr, momentum=mu, nesterov=True)), wn, rtol=1e-14)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_bias_correction_in_alpha_and_epsilon_outside_sqrt(amsgrad):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v, vhat = W0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        vhat = np.maximum(vhat, v)
        w = w - m * alpha / (np.sqrt(vhat if amsgrad else v) + eps)
    np.testing.assert_allclose(run(optimizers.Adam(lr, amsgrad=amsgrad)), w, rtol=1e-13)


def test_adamw_decays_weights_before_the_adam_step():
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-7
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        w = w - w * wd * lr
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - m * alpha / (np.sqrt(v) + eps)
    np.testing.assert_allclose(run(optimizers.AdamW(lr, weight_decay=wd)), w, rtol=1e-13)
    with pytest.raises(ValueError, match="weight_decay must be a float"):
        optimizers.AdamW(weight_decay=None)


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.5, False), (0.0, True), (0.5, True)])
def test_rmsprop_epsilon_inside_sqrt(momentum, centered):
    lr, rho, eps = 0.01, 0.9, 1e-7
    w, v, mom, avg = W0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    for g in GRADS:
        v = rho * v + (1 - rho) * g * g
        if centered:
            avg = rho * avg + (1 - rho) * g
            denominator = v - avg ** 2 + eps
        else:
            denominator = v + eps
        increment = lr * g / np.sqrt(denominator)
        if momentum:
            mom = momentum * mom + increment
            w = w - mom
        else:
            w = w - increment
    np.testing.assert_allclose(run(optimizers.RMSprop(lr, momentum=momentum, centered=centered)), w, rtol=1e-13)


def test_adagrad_accumulator_starts_at_initial_value():
    lr, eps = 0.1, 1e-7
    w, acc = W0.copy(), np.full(3, 0.1)
    for g in GRADS:
        acc = acc + g * g
        w = w - lr * g / np.sqrt(acc + eps)
    np.testing.assert_allclose(run(optimizers.Adagrad(lr)), w, rtol=1e-14)


def test_adadelta():
    lr, rho, eps = 1.0, 0.95, 1e-7
    w, ag, ad = W0.copy(), np.zeros(3), np.zeros(3)
    for g in GRADS:
        ag = rho * ag + (1 - rho) * g * g
        delta = -np.sqrt(ad + eps) * g / np.sqrt(ag + eps)
        ad = rho * ad + (1 - rho) * delta * delta
        w = w + lr * delta
    np.testing.assert_allclose(run(optimizers.Adadelta(lr)), w, rtol=1e-13)


def test_clipnorm_global_clipnorm_and_clipvalue():
    g1, g2 = np.array([3.0, 4.0, 0.0]), np.array([0.0, 0.0, 0.1])
    a, b = Var(np.zeros(3)), Var(np.zeros(3))
    optimizers.SGD(1.0, clipnorm=1.0).apply([g1, g2], [a, b])
    np.testing.assert_allclose(a.data, -g1 / 5)
    np.testing.assert_allclose(b.data, -g2)  # norm 0.1 < 1: untouched
    a, b = Var(np.zeros(3)), Var(np.zeros(3))
    optimizers.SGD(1.0, global_clipnorm=1.0).apply([g1, g2], [a, b])
    norm = math.sqrt(25 + 0.01)
    np.testing.assert_allclose(a.data, -g1 / norm)
    np.testing.assert_allclose(b.data, -g2 / norm)
    a = Var(np.zeros(3))
    optimizers.SGD(1.0, clipvalue=0.5).apply([np.array([3.0, -4.0, 0.2])], [a])
    np.testing.assert_allclose(a.data, [-0.5, 0.5, -0.2])
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_weight_decay_exclusion_by_name():
    opt = optimizers.SGD(1.0, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    kernel, bias = Var([2.0], "dense/kernel"), Var([2.0], "dense/bias")
    opt.apply([np.zeros(1), np.zeros(1)], [kernel, bias])
    assert kernel.data[0] == 1.0 and bias.data[0] == 2.0


def test_ema_tracks_weights_and_finalize_overwrites():
    opt = optimizers.SGD(1.0, use_ema=True, ema_momentum=0.5)
    var = Var([0.0])
    opt.apply([np.array([1.0])], [var])     # first step: average = w = -1
    opt.apply([np.array([1.0])], [var])     # w = -2, average = 0.5 * -1 + 0.5 * -2
    assert var.data[0] == -2.0
    opt.finalize_variable_values([var])
    assert var.data[0] == -1.5


def test_float32_tensors_and_layer_weights_update_in_place():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    opt = optimizers.get("adam")
    opt.apply_gradients([(x.grad, x)])
    assert x.dtype == np.float32 and opt.iterations == 1
    np.testing.assert_allclose(x.numpy(), [1.0 - 0.001, 2.0 - 0.001], rtol=1e-6)


RESUMABLE = {
    "adam": lambda: optimizers.Adam(0.05, amsgrad=True),
    "sgd": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optimizers.RMSprop(0.05, momentum=0.5, centered=True),
    "adamw": lambda: optimizers.AdamW(0.05, use_ema=True),
    "adagrad": lambda: optimizers.Adagrad(0.05, clipnorm=0.1),
    "adadelta": lambda: optimizers.Adadelta(1.0),
    "adamax": lambda: optimizers.Adamax(0.05),
    "nadam": lambda: optimizers.Nadam(0.05),
    "lion": lambda: optimizers.Lion(0.05),
    "scheduled": lambda: optimizers.Adam(schedules.ExponentialDecay(0.1, 2, 0.5)),
    "accumulating": lambda: optimizers.Nadam(0.05, gradient_accumulation_steps=2),   # resumed mid-accumulation
    "adafactor": lambda: optimizers.Adafactor(0.05, use_ema=True),
    "ftrl": lambda: optimizers.Ftrl(0.05, l1_regularization_strength=0.01),
    "lamb": lambda: optimizers.Lamb(0.05),
    "muon": lambda: optimizers.Muon(0.05),            # the bias takes the AdamW path, the kernel Muon's
    "schedule_free": lambda: optimizers.ScheduleFreeAdamW(0.05, warmup_steps=2),
    "loss_scale": lambda: optimizers.LossScaleOptimizer(optimizers.Adam(0.05), initial_scale=4.0,
                                                        dynamic_growth_steps=2),
}


@pytest.mark.parametrize("kind", sorted(RESUMABLE))
def test_every_optimizer_resumes_bit_exactly_from_its_state(kind):
    def make():
        return RESUMABLE[kind](), [Var(W0, "a/kernel"), Var(W0[:2] * 3, "a/bias")]
    grads = [[g, g[:2] * 2] for g in GRADS * 2]
    full_opt, full_vars = make()
    for gs in grads:
        full_opt.apply(gs, full_vars)
    opt, vs = make()
    for gs in grads[:3]:
        opt.apply(gs, vs)
    opt2, vs2 = make()
    state = opt.get_state()
    if kind == "nadam":
        del state["extra"]   # a saved state without the optimizer-wide scalar: rebuilt from iterations
    opt2.set_state(state)
    for a, b in zip(vs2, vs):
        a.data[...] = b.data
    for gs in grads[3:]:
        opt2.apply(gs, vs2)
    for a, b in zip(vs2, full_vars):
        assert np.array_equal(a.data, b.data)


def test_state_round_trip_resumes_bit_exactly():
    def make():
        return optimizers.Adam(0.05, amsgrad=True), [Var(W0, "a/kernel"), Var(W0[:2] * 3, "a/bias")]
    grads = [[g, g[:2] * 2] for g in GRADS * 2]
    full_opt, full_vars = make()
    for gs in grads:
        full_opt.apply(gs, full_vars)
    opt, vs = make()
    for gs in grads[:3]:
        opt.apply(gs, vs)
    state = opt.get_state()
    assert state["iterations"] == 3 and state["learning_rate"] == 0.05
    assert sorted(state["slots"]) == ["momentum", "velocity", "velocity_hat"]
    assert all(isinstance(a, np.ndarray) for arrays in state["slots"].values() for a in arrays)
    saved_weights = [v.data.copy() for v in vs]
    # a fresh optimizer restored before its first apply continues exactly where the first stopped
    opt2 = optimizers.Adam(0.05, amsgrad=True)
    opt2.set_state(state)
    vs2 = [Var(w, v.path) for w, v in zip(saved_weights, vs)]
    for gs in grads[3:]:
        opt2.apply(gs, vs2)
    for a, b in zip(vs2, full_vars):
        assert np.array_equal(a.data, b.data)
    assert opt2.iterations == full_opt.iterations


def test_set_state_checks_shapes_and_slot_names():
    opt = optimizers.Adam()
    opt.apply([np.ones(3)], [Var(W0)])
    state = opt.get_state()
    state["slots"]["momentum"][0] = np.zeros(4)
    with pytest.raises(ValueError, match="has shape \\(4,\\), expected \\(3,\\)"):
        opt.set_state(state)
    with pytest.raises(ValueError, match="expected \\['momentum', 'velocity'\\]"):
        opt.set_state({"iterations": 1, "slots": {"accumulator": [np.zeros(3)]}})


def test_keras_variables_order_names_and_set_weights():
    opt = optimizers.Adam(0.01)
    k, b = Var(np.ones((2, 2)), "dense/kernel"), Var(np.ones(2), "dense/bias")
    opt.apply([np.ones((2, 2)), np.ones(2)], [k, b])
    assert opt.variable_names() == [
        "adam/iteration", "adam/learning_rate", "adam/dense_kernel_momentum", "adam/dense_kernel_velocity",
        "adam/dense_bias_momentum", "adam/dense_bias_velocity"]
    values = opt.variables()
    assert values[0] == 1 and values[0].dtype == np.int64 and values[1].dtype == np.float32
    assert [v.shape for v in values[2:]] == [(2, 2), (2, 2), (2,), (2,)]
    rms = optimizers.RMSprop(momentum=0.5)
    rms.apply([np.ones((2, 2)), np.ones(2)], [k, b])
    assert rms.variable_names()[2:] == ["rmsprop/dense_kernel_velocity", "rmsprop/dense_bias_velocity",
                                        "rmsprop/dense_kernel_momentum", "rmsprop/dense_bias_momentum"]
    ams = optimizers.Adam(amsgrad=True)
    ams.build([k, b])
    assert [n.split("/")[1] for n in ams.variable_names()[2:]] == [
        "dense_kernel_momentum", "dense_kernel_velocity", "dense_bias_momentum", "dense_bias_velocity",
        "dense_kernel_velocity_hat", "dense_bias_velocity_hat"]
    other = optimizers.Adam(0.01)
    k2, b2 = Var(np.ones((2, 2)), "dense/kernel"), Var(np.ones(2), "dense/bias")
    other.build([k2, b2])
    other.set_weights(values)
    assert other.iterations == 1
    for a, c in zip(other.variables(), values):
        assert np.array_equal(a, c)


def test_learning_rate_property_and_setter():
    opt = optimizers.SGD(0.1)
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    opt.learning_rate = schedules.ExponentialDecay(1.0, 1, 0.5)
    assert opt.learning_rate == 1.0
    with pytest.raises(ValueError, match="learning_rate must be"):
        optimizers.SGD("fast")


def test_configs_round_trip_and_get_by_name():
    for name in ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "Adam", "SGD", "RMSprop"]:
        opt = optimizers.get(name)
        again = optimizers.deserialize(optimizers.serialize(opt))
        assert type(again) is type(opt) and again.get_config() == opt.get_config()
    cfg = optimizers.SGD(0.1, momentum=0.9, nesterov=True, clipnorm=1.0).get_config()
    assert cfg == {"name": "SGD", "learning_rate": 0.1, "weight_decay": None, "clipnorm": 1.0,
                   "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
                   "ema_overwrite_frequency": None, "loss_scale_factor": None, "gradient_accumulation_steps": None,
                   "momentum": 0.9, "nesterov": True}
    from tinydl.io import config
    assert isinstance(config.deserialize(config.serialize(optimizers.RMSprop())), optimizers.RMSprop)
    with pytest.raises(ValueError, match="unknown optimizer .adamm.; known: adadelta, adafactor, adagrad, "
                                         "adam, adamax, adamw, ftrl, lamb, lion, muon, nadam"):
        optimizers.get("adamm")


def test_bad_inputs_are_clear_errors():
    opt = optimizers.SGD()
    with pytest.raises(ValueError, match="got 2 gradients for 1 variables"):
        opt.apply([np.ones(3), np.ones(3)], [Var(W0)])
    with pytest.raises(ValueError, match="gradient of shape \\(2,\\) does not match variable 'dense/kernel'"):
        opt.apply([np.ones(2)], [Var(W0)])
    with pytest.raises(ValueError, match="argument\\(s\\) not recognized: \\['lr'\\]"):
        optimizers.Adam(lr=0.1)


def test_adamax():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, u = W0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        w = w - lr * m / ((1 - b1 ** t) * (u + eps))
    np.testing.assert_allclose(run(optimizers.Adamax(lr)), w, rtol=1e-13)


def test_nadam_with_keras_momentum_schedule():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v, u_product = W0.copy(), np.zeros(3), np.zeros(3), 1.0
    for t, g in enumerate(GRADS, start=1):
        u_t = b1 * (1 - 0.5 * 0.96 ** t)
        u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_product *= u_t
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        m_hat = u_next * m / (1 - u_product * u_next) + (1 - u_t) * g / (1 - u_product)
        w = w - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)
    opt = optimizers.Nadam(lr)
    np.testing.assert_allclose(run(opt), w, rtol=1e-13)
    state = opt.get_state()
    assert state["extra"] == {"u_product": pytest.approx(u_product)}
    assert opt.variable_names()[-1] == "nadam/u_product"


def test_lion():
    lr, b1, b2 = 0.01, 0.9, 0.99
    w, m = W0.copy(), np.zeros(3)
    for g in GRADS:
        w = w - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
    np.testing.assert_allclose(run(optimizers.Lion(lr)), w, rtol=1e-14)
    assert isinstance(optimizers.get("lion"), optimizers.Lion)


def test_gradient_accumulation_updates_every_n_calls_with_the_mean():
    opt = optimizers.SGD(0.1, gradient_accumulation_steps=2)
    var = Var(W0)
    opt.apply([GRADS[0]], [var])
    np.testing.assert_array_equal(var.data, W0)                       # first call only accumulates
    assert opt.iterations == 0 and opt.get_state()["iterations"] == 1
    opt.apply([GRADS[1]], [var])
    np.testing.assert_allclose(var.data, W0 - 0.1 * (GRADS[0] + GRADS[1]) / 2)
    assert opt.iterations == 1
    np.testing.assert_array_equal(opt.get_state()["slots"]["gradient_accumulator"][0], np.zeros(3))
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be an integer >= 2"):
        optimizers.Adam(gradient_accumulation_steps=1)


def test_minimize_matches_keras_rmsprop_doc_example():
    var = td.tensor([10.0], requires_grad=True)
    opt = optimizers.RMSprop(learning_rate=0.1)
    opt.minimize(lambda: (var ** 2) / 2.0, [var])          # d loss / d var = var
    assert float(var.numpy()[0]) == pytest.approx(9.683772, rel=1e-6)   # Keras's documented value
    assert var.grad is None and opt.iterations == 1


SAVED = {
    "Muon": lambda: optimizers.Muon(learning_rate=0.01), "Adafactor": lambda: optimizers.Adafactor(0.05),
    "Nadam": lambda: optimizers.Nadam(0.01),                     # an optimizer-wide scalar after the slots
    "LossScaleOptimizer": lambda: optimizers.LossScaleOptimizer(optimizers.Adam(0.01), initial_scale=4.0,
                                                                dynamic_growth_steps=3),
    "MultiOptimizer": lambda: optimizers.MultiOptimizer(optimizers.OptimizerMap(
        optimizers.Adam(0.01), {".*bias": optimizers.SGD(0.1, momentum=0.5)})),
}


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("kind", sorted(SAVED))
def test_optimizer_state_saves_and_loads_with_the_model(tmp_path, suffix, kind):
    """Muon's velocity exists only for AdamW-path variables, Adafactor's r/c are scalars for vectors, Nadam
    keeps a scalar after its slots, the wrappers list their own values before their optimizers': the saved
    state still lines up with the variables after a round trip."""
    make = SAVED[kind]
    model = td.models.Sequential([td.layers.Input((3,)), td.layers.Dense(4), td.layers.Dense(2)])
    model.compile(optimizer=make(), loss="mean_squared_error")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    model.fit(x, x[:, :2], epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    clone = td.saving.load_model(tmp_path / f"m{suffix}")
    assert type(clone.optimizer) is type(model.optimizer) and clone.optimizer.iterations == 4
    mine, theirs = model.optimizer.variables(), clone.optimizer.variables()
    assert len(mine) == len(theirs) > 2
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64), rtol=1e-7)
