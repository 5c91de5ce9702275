"""Gradients with respect to the image: fool the network, dream, and explain an answer.

All three need ``d objective / d x`` for one image ``x`` (the 28x28 image the network
sees, in [0, 1]). They get it from the network's own math: ``_network.forward`` and
``_network.backward``, with the activations' own derivatives. ``backward`` takes the
objective's derivative with respect to the output layer's weighted inputs ``z`` and
writes the gradient of every parameter; for a single image, the first layer's bias
gradient *is* ``d objective / d z_1``, so the input gradient is one more product,
``coefs[0] @ grad_intercepts[0]``. No second backpropagation is written here.

- :func:`fool`: the smallest change found to ``x`` (pixels kept in [0, 1]) that makes
  the network answer ``target``: targeted DeepFool steps (the linearised boundary
  crossed by the shortest step the box allows), then the change shrunk back along its
  line, and a few rounds of sliding along the boundary towards ``x``.
- :func:`dream`: the image, from a blank or noisy start, that maximises one output's
  log probability (the network's own loss towards that class), by projected gradient
  steps with a little weight decay to keep it from filling every pixel.
- :func:`evidence`: gradient times input of the winning class's log probability
  (minus the network's loss towards it): positive pixels pushed the network towards
  its answer, negative ones against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from skdigitnet._neural_network.network import Workspace, backward, forward, output_delta, pack

if TYPE_CHECKING:
    from skdigitnet._neural_network.classifier import DigitMLPClassifier
    from skdigitnet._typing import FloatArray

#: ``delta(z, P)``: d objective / d z_out (n_outputs,) from the output layer's
#: weighted inputs ``z`` and outputs ``P``.
OutputDelta = Callable[["FloatArray", "FloatArray"], "FloatArray"]

#: How far past the boundary a fooled image must be: ``z[target]`` at least this much
#: above every other output's weighted input.
MARGIN = 0.01
#: Steps of :func:`fool` before it gives up; rounds of sliding along the boundary.
MAX_STEPS, SLIDE_ROUNDS = 100, 12
#: Steps, step length and weight decay of :func:`dream`.
DREAM_STEPS, DREAM_STEP, DREAM_DECAY = 200, 0.5, 0.02


class InputGradient:
    """A fitted classifier's forward and backward pass for one image, in float64.

    Parameters
    ----------
    clf : DigitMLPClassifier, fitted
        Its parameters are copied (as float64); later changes to ``clf`` do not reach
        this object.
    """

    def __init__(self, clf: DigitMLPClassifier) -> None:
        self.arch = clf._arch
        theta = pack(clf.coefs_, clf.intercepts_, np.float64)
        self.ws = Workspace(self.arch, theta, np.empty_like(theta), 1)
        self.n_outputs = self.arch.units[-1]

    def outputs(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(z, P)`` for image ``x`` (n_inputs,): the output layer's weighted inputs and
        outputs, each of shape (n_outputs,)."""
        activations, _ = forward(self.arch, self.ws.coefs, self.ws.intercepts, x[np.newaxis])
        return self._logits(activations[-2]), np.asarray(activations[-1][0], np.float64)

    def _logits(self, last_hidden: object) -> FloatArray:
        return np.asarray(last_hidden)[0] @ self.ws.coefs[-1] + self.ws.intercepts[-1]

    def gradient(self, x: FloatArray,
                 delta: OutputDelta) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(z, P, d objective / d x)`` for image ``x`` (n_inputs,), the objective given
        by its derivative ``delta(z, P)`` with respect to ``z``."""
        ws = self.ws
        activations, zs = forward(self.arch, ws.coefs, ws.intercepts, x[np.newaxis],
                                  keep_z=True, out=ws.layers)
        z = self._logits(activations[-2])
        P = np.array(activations[-1][0], np.float64)
        backward(self.arch, activations, zs, delta(z, P)[np.newaxis], ws)
        # one image: the first layer's bias gradient is d objective / d z_1
        return z, P, ws.coefs[0] @ ws.grad_intercepts[0]

    def margin_delta(self, target: int) -> OutputDelta:
        """``delta`` of ``z[other] - z[target]``, ``other`` the strongest other output."""
        def delta(z: FloatArray, P: FloatArray) -> FloatArray:
            d = np.zeros(self.n_outputs)
            d[_strongest_other(z, target)] = 1.0
            d[target] = -1.0
            return d
        return delta

    def loss_delta(self, target: int) -> OutputDelta:
        """``delta`` of the network's own loss (its ``loss`` and output activation)
        against the one-hot target ``target``."""
        Y = np.zeros((1, self.n_outputs))
        Y[0, target] = 1.0

        def delta(z: FloatArray, P: FloatArray) -> FloatArray:
            return output_delta(self.arch, Y, P[np.newaxis])[0]
        return delta


def _strongest_other(z: FloatArray, target: int) -> int:
    others = z.copy()
    others[target] = -np.inf
    return int(np.argmax(others))


def _gap(z: FloatArray, target: int) -> float:
    """How far ``target`` is from winning: ``max(z[other]) - z[target]`` (< 0 wins)."""
    return float(z[_strongest_other(z, target)] - z[target])


@dataclass
class Fooled:
    """What :func:`fool` found: the changed image, whether ``target`` wins on it (by
    ``MARGIN``), and how many forward and backward passes it took."""

    image: FloatArray
    success: bool
    passes: int


def _deepfool(net: InputGradient, x: FloatArray, target: int,
              max_steps: int) -> tuple[FloatArray, int]:
    """Targeted DeepFool in the box [0, 1]: repeat the shortest step that crosses the
    linearised boundary ``z[other] - z[target] = -MARGIN``, over the pixels free to
    move that way, until ``target`` wins; ``(image, passes)``."""
    delta = net.margin_delta(target)
    for step in range(max_steps):
        z, _, g = net.gradient(x, delta)
        gap = _gap(z, target)
        if gap < -MARGIN:
            return x, step + 1
        # x moves along -g; a pixel at 0 cannot fall, a pixel at 1 cannot rise
        g = np.where(((x <= 0) & (g > 0)) | ((x >= 1) & (g < 0)), 0.0, g)
        norm2 = float(g @ g)
        if norm2 == 0:
            break
        x = np.clip(x - (1.02 * (gap + MARGIN) / norm2 + 1e-6) * g, 0.0, 1.0)
    return x, max_steps + 1


def _shrink(net: InputGradient, x0: FloatArray, x: FloatArray, target: int,
            rounds: int = 10) -> FloatArray:
    """The point nearest ``x0`` on the segment from ``x0`` to ``x`` (which ``target``
    wins) that ``target`` still wins, by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(rounds):
        mid = (lo + hi) / 2
        if _gap(net.outputs(x0 + mid * (x - x0))[0], target) < -MARGIN:
            hi = mid
        else:
            lo = mid
    return x0 + hi * (x - x0)


