"""The engine (``skdigitnet._engine``): both backends compute what a plain reference
computes, in float32 and float64, with reused buffers, in-place steps, chunks and
per-batch conversion; the compiled backend what the numpy one computes; memory stays
bounded; the floating-point environment is ours only around our own arithmetic."""

import os
import platform
import sys
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from scipy import sparse
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

from skdigitnet import DigitMLPClassifier, _engine
from skdigitnet._engine import NumpyBackend, choose_backend, compiled, predict_layer
from skdigitnet._engine.compiled import elementwise, kernels, layout
from skdigitnet._engine.compute import (
    ALIGN,
    aligned_empty,
    aligned_zeros,
    flush_denormals,
    one_blas_thread,
)
from skdigitnet._neural_network.activations import ELU, Activation, LeakyReLU, get_activation
from skdigitnet._neural_network.batches import Batches, iter_batches
from skdigitnet._neural_network.network import (
    Architecture,
    NonFiniteLayer,
    init_parameters,
    pack,
    unpack,
)
from skdigitnet._neural_network.optimizers import SGD, Adam

import _calls as calls
from _custom import Squareplus
from _tolerance import assert_allclose_sums, assert_close_scalar

needs_numba = pytest.mark.skipif(not compiled.available(), reason="numba is not installed")

DTYPES = [np.float32, np.float64]


def reference_loss_and_gradient(coefs, intercepts, X, Y, sw, alpha, act, output):
    """Backprop written plainly: new arrays everywhere, loops over layers, float64."""
    coefs = [c.astype(np.float64) for c in coefs]
    intercepts = [b.astype(np.float64) for b in intercepts]
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    sw = np.ones(len(X)) if sw is None else sw.astype(np.float64)
    f = {"relu": lambda z: np.maximum(z, 0), "logistic": expit, "tanh": np.tanh}[act]
    df = {"relu": lambda a: (a > 0) * 1.0, "logistic": lambda a: a * (1 - a),
          "tanh": lambda a: 1 - a * a}[act]
    acts = [X]
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = acts[-1] @ W + b
        if i < len(coefs) - 1:
            acts.append(f(z))
        elif output == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            acts.append(e / e.sum(axis=1, keepdims=True))
        else:
            acts.append(expit(z))
    P = np.clip(acts[-1], 1e-300, 1)
    if output == "softmax":
        per = -(Y * np.log(P)).sum(axis=1)
    else:
        per = -(Y * np.log(P) + (1 - Y) * np.log(np.clip(1 - acts[-1], 1e-300, 1))).sum(axis=1)
    total = sw.sum()
    loss = (per @ sw + 0.5 * alpha * sum((W * W).sum() for W in coefs)) / total
    delta = (acts[-1] - Y) * sw[:, None]
    g_coefs, g_intercepts = [None] * len(coefs), [None] * len(coefs)
    for i in reversed(range(len(coefs))):
        g_coefs[i] = (acts[i].T @ delta + alpha * coefs[i]) / total
        g_intercepts[i] = delta.sum(axis=0) / total
        if i:
            delta = (delta @ coefs[i].T) * df(acts[i])
    return loss, g_coefs, g_intercepts


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act, output", [("relu", "softmax"), ("logistic", "logistic"),
                                         ("tanh", "softmax")])
def test_workspace_gradients_equal_the_reference(dtype, act, output, rng, backend):
    arch = Architecture((12, 7, 5, 4), (get_activation(act),) * 2, output, "log_loss")
    theta = init_parameters(arch, rng, dtype)
    grad = np.empty_like(theta)
    backend = backend(arch)
    ws = backend.workspace(theta, grad, rows=16)  # reused across batches of 16, 16 and 9
    X = rng.normal(size=(41, 12)).astype(dtype)
    Y = np.eye(4, dtype=dtype)[rng.randint(4, size=41)]
    sw = rng.uniform(0.5, 2.0, size=41)
    for rows in iter_batches(None, 41, 16):
        for weights in (None, sw[rows]):
            loss = backend.loss_and_gradient(theta, X[rows], Y[rows], weights, 0.3, grad, ws)
            ref_loss, ref_c, ref_b = reference_loss_and_gradient(
                *unpack(theta, arch.units), X[rows], Y[rows], weights, 0.3, act, output)
            assert grad.dtype == dtype
            # sums over 16 rows or 12 inputs; three layers forward, three back
            assert_close_scalar(loss, ref_loss, dtype=dtype, n_terms=16 * 4, depth=6)
            g_c, g_b = unpack(grad, arch.units)
            scale = max(np.abs(ref).max() for ref in ref_c + ref_b)  # sums that cancel
            for mine, ref in zip(g_c + g_b, ref_c + ref_b):       # keep this size of error
                assert_allclose_sums(mine, ref, dtype=dtype, n_terms=16, depth=6, scale=scale)


COMPILED = ["identity", "logistic", "tanh", "relu", LeakyReLU(0.1), ELU(0.7)]
OUTPUT_LOSS = [("softmax", "log_loss"), ("logistic", "log_loss"),
               ("softmax", "squared_error"), ("logistic", "squared_error")]


