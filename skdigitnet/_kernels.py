"""Compiled kernels (numba) for the per-batch small work; numpy stays the reference.

A minibatch step of a 784-16-16-10 network is a few big matrix products (the first
layer, which BLAS does well) and some fifty small numpy calls (the later layers, the
output, the loss, the bias sums, the optimizer), each costing more in call overhead
than in arithmetic. Here those small parts are fused into three compiled loops:

- ``_hidden_and_output``: everything between the first layer's product ``X @ W0`` and
  the product ``X.T @ delta0`` of the backward pass, a chunk of rows at a time
  (``_forward_rows``, then ``_backward_rows``);
- ``_finish_gradient``: the L2 term and the mean, returning ``||W||²``;
- ``_adam_step`` / ``_sgd_step``: one pass over the parameters.

Prediction uses the forward half of the first: ``_predict`` takes a chunk's ``X @ W0``
(from BLAS) to any later layer, and reports whether the first layer's sums were finite.

``exp`` and the activations they use are in ``_kernel_math``; the batch-gathering thread
that works alongside them is in ``_batch_thread``; ``_compiled.CompiledBackend`` drives
them. They are used only when numba can be imported, the environment variable
``SKDIGITNET_NUMBA`` is not ``0``, and every hidden activation has a code in
``_kernel_math`` (a user's own activation keeps numpy's math).
``tests/test_fast_paths.py`` checks them against the numpy backend.

Compiled code is cached on disk (numba's ``cache=True``), so only the first fit after
installing pays the compilation (a few seconds per dtype).
"""

import math

import numpy as np

from ._compute import aligned_empty
from ._kernel_math import (
    _activate,
    _activation_code,
    _exp,
    _jit,
    _logistic,
    _times_derivative,
    numba,
)
from ._network import parameter_offsets
from ._skip_zeros import forward_rows

# Output activation and loss pairs, by name (Plan.meta's last entry). Numba freezes
# these module constants into the compiled code.
SOFTMAX_LOG_LOSS, LOGISTIC_LOG_LOSS, SOFTMAX_SQUARED_ERROR, LOGISTIC_SQUARED_ERROR = range(4)
_OUTPUTS = {("softmax", "log_loss"): SOFTMAX_LOG_LOSS,
            ("logistic", "log_loss"): LOGISTIC_LOG_LOSS,
            ("softmax", "squared_error"): SOFTMAX_SQUARED_ERROR,
            ("logistic", "squared_error"): LOGISTIC_SQUARED_ERROR}