def fool(clf: DigitMLPClassifier, image: FloatArray, target: int) -> Fooled:
    """The smallest change found to ``image`` that makes ``clf`` answer ``target``.

    Parameters
    ----------
    clf : DigitMLPClassifier, fitted
    image : ndarray of shape (n_inputs,)
        The image the network sees, in [0, 1].
    target : int
        Index of the wanted output (a position in ``clf.classes_``).

    Returns
    -------
    Fooled
        ``image`` in [0, 1]; ``success`` when ``target`` wins on it by ``MARGIN``.
    """
    net = InputGradient(clf)
    x0 = np.clip(np.asarray(image, np.float64), 0.0, 1.0)
    x, passes = _deepfool(net, x0.copy(), target, MAX_STEPS)
    if _gap(net.outputs(x)[0], target) >= -MARGIN:
        return Fooled(x, False, passes)
    best = _shrink(net, x0, x, target)
    for _ in range(SLIDE_ROUNDS):  # step back towards x0, cross again, keep the nearer
        pulled = x0 + 0.8 * (best - x0)
        x, used = _deepfool(net, pulled, target, 10)
        passes += used + 10
        if _gap(net.outputs(x)[0], target) < -MARGIN:
            x = _shrink(net, x0, x, target)
            if np.linalg.norm(x - x0) < np.linalg.norm(best - x0):
                best = x
    return Fooled(best, True, passes)


def dream(clf: DigitMLPClassifier, label: int, start: FloatArray) -> FloatArray:
    """The image that maximises output ``label``, from ``start`` (n_inputs,) in [0, 1].

    Projected gradient steps of length ``DREAM_STEP`` (in L2) on the network's loss
    towards ``label`` plus ``DREAM_DECAY * ||x||² / 2``, pixels kept in [0, 1].
    """
    net = InputGradient(clf)
    delta = net.loss_delta(label)
    x = np.clip(np.asarray(start, np.float64), 0.0, 1.0)
    for _ in range(DREAM_STEPS):
        _, _, g = net.gradient(x, delta)
        g += DREAM_DECAY * x
        norm = float(np.linalg.norm(g))
        if norm == 0:
            break
        x = np.clip(x - (DREAM_STEP / norm) * g, 0.0, 1.0)
    return x


def evidence(clf: DigitMLPClassifier, image: FloatArray, label: int) -> FloatArray:
    """Gradient times input for output ``label``: ``-x * d loss / d x``, the network's
    own loss towards ``label`` (for softmax and log loss, ``x * d log P[label] / d x``).

    Positive pixels pushed the network towards ``label``, negative ones against it.
    Shape (n_inputs,).
    """
    net = InputGradient(clf)
    x = np.asarray(image, np.float64)
    return -x * net.gradient(x, net.loss_delta(label))[2]