def numpy_and_compiled(arch, *args):
    """(loss, grad) of ``loss_and_gradient`` on the numpy backend, then the compiled."""
    results = []
    for backend in (NumpyBackend(arch), compiled.CompiledBackend(arch)):
        theta, X, Y, sw, alpha = args
        grad = np.full_like(theta, np.nan)  # every entry must be written
        ws = backend.workspace(theta, grad, rows=len(X))
        results.append((backend.loss_and_gradient(theta, X, Y, sw, alpha, grad, ws), grad))
    return results


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss", OUTPUT_LOSS)
@pytest.mark.parametrize("act", COMPILED, ids=str)
@pytest.mark.parametrize("units", [(9, 6, 4), (9, 6, 5, 4), (9, 3, 7, 2, 1)])
def test_compiled_kernels_compute_what_numpy_computes(units, act, output, loss, dtype, rng):
    """The kernels against the numpy path: every supported hidden activation, both
    outputs and both losses, one to three hidden layers, with and without weights."""
    hidden = tuple(get_activation(act) for _ in units[2:])
    arch = Architecture(units, hidden, output, loss)
    assert compiled.covers(arch)  # the kernels, not numpy's math
    theta = init_parameters(arch, rng, dtype)
    theta += rng.normal(scale=0.3, size=theta.shape).astype(dtype)
    X = rng.normal(size=(23, units[0])).astype(dtype)
    if output == "softmax" and units[-1] > 1:
        Y = np.eye(units[-1], dtype=dtype)[rng.randint(units[-1], size=23)]
    else:
        Y = (rng.uniform(size=(23, units[-1])) > 0.5).astype(dtype)
    for sw in (None, rng.uniform(0.0, 2.0, size=23).astype(dtype)):
        (ref_loss, ref_grad), (loss_value, grad) = numpy_and_compiled(
            arch, theta, X, Y, sw, 0.3)
        depth = 2 * (len(units) - 1)  # every layer forward and back
        assert_close_scalar(loss_value, ref_loss, dtype=dtype, n_terms=23 * units[-1],
                            depth=depth)
        # one scale for the whole gradient: a part whose sums cancel (a single softmax
        # output has zero gradient) keeps the rounding error of the terms it summed
        assert_allclose_sums(grad, ref_grad, dtype=dtype, n_terms=23, depth=depth)


def numpy_and_compiled_layers(arch, coefs, intercepts, X, **kwargs):
    """``predict_layer`` for every layer 1 .. L-1, on the numpy backend, then compiled."""
    return [[predict_layer(arch, coefs, intercepts, X, layer, backend=backend, **kwargs)
             for layer in range(1, len(arch.units))]
            for backend in (NumpyBackend(arch), compiled.CompiledBackend(arch))]


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss", OUTPUT_LOSS[:2])
@pytest.mark.parametrize("act", COMPILED, ids=str)
@pytest.mark.parametrize("units", [(9, 6, 4), (9, 3, 7, 2, 1)])
def test_compiled_prediction_computes_what_numpy_computes(units, act, output, loss, dtype,
                                                          rng):
    """Every layer, in the kernel's chunks of 256 rows and a short last one (300 rows),
    against numpy's chunks of 4096 and 97 rows."""
    hidden = tuple(get_activation(act) for _ in units[2:])
    arch = Architecture(units, hidden, output, loss)
    theta = init_parameters(arch, rng, dtype)
    theta += rng.normal(scale=0.3, size=theta.shape).astype(dtype)
    coefs, intercepts = unpack(theta, arch.units)
    X = rng.normal(size=(300, units[0])).astype(dtype)
    for chunk_rows in (4096, 97):
        reference, fast = numpy_and_compiled_layers(
            arch, coefs, intercepts, X, chunk_rows=chunk_rows)
        for depth, (ref, got) in enumerate(zip(reference, fast), start=1):
            assert got.dtype == dtype
            assert_allclose_sums(got, ref, dtype=dtype, n_terms=units[0], depth=depth)


@needs_numba
def test_compiled_prediction_takes_integer_mixed_and_sparse_input(rng):
    arch = Architecture((12, 8, 5, 3), (get_activation("relu"),) * 2, "softmax", "log_loss")
    coefs, intercepts = unpack(init_parameters(arch, rng, np.float32), arch.units)
    X8 = rng.randint(0, 256, size=(40, 12)).astype(np.uint8)
    for X, dtype in [(X8, np.float32), (X8.astype(np.float64), np.float64),
                     (np.asfortranarray(X8.astype(np.float32)), np.float32),
                     (sparse.csr_matrix(X8.astype(np.float64)), np.float64)]:
        reference, fast = numpy_and_compiled_layers(
            arch, coefs, intercepts, X / np.float32(255), chunk_rows=16)
        for depth, (ref, got) in enumerate(zip(reference, fast), start=1):
            assert got.dtype == dtype
            assert_allclose_sums(got, ref, dtype=dtype, n_terms=12, depth=depth)


@pytest.mark.parametrize("row", [0, 17, 299])  # in a 16-row block, and in the tail
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_prediction_reports_a_non_finite_first_layer(row, bad, rng, backend):
    arch = Architecture((6, 5, 4, 3), (get_activation("relu"),) * 2, "softmax", "log_loss")
    coefs, intercepts = unpack(init_parameters(arch, rng, np.float64), arch.units)
    X = rng.normal(size=(300, 6))
    predict = lambda X, layer: predict_layer(arch, coefs, intercepts, X, layer,  # noqa: E731
                                             check_finite=True, backend=backend(arch))
    predict(X, 3)  # finite: no error
    X[row, 2] = bad
    with pytest.raises(NonFiniteLayer):
        predict(X, 3)
    X[row, 2] = 0.0
    intercepts[0][1] = bad
    with pytest.raises(NonFiniteLayer):
        predict(X, 2)


@needs_numba
def test_kernels_propagate_nan_and_infinity(rng):
    """Divergence is detected by a NaN loss or weights: the kernels must not hide them."""
    arch = Architecture((5, 4, 4, 3), (get_activation("relu"),) * 2, "softmax", "log_loss")
    X = rng.normal(size=(6, 5))
    Y = np.eye(3)[rng.randint(3, size=6)]
    for bad in (np.nan, np.inf):
        theta = init_parameters(arch, rng, np.float64)
        theta[arch.n_weights - 1] = bad  # a weight of the output layer
        with np.errstate(all="ignore"):
            (ref_loss, _), (loss_value, grad) = numpy_and_compiled(
                arch, theta, X, Y, None, 0.1)
        assert not np.isfinite(ref_loss) and not np.isfinite(loss_value)
        assert not np.isfinite(grad).all()


