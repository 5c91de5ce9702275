"""A user-defined activation, at module level so that worker processes can unpickle it."""

import numpy as np

from skdigitnet import Activation


class ScaledTanh(Activation):
    """LeCun's ``1.7159 * tanh(2 z / 3)``; the derivative is written from ``a``."""

    needs_z = False

    def __init__(self, scale=1.7159):
        self.scale = scale

    def __call__(self, z):
        return self.scale * np.tanh(2.0 * z / 3.0)

    def derivative(self, z, a):
        return (2.0 / 3.0) * (self.scale - a**2 / self.scale)


class Cube(Activation):
    """``z ** 3``: a derivative that needs ``z``."""

    def __call__(self, z):
        return z**3

    def derivative(self, z, a):
        return 3.0 * z**2


class Squareplus(Activation):
    """``(z + sqrt(z**2 + b)) / 2``: a smooth ReLU made of arithmetic only (So, 2021)."""

    needs_z = False

    def __init__(self, b=4.0):
        self.b = b

    def __call__(self, z):
        return 0.5 * (z + np.sqrt(z * z + self.b))

    def derivative(self, z, a):
        # with a = (z + r) / 2 and r = sqrt(z² + b): z = a - b / (4 a), r = a + b / (4 a),
        # so dσ/dz = (1 + z / r) / 2 = a² / (a² + b / 4)
        return a * a / (a * a + self.b / 4)


class InterruptAfter(ScaledTanh):
    """Raises KeyboardInterrupt, as Ctrl-C does, on its ``calls``-th forward pass only."""

    def __init__(self, calls):
        super().__init__()
        self.calls = calls

    def __call__(self, z):
        self.calls -= 1
        if self.calls == 0:
            raise KeyboardInterrupt
        return super().__call__(z)


def balanced_accuracy_scorer(estimator, X, y):
    """A scoring callable ``scorer(estimator, X, y)``, at module level so that it
    pickles: the balanced accuracy of ``estimator.predict(X)``."""
    from sklearn.metrics import balanced_accuracy_score
    return balanced_accuracy_score(y, estimator.predict(X))
