"""The elementwise pieces of the compiled kernels: ``exp``, the activations, their
derivatives, and the ``jit`` every kernel is compiled with.

- ``exp``: a vectorisable ``exp`` (polynomial on a reduced argument, scaled by exponent
  bits), float64 within 1 ulp and float32 within 2 ulp of numpy's; libm's ``exp`` is
  scalar, and the softmax and logistic outputs spend their time in it;
- ``activate`` / ``times_derivative``: the built-in hidden activations
  (``skdigitnet._neural_network.activations``) and their derivatives from the
  activation's output, by code. The tests check them against each built-in's
  ``__call__`` and ``derivative``, so the two definitions cannot drift apart.
"""

import math

import numpy as np

try:  # numba is a runtime dependency; without it the numpy backend does everything
    import numba
    from llvmlite import ir
    from numba.extending import intrinsic, overload
except ImportError:  # pragma: no cover - exercised when numba is absent
    numba = None

from skdigitnet._neural_network.activations import ELU, Identity, LeakyReLU, Logistic, ReLU, Tanh

# Activation codes and their one parameter (slope or alpha).
IDENTITY, LOGISTIC, TANH, RELU, LEAKY, ELU_ = range(6)
_CODES = {Identity: IDENTITY, Logistic: LOGISTIC, Tanh: TANH, ReLU: RELU, LeakyReLU: LEAKY,
          ELU: ELU_}

# No 'nnan'/'ninf': NaN and infinity must propagate so that divergence is seen.
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


def activation_code(activation):
    """``(code, parameter)`` of a built-in hidden activation; None for any other."""
    code = _CODES.get(type(activation))
    if code is None:
        return None
    param = {LEAKY: "negative_slope", ELU_: "alpha"}.get(code)
    return code, (float(getattr(activation, param)) if param else 0.0)


def jit(function=None, fastmath=_FASTMATH, inline=False, entry=False):
    """numba's ``njit``, cached on disk, releasing the GIL; the function itself without
    numba. ``inline``: a part of its one caller, which numba compiles into that caller
    instead of on its own (a compiled function is optimized again inside each caller:
    compiling it on its own too costs time for nothing). ``entry``: called from Python;
    the others are called from compiled code only, and compile without the wrappers
    Python calls would need (tests call them through compiled wrappers of their own)."""
    if function is None:
        return lambda f: jit(f, fastmath, inline, entry)
    if numba is None:
        return function
    return numba.njit(cache=True, nogil=True, fastmath=fastmath, error_model="numpy",
                      inline="always" if inline else "never", no_cfunc_wrapper=True,
                      no_cpython_wrapper=not (entry or inline))(function)


# exp for whole arrays, vectorised: x = n ln2 + f with |f| <= ln2 / 2, exp(f) by its
# Taylor polynomial (degree 13 in float64: truncation below 1e-17), then times 2**n,
# built from exponent bits in two halves, 2**(n // 2) * 2**(n - n // 2), so that both
# factors are normal numbers even where 2**n alone is not (exp(709.5) is finite, 2**1024
# is not; exp(-745) is subnormal). libm's exp is scalar; a table of 2**n would need a
# gather, which is slower than two integer shifts.
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(14))
_TAYLOR_32 = tuple(np.float32(c) for c in _TAYLOR[:8])

if numba is not None:
    def _bitcast(to_type, to_ir, width):
        """An intrinsic reading an integer's low ``width`` bits as a float."""
        def codegen(context, builder, signature, args):
            bits = ir.IntType(width)
            value = args[0]
            if value.type.width > bits.width:
                value = builder.trunc(value, bits)
            return builder.bitcast(value, to_ir)

        @intrinsic
        def cast(typingctx, x):
            return to_type(x), codegen
        return cast

    _float64_from_bits = _bitcast(numba.types.float64, ir.DoubleType(), 64)
    _float32_from_bits = _bitcast(numba.types.float32, ir.FloatType(), 32)
else:  # pragma: no cover
    _float64_from_bits = _float32_from_bits = None


def exp(v):
    """``v = exp(v)`` elementwise on a 1-D float array, in place; NaN stays NaN
    (``exp32`` or ``exp64``, chosen by the dtype when compiling, so that a caller
    compiles one of them only). Callable from compiled code only."""


