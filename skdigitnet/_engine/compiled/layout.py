"""The arrays a compiled kernel takes, grouped: ``Data``, ``Net``, ``Work`` and ``Opt``.

numba compiles a function once per combination of argument types, so these hold the
same types whatever the network: 1-D int64 arrays describe the architecture, scalars
are Python ints and bools, and every array is C-ordered. Nothing here runs compiled
code; ``kernels.py`` reads these by field name.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from skdigitnet._engine.compute import aligned_empty
from skdigitnet._neural_network.network import Architecture, parameter_offsets
from skdigitnet._neural_network.optimizers import SGD, Adam
from skdigitnet._typing import FloatArray, IntArray, NDArray

from . import kernels, skip_zeros
from .elementwise import activation_code


class Data(NamedTuple):
    """Rows to train on or predict: ``X`` (n, features) C-ordered in any real dtype;
    ``Y`` (n, outputs) targets, (0, outputs) to predict; ``sw`` (n,) sample weights, or
    (0,) for none; ``order`` the rows to visit, in order, or (0,) for all in turn."""

    X: NDArray[Any]
    Y: FloatArray
    sw: FloatArray
    order: IntArray


class Net(NamedTuple):
    """A network: ``theta`` its parameters (``_network``'s flat layout), and the
    architecture as ``Plan`` describes it; ``skip``: the first layer's products skip
    the zero inputs (``skip_zeros``)."""

    theta: FloatArray
    units: IntArray
    coef_start: IntArray
    bias_start: IntArray
    codes: IntArray
    params: NDArray[np.float64]
    output: int
    n_weights: int
    skip: bool


class Work(NamedTuple):
    """Buffers for batches or chunks of up to ``rows`` rows: ``acts`` every layer's
    values after the input, layer i (n, units[i]) from ``act_start[i]``; ``delta`` and
    ``below`` two deltas, as wide as the widest layer; ``xb`` gathered input rows ((0,
    features) when the products skip zeros and read X in place); ``offsets`` where the
    rows start in X, and ``pad`` a tile's room, for ``skip_zeros`` (None for a first
    layer of one vector, which has no tiles: numba then compiles the products without
    them); ``grad`` a gradient (n_parameters,)."""

    acts: FloatArray
    act_start: IntArray
    delta: FloatArray
    below: FloatArray
    xb: FloatArray
    offsets: IntArray
    pad: FloatArray | None
    grad: FloatArray


class Opt(NamedTuple):
    """An optimizer's own state, as the compiled update rule changes it in place:
    ``kind`` (``kernels.ADAM``, ``MOMENTUM``, ``NESTEROV``, or ``GRADIENT`` for none);
    ``hyper`` the learning rate (Adam: its initial one), beta_1 (or the momentum),
    beta_2, epsilon; ``t`` Adam's step count; ``state_1``, ``state_2`` Adam's moments or
    SGD's velocity (twice)."""

    kind: int
    hyper: NDArray[np.float64]
    t: IntArray
    state_1: FloatArray
    state_2: FloatArray


class Plan(NamedTuple):
    """What the kernels need to know of an architecture, as small arrays."""

    units: IntArray
    coef_start: IntArray
    bias_start: IntArray
    codes: IntArray
    params: NDArray[np.float64]
    output: int
    n_weights: int
    n_parameters: int


def plan(arch: Architecture) -> Plan | None:
    """The ``Plan`` of ``arch``, or None when the kernels do not cover it (an activation
    with no code, no hidden layer)."""
    codes = [activation_code(a) for a in arch.hidden]
    if not arch.hidden or None in codes or (arch.output, arch.loss) not in kernels.OUTPUTS:
        return None
    coef_start, bias_start = parameter_offsets(arch.units)
    ints = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
    return Plan(ints(arch.units), ints(coef_start), ints(bias_start),
                ints([c for c, _ in codes]), np.array([p for _, p in codes], dtype=np.float64),
                kernels.OUTPUTS[arch.output, arch.loss], arch.n_weights, arch.n_parameters)


