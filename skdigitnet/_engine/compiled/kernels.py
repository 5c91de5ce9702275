"""The compiled network (numba): one loop over batches, that trains or predicts.

Every function takes its arrays grouped in the named tuples of ``layout.py``: ``data``
(X, Y, sample weights, row order), ``net`` (the parameter vector and the architecture as
small integer arrays), ``work`` (the buffers of one fit or prediction) and ``opt`` (an
optimizer's own state). Layers are held row-major, ``(n, units)``, so that every product
is one BLAS call (numba's ``np.dot``); the first layer's two products skip the zero
inputs instead (``skip_zeros``) when ``net.skip`` says so. Everything between the
products (biases, activations, the output, the loss, the bias sums, the L2 term, the
optimizer's update) is a loop here, one pass each, with no Python between batches.

``sweep`` is the one compiled entry: for every batch, ``forward``; then, to train,
``backward`` and ``update`` (the optimizer's step, or for L-BFGS's full-batch gradient
only the L2 term and the mean); to predict, the layer asked for is copied out. One entry
for the three, with its phases compiled into it, because compile time is what a first
use waits for: numba optimizes a compiled function again inside each caller, and each
entry of its own compiled everything it calls once more.
"""

import math

import numpy as np

from . import skip_zeros
from .elementwise import LOGISTIC, activate, exp, jit, numba, times_derivative

if numba is not None:
    from numba.core.imputils import impl_ret_borrowed
    from numba.extending import intrinsic, overload
    from numba.np.arrayobj import populate_array

# Output activation and loss pairs (``net.output``).
SOFTMAX_LOG_LOSS, LOGISTIC_LOG_LOSS, SOFTMAX_SQUARED_ERROR, LOGISTIC_SQUARED_ERROR = range(4)
OUTPUTS = {("softmax", "log_loss"): SOFTMAX_LOG_LOSS,
           ("logistic", "log_loss"): LOGISTIC_LOG_LOSS,
           ("softmax", "squared_error"): SOFTMAX_SQUARED_ERROR,
           ("logistic", "squared_error"): LOGISTIC_SQUARED_ERROR}
# Update rules (``opt.kind``); GRADIENT leaves the parameters and finishes the gradient.
ADAM, MOMENTUM, NESTEROV, GRADIENT = range(4)
#: Rows per chunk of a prediction: a chunk's layers stay in the second-level cache.
CHUNK = 256


# --------------------------------------------------------------------------- views
def matrix(vector, start, rows, cols):
    """``vector[start: start + rows * cols]`` as a (rows, cols) C-ordered view: a layer's
    values (work.acts), a delta, a weight matrix or its gradient, for a BLAS product.
    Compiled as a view made directly (``layout`` sizes every buffer): numba's own
    ``reshape`` checks and normalises its shape at every call, which cost a first use
    some 0.4 s of compiling."""
    return vector[start: start + rows * cols].reshape((rows, cols))


if numba is not None:
    @intrinsic
    def _matrix(typingctx, vector, start, rows, cols):
        if not (isinstance(vector, numba.types.Array) and vector.ndim == 1
                and vector.layout == "C"):
            return None
        result = numba.types.Array(vector.dtype, 2, "C")

        def codegen(context, builder, signature, args):
            source = context.make_array(signature.args[0])(context, builder, args[0])
            view = context.make_array(result)(context, builder)
            start_, rows_, cols_ = (context.cast(builder, v, t, numba.types.intp)
                                    for v, t in zip(args[1:], signature.args[1:]))
            populate_array(view, data=builder.gep(source.data, [start_]),
                           shape=[rows_, cols_],
                           strides=[builder.mul(cols_, source.itemsize), source.itemsize],
                           itemsize=source.itemsize, meminfo=source.meminfo,
                           parent=source.parent)
            return impl_ret_borrowed(context, builder, result, view._getvalue())
        return result(vector, start, rows, cols), codegen

    @overload(matrix)
    def _matrix_typed(vector, start, rows, cols):
        return lambda vector, start, rows, cols: _matrix(vector, start, rows, cols)  # noqa: PLW0108 - overload wants a Python function


def _rows(X, order, lo, hi, xb, fresh):
    """Rows ``lo .. hi - 1`` of the batch (``X[order[r]]``, or ``X[r]`` without an order)
    as floats of ``xb``'s dtype: X's own rows where they are, else gathered into xb
    (``fresh`` False: the forward pass gathered them there already)."""


if numba is not None:
    @overload(_rows)
    def _rows_typed(X, order, lo, hi, xb, fresh):
        in_place = X.dtype == xb.dtype  # then rows in order are read where they are

        def rows(X, order, lo, hi, xb, fresh):
            if in_place and order.shape[0] == 0:
                return X[lo:hi]
            if fresh:
                for i in range(hi - lo):
                    row = X[order[lo + i]] if order.shape[0] > 0 else X[lo + i]
                    target = xb[i]
                    for k in range(row.shape[0]):
                        target[k] = row[k]
            return xb[: hi - lo]
        return rows


