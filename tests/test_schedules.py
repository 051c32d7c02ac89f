"""Learning-rate schedules: Keras 3 formulas at hand-picked steps, configs, use inside an optimizer."""
import math

import numpy as np
import pytest

from tinydl import optimizers, schedules


def test_exponential_decay_smooth_and_staircase():
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == pytest.approx(0.1)
    assert s(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    assert s(20) == pytest.approx(0.025)
    stair = schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert stair(9) == pytest.approx(0.1) and stair(10) == pytest.approx(0.05) and stair(25) == pytest.approx(0.025)


def test_piecewise_constant_boundaries_are_inclusive_on_the_left_piece():
    s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(0), s(10), s(11), s(20), s(21), s(1000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    with pytest.raises(ValueError, match="len\\(values\\) == len\\(boundaries\\) \\+ 1"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 2.0])


def test_polynomial_decay_with_and_without_cycle():
    s = schedules.PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, power=2.0)
    assert s(5) == pytest.approx(0.25) and s(10) == pytest.approx(0.0) and s(50) == pytest.approx(0.0)
    assert schedules.PolynomialDecay(0.1, 10)(10) == pytest.approx(0.0001)
    c = schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0, cycle=True)
    # step 15 lies in the second cycle: decay_steps becomes 20
    assert c(0) == pytest.approx(1.0) and c(15) == pytest.approx(1 - 15 / 20)


def test_inverse_time_decay():
    s = schedules.InverseTimeDecay(0.5, decay_steps=4, decay_rate=1.0)
    assert s(2) == pytest.approx(0.5 / 1.5)
    assert schedules.InverseTimeDecay(0.5, 4, 1.0, staircase=True)(7) == pytest.approx(0.25)


def test_cosine_decay_plain_and_with_warmup():
    s = schedules.CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert s(0) == pytest.approx(1.0)
    assert s(50) == pytest.approx(0.9 * 0.5 + 0.1)
    assert s(100) == pytest.approx(0.1) and s(500) == pytest.approx(0.1)
    w = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=4)
    assert w(0) == 0.0 and w(2) == pytest.approx(0.5)
    assert w(4) == pytest.approx(1.0)
    assert w(9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert w(100) == pytest.approx(0.0)


def test_cosine_decay_restarts():
    plain = schedules.CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=1.0, m_mul=0.5)
    assert plain(0) == pytest.approx(1.0) and plain(5) == pytest.approx(0.5)
    assert plain(10) == pytest.approx(0.5)            # restart: peak halved
    assert plain(15) == pytest.approx(0.25)
    grow = schedules.CosineDecayRestarts(1.0, first_decay_steps=10, t_mul=2.0)
    # first period 10 steps, second 20: step 20 is a quarter into the second period
    assert grow(10) == pytest.approx(1.0)
    assert grow(20) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert grow(30) == pytest.approx(1.0)


def test_configs_round_trip_with_keras_keys():
    cases = [
        schedules.ExponentialDecay(0.1, 10, 0.9, staircase=True),
        schedules.PiecewiseConstantDecay([5], [0.1, 0.01]),
        schedules.PolynomialDecay(0.1, 100, power=0.5, cycle=True),
        schedules.InverseTimeDecay(0.1, 10, 0.5),
        schedules.CosineDecay(0.1, 100, alpha=0.01, warmup_target=0.2, warmup_steps=10),
        schedules.CosineDecayRestarts(0.1, 10, t_mul=1.5, m_mul=0.9, alpha=0.1),
    ]
    assert cases[4].get_config() == {"initial_learning_rate": 0.1, "decay_steps": 100, "alpha": 0.01,
                                      "name": "CosineDecay", "warmup_target": 0.2, "warmup_steps": 10}
    for s in cases:
        again = schedules.deserialize(schedules.serialize(s))
        assert type(again) is type(s) and again.get_config() == s.get_config()
        assert [again(k) for k in (0, 7, 300)] == [s(k) for k in (0, 7, 300)]


def test_optimizer_uses_schedule_at_its_iteration_count():
    s = schedules.PiecewiseConstantDecay([1], [1.0, 0.1])
    opt = optimizers.SGD(learning_rate=s)
    w = _Var([0.0])
    rates = []
    for _ in range(3):
        rates.append(opt.learning_rate)
        opt.apply([np.array([1.0])], [w])
    assert rates == [1.0, 1.0, 0.1]
    np.testing.assert_allclose(w.data, [-2.1])
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        opt.learning_rate = 0.5
    cfg = opt.get_config()
    assert cfg["learning_rate"]["class_name"] == "PiecewiseConstantDecay"
    again = optimizers.SGD.from_config(cfg)
    assert again.learning_rate == 1.0 and isinstance(again.learning_rate_schedule, schedules.PiecewiseConstantDecay)


class _Var:
    def __init__(self, values):
        self.data = np.array(values, dtype=np.float64)