class Plan:
    """What the kernels need to know of an architecture, as small arrays.

    ``meta`` holds, for ``L`` layers: ``units`` (L), the start of each weight matrix in
    theta (L - 1), the start of each bias vector (L - 1), the hidden activations' codes
    (L - 2), then the output code; ``params`` the hidden activations' parameters.
    """

    def __init__(self, arch, codes):
        units = list(arch.units)
        coef_start, int_start = parameter_offsets(units)
        self.meta = np.array(units + coef_start + int_start + [c for c, _ in codes]
                             + [_OUTPUTS[arch.output, arch.loss]], dtype=np.int64)
        self.params = {t: np.array([p for _, p in codes], dtype=t)
                       for t in (np.float32, np.float64)}
        self.n_weights = arch.n_weights
        self.units = tuple(units)
        self.n_params = arch.n_parameters
        self.eps = {t: float(np.finfo(t).eps) for t in (np.float32, np.float64)}
        # _layout's size a row: the layers, the two delta blocks (as wide as the widest
        # layer), a row's top and total
        self.scratch_per_row = sum(units[1:]) + 2 * max(units[1:]) + 2

    def scratch(self, rows, dtype):
        """Scratch for batches or chunks of up to ``rows`` rows, laid out by ``_layout``:
        the kernels work on at most ``_CHUNK`` rows at a time."""
        return aligned_empty(min(rows, _CHUNK) * self.scratch_per_row, dtype)

    def hidden_and_output(self, Z, Y, sw, theta, grad, D, work):
        """From the first layer's product ``Z = X @ W0`` (n, units[1]): the rest of the
        forward pass, the weighted data loss (returned) and the backward pass, writing
        every gradient but the first layer's weights into ``grad`` and that layer's
        delta into ``D`` (n, units[1]); ``sw`` is (n,) or empty for no weights."""
        n = Z.shape[0]
        self._check(theta, grad, (Z, 1), (D, 1), (Y, -1))
        if sw.shape not in ((0,), (n,)):
            raise ValueError(f"skdigitnet internal error: {sw.shape[0]} weights for {n} rows")
        dtype = theta.dtype.type
        return _hidden_and_output(Z, Y, sw, theta, grad, self.meta, self.params[dtype], D,
                                  work, self.eps[dtype])

    def finish_gradient(self, theta, grad, alpha, scale):
        """Add the L2 term to the weights' gradient and scale all of ``grad`` by
        ``scale``; returns the sum of squared weights."""
        return _finish_gradient(theta, grad, self.n_weights, alpha, scale)

    def predict(self, Z, theta, out, layer, work):
        """Layer ``layer`` (1 .. L-1) into ``out`` (n, units[layer]) from the first
        layer's product ``Z = X @ W0`` (n, units[1]), all in ``theta``'s dtype; ``work``
        is ``scratch(n, dtype)``. Returns whether the first
        layer's sums were all finite."""
        if not 1 <= layer < len(self.units):
            raise ValueError(f"skdigitnet internal error: no layer {layer}")
        self._check(theta, theta, (Z, 1), (out, layer))
        return _predict(Z, theta, self.meta, self.params[theta.dtype.type], work, out, layer)

    def predict_skipping(self, X, rows, W0, theta, out, layer, work, Z):
        """``predict`` for ``X[rows]`` (a slice) from X itself: the first product skips
        zeros (``_skip_zeros``, into Z, ``min(len(rows), _CHUNK)`` rows or more), all in
        one compiled call. ``W0`` is ``theta``'s first weight matrix."""
        n = min(rows.stop - rows.start, _CHUNK)
        if not 1 <= layer < len(self.units) or X.shape[1] != self.units[0]:
            raise ValueError(f"skdigitnet internal error: no layer {layer} for X")
        self._check(theta, theta, (Z[:n], 1), (out[rows][:n], layer))
        if out[rows].shape[0] != rows.stop - rows.start or X.shape[0] < rows.stop:
            raise ValueError("skdigitnet internal error: rows past the end of X or out")
        return _predict_skipping(X, rows.start, rows.stop, W0, theta, self.meta,
                                 self.params[theta.dtype.type], work, Z[:n], out[rows],
                                 layer)

    def _check(self, theta, grad, *arrays):
        """Numba does not check bounds: refuse arrays whose shapes do not fit the
        network (``(array, layer)``: ``array`` must be (n, units[layer]), one n for all)
        before a kernel writes past their ends."""
        n = arrays[0][0].shape[0]
        for array, layer in arrays:
            if array.shape != (n, self.units[layer]):
                raise ValueError(f"skdigitnet internal error: an array of shape {array.shape}"
                                 f" where ({n}, {self.units[layer]}) was needed")
        for vector in (theta, grad):
            if vector.shape != (self.n_params,):
                raise ValueError(f"skdigitnet internal error: {vector.shape[0]} parameters,"
                                 f" not {self.n_params}")


# Rows per chunk when predicting: on two BLAS threads, first products of 512 rows
# (1.6 MB of MNIST in float32) cost no more per row than one of 10,000, and the later
# layers then find the chunk's first product in cache (measured: 512 to 1024 rows
# fastest, 2048 and more 5-10 % slower).
PREDICT_ROWS = 512


def plan(arch):
    """A ``Plan`` for ``arch``, or None when the kernels do not cover it; the same one
    for equal architectures (a plan is only read), so that each prediction need not
    make its own (some 0.05 ms right after another estimator's work)."""
    try:
        return _PLANS[arch]
    except KeyError:
        pass
    except TypeError:  # a user's activation with unhashable settings: no plan anyway
        return _make_plan(arch)
    if len(_PLANS) >= 64:
        _PLANS.clear()
    _PLANS[arch] = made = _make_plan(arch)
    return made


_PLANS: dict = {}  # Architecture -> Plan or None


def _make_plan(arch):
    if numba is None or not arch.hidden or (arch.output, arch.loss) not in _OUTPUTS:
        return None
    codes = [_activation_code(a) for a in arch.hidden]
    if any(c is None for c in codes):
        return None
    return Plan(arch, codes)


