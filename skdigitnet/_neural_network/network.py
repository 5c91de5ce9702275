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

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike
from scipy.special import expit, xlogy

from skdigitnet._engine.compute import aligned_empty
from skdigitnet._typing import FloatArray, Matrix

if TYPE_CHECKING:
    from .activations import Activation


@dataclass(frozen=True)
class Architecture:
    """What the network is, apart from its parameters.

    units : tuple of int, length L (input, hidden..., output sizes)
    hidden : tuple of Activation, length L - 2, one per hidden layer
    output : {'softmax', 'logistic'}
    loss : {'log_loss', 'squared_error'}
    """

    units: tuple[int, ...]
    hidden: tuple[Activation, ...]
    output: str
    loss: str

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases."""
        return count_parameters(self.units)

    @property
    def n_weights(self) -> int:
        """Number of weights (the biases excluded)."""
        return sum(fan_in * fan_out for fan_in, fan_out in pairwise(self.units))


def count_parameters(units: Sequence[int]) -> int:
    """Number of weights and biases of a network with layer sizes ``units``."""
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in pairwise(units))


def parameter_offsets(units: Sequence[int]) -> tuple[list[int], list[int]]:
    """Where each weight matrix and each bias vector starts in ``theta``: two lists of
    ``len(units) - 1`` ints (every weight matrix first, then every bias vector)."""
    coef_starts, intercept_starts, start = [], [], 0
    for fan_in, fan_out in pairwise(units):
        coef_starts.append(start)
        start += fan_in * fan_out
    for fan_out in units[1:]:
        intercept_starts.append(start)
        start += fan_out
    return coef_starts, intercept_starts


def unpack(theta: FloatArray,
           units: Sequence[int]) -> tuple[list[FloatArray], list[FloatArray]]:
    """Views of ``theta`` as ``(coefs, intercepts)``; see the module docstring for shapes."""
    coef_starts, intercept_starts = parameter_offsets(units)
    coefs = [theta[start : start + fan_in * fan_out].reshape(fan_in, fan_out)
             for start, (fan_in, fan_out) in zip(coef_starts, pairwise(units))]
    intercepts = [theta[start : start + fan_out]
                  for start, fan_out in zip(intercept_starts, units[1:])]
    return coefs, intercepts


def pack(coefs: Sequence[FloatArray], intercepts: Sequence[FloatArray],
         dtype: DTypeLike) -> FloatArray:
    """One new flat vector of shape ``(n_parameters,)`` holding ``coefs`` then ``intercepts``."""
    flat = np.concatenate([np.ravel(p) for p in (*coefs, *intercepts)])
    theta = aligned_empty(flat.size, dtype)
    theta[...] = flat
    return theta


def parameter_vector(coefs: Sequence[FloatArray], intercepts: Sequence[FloatArray],
                     dtype: DTypeLike) -> FloatArray:
    """``pack(coefs, intercepts, dtype)`` for reading only: the flat vector ``coefs`` and
    ``intercepts`` are views of (``unpack``'s, as fit leaves them), in place, when they
    still are, one after the other in ``dtype``; else a new one. Saves a prediction the
    copy (some 0.05 ms right after another estimator's work has emptied the caches)."""
    dtype = np.dtype(dtype)
    arrays = (*coefs, *intercepts)
    owner = arrays[0].base
    if isinstance(owner, np.ndarray) and owner.flags.c_contiguous:
        start = end = arrays[0].__array_interface__["data"][0]
        for p in arrays:
            if (p.dtype != dtype or not p.flags.c_contiguous
                    or p.__array_interface__["data"][0] != end):
                break
            end += p.nbytes
        else:
            offset = start - owner.__array_interface__["data"][0]
            if offset >= 0 and offset + end - start <= owner.nbytes:
                return np.ndarray(((end - start) // dtype.itemsize,), dtype, buffer=owner,
                                  offset=offset)
    return pack(coefs, intercepts, dtype)


def init_parameters(arch: Architecture, random_state: np.random.RandomState,
                    dtype: DTypeLike) -> FloatArray:
    """Glorot-uniform weights and biases, shape ``(n_parameters,)``.

    Drawn in scikit-learn's order (per layer, weights then biases, in float64), so the
    same ``RandomState`` gives ``MLPClassifier``'s starting point. The bound of layer ``i``
    is ``sqrt(f / (fan_in + fan_out))`` with ``f`` the ``init_factor`` of the activation
    the layer feeds (the last hidden activation's for the output layer).
    """
    theta = aligned_empty(arch.n_parameters, dtype)
    coefs, intercepts = unpack(theta, arch.units)
    for i, (fan_in, fan_out) in enumerate(pairwise(arch.units)):
        feeds = arch.hidden[min(i, len(arch.hidden) - 1)] if arch.hidden else None
        bound = np.sqrt((feeds.init_factor if feeds else 6.0) / (fan_in + fan_out))
        coefs[i][...] = random_state.uniform(-bound, bound, (fan_in, fan_out))
        intercepts[i][...] = random_state.uniform(-bound, bound, fan_out)
    return theta


def softmax_inplace(z: FloatArray) -> FloatArray:
    """Row-wise softmax of ``z`` (n_samples, n_outputs), overwriting and returning ``z``.

    Shifting by a row's maximum keeps ``exp`` from overflowing. Row maxima are slow to
    find for a few columns, so when the whole array spans less than ``_SPAN`` (no
    ``exp(z - max(z))`` can come near the smallest normal float) the single global
    maximum serves every row.
    """
    top = z.max()
    if top - z.min() < _SPAN[z.dtype.type]:
        z -= top
    else:
        z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    sums = z @ np.ones(z.shape[1], z.dtype)  # faster than z.sum(axis=1) for few columns
    z *= np.reciprocal(sums, out=sums)[:, np.newaxis]
    return z


# -log(smallest normal) - 7
_SPAN: dict[type[np.floating[Any]], float] = {np.float32: 80.0, np.float64: 700.0}
_EPS: dict[type[np.floating[Any]], np.floating[Any]] = {
    np.float32: np.finfo(np.float32).eps, np.float64: np.finfo(np.float64).eps}


def logistic_inplace(z: FloatArray) -> FloatArray:
    """Elementwise logistic sigmoid of ``z``, overwriting and returning ``z``."""
    return expit(z, out=z)


OUTPUT_ACTIVATIONS: dict[str, Callable[[FloatArray], FloatArray]] = {
    "softmax": softmax_inplace, "logistic": logistic_inplace}


class Workspace:
    """Views and buffers reused by every batch of one fit, so a step allocates little.

    ``coefs``/``intercepts`` are views of ``theta`` and ``grad_coefs``/``grad_intercepts``
    views of ``grad`` (see ``unpack``); ``layers[i]`` (rows, units[i + 1]) receives layer
    ``i + 1``; ``deltas[i]`` (rows, units[i + 1]) the error of hidden layer ``i + 1``;
    ``ones`` (rows,) sums a batch's rows with one matrix product.
    """

    def __init__(self, arch: Architecture, theta: FloatArray, grad: FloatArray,
                 rows: int) -> None:
        self.theta, self.grad = theta, grad
        self.coefs, self.intercepts = unpack(theta, arch.units)
        self.grad_coefs, self.grad_intercepts = unpack(grad, arch.units)
        self.layers = [aligned_empty((rows, units), theta.dtype) for units in arch.units[1:]]
        self.deltas = [aligned_empty((rows, units), theta.dtype)
                       for units in arch.units[1:-1]]
        self.output_work = np.empty((rows, arch.units[-1]), theta.dtype)
        self.ones = np.ones(rows, theta.dtype)
        self.weights, self.grad_weights = theta[: arch.n_weights], grad[: arch.n_weights]
        self.weight_work = np.empty(arch.n_weights, theta.dtype)


def matmul(A: Matrix, W: FloatArray, out: FloatArray | None) -> FloatArray:
    """``A @ W`` into ``out`` when ``A`` is dense; a new array for a sparse ``A``."""
    if out is None or not isinstance(A, np.ndarray):
        return A @ W
    return np.matmul(A, W, out=out)


def _all_finite(a: FloatArray) -> bool:
    """Whether every entry of ``a`` is finite; one sum decides unless it overflows."""
    return bool(np.isfinite(a.sum()) or np.isfinite(a).all())


class NonFiniteLayer(ValueError):
    """The first layer's input sum is NaN or infinite (see ``forward(check_finite=True)``)."""


def forward(arch: Architecture, coefs: Sequence[FloatArray], intercepts: Sequence[FloatArray],
            X: Matrix, *, keep_z: bool = False, out: Sequence[FloatArray] | None = None,
            check_finite: bool = False) -> tuple[list[Matrix], list[FloatArray | None]]:
    """Activations of every layer for the rows of ``X``.

    Pass truncated ``coefs``/``intercepts`` (the first ``k``) to stop at layer ``k``.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, units[0])
    keep_z : bool
        Also return the pre-activations of hidden layers whose derivative needs them.
    out : list of ndarray, optional
        ``out[i]`` of shape (>= n_samples, units[i + 1]) receives layer ``i + 1``
        (``Workspace.layers``); by default new arrays.
    check_finite : bool
        Raise ``NonFiniteLayer`` when the first layer's ``z = X @ W + b`` is not finite.
        A NaN or infinity anywhere in ``X`` always shows up there (``inf * 0`` is NaN),
        so checking ``z`` (n_samples, units[1]) is a cheap stand-in for scanning ``X``.

    Returns
    -------
    activations : list of ndarray, ``activations[i]`` of shape (n_samples, units[i])
        ``activations[0]`` is ``X`` itself.
    zs : list, ``zs[i]`` the pre-activation of hidden layer ``i + 1`` (n_samples, units[i + 1])
        when ``keep_z`` and that activation ``needs_z``, else None.
    """
    activations: list[Matrix]
    zs: list[FloatArray | None]
    activations, zs, n = [X], [], X.shape[0]
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = matmul(activations[-1], W, None if out is None else out[i][:n])
        z += b
        if check_finite and i == 0 and not _all_finite(z):
            raise NonFiniteLayer("The first layer's weighted sums are not finite.")
        if i < len(arch.hidden):
            act = arch.hidden[i]
            zs.append(z if keep_z and act.needs_z else None)
            activations.append(act._forward(z))
        else:
            activations.append(OUTPUT_ACTIVATIONS[arch.output](z))
    return activations, zs


def total_loss(arch: Architecture, Y: FloatArray, P: FloatArray,
               sample_weight: FloatArray | None = None, work: FloatArray | None = None) -> float:
    """``sum_i w_i loss_i`` for targets ``Y`` and outputs ``P`` (n_samples, n_outputs).

    'log_loss' is the cross-entropy matching the output activation (categorical for
    softmax, summed binary for logistic outputs); 'squared_error' is
    ``0.5 * sum_k (P_k - Y_k)**2`` per sample (the quadratic cost of the seed's
    chapter 2). Probabilities are clipped to ``[eps, 1 - eps]`` as scikit-learn does,
    so the loss stays finite (for softmax only below: ``log(1 - eps)`` differs from 0 by
    less than ``eps``). ``work`` is an optional scratch array shaped like ``P``. The sum
    is one dot product: short row reductions are slow in numpy.
    """
    D = np.empty_like(P) if work is None else work
    if arch.loss == "log_loss" and arch.output == "softmax":  # the common case: 3 calls
        np.log(np.maximum(P, _EPS[P.dtype.type], out=D), out=D)
        if sample_weight is not None:
            D *= sample_weight[:, np.newaxis]
        return -float(np.vdot(D, Y))
    if arch.loss == "squared_error":
        np.square(np.subtract(P, Y, out=D), out=D)
        D *= 0.5
    else:
        eps = _EPS[P.dtype.type]
        np.minimum(np.maximum(P, eps, out=D), 1 - eps, out=D)
        np.negative(xlogy(Y, D) + xlogy(1 - Y, 1 - D), out=D)
    if sample_weight is not None:
        D *= sample_weight[:, np.newaxis]
    return float(D.sum())


def output_delta(arch: Architecture, Y: FloatArray, P: FloatArray) -> FloatArray:
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


def loss_and_gradient(arch: Architecture, theta: FloatArray, X: Matrix, Y: FloatArray,
                      sample_weight: FloatArray | None, alpha: float, grad: FloatArray,
                      workspace: Workspace | None = None) -> float:
    """Regularised mean loss at ``theta``; its gradient is written into ``grad``.

    ``loss = sum_i w_i loss_i / sum_i w_i + 0.5 * alpha * ||W||² / sum_i w_i``, with
    ``w_i = 1`` when ``sample_weight`` is None (scikit-learn's definition).

    Parameters
    ----------
    theta, grad : ndarray of shape (n_parameters,)
    X : ndarray or sparse matrix of shape (n_samples, units[0])
    Y : ndarray of shape (n_samples, units[-1]), the encoded targets
    sample_weight : ndarray of shape (n_samples,) or None
    workspace : Workspace, optional
        Buffers for at least ``n_samples`` rows, made for these ``theta`` and ``grad``.
    """
    ws = workspace if workspace is not None else Workspace(arch, theta, grad, X.shape[0])
    n = X.shape[0]
    activations, zs = forward(arch, ws.coefs, ws.intercepts, X, keep_z=True, out=ws.layers)
    P = activations[-1]
    data_loss = total_loss(arch, Y, P, sample_weight, ws.output_work[:n])
    delta = output_delta(arch, Y, P)
    weight_sum = n if sample_weight is None else sample_weight.sum()
    if sample_weight is not None:
        delta *= sample_weight[:, np.newaxis]
    backward(arch, activations, zs, delta, ws)
    # L2 and the mean, over whole blocks: every weight comes before every bias
    loss = (data_loss + 0.5 * alpha * (ws.weights @ ws.weights)) / weight_sum
    if alpha:
        ws.grad_weights += np.multiply(ws.weights, alpha, out=ws.weight_work)
    grad /= weight_sum
    return float(loss)


def backward(arch: Architecture, activations: Sequence[Matrix],
             zs: Sequence[FloatArray | None], delta: FloatArray, ws: Workspace) -> FloatArray:
    """Backpropagate the output ``delta`` (n_samples, n_outputs), already weighted.

    Writes the unscaled data gradient into ``ws.grad`` (n_parameters,):
    ``a[i]ᵀ delta[i+1]`` for ``coefs[i]`` and ``sum(delta[i+1])`` for ``intercepts[i]``.
    """
    n = delta.shape[0]
    for i in range(len(ws.coefs) - 1, -1, -1):
        if isinstance(activations[i], np.ndarray):
            np.matmul(activations[i].T, delta, out=ws.grad_coefs[i])
        else:  # a sparse input layer
            ws.grad_coefs[i][...] = activations[i].T @ delta
        np.matmul(ws.ones[:n], delta, out=ws.grad_intercepts[i])
        if i > 0:
            delta = np.matmul(delta, ws.coefs[i].T, out=ws.deltas[i - 1][:n])
            delta = arch.hidden[i - 1]._backward(zs[i - 1], activations[i], delta)
    return ws.grad


def chunks(X: Matrix, chunk_rows: int, dtype: DTypeLike) -> Iterator[tuple[slice, Matrix]]:
    """(rows, X[rows] in a float dtype) for consecutive chunks of ``chunk_rows`` rows."""
    for start in range(0, X.shape[0], chunk_rows):
        rows = slice(start, min(start + chunk_rows, X.shape[0]))
        yield rows, X[rows] if X.dtype.kind not in "iub" else X[rows].astype(dtype)


def predict_into(arch: Architecture, coefs: Sequence[FloatArray],
                 intercepts: Sequence[FloatArray], X: Matrix, layer: int, chunk_rows: int,
                 out: FloatArray, check_finite: bool) -> bool:
    """Layer ``layer`` (1 .. L-1) of ``X`` by ``forward``, chunk by chunk, into ``out``
    (n_samples, units[layer]); False at the first chunk whose first-layer sums are not
    finite (checked when asked), else True."""
    rows_max = min(chunk_rows, X.shape[0])
    buffers = [np.empty((rows_max, u), out.dtype) for u in arch.units[1:layer]]
    for rows, chunk in chunks(X, chunk_rows, out.dtype):
        # the last layer is computed straight into its rows of the result ...
        target = out[rows]
        try:
            result = forward(arch, coefs[:layer], intercepts[:layer], chunk,
                             out=[*buffers, target], check_finite=check_finite)[0][-1]
        except NonFiniteLayer:
            return False
        if result is not target:  # ... unless its activation made a new array
            target[...] = result
    return True
