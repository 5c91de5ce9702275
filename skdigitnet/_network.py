"""The math of a plain feed-forward network, as pure functions.

Nothing here knows about estimators or validates input.

Layer numbering follows scikit-learn: with ``L = len(units)`` layers, layer 0 is the
input, layers ``1 .. L-2`` are hidden and layer ``L-1`` is the output. Between layer
``i`` and ``i + 1`` sit ``coefs[i]`` of shape ``(units[i], units[i + 1])`` and
``intercepts[i]`` of shape ``(units[i + 1],)``, so a layer computes
``a[i + 1] = σ(a[i] @ coefs[i] + intercepts[i])`` on rows of samples.

All parameters live in one flat vector ``theta`` (every weight matrix, then every bias
vector, each raveled in C order, as scikit-learn's L-BFGS packing); ``coefs`` and
``intercepts`` are views into it, so an optimizer step is a few whole-vector operations.
"""

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.special import expit, xlogy


@dataclass(frozen=True)
class Architecture:
    """What the network is, apart from its parameters.

    units : tuple of int, length L (input, hidden..., output sizes)
    hidden : tuple of Activation, length L - 2, one per hidden layer
    output : {'softmax', 'logistic'}
    loss : {'log_loss', 'squared_error'}
    """

    units: tuple
    hidden: tuple
    output: str
    loss: str

    @property
    def n_parameters(self):
        """Number of weights and biases."""
        return count_parameters(self.units)

    @property
    def n_weights(self):
        """Number of weights (the biases excluded)."""
        return sum(fan_in * fan_out for fan_in, fan_out in pairwise(self.units))


def count_parameters(units):
    """Number of weights and biases of a network with layer sizes ``units``."""
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in pairwise(units))