# --------------------------------------------------------------------------- a step
@jit(inline=True)
def forward(data, lo, hi, net, work, stop):
    """Layers 1 .. ``stop`` for rows ``lo .. hi - 1`` into work.acts (layer i's block
    from ``work.act_start[i]``, row-major): ``X[rows] @ W0`` (skipping zeros when
    ``net.skip``), then the later products, biases, activations, and the output
    activation when ``stop`` is the output layer. Returns whether the first layer's
    sums were all finite."""
    L, n, theta, units = net.units.shape[0], hi - lo, net.theta, net.units
    finite = True
    for i in range(1, stop + 1):
        u, start = units[i], work.act_start[i]
        W, Z = (matrix(theta, net.coef_start[i - 1], units[i - 1], u),
                matrix(work.acts, start, n, u))
        if i == 1 and net.skip:
            skip_zeros.forward(data.X, data.order, lo, hi, work.offsets, W, Z, work.pad)
        else:  # one call for every layer: each call site of np.dot costs compile time
            below = (_rows(data.X, data.order, lo, hi, work.xb, True) if i == 1
                     else matrix(work.acts, work.act_start[i - 1], n, units[i - 1]))
            np.dot(below, W, Z)
        a = work.acts[start: start + n * u]
        b = theta[net.bias_start[i - 1]: net.bias_start[i - 1] + u]
        for r in range(n):
            for j in range(u):
                a[r * u + j] += b[j]
        if i == 1:  # NaN at the first sum that is not finite
            bad = a.dtype.type(0)
            for k in range(n * u):
                bad += a[k] * 0
            finite = bad == 0
        if i < L - 1:
            activate(net.codes[i - 1], net.params[i - 1], a)
        elif net.output in (LOGISTIC_LOG_LOSS, LOGISTIC_SQUARED_ERROR):
            activate(np.int64(LOGISTIC), 0.0, a)
        else:  # softmax
            _softmax(a, n, u)
    return finite


@jit
def _softmax(a, n, u):
    """Row-wise softmax of ``a``, ``n`` rows of ``u`` values, in place, each row shifted
    by its maximum so that exp cannot overflow."""
    for r in range(n):
        top = a[r * u]
        for j in range(1, u):
            top = max(top, a[r * u + j])
        for j in range(u):
            a[r * u + j] -= top
    exp(a[: n * u])
    for r in range(n):
        total = a[r * u] * 0
        for j in range(u):
            total += a[r * u + j]
        scale = 1 / total
        for j in range(u):
            a[r * u + j] *= scale


@jit(inline=True)
def backward(data, lo, hi, net, work):
    """The loss of rows ``lo .. hi - 1`` from their outputs (``forward``), and its
    gradient, as sums over the rows (weighted), into work.grad; returns the loss sum and
    the weight sum. The output delta ``P - Y`` is exact for softmax with log loss and
    logistic with log loss; squared error goes through the output activation's
    Jacobian."""
    L, n, units, grad = net.units.shape[0], hi - lo, net.units, work.grad
    u = units[L - 1]
    P, E = work.acts[work.act_start[L - 1]:], work.delta
    eps = np.finfo(P.dtype).eps
    one = P.dtype.type(1)
    loss, weight_sum = 0.0, 0.0
    for r in range(n):  # one loop per output kind, so that each vectorises
        row = data.order[lo + r] if data.order.shape[0] > 0 else lo + r
        y, first, row_loss = data.Y[row], r * u, 0.0
        for j in range(u):
            E[first + j] = P[first + j] - y[j]
        if net.output == SOFTMAX_LOG_LOSS:
            for j in range(u):
                if y[j] != 0:
                    row_loss -= y[j] * math.log(max(P[first + j], eps))
        elif net.output == LOGISTIC_LOG_LOSS:
            for j in range(u):
                q = min(max(P[first + j], eps), one - eps)
                if y[j] != 0:
                    row_loss -= y[j] * math.log(q)
                if y[j] != 1:
                    row_loss -= (one - y[j]) * math.log(one - q)
        elif net.output == SOFTMAX_SQUARED_ERROR:  # through the softmax Jacobian
            dot = one * 0
            for j in range(u):
                e = E[first + j]
                row_loss += 0.5 * e * e
                dot += e * P[first + j]
            for j in range(u):
                E[first + j] = (E[first + j] - dot) * P[first + j]
        else:  # logistic and squared error: through the logistic's derivative
            for j in range(u):
                p, e = P[first + j], E[first + j]
                row_loss += 0.5 * e * e
                E[first + j] = e * p * (one - p)
        w = one
        if data.sw.shape[0] > 0:
            w = data.sw[row]
            for j in range(u):
                E[first + j] *= w
        loss += w * row_loss
        weight_sum += w
    delta, below = work.delta, work.below
    for i in range(L - 1, 0, -1):  # layer i's delta; the weights into layer i
        u, fan_in = units[i], units[i - 1]
        b = grad[net.bias_start[i - 1]: net.bias_start[i - 1] + u]
        for j in range(u):
            b[j] = 0
        for r in range(n):
            for j in range(u):
                b[j] += delta[r * u + j]
        D = matrix(delta, 0, n, u)
        G = matrix(grad, net.coef_start[i - 1], fan_in, u)
        if i == 1 and net.skip:  # the row offsets of forward
            skip_zeros.gradient(data.X, work.offsets, n, D, G, work.pad)
            break
        A = (_rows(data.X, data.order, lo, hi, work.xb, False) if i == 1
             else matrix(work.acts, work.act_start[i - 1], n, fan_in))
        np.dot(A.T, D, G)
        if i == 1:
            break
        np.dot(D, matrix(net.theta, net.coef_start[i - 1], fan_in, u).T,
               matrix(below, 0, n, fan_in))
        a_start = work.act_start[i - 1]
        times_derivative(net.codes[i - 2], net.params[i - 2],
                         work.acts[a_start: a_start + n * fan_in], below[: n * fan_in])
        delta, below = below, delta
    return loss, weight_sum