def adam_step(params, grad, m, v, learning_rate, beta_1, beta_2, epsilon):
    """One Adam update, in place; see ``_optimizers.Adam``."""
    hyper = np.array([learning_rate, beta_1, beta_2, epsilon], params.dtype)
    _adam_step(params, grad, m, v, hyper)


def sgd_step(params, grad, velocity, learning_rate, momentum, nesterov):
    """One SGD update with momentum, in place; see ``_optimizers.SGD``."""
    _sgd_step(params, grad, velocity, np.array([learning_rate, momentum], params.dtype),
              nesterov)


_CHUNK = 256  # rows at a time in _hidden_and_output: the scratch stays in L1


@_jit
def _hidden_and_output(Z, Y, sw, theta, grad, meta, params, D, work, eps):
    """Forward from the first layer's sums to the loss, and back to the first delta.

    Z (n, units[1]) holds ``X @ W0`` (bias not yet added); Y (n, units[-1]) the targets;
    sw (n,) the sample weights or an empty array for none. Writes the gradient of every
    parameter except ``W0`` into ``grad`` (unscaled sums over rows), the weighted error
    of the first hidden layer into D (n, units[1]), and returns the weighted loss sum.

    Inside, a layer is held feature-major, ``(units, n)``, so every loop runs along the
    batch: long, contiguous and vectorised, where rows of 16 or 10 would not be.
    ``work`` is scratch laid out by ``_layout`` for ``min(n, _CHUNK)`` rows (``Plan.scratch``),
    ``params`` the hidden activations' parameters in Z's dtype, ``eps`` the dtype's
    machine epsilon, which clips probabilities inside the logarithm.
    """
    _check_scratch(meta, work, Z.shape[0])
    L = (meta.shape[0] + 3) // 4
    for i in range(meta[L + 1], grad.shape[0]):  # W0's gradient comes from BLAS later
        grad[i] = 0
    return _small_layers(Z, Y, sw, theta, grad, meta, params, D, work, eps, 0, Z.shape[0])


@_jit
def _small_layers(Z, Y, sw, theta, grad, meta, params, D, work, eps, lo, hi):
    """``_hidden_and_output`` for rows ``lo .. hi - 1``, adding to ``grad`` (zeroed by
    the caller), ``_CHUNK`` rows at a time; returns their loss."""
    L = (meta.shape[0] + 3) // 4
    loss = 0.0
    weighted = sw.shape[0] > 0
    for start in range(lo, hi, _CHUNK):
        rows = slice(start, min(start + _CHUNK, hi))
        _forward_rows(Z[rows], theta, meta, params, work, L - 1)
        loss += _backward_rows(Y[rows], sw[rows] if weighted else sw, theta, grad, meta,
                               params, D[rows], work, eps)
    return loss


@_jit
def _unpack_meta(meta):
    """``Plan.meta`` as (L, units, coef_start, int_start, codes, output code)."""
    L = (meta.shape[0] + 3) // 4  # meta holds L + 2 (L - 1) + (L - 2) + 1 entries
    return (L, meta[:L], meta[L: 2 * L - 1], meta[2 * L - 1: 3 * L - 2],
            meta[3 * L - 2: 4 * L - 4], meta[4 * L - 4])


# The scratch ``work`` of the row kernels, for n rows, in this order: layers 1 .. L-1
# as (units, n) blocks; two (width, n) blocks for the backward pass (``delta`` and
# ``below``, width the widest layer); two (n,) rows for the softmax (``top``, ``total``).
# ``_layout`` is the only statement of it; ``scratch_size`` and the entry checks use it.
_DELTA, _BELOW, _TOP, _TOTAL, _END = range(5)  # offset[L + k] for these k


@_jit
def _layout(meta, n):
    """Offsets into ``work`` for ``n`` rows: ``offset[i]`` is layer i's start (i = 1 ..
    L-1), ``offset[L + _DELTA]`` .. ``offset[L + _END]`` the blocks after the layers;
    and the widest layer."""
    L = (meta.shape[0] + 3) // 4  # meta holds L + 2 (L - 1) + (L - 2) + 1 entries
    offset = np.zeros(L + 5, np.int64)
    width = 0
    for i in range(1, L):
        offset[i + 1] = offset[i] + meta[i] * n
        width = max(width, meta[i])
    offset[L + _BELOW] = offset[L + _DELTA] + width * n
    offset[L + _TOP] = offset[L + _BELOW] + width * n
    offset[L + _TOTAL] = offset[L + _TOP] + n
    offset[L + _END] = offset[L + _TOTAL] + n
    return offset, width


