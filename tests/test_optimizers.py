"""Optimizer steps against the formulas, written out by hand."""

import numpy as np
import pytest

from skdigitnet._neural_network.optimizers import SGD, Adam


def step(backend, optimizer, params, grad):
    """The optimizer's update rule on a backend: its own ``step`` (numpy), or the compiled
    rule changing the optimizer's own state (``kernels.update``)."""
    from skdigitnet._engine import NumpyBackend
    if backend is NumpyBackend:
        optimizer.step(params, grad)
        return
    from skdigitnet._engine.compiled import kernels, layout
    net = layout.Net(params, *([np.zeros(0, np.int64)] * 4), np.zeros(0), 0, 0, False)
    kernels.update(net, grad, layout.opt(optimizer), 0.0, 1.0)  # the gradient as it is


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_momentum_two_steps(dtype, backend):
    p = np.array([1.0, -2.0], dtype=dtype)
    g1, g2 = np.array([0.5, 1.0], dtype=dtype), np.array([-1.0, 2.0], dtype=dtype)
    opt = SGD(2, dtype, learning_rate_init=0.1, momentum=0.9, nesterov=False)
    step(backend, opt, p, g1)  # v = -0.1 g1 = [-0.05, -0.1]
    np.testing.assert_allclose(p, [0.95, -2.1], rtol=1e-6)
    step(backend, opt, p, g2)  # v = 0.9 v - 0.1 g2 = [-0.045 + 0.1, -0.09 - 0.2] = [0.055, -0.29]
    np.testing.assert_allclose(p, [1.005, -2.39], rtol=1e-6)
    assert p.dtype == dtype


def test_sgd_nesterov_step(backend):
    p = np.array([1.0])
    opt = SGD(1, np.float64, learning_rate_init=0.1, momentum=0.9, nesterov=True)
    step(backend, opt, p, np.array([2.0]))
    # v = -0.2; step = 0.9 * v - 0.1 * g = -0.18 - 0.2 = -0.38
    assert p[0] == pytest.approx(0.62)
    step(backend, opt, p, np.array([1.0]))
    # v = 0.9 * -0.2 - 0.1 = -0.28; step = 0.9 * -0.28 - 0.1 = -0.352
    assert p[0] == pytest.approx(0.62 - 0.352)


def test_sgd_schedules():
    opt = SGD(1, np.float64, learning_rate_init=0.5, schedule="invscaling", power_t=0.5)
    opt.epoch_end(99)
    assert opt.learning_rate == pytest.approx(0.5 / 10)
    adaptive = SGD(1, np.float64, learning_rate_init=0.5, schedule="adaptive")
    assert adaptive.reduce_learning_rate() and adaptive.learning_rate == pytest.approx(0.1)
    adaptive.learning_rate = 1e-6
    assert not adaptive.reduce_learning_rate()
    constant = SGD(1, np.float64, learning_rate_init=0.5)
    constant.epoch_end(99)
    assert constant.learning_rate == 0.5 and not constant.reduce_learning_rate()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_two_steps(dtype, backend):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p = np.array([1.0, -1.0], dtype=dtype)
    grads = [np.array([0.3, -2.0], dtype=dtype), np.array([0.1, 1.0], dtype=dtype)]
    opt = Adam(2, dtype, lr, b1, b2, eps)
    m = v = np.zeros(2)
    expected = p.astype(np.float64)
    for t, g in enumerate(grads, start=1):
        step(backend, opt, p, g)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g.astype(np.float64) ** 2
        size = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        expected = expected - size * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    assert p.dtype == dtype and opt.t == 2
    assert not opt.reduce_learning_rate()
