"""Compiled wrappers through which the tests call the kernels' functions that only
compiled code calls: ``jit`` compiles those without the wrappers a call from Python
needs. Without numba, the functions themselves."""

from skdigitnet._engine.compiled import elementwise, skip_zeros

numba = elementwise.numba


def _compiled(function):
    return function if numba is None else numba.njit(function)


@_compiled
def forward(X, order, lo, hi, offsets, W, Z, pad):
    skip_zeros.forward(X, order, lo, hi, offsets, W, Z, pad)


@_compiled
def gradient(X, offsets, n, D, G, pad):
    skip_zeros.gradient(X, offsets, n, D, G, pad)


@_compiled
def exp(v):
    elementwise.exp(v)


@_compiled
def activate(code, param, v):
    elementwise.activate(code, param, v)


@_compiled
def times_derivative(code, param, a, d):
    elementwise.times_derivative(code, param, a, d)