def net(plan: Plan, theta: FloatArray, skip: bool) -> Net:
    """``Net`` for parameters ``theta`` (n_parameters,) of ``plan``'s architecture."""
    if theta.shape != (plan.n_parameters,) or not theta.flags.c_contiguous:
        raise ValueError(f"skdigitnet internal error: a parameter vector of shape "
                         f"{theta.shape} where ({plan.n_parameters},) was needed")
    return Net(theta, plan.units, plan.coef_start, plan.bias_start, plan.codes, plan.params,
               plan.output, plan.n_weights, skip)


def work(plan: Plan, rows: int, n_features: int, dtype: DTypeLike, skip: bool,
         train: bool = True) -> Work:
    """``Work`` for batches or chunks of up to ``rows`` rows; without ``train`` (a
    prediction: the forward pass only) no deltas and no gradient."""
    units = [int(u) for u in plan.units]
    starts = [0, 0, *accumulate(rows * u for u in units[1:])]
    width = rows * max(units[1:]) if train else 0
    return Work(aligned_empty(max(starts[-1], 1), dtype),
                np.array(starts[:-1], dtype=np.int64), aligned_empty(width, dtype),
                aligned_empty(width, dtype),
                aligned_empty((0 if skip else rows, n_features), dtype),
                np.empty(rows + skip_zeros.ROWS, np.int64),
                None if units[1] == skip_zeros.LANES else aligned_empty(
                    skip_zeros.pad_size(n_features, rows) if skip else 0, dtype),
                aligned_empty(plan.n_parameters if train else 0, dtype))


def data(X: NDArray[Any], Y: FloatArray | None, sw: FloatArray | None,
         order: IntArray | None, plan: Plan, dtype: DTypeLike) -> Data:
    """``Data``; None for no targets (a prediction), no weights or every row in turn.
    ``X`` must be a C-ordered 2-D array of ``plan``'s features, ``Y``, ``sw`` in ``dtype``,
    ``order`` of valid rows: numba checks no bounds."""
    n_out = int(plan.units[-1])
    if X.ndim != 2 or not X.flags.c_contiguous or X.shape[1] != plan.units[0]:
        raise ValueError("skdigitnet internal error: X is not a C-ordered array of "
                         f"{plan.units[0]} features")
    Y = np.empty((0, n_out), dtype) if Y is None else Y
    sw = np.empty(0, dtype) if sw is None else sw
    order = np.empty(0, np.int64) if order is None else order.astype(np.int64, copy=False)
    n = X.shape[0]
    if Y.shape not in ((n, n_out), (0, n_out)) or sw.shape not in ((n,), (0,)) or (
            order.size and not 0 <= order.min() <= order.max() < n):
        raise ValueError("skdigitnet internal error: targets, weights or rows do not fit X")
    return Data(X, np.ascontiguousarray(Y, dtype), np.ascontiguousarray(sw, dtype), order)


def opt(optimizer: SGD | Adam | None, dtype: DTypeLike = np.float64) -> Opt:
    """``Opt``: the state of ``optimizer`` itself (its arrays, not copies); for None, no
    optimizer (``kernels.GRADIENT``: the gradient only, in ``dtype``)."""
    if optimizer is None:
        none = np.empty(0, dtype)
        return Opt(kernels.GRADIENT, np.zeros(4), np.zeros(1, np.int64), none, none)
    if isinstance(optimizer, Adam):
        hyper = [optimizer.learning_rate_init, optimizer.beta_1, optimizer.beta_2,
                 optimizer.epsilon]
        return Opt(kernels.ADAM, np.array(hyper, np.float64), optimizer.steps, optimizer.m,
                   optimizer.v)
    kind = kernels.NESTEROV if optimizer.nesterov else kernels.MOMENTUM
    hyper = [optimizer.learning_rate, optimizer.momentum, 0.0, 0.0]
    return Opt(kind, np.array(hyper, np.float64), np.zeros(1, np.int64), optimizer.velocity,
               optimizer.velocity)