@_jit
def _check_scratch(meta, work, n):
    """Numba does not check bounds: refuse scratch too small for ``n`` rows."""
    L = (meta.shape[0] + 3) // 4
    if work.shape[0] < _layout(meta, min(n, _CHUNK))[0][L + _END]:
        raise ValueError("skdigitnet internal error: kernel scratch too small")


@_jit
def _forward_rows(Z, theta, meta, params, work, stop):
    """Layers 1 .. ``stop`` for the rows of Z (n, units[1]) = ``X @ W0`` (bias not yet
    added), each activated, into ``work`` at ``_layout``'s offsets; the output layer
    (``stop = L - 1``) gets the output activation. Returns whether the first layer's
    sums ``Z + b`` are all finite."""
    L, units, coef_start, int_start, codes, output = _unpack_meta(meta)
    n = Z.shape[0]
    zero = np.zeros(1, Z.dtype)[0]
    one = zero + 1
    offset, _width = _layout(meta, n)
    top = work[offset[L + _TOP]: offset[L + _TOTAL]]
    total = work[offset[L + _TOTAL]: offset[L + _END]]

    # layer 1: the transposed product plus bias, then the activation; ``bad`` turns
    # NaN at the first sum that is not finite (inf * 0 and NaN * 0 are NaN)
    A = work[offset[1]: offset[2]].reshape((units[1], n))
    bad = zero
    blocked = n - n % 16  # 16 rows at a time: a constant trip count vectorises
    for r0 in range(0, blocked, 16):
        for j in range(units[1]):
            b = theta[int_start[0] + j]
            for i in range(16):
                v = Z[r0 + i, j] + b
                bad += v * zero
                A[j, r0 + i] = v
    for r in range(blocked, n):
        for j in range(units[1]):
            v = Z[r, j] + theta[int_start[0] + j]
            bad += v * zero
            A[j, r] = v
    _activate(codes[0], params[0], work[offset[1]: offset[2]], one)
    # layers 2 .. stop: out[j] = b[j] + sum_k W[k, j] in[k]
    for i in range(1, stop):
        fan_in, fan_out, c = units[i], units[i + 1], coef_start[i]
        A_in = work[offset[i]: offset[i + 1]].reshape((fan_in, n))
        A_out = work[offset[i + 1]: offset[i + 2]].reshape((fan_out, n))
        for j in range(fan_out):
            out = A_out[j]
            b = theta[int_start[i] + j]
            for r in range(n):
                out[r] = b
            blocked = fan_in - fan_in % 4  # four inputs per pass: a quarter of the stores
            for k in range(0, blocked, 4):
                w0, a0 = theta[c + k * fan_out + j], A_in[k]
                w1, a1 = theta[c + (k + 1) * fan_out + j], A_in[k + 1]
                w2, a2 = theta[c + (k + 2) * fan_out + j], A_in[k + 2]
                w3, a3 = theta[c + (k + 3) * fan_out + j], A_in[k + 3]
                for r in range(n):
                    out[r] += (w0 * a0[r] + w1 * a1[r]) + (w2 * a2[r] + w3 * a3[r])
            for k in range(blocked, fan_in):
                w, a = theta[c + k * fan_out + j], A_in[k]
                for r in range(n):
                    out[r] += w * a[r]
        if i < L - 2:
            _activate(codes[i], params[i], work[offset[i + 1]: offset[i + 2]], one)
    if stop < L - 1:
        return bad == 0
    # the output activation
    n_out = units[L - 1]
    P = work[offset[L - 1]: offset[L]].reshape((n_out, n))
    if output in (SOFTMAX_LOG_LOSS, SOFTMAX_SQUARED_ERROR):  # shifted by row max
        for r in range(n):
            top[r] = P[0, r]
            total[r] = 0
        for j in range(1, n_out):
            p = P[j]
            for r in range(n):
                top[r] = max(top[r], p[r])
        for j in range(n_out):
            p = P[j]
            for r in range(n):
                p[r] -= top[r]
        _exp(work[offset[L - 1]: offset[L]])
        for j in range(n_out):
            p = P[j]
            for r in range(n):
                total[r] += p[r]
        for r in range(n):
            top[r] = one / total[r]
        for j in range(n_out):
            p = P[j]
            for r in range(n):
                p[r] *= top[r]
    else:  # logistic
        _logistic(work[offset[L - 1]: offset[L]], one)
    return bad == 0