def unpack(theta, units):
    """Views of ``theta`` as ``(coefs, intercepts)``; see the module docstring for shapes."""
    coefs, intercepts, start = [], [], 0
    for fan_in, fan_out in pairwise(units):
        coefs.append(theta[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
    for fan_out in units[1:]:
        intercepts.append(theta[start : start + fan_out])
        start += fan_out
    return coefs, intercepts


def pack(coefs, intercepts, dtype):
    """One new flat vector of shape ``(n_parameters,)`` holding ``coefs`` then ``intercepts``."""
    return np.concatenate([np.ravel(p) for p in (*coefs, *intercepts)]).astype(dtype)


def init_parameters(arch, random_state, dtype):
    """Glorot-uniform weights and biases, shape ``(n_parameters,)``.

    Drawn in scikit-learn's order (per layer, weights then biases, in float64), so the
    same ``RandomState`` gives ``MLPClassifier``'s starting point. The bound of layer ``i``
    is ``sqrt(f / (fan_in + fan_out))`` with ``f`` the ``init_factor`` of the activation
    the layer feeds (the last hidden activation's for the output layer).
    """
    theta = np.empty(arch.n_parameters, dtype=dtype)
    coefs, intercepts = unpack(theta, arch.units)
    for i, (fan_in, fan_out) in enumerate(pairwise(arch.units)):
        feeds = arch.hidden[min(i, len(arch.hidden) - 1)] if arch.hidden else None
        bound = np.sqrt((feeds.init_factor if feeds else 6.0) / (fan_in + fan_out))
        coefs[i][...] = random_state.uniform(-bound, bound, (fan_in, fan_out))
        intercepts[i][...] = random_state.uniform(-bound, bound, fan_out)
    return theta


def softmax_inplace(z):
    """Row-wise softmax of ``z`` (n_samples, n_outputs), overwriting and returning ``z``."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def logistic_inplace(z):
    """Elementwise logistic sigmoid of ``z``, overwriting and returning ``z``."""
    return expit(z, out=z)


OUTPUT_ACTIVATIONS = {"softmax": softmax_inplace, "logistic": logistic_inplace}


def forward(arch, coefs, intercepts, X, *, keep_z=False):
    """Activations of every layer for the rows of ``X``.

    Pass truncated ``coefs``/``intercepts`` (the first ``k``) to stop at layer ``k``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, units[0])
    keep_z : bool
        Also return the pre-activations of hidden layers whose derivative needs them.

    Returns
    -------
    activations : list of ndarray, ``activations[i]`` of shape (n_samples, units[i])
        ``activations[0]`` is ``X`` itself.
    zs : list, ``zs[i]`` the pre-activation of hidden layer ``i + 1`` (n_samples, units[i + 1])
        when ``keep_z`` and that activation ``needs_z``, else None.
    """
    activations, zs = [X], []
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = activations[-1] @ W
        z += b
        if i < len(arch.hidden):
            act = arch.hidden[i]
            zs.append(z if keep_z and act.needs_z else None)
            activations.append(act._forward(z))
        else:
            activations.append(OUTPUT_ACTIVATIONS[arch.output](z))
    return activations, zs


def per_sample_loss(arch, Y, P):
    """Loss of each sample, shape (n_samples,), for targets ``Y`` and outputs ``P``.

    'log_loss' is the cross-entropy matching the output activation (categorical for
    softmax, summed binary for logistic outputs); 'squared_error' is
    ``0.5 * sum_k (P_k - Y_k)**2`` (the quadratic cost of the seed's chapter 2).
    Both Y and P have shape (n_samples, n_outputs). Probabilities are clipped to
    ``[eps, 1 - eps]`` as scikit-learn does, so the loss stays finite.
    """
    if arch.loss == "squared_error":
        return 0.5 * np.square(P - Y).sum(axis=1)
    eps = np.finfo(P.dtype).eps
    P = np.clip(P, eps, 1 - eps)
    if arch.output == "softmax":
        return -xlogy(Y, P).sum(axis=1)
    return -(xlogy(Y, P) + xlogy(1 - Y, 1 - P)).sum(axis=1)


def output_delta(arch, Y, P):
    """``d loss_i / d z_out`` for each sample, shape (n_samples, n_outputs).

    ``P - Y`` is exact for the canonical pairs (softmax with categorical cross-entropy,
    logistic with binary cross-entropy). Squared error goes through the output
    activation's Jacobian: ``P (1 - P)`` for logistic, ``diag(P) - P Pᵀ`` for softmax.
    """
    delta = P - Y
    if arch.loss == "squared_error":
        if arch.output == "logistic":
            delta *= P * (1 - P)
        else:
            delta -= (delta * P).sum(axis=1, keepdims=True)
            delta *= P
    return delta


def loss_and_gradient(arch, theta, X, Y, sample_weight, alpha, grad):
    """Regularised mean loss at ``theta``; its gradient is written into ``grad``.

    ``loss = sum_i w_i loss_i / sum_i w_i + 0.5 * alpha * ||W||² / sum_i w_i``, with
    ``w_i = 1`` when ``sample_weight`` is None (scikit-learn's definition).

    Parameters
    ----------
    theta, grad : ndarray of shape (n_parameters,)
    X : ndarray or sparse matrix of shape (n_samples, units[0])
    Y : ndarray of shape (n_samples, units[-1]), the encoded targets
    sample_weight : ndarray of shape (n_samples,) or None
    """
    coefs, intercepts = unpack(theta, arch.units)
    activations, zs = forward(arch, coefs, intercepts, X, keep_z=True)
    P = activations[-1]
    per_sample = per_sample_loss(arch, Y, P)
    delta = output_delta(arch, Y, P)
    if sample_weight is None:
        weight_sum, data_loss = X.shape[0], per_sample.mean()
    else:
        weight_sum = sample_weight.sum()
        data_loss = per_sample @ sample_weight / weight_sum
        delta *= sample_weight[:, np.newaxis]
    weights = theta[: arch.n_weights]
    loss = data_loss + 0.5 * alpha * (weights @ weights) / weight_sum
    backward(arch, coefs, activations, zs, delta, alpha, weight_sum, grad)
    return float(loss)


def backward(arch, coefs, activations, zs, delta, alpha, weight_sum, grad):
    """Backpropagate the output ``delta`` (n_samples, n_outputs), already weighted.

    Writes into ``grad`` (n_parameters,):
    ``(a[i]ᵀ delta[i] + alpha * coefs[i]) / weight_sum`` and ``sum(delta[i]) / weight_sum``.
    """
    grad_coefs, grad_intercepts = unpack(grad, arch.units)
    for i in range(len(coefs) - 1, -1, -1):
        grad_coefs[i][...] = activations[i].T @ delta
        grad_coefs[i] += alpha * coefs[i]
        grad_coefs[i] /= weight_sum
        np.sum(delta, axis=0, out=grad_intercepts[i])
        grad_intercepts[i] /= weight_sum
        if i > 0:
            delta = delta @ coefs[i].T
            delta = arch.hidden[i - 1]._backward(zs[i - 1], activations[i], delta)
    return grad


def predict_layer(arch, coefs, intercepts, X, layer, chunk_rows=8192):
    """Activations of layer ``layer`` (1 .. L-1) for ``X``, computed in row chunks.

    Memory beyond the result stays bounded by ``chunk_rows`` rows of each layer.

    Returns
    -------
    ndarray of shape (n_samples, units[layer])
    """
    n_samples = X.shape[0]
    dtype = np.result_type(X.dtype, coefs[0].dtype)
    out = np.empty((n_samples, arch.units[layer]), dtype=dtype)
    for start in range(0, n_samples, chunk_rows):
        rows = slice(start, min(start + chunk_rows, n_samples))
        out[rows] = forward(arch, coefs[:layer], intercepts[:layer], X[rows])[0][-1]
    return out
