"""The compiled network (numba): a whole epoch, a full-batch gradient, a prediction.

Every function takes its arrays grouped in the named tuples of ``layout.py``: ``data``
(X, Y, sample weights, row order), ``net`` (the parameter vector and the architecture as
small integer arrays), ``work`` (the buffers of one fit or prediction) and ``opt`` (an
optimizer's own state). Layers are held row-major, ``(n, units)``, so that every product
is one BLAS call (numba's ``np.dot``); the first layer's two products skip the zero
inputs instead (``skip_zeros``) when ``net.skip`` says so. Everything between the
products (biases, activations, the output, the loss, the bias sums, the L2 term, the
optimizer's update) is a loop here, one pass each, with no Python between batches.

The three entry points, ``epoch``, ``gradient`` and ``predict``, call the phases of a
step (``first_sums``, ``forward``, ``loss_and_delta``, ``backward``,
``finish_gradient``, ``update``) directly, and the phases call little below them: numba
optimizes each compiled function again inside every caller, so each level of calls
costs compile time once more.
"""

import math

import numpy as np

from . import skip_zeros
from .elementwise import LOGISTIC, activate, exp, jit, numba, times_derivative

if numba is not None:
    from numba.extending import overload

# Output activation and loss pairs (``net.output``).
SOFTMAX_LOG_LOSS, LOGISTIC_LOG_LOSS, SOFTMAX_SQUARED_ERROR, LOGISTIC_SQUARED_ERROR = range(4)
OUTPUTS = {("softmax", "log_loss"): SOFTMAX_LOG_LOSS,
           ("logistic", "log_loss"): LOGISTIC_LOG_LOSS,
           ("softmax", "squared_error"): SOFTMAX_SQUARED_ERROR,
           ("logistic", "squared_error"): LOGISTIC_SQUARED_ERROR}
# Update rules (``opt.kind``).
ADAM, MOMENTUM, NESTEROV = range(3)
#: Rows per chunk of a prediction: a chunk's layers stay in the second-level cache.
CHUNK = 256


# --------------------------------------------------------------------------- views
@jit
def acts(net, work, i, n):
    """Layer ``i``'s (1 .. L-1) values for ``n`` rows: a (n, units[i]) view of work.acts."""
    u = net.units[i]
    start = work.act_start[i]
    return work.acts[start: start + n * u].reshape((n, u))


@jit
def weights(vector, net, i):
    """The weights between layers ``i`` and ``i + 1`` in ``vector`` (theta or a
    gradient): a (units[i], units[i + 1]) view."""
    fan_in, fan_out = net.units[i], net.units[i + 1]
    start = net.coef_start[i]
    return vector[start: start + fan_in * fan_out].reshape((fan_in, fan_out))


def _rows(X, order, lo, hi, xb, fresh):
    """Rows ``lo .. hi - 1`` of the batch (``X[order[r]]``, or ``X[r]`` without an order)
    as floats of ``xb``'s dtype: X's own rows where they are, else gathered into xb
    (``fresh`` False: the forward pass gathered them there already)."""


@jit
def _gather(X, order, lo, hi, xb):
    for i in range(hi - lo):
        row = X[order[lo + i]] if order.shape[0] > 0 else X[lo + i]
        target = xb[i]
        for k in range(row.shape[0]):
            target[k] = row[k]


if numba is not None:
    @overload(_rows)
    def _rows_typed(X, order, lo, hi, xb, fresh):
        if X.dtype == xb.dtype:  # rows in order are read in place
            def rows(X, order, lo, hi, xb, fresh):
                if order.shape[0] == 0:
                    return X[lo:hi]
                if fresh:
                    _gather(X, order, lo, hi, xb)
                return xb[: hi - lo]
            return rows

        def converted(X, order, lo, hi, xb, fresh):
            if fresh:
                _gather(X, order, lo, hi, xb)
            return xb[: hi - lo]
        return converted


# --------------------------------------------------------------------------- a step
@jit
def first_sums(data, lo, hi, net, work):
    """Layer 1's sums without bias, ``X[rows] @ W0``, into its block of work.acts."""
    n = hi - lo
    # (int64 indices: a constant would be typed as its literal value, and compile a
    # function of its own)
    Z, W0 = acts(net, work, np.int64(1), n), weights(net.theta, net, np.int64(0))
    if net.skip:
        skip_zeros.forward(data.X, data.order, lo, hi, work.offsets, W0, Z)
    else:
        np.dot(_rows(data.X, data.order, lo, hi, work.xb, True), W0, Z)