@jit(inline=True)
def update(net, grad, opt, alpha, scale):
    """The regularised mean gradient ``(grad + alpha * W) * scale`` (W: every weight, the
    biases not) and, in the same pass (each parameter read once), one step of the
    optimizer whose state ``opt`` holds, in place, by the rules of
    ``_optimizers.SGD.step`` and ``Adam.step`` (counting Adam's steps in ``opt.t``); for
    ``GRADIENT``, the gradient written into ``grad`` and no step. Returns ||W||²."""
    theta, n_weights = net.theta, net.n_weights
    f = theta.dtype.type
    alpha, scale = f(alpha), f(scale)
    zero = f(0)
    squares = 0.0
    if opt.kind == ADAM:
        lr_init, b1, b2 = opt.hyper[0], opt.hyper[1], opt.hyper[2]
        opt.t[0] += 1
        t = float(opt.t[0])  # b ** t as Python's (C's pow), the reference's
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
    if opt.kind == GRADIENT:
        for i in range(theta.shape[0]):
            w = theta[i] if i < n_weights else zero
            squares += w * w
            grad[i] = (grad[i] + alpha * w) * scale
        return squares
    lr, mu = f(opt.hyper[0]), f(opt.hyper[1])
    # momentum: theta += velocity; Nesterov's: theta += step + mu * velocity
    a, b = (f(1), mu) if opt.kind == NESTEROV else (zero, f(1))
    velocity = opt.state_1
    for i in range(theta.shape[0]):
        w = theta[i] if i < n_weights else zero
        squares += w * w
        step = -lr * ((grad[i] + alpha * w) * scale)
        velocity[i] = mu * velocity[i] + step
        theta[i] += a * step + b * velocity[i]
    return squares


# --------------------------------------------------------------------------- the loop
@jit(entry=True)
def sweep(data, net, work, opt, alpha, batch_size, stop, out):
    """One pass over the rows of ``data`` (in ``data.order``, or as they are) in batches
    of ``batch_size``: ``forward`` to layer ``stop`` for each, then

    - with ``out`` of no rows, a training step: ``backward``, then ``update`` (an
      epoch; or with ``opt.kind`` ``GRADIENT`` and one batch of every row, the
      full-batch gradient left in work.grad, for L-BFGS);
    - else a prediction: layer ``stop`` of each batch into its rows of ``out``.

    Returns ``sum(loss_b * weight_b)`` over the batches (the regularised loss), the
    weight sum, and whether every first-layer sum was finite."""
    n = data.order.shape[0] if data.order.shape[0] > 0 else data.X.shape[0]
    out_flat = out.reshape(out.size)
    total = weight_sum = 0.0
    finite = True
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        finite &= forward(data, lo, hi, net, work, stop)
        if out.shape[0] > 0:  # out's rows lo .. hi - 1 are one run of values
            start, width = work.act_start[stop], net.units[stop]
            target = out_flat[lo * width: hi * width]
            source = work.acts[start: start + (hi - lo) * width]
            for k in range(target.shape[0]):
                target[k] = source[k]
            continue
        loss, weight = backward(data, lo, hi, net, work)
        squares = update(net, work.grad, opt, alpha, 1.0 / weight)
        total += loss + 0.5 * alpha * squares
        weight_sum += weight
    return total, weight_sum, finite