@needs_numba
@pytest.mark.parametrize("dtype, lo, hi, ulps", [(np.float64, -700, 700, 1.0),
                                                 (np.float32, -87, 88, 2.0)])
def test_compiled_exp_is_accurate_and_keeps_special_values(dtype, lo, hi, ulps):
    x = np.linspace(lo, hi, 100_001).astype(dtype)
    v = x.copy()
    calls.exp(v)
    # Against exp in extended precision where long double has it: np.exp's own error
    # depends on numpy's version (up to 0.88 eps in 1.24, 0.58 in 2.x), so measured
    # against np.exp the kernel's 0.6 eps read as 1.5 eps on numpy 1.24.
    if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps:
        error = np.abs(v.astype(np.longdouble) / np.exp(x.astype(np.longdouble)) - 1).max()
    else:
        ref = np.exp(x.astype(np.float64)).astype(dtype).astype(np.float64)
        error = np.abs(v / ref - 1).max()
    assert error <= ulps * np.finfo(dtype).eps
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1000.0, -1000.0], dtype)
    calls.exp(special)
    np.testing.assert_array_equal(special, [np.nan, np.inf, 0.0, 1.0, 1.0, np.inf, 0.0])


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer, weighted, X_kind, batch_size", [
    ("adam", False, "float", 16), ("adam", True, "uint8", 7), ("sgd", False, "uint8", 1),
    ("nesterov", True, "float", 50), ("adam", False, "float", 200), ("adam", True, "uint8", 70),
    ("adam", False, "sparse uint8", 50), ("nesterov", True, "sparse float", 70),
    ("sgd", False, "sparse float 16", 7), ("adam", True, "sparse uint8 16", 200),
    ("adam", False, "sparse float wide", 16), ("nesterov", True, "sparse uint8 wide", 9)])