@_jit
def _predict(Z, theta, meta, params, work, out, layer):
    """Layer ``layer`` (1 .. L-1) for the rows of Z (n, units[1]) = ``X @ W0``, into
    ``out`` (n, units[layer]), ``_CHUNK`` rows at a time; ``work`` as for
    ``_hidden_and_output``. Returns whether the first layer's sums were all finite."""
    _check_scratch(meta, work, Z.shape[0])
    finite = True
    for start in range(0, Z.shape[0], _CHUNK):
        stop = min(start + _CHUNK, Z.shape[0])
        n = stop - start
        finite &= _forward_rows(Z[start:stop], theta, meta, params, work, layer)
        offset, _ = _layout(meta, n)
        A = work[offset[layer]: offset[layer + 1]].reshape((meta[layer], n))
        for r in range(n):
            for j in range(meta[layer]):
                out[start + r, j] = A[j, r]
    return finite


@_jit
def _predict_skipping(X, start, stop, W0, theta, meta, params, work, Z, out, layer):
    """``_predict`` for rows ``start .. stop - 1`` of X, their first product skipping
    zeros (``_skip_zeros.forward_rows``, X read in place) into Z, ``_CHUNK`` rows at a
    time: each chunk's sums go through the later layers while they are in the
    first-level cache (Z needs ``_CHUNK`` rows)."""
    finite = True
    for first in range(start, stop, _CHUNK):
        n = min(_CHUNK, stop - first)
        forward_rows(X, np.empty(0, np.int64), first, W0, Z, 0, n, 0, X.shape[1])
        finite &= _predict(Z[:n], theta, meta, params, work, out[first - start:], layer)
    return finite


@_jit
def _backward_rows(Y, sw, theta, grad, meta, params, D, work, eps):
    """``_hidden_and_output`` for a few rows after ``_forward_rows`` put their layers in
    ``work``: returns their loss, adds to ``grad`` (zeroed by the caller). Two calls,
    not one calling the other: each level of compiled calls compiles everything below
    it once more."""
    L, units, coef_start, int_start, codes, output = _unpack_meta(meta)
    n, n_out = D.shape[0], units[L - 1]
    zero = np.zeros(1, D.dtype)[0]
    one = zero + 1
    weighted = sw.shape[0] > 0
    # work: layers 1 .. L-1 as (units, n) blocks, then two delta blocks and two rows
    offset, _width = _layout(meta, n)
    delta = work[offset[L + _DELTA]: offset[L + _BELOW]]
    below = work[offset[L + _BELOW]: offset[L + _TOP]]

    # the loss and the output delta
    P = work[offset[L - 1]: offset[L]].reshape((n_out, n))
    E = delta[: n_out * n].reshape((n_out, n))
    loss = 0.0
    for r in range(n):
        w = sw[r] if weighted else one
        row_loss = 0.0
        dot = zero
        for j in range(n_out):
            p, y = P[j, r], Y[r, j]
            E[j, r] = p - y
            if output == SOFTMAX_LOG_LOSS:
                if y != 0:
                    row_loss -= y * math.log(max(p, eps))
            elif output == LOGISTIC_LOG_LOSS:
                p = min(max(p, eps), 1 - eps)
                if y != 0:
                    row_loss -= y * math.log(p)
                if y != 1:
                    row_loss -= (1 - y) * math.log(1 - p)
            else:
                row_loss += 0.5 * (p - y) * (p - y)
                dot += (p - y) * p
        if output == SOFTMAX_SQUARED_ERROR:  # through the softmax Jacobian
            for j in range(n_out):
                E[j, r] = (E[j, r] - dot) * P[j, r]
        elif output == LOGISTIC_SQUARED_ERROR:  # ... through the logistic derivative
            for j in range(n_out):
                E[j, r] = E[j, r] * P[j, r] * (one - P[j, r])
        loss += w * row_loss
        if weighted:
            for j in range(n_out):
                E[j, r] = E[j, r] * w

    # backward through layers L-1 .. 2; delta and below swap roles each layer
    for i in range(L - 2, 0, -1):
        fan_in, fan_out, c = units[i], units[i + 1], coef_start[i]
        A_in = work[offset[i]: offset[i + 1]].reshape((fan_in, n))
        E = delta[: fan_out * n].reshape((fan_out, n))
        B = below[: fan_in * n].reshape((fan_in, n))
        for j in range(fan_out):
            s = zero
            e = E[j]
            for r in range(n):
                s += e[r]
            grad[int_start[i] + j] += s
        blocked = fan_out - fan_out % 4  # four outputs per pass: a quarter of the loops
        for k in range(fan_in):
            a, b = A_in[k], B[k]
            for r in range(n):
                b[r] = 0
            row = c + k * fan_out
            for j in range(0, blocked, 4):  # four weight gradients and their part of b
                e0, e1, e2, e3 = E[j], E[j + 1], E[j + 2], E[j + 3]
                w0, w1, w2, w3 = theta[row + j], theta[row + j + 1], theta[row + j + 2], \
                    theta[row + j + 3]
                s0 = s1 = s2 = s3 = zero
                for r in range(n):
                    v = a[r]
                    s0 += v * e0[r]
                    s1 += v * e1[r]
                    s2 += v * e2[r]
                    s3 += v * e3[r]
                    b[r] += (w0 * e0[r] + w1 * e1[r]) + (w2 * e2[r] + w3 * e3[r])
                grad[row + j] += s0
                grad[row + j + 1] += s1
                grad[row + j + 2] += s2
                grad[row + j + 3] += s3
            for j in range(blocked, fan_out):
                e = E[j]
                s = zero
                for r in range(n):
                    s += a[r] * e[r]
                grad[row + j] += s
                w = theta[row + j]
                for r in range(n):
                    b[r] += w * e[r]
            _times_derivative(codes[i - 1], params[i - 1], a, b, one)
        delta, below = below, delta
    # the first hidden layer's error, row-major for X.T @ D outside
    E = delta[: units[1] * n].reshape((units[1], n))
    for j in range(units[1]):
        s = zero
        e = E[j]
        for r in range(n):
            s += e[r]
            D[r, j] = e[r]
        grad[int_start[0] + j] += s
    return loss