@jit
def forward(net, work, n, stop):
    """Layers 1 .. ``stop`` for ``n`` rows whose first sums are in place (``first_sums``):
    biases, activations, and the output activation when ``stop`` is the output layer.
    Returns whether the first layer's sums were all finite."""
    L = net.units.shape[0]
    finite = True
    for i in range(1, stop + 1):
        A = acts(net, work, i, n)
        if i > 1:
            np.dot(acts(net, work, i - 1, n), weights(net.theta, net, i - 1), A)
        start = net.bias_start[i - 1]
        b = net.theta[start: start + A.shape[1]]
        bad = A.dtype.type(0)
        for r in range(n):
            row = A[r]
            for j in range(row.shape[0]):
                row[j] += b[j]
                bad += row[j] * 0  # NaN at the first sum that is not finite
        if i == 1:
            finite = bad == 0
        flat = A.reshape(A.size)
        if i < L - 1:
            activate(net.codes[i - 1], net.params[i - 1], flat)
        elif net.output in (LOGISTIC_LOG_LOSS, LOGISTIC_SQUARED_ERROR):
            activate(np.int64(LOGISTIC), 0.0, flat)
        else:  # softmax, each row shifted by its maximum
            for r in range(n):
                row = A[r]
                top = row[0]
                for j in range(1, row.shape[0]):
                    top = max(top, row[j])
                for j in range(row.shape[0]):
                    row[j] -= top
            exp(flat)
            for r in range(n):
                row = A[r]
                total = row[0] * 0
                for j in range(row.shape[0]):
                    total += row[j]
                for j in range(row.shape[0]):
                    row[j] /= total
    return finite


@jit
def loss_and_delta(data, lo, hi, net, work):
    """The weighted loss sum of rows ``lo .. hi - 1`` and their output delta ``d loss /
    d z_out`` (weighted) into work.delta, from the outputs in place; returns the loss sum
    and the weight sum. ``P - Y`` is exact for softmax with log loss and logistic with
    log loss; squared error goes through the output activation's Jacobian."""
    L, n = net.units.shape[0], hi - lo
    P = acts(net, work, L - 1, n)
    E = work.delta[: P.size].reshape(P.shape)
    eps = np.finfo(P.dtype).eps
    one = P.dtype.type(1)
    weighted = data.sw.shape[0] > 0
    loss, weight_sum = 0.0, 0.0
    for r in range(n):
        row = data.order[lo + r] if data.order.shape[0] > 0 else lo + r
        w = data.sw[row] if weighted else one
        y, p, e = data.Y[row], P[r], E[r]
        row_loss, dot = 0.0, p[0] * 0
        for j in range(p.shape[0]):
            e[j] = p[j] - y[j]
            if net.output == SOFTMAX_LOG_LOSS:
                if y[j] != 0:
                    row_loss -= y[j] * math.log(max(p[j], eps))
            elif net.output == LOGISTIC_LOG_LOSS:
                q = min(max(p[j], eps), one - eps)
                if y[j] != 0:
                    row_loss -= y[j] * math.log(q)
                if y[j] != 1:
                    row_loss -= (one - y[j]) * math.log(one - q)
            else:
                row_loss += 0.5 * e[j] * e[j]
                dot += e[j] * p[j]
        for j in range(p.shape[0]):
            if net.output == SOFTMAX_SQUARED_ERROR:  # through the softmax Jacobian
                e[j] = (e[j] - dot) * p[j]
            elif net.output == LOGISTIC_SQUARED_ERROR:  # ... the logistic derivative
                e[j] = e[j] * p[j] * (one - p[j])
            e[j] = e[j] * w
        loss += w * row_loss
        weight_sum += w
    return loss, weight_sum


@jit
def backward(data, lo, hi, net, work):
    """Backpropagate the output delta (``loss_and_delta``) of rows ``lo .. hi - 1``:
    every weight's and bias's gradient, as sums over the rows, into work.grad."""
    L, n = net.units.shape[0], hi - lo
    grad, delta, below = work.grad, work.delta, work.below
    for i in range(L - 1, 0, -1):  # layer i's delta D; the weights into layer i
        D = delta[: n * net.units[i]].reshape((n, net.units[i]))
        start = net.bias_start[i - 1]
        b = grad[start: start + D.shape[1]]
        for j in range(D.shape[1]):
            b[j] = 0
        for r in range(n):
            for j in range(D.shape[1]):
                b[j] += D[r, j]
        if i == 1:
            break
        A = acts(net, work, i - 1, n)
        np.dot(A.T, D, weights(grad, net, i - 1))
        B = below[: n * net.units[i - 1]].reshape((n, net.units[i - 1]))
        np.dot(D, weights(net.theta, net, i - 1).T, B)
        times_derivative(net.codes[i - 2], net.params[i - 2], A.reshape(A.size),
                         B.reshape(B.size))
        delta, below = below, delta
    D = delta[: n * net.units[1]].reshape((n, net.units[1]))
    if net.skip:  # the row offsets of first_sums
        skip_zeros.gradient(data.X, work.offsets, n, D, weights(grad, net, np.int64(0)))
    else:
        np.dot(_rows(data.X, data.order, lo, hi, work.xb, False).T, D,
               weights(grad, net, np.int64(0)))