@jit(fastmath={"contract"})  # no reassociation: it would undo the ln2 split
def exp32(v):
    """``exp`` in float32 arithmetic (16 lanes, not 8): degree 7, within 2 ulp for
    normal results; results below the smallest normal float32 may come out as 0."""
    c32 = _TAYLOR_32
    lo, hi = np.float32(-104.0), np.float32(89.0)
    log2e, half = np.float32(1.4426950408889634), np.float32(0.5)
    ln2_hi, ln2_lo = np.float32(0.693145751953125), np.float32(1.428606765330187e-06)
    for r in range(v.shape[0]):
        x = v[r]
        if x < lo:
            x = lo
        if x > hi:
            x = hi
        n = np.floor(x * log2e + half)
        f = (x - n * ln2_hi) - n * ln2_lo
        p = c32[7]
        p = p * f + c32[6]
        p = p * f + c32[5]
        p = p * f + c32[4]
        p = p * f + c32[3]
        p = p * f + c32[2]
        p = p * f + c32[1]
        p = p * f + c32[0]
        k = np.int32(n) if n == n else np.int32(0)
        h = k >> 1
        v[r] = (p * _float32_from_bits((h + np.int32(127)) << np.int32(23))
                * _float32_from_bits((k - h + np.int32(127)) << np.int32(23)))


@jit(fastmath={"contract"})
def exp64(v):
    """``exp`` in float64: degree 13, within 1 ulp."""
    c = _TAYLOR
    for r in range(v.shape[0]):
        x = np.float64(v[r])
        if x < -746.0:  # exp is 0 (and -inf gives 0, not NaN)
            x = -746.0
        if x > 710.0:  # exp is inf
            x = 710.0
        n = np.floor(x * 1.4426950408889634 + 0.5)
        f = (x - n * _LN2_HI) - n * _LN2_LO
        p = c[13]
        p = p * f + c[12]
        p = p * f + c[11]
        p = p * f + c[10]
        p = p * f + c[9]
        p = p * f + c[8]
        p = p * f + c[7]
        p = p * f + c[6]
        p = p * f + c[5]
        p = p * f + c[4]
        p = p * f + c[3]
        p = p * f + c[2]
        p = p * f + c[1]
        p = p * f + c[0]
        k = np.int64(n) if n == n else np.int64(0)  # NaN: any k will do, p is NaN
        half = k >> 1
        v[r] = (p * _float64_from_bits((half + 1023) << 52)
                * _float64_from_bits((k - half + 1023) << 52))


if numba is not None:
    @overload(exp)
    def _exp_typed(v):
        # (overload wants a Python function, not a compiled one)
        if v.dtype == numba.types.float32:
            return lambda v: exp32(v)  # noqa: PLW0108
        return lambda v: exp64(v)  # noqa: PLW0108


@jit
def activate(code, param, v):
    """Apply the hidden activation ``code`` to the 1-D array ``v`` in place (LOGISTIC is
    also the logistic output)."""
    one = v.dtype.type(1)
    if code == RELU:
        for r in range(v.shape[0]):
            if v[r] <= 0:  # NaN stays NaN
                v[r] = 0
    elif code == LOGISTIC:  # 1 / (1 + exp(-v))
        for r in range(v.shape[0]):
            v[r] = -v[r]
        exp(v)
        for r in range(v.shape[0]):
            v[r] = one / (one + v[r])
    elif code == TANH:  # 2 / (1 + exp(-2 v)) - 1: exp vectorises, libm's tanh does not
        two = one + one
        for r in range(v.shape[0]):
            v[r] = -two * v[r]
        exp(v)
        for r in range(v.shape[0]):
            v[r] = two / (one + v[r]) - one
    elif code == LEAKY:
        for r in range(v.shape[0]):
            if v[r] <= 0:
                v[r] = v[r] * param
    elif code == ELU_:
        for r in range(v.shape[0]):
            if v[r] <= 0:
                v[r] = param * math.expm1(v[r])


@jit
def times_derivative(code, param, a, d):
    """Multiply ``d`` in place by dσ/dz, computed from the activation ``a`` (1-D both)."""
    one = d.dtype.type(1)
    if code == RELU:
        for r in range(d.shape[0]):
            if not a[r] > 0:
                d[r] = 0
    elif code == LOGISTIC:
        for r in range(d.shape[0]):
            d[r] = d[r] * (a[r] * (one - a[r]))
    elif code == TANH:
        for r in range(d.shape[0]):
            d[r] = d[r] * (one - a[r] * a[r])
    elif code == LEAKY:
        for r in range(d.shape[0]):
            if not a[r] > 0:
                d[r] = d[r] * param
    elif code == ELU_:
        for r in range(d.shape[0]):
            if not a[r] > 0:
                d[r] = d[r] * (a[r] + param)