@_jit
def _finish_gradient(theta, grad, n_weights, alpha, scale):
    """``grad = (grad + alpha * W) * scale`` (W: the first ``n_weights``); returns ||W||²."""
    return _finish_range(theta, grad, 0, grad.shape[0], n_weights, alpha, scale)


@_jit
def _finish_range(theta, grad, lo, hi, n_weights, alpha, scale):
    """``_finish_gradient`` for the parameters ``lo .. hi - 1``: returns the sum of the
    squares of the weights among them."""
    squares = 0.0
    alpha, scale = theta.dtype.type(alpha), theta.dtype.type(scale)
    # loops over slices from 0: an index from a variable start may be negative as far as
    # numba knows, and its wraparound test keeps the loop from vectorising (13,002
    # parameters: 10 us against 2.4)
    top = max(lo, min(hi, n_weights))
    weights, part = theta[lo:top], grad[lo:top]
    for i in range(weights.shape[0]):
        w = weights[i]
        squares += w * w
        part[i] = (part[i] + alpha * w) * scale
    part = grad[top:hi]
    for i in range(part.shape[0]):
        part[i] = part[i] * scale
    return squares


@_jit
def _adam_step(params, grad, m, v, hyper):
    """hyper: learning rate, beta_1, beta_2, epsilon, in params' dtype."""
    lr, b1, b2, eps = hyper[0], hyper[1], hyper[2], hyper[3]
    one = b1 - b1 + 1
    for i in range(params.shape[0]):
        g = grad[i]
        m[i] += (one - b1) * (g - m[i])
        v[i] += (one - b2) * (g * g - v[i])
        params[i] -= lr * (m[i] / (math.sqrt(v[i]) + eps))


@_jit
def _sgd_step(params, grad, velocity, hyper, nesterov):
    """hyper: learning rate and momentum, in params' dtype."""
    lr, mu = hyper[0], hyper[1]
    if nesterov:  # two loops, not a branch inside one: each vectorises
        for i in range(params.shape[0]):
            step = -lr * grad[i]
            velocity[i] = mu * velocity[i] + step
            params[i] += step + mu * velocity[i]
    else:
        for i in range(params.shape[0]):
            velocity[i] = mu * velocity[i] - lr * grad[i]
            params[i] += velocity[i]