def test_compiled_epoch_equals_the_batch_by_batch_loop(dtype, optimizer, weighted, X_kind,
                                                       batch_size, rng):
    """``CompiledBackend.run_epoch`` trains a shuffled epoch in one compiled call: the
    same steps as the reference loop (``NumpyBackend.run_epoch``: ``loss_and_gradient``
    and the optimizer's own ``step`` per batch; batches of 1 and a last short batch
    included), up to rounding, with the optimizer's own state updated in place; rows
    gathered and converted (dense X), or read in place skipping zeros (sparse X, first
    layers of one vector, of a partial one and of several)."""
    first = 40 if X_kind.endswith("wide") else 16 if X_kind.endswith("16") else 9
    arch = Architecture((30, first, 6, 4), (get_activation("relu"), get_activation("tanh")),
                        "softmax", "log_loss")
    n = 103 if batch_size != 70 else 250
    X = rng.randint(0, 3, size=(n, 30)).astype(np.uint8)  # small: no scaling needed
    if X_kind.startswith("sparse"):  # a fifth non-zero, as in MNIST; one column all zero
        X[rng.uniform(size=X.shape) < 0.7] = 0
        X[:, 17] = 0
    X = X if "uint8" in X_kind else (X / 2).astype(dtype)
    Y = np.eye(4, dtype=dtype)[rng.randint(4, size=n)]
    sw = rng.uniform(0.5, 2.0, size=n).astype(dtype) if weighted else None
    order = rng.permutation(n)
    theta0 = init_parameters(arch, rng, dtype)
    results = []
    for backend in (NumpyBackend(arch), compiled.CompiledBackend(arch)):
        theta = theta0.copy()
        ws = backend.workspace(theta, np.empty_like(theta), batch_size)
        batches = Batches((X, Y, sw), batch_size, dtype)
        # Adam's epsilon well above rounding: m / sqrt(v) of a gradient near zero would
        # turn a rounding difference into a whole step
        opt = (Adam(theta.size, dtype, 0.01, epsilon=1e-3) if optimizer == "adam" else
               SGD(theta.size, dtype, 0.05, momentum=0.9, nesterov=optimizer == "nesterov"))
        losses = [backend.run_epoch(batches, order, n, 1e-3, opt, ws) for _ in range(2)]
        results.append((losses, theta, opt))
    assert compiled.CompiledBackend._skip(X, theta0[:30 * first].reshape(30, first)) == (
        X_kind.startswith("sparse"))
    (loss_a, theta_a, opt_a), (loss_b, theta_b, opt_b) = results
    # two epochs of up to 103 steps on sums of up to 200 rows: compare like sums whose
    # errors compound through the steps
    steps = 2 * -(-n // batch_size)
    for a, b in zip(loss_a, loss_b):
        assert_close_scalar(b, a, dtype=dtype, n_terms=max(batch_size, 30), depth=steps)
    assert_allclose_sums(theta_b, theta_a, dtype=dtype, n_terms=max(batch_size, 30),
                         depth=steps, scale=np.abs(theta_a).max())
    if optimizer == "adam":
        assert opt_b.t == opt_a.t == steps
        assert opt_b.learning_rate == opt_a.learning_rate
        assert_allclose_sums(opt_b.m, opt_a.m, dtype=dtype, n_terms=max(batch_size, 30),
                             depth=steps, scale=np.abs(opt_a.m).max())
    else:
        assert_allclose_sums(opt_b.velocity, opt_a.velocity, dtype=dtype,
                             n_terms=max(batch_size, 30), depth=steps,
                             scale=np.abs(opt_a.velocity).max())


@needs_numba
@pytest.mark.parametrize("X_dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("sparse_X", [False, True])
@pytest.mark.parametrize("first", [8, 40])
def test_compiled_prediction_equals_numpy_chunk_by_chunk(X_dtype, sparse_X, first, rng):
    """The compiled backend predicts ``kernels.CHUNK`` rows at a time (the last chunk
    short): every row as the numpy backend computes it, a non-finite row found in
    any chunk; on sparse X the first product skips zeros and reads X, whatever its dtype,
    in place; the parameters are read where they are."""
    arch = Architecture((20, first, 6, 3),
                        (get_activation("relu"), get_activation("logistic")),
                        "softmax", "log_loss")
    coefs, intercepts = unpack(init_parameters(arch, rng, np.float32), arch.units)
    X = (rng.uniform(size=(2 * kernels.CHUNK + 77, 20)) * 3).astype(X_dtype)
    if sparse_X:
        X[rng.uniform(size=X.shape) < 0.8] = 0
    assert compiled.CompiledBackend._skip(X, coefs[0]) == sparse_X
    got = predict_layer(arch, coefs, intercepts, X, 3, backend=compiled.CompiledBackend(arch))
    want = predict_layer(arch, coefs, intercepts, X, 3, backend=NumpyBackend(arch))
    assert_allclose_sums(got, want, dtype=got.dtype, n_terms=20, depth=3)
    # the parameters are read where they are (views of one vector): edits in place
    # show, and a replaced array is packed with the others
    coefs[0][:, 0] *= -2
    intercepts = [*intercepts[:1], intercepts[1] + 1, *intercepts[2:]]
    got = predict_layer(arch, coefs, intercepts, X, 3, backend=compiled.CompiledBackend(arch))
    want = predict_layer(arch, coefs, intercepts, X, 3, backend=NumpyBackend(arch))
    assert_allclose_sums(got, want, dtype=got.dtype, n_terms=20, depth=3)
    if X_dtype != np.uint8:
        for row in (5, kernels.CHUNK + 5, len(X) - 1):  # the first, a middle, the last chunk
            bad = X.copy()
            bad[row, 3] = np.nan
            with pytest.raises(NonFiniteLayer):
                predict_layer(arch, coefs, intercepts, bad, 1, check_finite=True,
                              backend=compiled.CompiledBackend(arch))


@pytest.mark.parametrize("shape", [1, 13002, (200, 16), (2, 200, 784), (3, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_aligned_arrays_start_on_a_cache_line(shape, dtype):
    """What the kernels sweep starts on a 64-byte boundary (numpy promises 16 bytes):
    the helpers, and the parameters, gradient scratch and optimizer state a fit uses."""
    a = aligned_empty(shape, dtype)
    assert a.shape == ((shape,) if isinstance(shape, int) else shape) and a.dtype == dtype
    assert a.flags.c_contiguous and a.flags.writeable
    if a.size:
        assert a.ctypes.data % ALIGN == 0
    z = aligned_zeros(shape, dtype)
    assert not z.any() and z.ctypes.data % ALIGN == 0 if z.size else True
    arch = Architecture((784, 16, 16, 10), (get_activation("relu"),) * 2, "softmax", "log_loss")
    theta = init_parameters(arch, np.random.RandomState(0), dtype)
    hot = [theta, pack(*unpack(theta, arch.units), dtype), Adam(theta.size, dtype).m,
           Adam(theta.size, dtype).v, SGD(theta.size, dtype).velocity]
    if compiled.available():
        work = layout.work(layout.plan(arch), 200, 784, dtype, False)
        hot += [work.acts, work.delta, work.below, work.xb, work.grad]
        wide = Architecture((784, 64, 10), (get_activation("relu"),), "softmax", "log_loss")
        hot.append(layout.work(layout.plan(wide), 200, 784, dtype, True).pad)  # tiles' room
    assert all(h.ctypes.data % ALIGN == 0 for h in hot)


def test_backend_is_chosen_by_numba_the_switch_and_the_input(monkeypatch):
    """Built-in activations get kernels; a user's activation, GELU or a network with no
    hidden layer keep numpy; so does scipy sparse X; SKDIGITNET_NUMBA=0 gives numpy."""
    monkeypatch.delenv("SKDIGITNET_NUMBA", raising=False)  # the default: on when available
    relu = get_activation("relu")
    supported = Architecture((4, 3, 2), (relu,), "softmax", "log_loss")
    assert compiled.covers(supported) == compiled.available()
    assert choose_backend(supported).name == ("compiled" if compiled.available() else "numpy")
    for hidden in [(relu, Squareplus()), (get_activation("gelu"),), ()]:
        units = (4,) + (3,) * len(hidden) + (2,)
        arch = Architecture(units, hidden, "softmax", "log_loss")
        assert layout.plan(arch) is None and not compiled.covers(arch)
        assert type(choose_backend(arch)) is NumpyBackend
    # unset or 'auto': small work runs on numpy, which loads faster than kernels
    small, big = _engine.COMPILED_MIN_VALUES - 1, _engine.COMPILED_MIN_VALUES
    assert choose_backend(supported, n_values=small).name == "numpy"
    assert choose_backend(supported, n_values=big).name == choose_backend(supported).name
    X = np.zeros((big // 4, 4))
    assert choose_backend(supported, X).name == choose_backend(supported).name
    assert choose_backend(supported, X[:-1]).name == "numpy"
    assert choose_backend(supported, sparse.csr_matrix(np.ones((big, 4)))).name == "numpy"
    monkeypatch.setenv("SKDIGITNET_NUMBA", "auto")
    assert choose_backend(supported, n_values=small).name == "numpy"
    monkeypatch.setenv("SKDIGITNET_NUMBA", "1")  # always, where numba is installed
    assert choose_backend(supported, n_values=small).name == choose_backend(supported).name
    monkeypatch.setenv("SKDIGITNET_NUMBA", "0")
    assert type(choose_backend(supported)) is NumpyBackend
    assert type(choose_backend(supported, n_values=big)) is NumpyBackend
    assert not _engine.compiled_enabled()


def test_backend_is_chosen_once_per_fit_and_once_per_prediction(small_digits, monkeypatch):
    X, y = small_digits
    chosen = []
    real = _engine.choose_backend
    monkeypatch.setattr(_engine, "choose_backend",
                        lambda arch, *args, **kwargs: chosen.append(arch) or real(arch, *args,
                                                                                  **kwargs))
    from skdigitnet._neural_network import training
    monkeypatch.setattr(training, "choose_backend", _engine.choose_backend)
    for solver in ("adam", "lbfgs"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = DigitMLPClassifier(solver=solver, max_iter=3).fit(X, y)
        assert len(chosen) == 1, solver
        clf.predict_proba(X)
        assert len(chosen) == 2
        chosen.clear()


@pytest.mark.parametrize("switch", ["0", "1"])
def test_our_floating_point_environment_stays_inside_our_arithmetic(switch, small_digits,
                                                                    monkeypatch):
    """Subnormals are flushed and BLAS runs on one thread inside the backends' own
    arithmetic only: a callback or a validation scorer runs with the caller's settings."""
    from threadpoolctl import threadpool_info

    from skdigitnet._neural_network import training as _training
    monkeypatch.setenv("SKDIGITNET_NUMBA", switch)
    X, y = small_digits
    tiny = np.array([1e-40], dtype=np.float32)
    seen = []

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    outside = blas_threads()
    real_end = _training._end_epoch

    def watched_end(record, theta, loss, validation, *args):
        def validation_watched(theta):  # the validation scorer, as the loop calls it
            seen.append(("score", (tiny * np.float32(1))[0] != 0, blas_threads()))
            return validation(theta)
        return real_end(record, theta, loss, validation_watched, *args)
    monkeypatch.setattr(_training, "_end_epoch", watched_end)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        DigitMLPClassifier(max_iter=2, early_stopping=True, random_state=0).fit(X, y)
    assert len(seen) == 2
    assert all(kept and threads == outside for _, kept, threads in seen)


@pytest.mark.parametrize("solver, activation", [("adam", "relu"), ("sgd", "logistic"),
                                                ("lbfgs", "tanh")])
def test_training_with_kernels_equals_training_without(solver, activation, small_digits,
                                                       monkeypatch):
    """The estimator, with SKDIGITNET_NUMBA=0 (the numpy backend) and without."""
    X, y = small_digits
    fits = []
    for switch in ("0", "1"):
        monkeypatch.setenv("SKDIGITNET_NUMBA", switch)
        clf = DigitMLPClassifier(solver=solver, activation=activation, max_iter=5,
                                 learning_rate_init=0.01, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(clf.fit(X, y))
    for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    assert fits[1].loss_curve_ == pytest.approx(fits[0].loss_curve_, rel=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batches_gather_and_convert_like_plain_indexing(dtype, rng):
    X8 = rng.randint(0, 256, size=(50, 6)).astype(np.uint8)
    Y = np.eye(3, dtype=dtype)[rng.randint(3, size=50)]
    sw = rng.uniform(size=50)
    for X in (X8, X8.astype(dtype)):
        batches = Batches((X, Y, sw), 8, dtype)
        order = rng.permutation(50)
        for rows in list(iter_batches(order, 50, 8)) + list(iter_batches(None, 50, 8)):
            Xb, Yb, swb = batches.take(rows)
            assert Xb.dtype == dtype and Yb.dtype == dtype
            np.testing.assert_array_equal(Xb, X[rows].astype(dtype))
            np.testing.assert_array_equal(Yb, Y[rows])
            np.testing.assert_array_equal(swb, sw[rows])


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_images_train_and_predict_like_their_float_copy(digits, dtype):
    X, y = digits
    X8 = np.round(X * 255).astype(np.uint8)[:400]
    Xf = X8.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="integer pixel values up to 255"):
            a = DigitMLPClassifier(max_iter=3, random_state=0).fit(X8, y[:400])
        with pytest.warns(UserWarning, match="pixel values up to 255"):
            b = DigitMLPClassifier(max_iter=3, random_state=0).fit(Xf, y[:400])
    assert a.coefs_[0].dtype == np.float32  # 8-bit images train float32 weights
    if dtype == np.float32:
        for pa, pb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
            np.testing.assert_array_equal(pa, pb)
    assert_allclose_sums(a.predict_proba(X8), a.predict_proba(X8.astype(np.float32)),
                         dtype=np.float32, n_terms=64, depth=3)
    assert a.predict_proba(X8).dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
def test_chunked_prediction_of_the_estimator_equals_one_chunk(digits, dtype):
    X, y = digits
    X = X.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = DigitMLPClassifier(max_iter=5, random_state=0).fit(X, y)
    for layer in (1, 2, 3):
        one = predict_layer(clf._arch, clf.coefs_, clf.intercepts_, X, layer, chunk_rows=4096)
        many = predict_layer(clf._arch, clf.coefs_, clf.intercepts_, X, layer, chunk_rows=97)
        assert_allclose_sums(many, one, dtype=dtype, n_terms=64, depth=layer)


def extra_peak_bytes(fn):
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_prediction_memory_is_bounded_by_the_output(digits):
    X, y = digits
    clf = DigitMLPClassifier(max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X.astype(np.float32), y)
    big = np.tile(X.astype(np.float32), (120, 1))  # 215,640 rows
    out_bytes = big.shape[0] * 10 * 4
    for method, width in ((clf.predict_proba, 10), (clf.transform, 16)):
        extra = extra_peak_bytes(lambda method=method: method(big))
        # the result, plus chunk buffers of a few MB; never a layer for every row at once
        assert extra < big.shape[0] * width * 4 + 4 * 2**20, (method.__name__, extra)
    assert extra_peak_bytes(lambda: clf.predict(big)) < out_bytes + 4 * 2**20


def test_fit_on_uint8_images_makes_no_float_copy(digits):
    X, y = digits
    X8 = np.tile(np.round(X * 255).astype(np.uint8), (10, 1))  # 17,970 x 64: 1.1 MB
    y8 = np.tile(y, 10)
    clf = DigitMLPClassifier(max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "X holds integer pixel values", UserWarning)
        clf.fit(X8, y8)  # once before: loading the compiled code is not the fit's memory
        extra = extra_peak_bytes(lambda: clf.fit(X8, y8))
    float_copy = X8.size * 4
    assert extra < float_copy / 2, extra


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"),
                    reason="flush_denormals sets MXCSR, which exists on Linux x86-64 only")
def test_flush_denormals_is_scoped():
    tiny = np.array([1e-40], dtype=np.float32)  # subnormal in float32
    assert tiny[0] * np.float32(1) != 0
    with flush_denormals():
        assert (tiny * np.float32(1))[0] == 0
        assert (np.array([1e-30], np.float32) * np.float32(1))[0] != 0
    assert (tiny * np.float32(1))[0] != 0  # restored


def test_one_blas_thread_is_scoped():
    from threadpoolctl import threadpool_info
    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    with one_blas_thread():
        inside = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert set(inside) <= {1} and after == before


@needs_numba
@pytest.mark.parametrize("hidden", [(16, 16), (800,), (128, 64)], ids=str)
def test_compiled_prediction_runs_blas_on_one_thread(hidden, monkeypatch):
    """A compiled prediction's BLAS calls run on one thread (its rows are split between
    threads of its own), every shape: left at its default, OpenBLAS splits a chunk's
    wider products too, and its spinning threads slow the next BLAS user."""
    from skdigitnet._engine.compute import blas_threads
    arch = Architecture((784, *hidden, 10), tuple(get_activation("relu")
                                                   for _ in hidden), "softmax", "log_loss")
    coefs, intercepts = unpack(init_parameters(arch, np.random.RandomState(0), np.float32),
                               arch.units)
    X = np.random.default_rng(1).random((600, 784), dtype=np.float32)
    X[X < 0.8] = 0
    seen, sweep = [], kernels.sweep

    def spy(*args):
        seen.append(blas_threads())
        return sweep(*args)
    monkeypatch.setattr(kernels, "sweep", spy)
    before = blas_threads()
    backend = compiled.CompiledBackend(arch)
    out = predict_layer(arch, coefs, intercepts, X, len(arch.units) - 1, backend=backend)
    assert seen and set(seen) == {1} and blas_threads() == before
    expected = predict_layer(arch, coefs, intercepts, X, len(arch.units) - 1,
                             backend=NumpyBackend(arch))
    assert_allclose_sums(out, expected, dtype=np.float32, n_terms=784,
                         depth=len(arch.units) - 1)


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", COMPILED, ids=str)
def test_compiled_activations_are_the_activation_objects(act, dtype):
    """The kernels' activation and derivative code against each built-in's ``__call__``
    and ``derivative`` (``_activations.py``), where they are defined: they cannot drift."""
    activation = get_activation(act)
    code, param = elementwise.activation_code(activation)
    z = np.concatenate([np.linspace(-8, 8, 2001), [0.0, -0.0, 1e-30, -1e-30, 30, -30]])
    z = z.astype(dtype)
    a = z.copy()
    calls.activate(code, param, a)
    expected_a = activation(z.copy())
    tol = 8 * np.finfo(dtype).eps  # the kernels' exp is within 2 ulp; tanh, expm1 libm's
    np.testing.assert_allclose(a, expected_a, rtol=tol, atol=tol)
    d = np.linspace(-2, 2, z.size).astype(dtype)
    expected_d = d * activation.derivative(z, expected_a)
    calls.times_derivative(code, param, a, d)
    np.testing.assert_allclose(d, expected_d, rtol=tol, atol=tol)


@needs_numba
@pytest.mark.parametrize("units", [(6, 5, 4, 3), (784, 16, 16, 10), (3, 2, 9, 1, 4)])
def test_work_buffers_hold_every_layer(units):
    """``layout.work`` gives each layer after the input its own block of ``acts``, one
    after the other, and deltas as wide as the widest layer, for any row count."""
    hidden = (get_activation("relu"),) * (len(units) - 2)
    plan = layout.plan(Architecture(units, hidden, "softmax", "log_loss"))
    for rows in (1, 7, 200, kernels.CHUNK + 1):
        work = layout.work(plan, rows, units[0], np.float32, skip=False)
        assert list(work.act_start[1:]) == list(np.cumsum([0, *units[1:-1]]) * rows)
        assert work.acts.size == rows * sum(units[1:])
        assert work.delta.size == work.below.size == rows * max(units[1:])
        assert work.xb.shape == (rows, units[0]) and work.offsets.size == rows + 4
        assert layout.work(plan, rows, units[0], np.float32, skip=True).xb.shape == (
            0, units[0])


def test_plans_follow_activation_settings():
    """A plan carries each activation's settings; a user's activation (here with
    unhashable settings) has no compiled code, hence no plan."""
    leaky = [Architecture((4, 3, 2), (LeakyReLU(slope),), "softmax", "log_loss")
             for slope in (0.1, 0.2)]
    plans = [layout.plan(arch) for arch in leaky]
    assert [p.params[0] for p in plans] == [0.1, 0.2]

    class Listed(Activation):  # settings in a list: not hashable
        def __init__(self):
            self.knots = [0.0, 1.0]

        def __call__(self, z):
            return z

        def derivative(self, z, a):
            return np.ones_like(a)
    assert layout.plan(Architecture((4, 3, 2), (Listed(),), "softmax", "log_loss")) is None


def test_kernel_arrays_are_checked(rng):
    """Numba does not check bounds: data, parameters or rows that do not fit the network
    are refused before a kernel could read or write past an array's end."""
    arch = Architecture((6, 5, 4, 3), (get_activation("relu"),) * 2, "softmax", "log_loss")
    plan = layout.plan(arch)
    theta = init_parameters(arch, rng, np.float64)
    X, Y = rng.normal(size=(40, 6)), np.eye(3)[rng.randint(3, size=40)]
    data = layout.data(X, Y, None, rng.permutation(40), plan, np.float64)
    assert data.sw.shape == (0,) and data.order.dtype == np.int64
    for bad, message in [
            (dict(X=X[:, :5]), "X is not a C-ordered array of 6 features"),
            (dict(X=np.asfortranarray(X)), "X is not a C-ordered array of 6 features"),
            (dict(Y=Y[:, :2]), "targets, weights or rows do not fit X"),
            (dict(Y=Y[:39]), "targets, weights or rows do not fit X"),
            (dict(sw=np.ones(39)), "targets, weights or rows do not fit X"),
            (dict(order=np.array([0, 40])), "targets, weights or rows do not fit X"),
            (dict(order=np.array([-1, 3])), "targets, weights or rows do not fit X")]:
        given = {"X": X, "Y": Y, "sw": None, "order": None, **bad}
        with pytest.raises(ValueError, match=message):
            layout.data(given["X"], given["Y"], given["sw"], given["order"], plan, np.float64)
    layout.net(plan, theta, skip=False)
    with pytest.raises(ValueError, match=rf"shape \({theta.size - 1},\) where "
                       rf"\({theta.size},\) was needed"):
        layout.net(plan, theta[:-1], skip=False)


@needs_numba
@pytest.mark.parametrize("X_dtype", [np.uint8, np.float32, np.float64])
def test_prepare_compiles_what_any_fit_and_prediction_on_that_dtype_use(X_dtype, rng,
                                                                        monkeypatch):
    """What a compiled call is compiled for depends on the dtypes and on whether the
    first hidden layer is one vector wide only (an architecture, a batch size, an
    optimizer are otherwise data to it): after ``prepare`` for both kinds of first
    layer, fits (L-BFGS's too) and predictions of other networks on X of that dtype
    compile nothing more."""
    monkeypatch.setenv("SKDIGITNET_NUMBA", "1")
    dtype = np.float64 if X_dtype == np.float64 else np.float32
    start = len(kernels.sweep.signatures)
    compiled.prepare(X_dtype, dtype)  # a first layer of 16, the seed network's
    compiled.prepare(X_dtype, dtype, first_layer=40)  # any other
    before = len(kernels.sweep.signatures)
    assert before <= start + 2
    X = (rng.uniform(size=(60, 12)) * (rng.uniform(size=(60, 12)) < 0.3) * 9).astype(X_dtype)
    y = rng.randint(0, 3, size=60)
    for params in (dict(hidden_layer_sizes=(5, 4), activation="tanh", solver="sgd"),
                   dict(hidden_layer_sizes=(40,), batch_size=7), dict(solver="lbfgs"),
                   dict(hidden_layer_sizes=(16, 8), activation="logistic")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = DigitMLPClassifier(max_iter=2, **params).fit(X, y)
        clf.predict_proba(X)
        clf.predict_proba(np.ones_like(X))  # dense: the BLAS product, same call
    assert len(kernels.sweep.signatures) == before


@needs_numba
def test_prediction_threads_split_the_rows_and_change_nothing(rng, monkeypatch):
    """A large prediction splits its rows between as many threads as BLAS may use, in
    pieces of whole chunks they take in turn; each row comes out as on one thread, to
    the last bit."""
    arch = Architecture((30, 20, 4), (get_activation("relu"),), "softmax", "log_loss")
    coefs, intercepts = unpack(init_parameters(arch, rng, np.float32), arch.units)
    X = (rng.uniform(size=(3001, 30)) * (rng.uniform(size=(3001, 30)) < 0.2)).astype(
        np.float32)
    backend = compiled.CompiledBackend(arch)
    monkeypatch.setattr(compiled, "PARALLEL_MIN", 1000)
    monkeypatch.setattr(compiled, "idle_cpus", lambda: 1)
    monkeypatch.setattr(compiled, "blas_threads", lambda: 1)
    assert backend._split(3001) == (1, 3001)  # a GridSearchCV worker: one thread
    one = predict_layer(arch, coefs, intercepts, X, 2, backend=backend)
    monkeypatch.setattr(compiled, "blas_threads", lambda: 3)
    # 3 threads x 4 pieces of 3001 rows: 251 rows, rounded up to a whole chunk
    assert backend._split(3001) == (3, kernels.CHUNK)
    monkeypatch.setattr(compiled, "PARALLEL_MIN", 30 * 20 * 40)
    assert backend._split(60) == (1, 60)  # too little work for a second thread
    assert backend._split(80) == (2, kernels.CHUNK)
    # no CPU idle (another library's BLAS threads spinning): a thread for each
    # BUSY_PARALLEL_MIN multiplications only
    monkeypatch.setattr(compiled, "BUSY_PARALLEL_MIN", 30 * 20 * 1000)
    assert backend._split(1999) == (3, kernels.CHUNK)  # (a CPU is idle)
    monkeypatch.setattr(compiled, "idle_cpus", lambda: 0)
    assert backend._split(1999) == (1, 1999)
    assert backend._split(3001) == (3, kernels.CHUNK)
    assert backend._split(2000) == (2, kernels.CHUNK)
    monkeypatch.setattr(compiled, "idle_cpus", lambda: None)  # not known: as if idle
    assert backend._split(1999) == (3, kernels.CHUNK)
    two = predict_layer(arch, coefs, intercepts, X, 2, backend=backend)
    np.testing.assert_array_equal(two, one)
    X[2700, 3] = np.nan  # in the eleventh piece
    with pytest.raises(NonFiniteLayer):
        predict_layer(arch, coefs, intercepts, X, 1, check_finite=True, backend=backend)


def _two_thread_prediction(chunks, rng, monkeypatch):
    """A small network, ``chunks`` chunks of rows, and a compiled backend whose
    predictions run on two threads however little the work."""
    arch = Architecture((30, 20, 4), (get_activation("relu"),), "softmax", "log_loss")
    coefs, intercepts = unpack(init_parameters(arch, rng, np.float32), arch.units)
    X = rng.uniform(size=(chunks * kernels.CHUNK, 30)).astype(np.float32)
    monkeypatch.setattr(compiled, "PARALLEL_MIN", 1)
    monkeypatch.setattr(compiled, "BUSY_PARALLEL_MIN", 1)
    monkeypatch.setattr(compiled, "blas_threads", lambda: 2)
    return arch, coefs, intercepts, X, compiled.CompiledBackend(arch)


@pytest.mark.parametrize("text, cpus, idle", [
    (b"0.20 0.18 0.12 1/80 11206\n", 2, 1), (b"1.93 1.10 0.52 2/80 11206\n", 2, 0),
    (b"3.00 3.00 3.00 5/90 11206\n", 4, 0), (b"0.00 0.00 0.00 1/3 7\n", 8, 7),
    (b"", 2, None), (b"not loadavg at all\n", 2, None)])
def test_idle_cpus_reads_the_running_threads(text, cpus, idle, monkeypatch):
    """/proc/loadavg's fourth field counts the threads running right now, the caller
    included; what is not that file's text is not a count."""
    monkeypatch.setattr(compiled, "_loadavg", lambda: 3)
    monkeypatch.setattr(compiled.os, "pread", lambda fd, n, at: text if fd == 3 else b"",
                        raising=False)  # (Windows has no pread)
    monkeypatch.setattr(compiled.os, "cpu_count", lambda: cpus)
    assert compiled.idle_cpus() == idle


def test_idle_cpus_where_the_count_cannot_be_read(monkeypatch):
    """Without /proc/loadavg (macOS, Windows) or when reading it fails: not known."""
    monkeypatch.setattr(compiled, "_loadavg", lambda: None)
    assert compiled.idle_cpus() is None
    monkeypatch.setattr(compiled, "_loadavg", lambda: 3)

    def fails(*args):
        raise OSError(9, "Bad file descriptor")
    monkeypatch.setattr(compiled.os, "pread", fails, raising=False)
    assert compiled.idle_cpus() is None
    if os.path.exists("/proc/loadavg"):  # the real file, read through the real call
        monkeypatch.undo()
        assert 0 <= compiled.idle_cpus() < (os.cpu_count() or 1)


@needs_numba
def test_a_slow_prediction_thread_takes_fewer_pieces(rng, monkeypatch):
    """The pieces go to whichever thread is free: a thread that is held up (by another
    process's thread on its core) leaves the rest to the others, and every row is
    computed once."""
    arch, coefs, intercepts, X, backend = _two_thread_prediction(8, rng, monkeypatch)
    assert backend._split(X.shape[0]) == (2, kernels.CHUNK)  # 8 pieces
    sweep, main, pieces = kernels.sweep, threading.get_ident(), []
    first_of_helper = threading.Event()

    def slow_helper(data, *args):
        if threading.get_ident() != main and not first_of_helper.is_set():
            first_of_helper.set()
            time.sleep(0.5)
        elif threading.get_ident() == main:  # (until the helper holds a piece)
            first_of_helper.wait(10)
        pieces.append(threading.get_ident() == main)
        return sweep(data, *args)
    monkeypatch.setattr(kernels, "sweep", slow_helper)
    out = predict_layer(arch, coefs, intercepts, X, 2, backend=backend)
    monkeypatch.setattr(kernels, "sweep", sweep)
    np.testing.assert_array_equal(out, predict_layer(arch, coefs, intercepts, X, 2,
                                                     backend=backend))
    assert len(pieces) == 8 and pieces.count(False) == 1


@needs_numba
@pytest.mark.parametrize("where", ["helper", "caller"])
def test_a_failure_in_a_prediction_thread_is_raised(where, rng, monkeypatch):
    """An error in any of a prediction's threads reaches the caller once every thread
    is done: rows that were not computed are never returned."""
    arch, coefs, intercepts, X, backend = _two_thread_prediction(8, rng, monkeypatch)
    sweep, main, calls = kernels.sweep, threading.get_ident(), []
    ran = {True: threading.Event(), False: threading.Event()}  # the caller's, the helper's

    def failing(*args):
        mine = threading.get_ident() == main
        calls.append(mine)
        ran[mine].set()
        if mine == (where == "caller"):
            raise MemoryError("out of memory in a piece")
        ran[not mine].wait(10)  # (so that the other thread takes a piece too)
        return sweep(*args)
    monkeypatch.setattr(kernels, "sweep", failing)
    with pytest.raises(MemoryError, match="out of memory in a piece"):
        predict_layer(arch, coefs, intercepts, X, 2, backend=backend)
    assert False in calls and True in calls  # both threads ran


@needs_numba
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_prediction_threads_keep_off_the_starting_cpu(rng, monkeypatch):
    """A prediction's own threads run off the CPU of the thread that starts them (where
    Linux would put them when every CPU is busy), and that thread's CPUs stay as they
    were."""
    allowed = os.sched_getaffinity(0)
    assert compiled.current_cpu() in allowed
    if len(allowed) < 2:
        pytest.skip("one CPU")
    arch, coefs, intercepts, X, backend = _two_thread_prediction(4, rng, monkeypatch)
    start = min(allowed)
    monkeypatch.setattr(compiled, "current_cpu", lambda: start)
    sweep, main, seen = kernels.sweep, threading.get_ident(), {}
    ran = {True: threading.Event(), False: threading.Event()}  # the caller's, the helper's

    def record(*args):
        mine = threading.get_ident() == main
        seen[mine] = os.sched_getaffinity(0)
        ran[mine].set()
        ran[not mine].wait(10)  # (so that both threads take pieces)
        return sweep(*args)
    monkeypatch.setattr(kernels, "sweep", record)
    predict_layer(arch, coefs, intercepts, X, 2, backend=backend)
    assert seen == {True: allowed, False: allowed - {start}}
    assert os.sched_getaffinity(0) == allowed