@jit
def finish_gradient(net, grad, alpha, scale):
    """``grad = (grad + alpha * W) * scale`` (W: every weight, the biases not); returns
    ||W||²."""
    theta = net.theta
    alpha, scale = theta.dtype.type(alpha), theta.dtype.type(scale)
    # loops over slices from 0: an index from a variable start may be negative as far as
    # numba knows, and its wraparound test keeps the loop from vectorising
    W, part = theta[: net.n_weights], grad[: net.n_weights]
    squares = 0.0
    for i in range(W.shape[0]):
        w = W[i]
        squares += w * w
        part[i] = (part[i] + alpha * w) * scale
    part = grad[net.n_weights:]
    for i in range(part.shape[0]):
        part[i] = part[i] * scale
    return squares


@jit
def update(net, grad, opt, alpha, scale):
    """One step of the optimizer whose state ``opt`` holds, in place, by the rules of
    ``_optimizers.SGD.step`` and ``Adam.step``, on the regularised mean gradient
    ``(grad + alpha * W) * scale`` (``finish_gradient``'s, made in the same pass: each
    parameter is read once); counts Adam's steps in ``opt.t``. Returns ||W||²."""
    theta, n_weights = net.theta, net.n_weights
    f = theta.dtype.type
    alpha, scale = f(alpha), f(scale)
    zero = f(0)
    squares = 0.0
    if opt.kind == ADAM:
        lr_init, b1, b2 = opt.hyper[0], opt.hyper[1], opt.hyper[2]
        opt.t[0] += 1
        t = opt.t[0]
        lr = f(lr_init * math.sqrt(1 - b2 ** t) / (1 - b1 ** t))
        c1, c2, eps = f(1 - b1), f(1 - b2), f(opt.hyper[3])
        m, v = opt.state_1, opt.state_2
        for i in range(theta.shape[0]):
            w = theta[i] if i < n_weights else zero  # the biases: no penalty
            squares += w * w
            g = (grad[i] + alpha * w) * scale
            m[i] += c1 * (g - m[i])
            v[i] += c2 * (g * g - v[i])
            theta[i] -= lr * (m[i] / (math.sqrt(v[i]) + eps))
        return squares
    lr, mu = f(opt.hyper[0]), f(opt.hyper[1])
    velocity = opt.state_1
    if opt.kind == NESTEROV:  # two loops, not a branch inside one: each vectorises
        for i in range(theta.shape[0]):
            w = theta[i] if i < n_weights else zero
            squares += w * w
            step = -lr * ((grad[i] + alpha * w) * scale)
            velocity[i] = mu * velocity[i] + step
            theta[i] += step + mu * velocity[i]
    else:
        for i in range(theta.shape[0]):
            w = theta[i] if i < n_weights else zero
            squares += w * w
            velocity[i] = mu * velocity[i] - lr * ((grad[i] + alpha * w) * scale)
            theta[i] += velocity[i]
    return squares


# --------------------------------------------------------------------------- entry points
@jit
def gradient(data, lo, hi, net, work, alpha):
    """The regularised mean loss of rows ``lo .. hi - 1`` and its gradient (into
    work.grad); returns ``(loss, weight sum)``. See ``_network.loss_and_gradient``."""
    first_sums(data, lo, hi, net, work)
    forward(net, work, hi - lo, net.units.shape[0] - 1)
    loss, weight_sum = loss_and_delta(data, lo, hi, net, work)
    backward(data, lo, hi, net, work)
    squares = finish_gradient(net, work.grad, alpha, 1.0 / weight_sum)
    return (loss + 0.5 * alpha * squares) / weight_sum, weight_sum


@jit
def epoch(data, net, work, opt, alpha, batch_size):
    """One pass over the rows of ``data`` (in ``data.order``, or as they are) in batches
    of ``batch_size``, one update each (``gradient``'s steps, ``update`` finishing the
    gradient);
    returns ``sum(loss_b * weight_b)`` over the batches and the weight sum."""
    n = data.order.shape[0] if data.order.shape[0] > 0 else data.X.shape[0]
    total = weight_sum = 0.0
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        first_sums(data, lo, hi, net, work)
        forward(net, work, hi - lo, net.units.shape[0] - 1)
        loss, weight = loss_and_delta(data, lo, hi, net, work)
        backward(data, lo, hi, net, work)
        squares = update(net, work.grad, opt, alpha, 1.0 / weight)
        total += loss + 0.5 * alpha * squares
        weight_sum += weight
    return total, weight_sum


@jit
def predict(data, net, work, out, layer):
    """Layer ``layer`` (1 .. L-1) of every row of data.X into ``out`` (n, units[layer]),
    ``CHUNK`` rows at a time; returns whether the first layer's sums were all finite."""
    finite = True
    for lo in range(0, data.X.shape[0], CHUNK):
        n = min(lo + CHUNK, data.X.shape[0]) - lo
        first_sums(data, lo, lo + n, net, work)
        finite &= forward(net, work, n, layer)
        A = acts(net, work, layer, n)
        for r in range(n):  # loops: numba's slice assignment compiles slowly
            for j in range(A.shape[1]):
                out[lo + r, j] = A[r, j]
    return finite
