"""The CuPy backend: every op of the gradient registry and a training run on the GPU agree with the CPU.

Skipped (with the reason) where CuPy or a GPU is missing, so CI stays green without one;
TINYDL_TEST_DEVICE=cpu runs them on the CPU against itself (tests/gpu/device.py).
"""
import numpy as np
import pytest

import tinydl as td
from tests.gpu.device import DEVICE, requires_device

pytestmark = requires_device


def _op_cases():
    from tests.ops.test_gradients import CASES
    return CASES


@pytest.mark.parametrize("case", _op_cases(), ids=lambda c: c.id)
def test_op_forward_and_gradient_on_gpu_match_cpu(case):
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case.inputs)
    def check(arrays):
        results = []
        for device in ("cpu", DEVICE):
            tensors = [td.tensor(a, requires_grad=np.asarray(a).dtype.kind == "f", device=device) for a in arrays]
            td.set_seed(0)
            out = case.fn(*tensors, **case.kwargs)
            weights = np.random.default_rng(0).standard_normal(out.shape)
            (out * td.tensor(weights, device=device)).sum().backward()
            results.append([out.numpy()] + [t.grad.numpy() for t in tensors if t.grad is not None])
        for cpu, gpu in zip(*results):
            np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-9)  # float64: exact-ish
    check()


def test_model_trains_the_same_on_gpu():
    from tinydl.layers import Dense, Input
    from tinydl.models import Sequential
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    y = x[:, :2] * 2
    histories = []
    for device in ("cpu", DEVICE):
        td.set_seed(0)
        model = Sequential([Input(shape=(8,)), Dense(16, activation="relu"), Dense(2)]).to(device)
        model.compile("adam", "mean_squared_error")
        histories.append(model.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"])
        out = model.predict(x, verbose=0)
        assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-4)


def test_tensor_moves_between_devices_with_gradients():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = (x.to(DEVICE) * 3).sum()
    assert y.device == DEVICE
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    with td.device(DEVICE):
        assert td.tensor([1.0]).device == DEVICE
    assert td.tensor([1.0]).device == "cpu"
