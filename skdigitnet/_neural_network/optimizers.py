"""Stochastic optimizers over one flat parameter vector.

They update parameters and keep their own state; they neither print nor decide when
training stops (the training loop does). ``params`` and ``grad`` are ndarrays of shape
``(n_parameters,)``; every update is in place.

To add an optimizer: a class here with ``step(params, grad)``, ``epoch_end(n_samples_seen)``,
``reduce_learning_rate()`` and a ``learning_rate`` attribute, chosen by
``DigitMLPClassifier._optimizer_for``. The numpy backend calls ``step``; the compiled
backend has its own update rule for each (``_engine.compiled.kernels.update``), which
changes these objects' state arrays in place.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import DTypeLike

from skdigitnet._engine.compute import aligned_zeros
from skdigitnet._typing import FloatArray


class SGD:
    """Stochastic gradient descent with momentum or Nesterov's momentum.

    ``velocity = momentum * velocity - lr * grad``; then the step is ``velocity``, or with
    Nesterov ``momentum * velocity - lr * grad`` (scikit-learn's formulation).

    schedule : {'constant', 'invscaling', 'adaptive'}
        'invscaling' sets ``lr = learning_rate_init / (t + 1) ** power_t`` at each epoch
        end, ``t`` the number of samples seen; 'adaptive' is lowered by the training loop
        through ``reduce_learning_rate`` when the loss stops improving.
    """

    def __init__(self, n_parameters: int, dtype: DTypeLike, learning_rate_init: float = 0.1,
                 schedule: Literal["constant", "invscaling", "adaptive"] = "constant",
                 momentum: float = 0.9, nesterov: bool = True, power_t: float = 0.5) -> None:
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.schedule = schedule
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.power_t = power_t
        self.n_parameters = n_parameters
        self.velocity = aligned_zeros(n_parameters, dtype)
        self._work = aligned_zeros(n_parameters, dtype)

    def step(self, params: FloatArray, grad: FloatArray) -> None:
        """Move ``params`` (n_parameters,) one step against ``grad`` (n_parameters,)."""
        v, mu, work = self.velocity, self.momentum, self._work
        np.multiply(grad, -float(self.learning_rate), out=work)  # -lr * grad
        v *= mu
        v += work
        if self.nesterov:
            params += work
            params += np.multiply(v, mu, out=work)
        else:
            params += v

    def epoch_end(self, n_samples_seen: int) -> None:
        """Update the learning rate of the 'invscaling' schedule."""
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (n_samples_seen + 1) ** self.power_t

    def reduce_learning_rate(self) -> bool:
        """For the 'adaptive' schedule: divide the rate by 5; False when it is spent."""
        if self.schedule != "adaptive" or self.learning_rate <= 1e-6:
            return False
        self.learning_rate /= 5.0
        return True


class Adam:
    """Adam (Kingma & Ba, 2014) with bias-corrected step size.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g²``,
    ``params -= lr * sqrt(1 - b2**t) / (1 - b1**t) * m / (sqrt(v) + epsilon)``.

    The step count ``t`` is kept in a one-element array, ``steps``, so that a compiled
    update rule counts its steps in this object too.
    """

    def __init__(self, n_parameters: int, dtype: DTypeLike, learning_rate_init: float = 0.001,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8) -> None:
        self.learning_rate_init = float(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.steps = np.zeros(1, np.int64)
        self.n_parameters = n_parameters
        self.m = aligned_zeros(n_parameters, dtype)
        self.v = aligned_zeros(n_parameters, dtype)
        self._work = aligned_zeros(n_parameters, dtype)

    @property
    def t(self) -> int:
        """The number of steps taken."""
        return int(self.steps[0])

    @property
    def learning_rate(self) -> float:
        """The bias-corrected step size of the last step (before any step, the initial
        learning rate)."""
        t = self.t
        if t == 0:
            return self.learning_rate_init
        return self.learning_rate_init * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def step(self, params: FloatArray, grad: FloatArray) -> None:
        """Move ``params`` (n_parameters,) one step against ``grad`` (n_parameters,)."""
        # every operation in place, with Python-float scalars (a numpy float64 scalar
        # would make float32 arrays take a slower casting path)
        self.steps[0] += 1
        learning_rate = self.learning_rate
        b1, b2, m, v, work = self.beta_1, self.beta_2, self.m, self.v, self._work
        m += np.multiply(np.subtract(grad, m, out=work), 1 - b1, out=work)  # m += (1-b1)(g-m)
        np.multiply(grad, grad, out=work)
        work -= v
        v += np.multiply(work, 1 - b2, out=work)  # v += (1-b2)(g²-v)
        np.sqrt(v, out=work)
        work += self.epsilon
        np.divide(m, work, out=work)
        params -= np.multiply(work, learning_rate, out=work)

    def epoch_end(self, n_samples_seen: int) -> None:
        """Adam keeps its own step size: nothing to do."""

    def reduce_learning_rate(self) -> bool:
        """Adam has no adaptive schedule: training stops on a plateau."""
        return False
