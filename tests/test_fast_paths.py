"""The fast paths (reused buffers, in-place steps, chunks, per-batch conversion) compute
what a plain reference computes, in float32 and float64; memory stays bounded."""

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

from skdigitnet import (
    DigitMLPClassifier,
    _backends,
    _batch_thread,
    _compiled,
    _kernel_math,
    _kernels,
)
from skdigitnet._activations import ELU, Activation, LeakyReLU, get_activation
from skdigitnet._backends import NumpyBackend, choose_backend, predict_layer
from skdigitnet._batches import Batches, iter_batches
from skdigitnet._compute import (
    ALIGN,
    aligned_empty,
    aligned_zeros,
    flush_denormals,
    one_blas_thread,
)
from skdigitnet._network import Architecture, NonFiniteLayer, init_parameters, pack, unpack
from skdigitnet._optimizers import SGD, Adam

from _custom import Squareplus
from _tolerance import assert_allclose_sums, assert_close_scalar

needs_numba = pytest.mark.skipif(not _compiled.available(), reason="numba is not installed")

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
    for backend in (NumpyBackend(arch), _compiled.CompiledBackend(arch)):
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
    assert _compiled.CompiledBackend(arch).plan is not None  # the kernels, not numpy's math
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
            for backend in (NumpyBackend(arch), _compiled.CompiledBackend(arch))]


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss", OUTPUT_LOSS[:2])
@pytest.mark.parametrize("act", COMPILED, ids=str)
@pytest.mark.parametrize("units", [(9, 6, 4), (9, 3, 7, 2, 1)])
def test_compiled_prediction_computes_what_numpy_computes(units, act, output, loss, dtype,
                                                          rng):
    """Every layer, in chunks that straddle the kernel's 256-row blocks and its 16-row
    transposes (300 = 256 + 2 * 16 + 12 rows; chunks of 97)."""
    hidden = tuple(get_activation(act) for _ in units[2:])
    arch = Architecture(units, hidden, output, loss)
    theta = init_parameters(arch, rng, dtype)
    theta += rng.normal(scale=0.3, size=theta.shape).astype(dtype)
    coefs, intercepts = unpack(theta, arch.units)
    X = rng.normal(size=(300, units[0])).astype(dtype)
    for chunk_rows in (4096, 97):
        reference, compiled = numpy_and_compiled_layers(
            arch, coefs, intercepts, X, chunk_rows=chunk_rows)
        for depth, (ref, got) in enumerate(zip(reference, compiled), start=1):
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
        reference, compiled = numpy_and_compiled_layers(
            arch, coefs, intercepts, X / np.float32(255), chunk_rows=16)
        for depth, (ref, got) in enumerate(zip(reference, compiled), start=1):
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
    _kernel_math._exp(v)
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
    _kernel_math._exp(special)
    np.testing.assert_array_equal(special, [np.nan, np.inf, 0.0, 1.0, 1.0, np.inf, 0.0])


@needs_numba
@pytest.mark.parametrize("X_dtype", [np.uint8, np.float32, np.float64])
def test_batch_pipeline_gathers_what_plain_indexing_gathers(X_dtype, rng):
    X = (rng.uniform(size=(103, 7)) * 255).astype(X_dtype)
    order = rng.permutation(103)
    pipeline = _batch_thread.BatchPipeline(X, 10, np.float32)
    for _ in range(2):  # the same pipeline serves every epoch
        batches = [np.copy(b) for b in pipeline.epoch(order)]
        assert len(batches) == 11 and all(b.dtype == np.float32 for b in batches)
        np.testing.assert_array_equal(np.concatenate(batches), X[order].astype(np.float32))
    epoch = pipeline.epoch(order)
    next(epoch)
    epoch.close()  # leaving early stops the gathering thread
    assert not [t for t in threading.enumerate() if t.name == "skdigitnet-batches"]


@needs_numba
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer, weighted, X_kind, batch_size", [
    ("adam", False, "float", 16), ("adam", True, "uint8", 7), ("sgd", False, "uint8", 1),
    ("nesterov", True, "float", 50), ("adam", False, "float", 200), ("adam", True, "uint8", 70),
    ("adam", False, "sparse uint8", 50), ("nesterov", True, "sparse float", 70),
    ("sgd", False, "sparse float 16", 7), ("adam", True, "sparse uint8 16", 200)])
def test_compiled_epoch_equals_the_batch_by_batch_loop(dtype, optimizer, weighted, X_kind,
                                                       batch_size, rng, monkeypatch):
    """``CompiledBackend.run_epoch`` trains a shuffled epoch in one compiled call, the
    thread computing part of both first-layer products: the same steps as the generic
    loop over ``loss_and_gradient`` and ``step`` (batches of 1 and a last short batch
    included), up to the split of the weight gradient's sum over the batch; and on one
    thread exactly what it computes on two (each thread gathering its rows of batches of
    more than 64, the thread gathering whole batches of up to 64; or, on sparse X, the
    products skipping zeros and split by columns, ``_batch_thread._train_direct``)."""
    from skdigitnet._optimizers import SGD, Adam

    arch = Architecture((30, 16 if X_kind.endswith("16") else 9, 6, 4),
                        (get_activation("relu"), get_activation("tanh")), "softmax", "log_loss")
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

    def poisoned(shape, dtype):  # a row no thread gathers shows, even where numpy hands
        array = aligned_empty(shape, dtype)  # out the memory of an earlier run's ring
        array[...] = np.nan
        return array
    monkeypatch.setattr(_batch_thread, "aligned_empty", poisoned)
    # several segments an epoch; with batches of 70, two in each (70 and 70, 70 and 40)
    monkeypatch.setattr(_compiled, "_SEGMENT_ROWS", 20 if batch_size != 70 else 140)
    for fused in (False, True, "alone", "mixed"):
        backend = _compiled.CompiledBackend(arch)
        monkeypatch.setattr(_batch_thread.thread_choice, "two_threads",
                            lambda key, fused=fused: fused != "alone")  # alone: this thread
        toggle = iter(range(10**6))  # "mixed": segments alone and on two threads in turn
        monkeypatch.setattr(_batch_thread, "second_core_free",
                            lambda ignore=(), fused=fused, toggle=toggle: not (
                                fused == "mixed" and next(toggle) % 2 == 0))
        theta = theta0.copy()
        ws = backend.workspace(theta, np.empty_like(theta), batch_size)
        batches = Batches((X, Y, sw), batch_size, dtype)
        # Adam's epsilon well above rounding: m / sqrt(v) of a gradient near zero would
        # turn a rounding difference into a whole step
        opt = (Adam(theta.size, dtype, 0.01, epsilon=1e-3) if optimizer == "adam" else
               SGD(theta.size, dtype, 0.05, momentum=0.9, nesterov=optimizer == "nesterov"))
        if not fused:  # the generic loop, as the numpy backend runs it
            backend._fuses = lambda *args: False
        with one_blas_thread(), flush_denormals():
            losses = [backend.run_epoch(batches, order, n, 1e-3, opt, ws) for _ in range(2)]
        # the compiled epoch ran (its share of the weight gradient exists) or did not,
        # skipping zeros on sparse X
        assert (getattr(backend._pipeline, "_share", None) is not None) == bool(fused)
        if fused:
            assert (backend._pipeline._split >= 0) == X_kind.startswith("sparse")
        results.append((losses, theta, opt))
    (loss_a, theta_a, opt_a), (loss_b, theta_b, opt_b), *others = results
    # on one thread or two, or some segments of batches on each: the same calls on
    # the same rows, the same bits
    for loss_c, theta_c, _ in others:
        assert loss_c == loss_b
        np.testing.assert_array_equal(theta_c, theta_b)
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
        assert np.abs(opt_b.m).max() > 0  # the optimizer's own state was updated
    else:
        assert np.abs(opt_b.velocity).max() > 0
    assert not [t for t in threading.enumerate() if t.name == "skdigitnet-batches"]


@needs_numba
@pytest.mark.parametrize("X_dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("sparse_X", [False, True])
def test_compiled_prediction_on_two_threads_equals_one_chunk_at_a_time(X_dtype, sparse_X,
                                                                       rng, monkeypatch):
    """With four chunks or more, two threads take alternate chunks: every row comes out
    as the numpy backend computes it, and a non-finite row is found in either thread's
    chunks; on sparse X the first product skips zeros (``_skip_zeros``) and reads X,
    whatever its dtype, in place."""
    arch = Architecture((20, 8, 6, 3), (get_activation("relu"), get_activation("logistic")),
                        "softmax", "log_loss")
    coefs, intercepts = unpack(init_parameters(arch, rng, np.float32), arch.units)
    X = (rng.uniform(size=(4 * _kernels.PREDICT_ROWS + 77, 20)) * 3).astype(X_dtype)
    if sparse_X:
        X[rng.uniform(size=X.shape) < 0.8] = 0
    backend = _compiled.CompiledBackend(arch)
    monkeypatch.setattr(_batch_thread.thread_choice, "two_threads", lambda key: True)
    monkeypatch.setattr(_batch_thread, "second_cpu", lambda: True)
    monkeypatch.setattr(_batch_thread, "second_core_free", lambda ignore=(): True)
    threads_seen, skipped = [], []
    plan = backend.plan
    real_predict, real_skipping = plan.predict, plan.predict_skipping
    plan.predict = lambda *a: threads_seen.append(threading.current_thread().name) \
        or real_predict(*a)
    plan.predict_skipping = lambda *a: (threads_seen.append(threading.current_thread().name)
                                        or skipped.append(a[0]) or real_skipping(*a))
    got = predict_layer(arch, coefs, intercepts, X, 3, backend=backend)
    assert {"skdigitnet-predict"} < set(threads_seen)  # the second thread took chunks
    want = predict_layer(arch, coefs, intercepts, X, 3, backend=NumpyBackend(arch))
    assert_allclose_sums(got, want, dtype=got.dtype, n_terms=20, depth=3)
    # every chunk skipped zeros, reading X itself, or none did
    assert len(skipped) == (len(threads_seen) if sparse_X else 0)
    assert all(x is X for x in skipped)
    # on one thread: one call for all rows when it skips zeros (chunks of
    # _kernels._CHUNK rows inside it, the last one short), else chunk by chunk
    monkeypatch.setattr(_batch_thread.thread_choice, "two_threads", lambda key: False)
    threads_seen.clear()
    alone = predict_layer(arch, coefs, intercepts, X, 3, backend=backend)
    assert len(threads_seen) == (1 if sparse_X else 5) and len(X) % _kernels._CHUNK
    assert_allclose_sums(alone, want, dtype=got.dtype, n_terms=20, depth=3)
    # the parameters are read where they are (views of one vector): edits in place
    # show, and a replaced array is packed with the others
    coefs[0][:, 0] *= -2
    intercepts = [*intercepts[:1], intercepts[1] + 1, *intercepts[2:]]
    got = predict_layer(arch, coefs, intercepts, X, 3, backend=backend)
    want = predict_layer(arch, coefs, intercepts, X, 3, backend=NumpyBackend(arch))
    assert_allclose_sums(got, want, dtype=got.dtype, n_terms=20, depth=3)
    if X_dtype != np.uint8:
        for row in (5, _kernels.PREDICT_ROWS + 5):  # a chunk of each thread
            bad = X.copy()
            bad[row, 3] = np.nan
            with pytest.raises(NonFiniteLayer):
                predict_layer(arch, coefs, intercepts, bad, 1, check_finite=True,
                              backend=_compiled.CompiledBackend(arch))


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
        a[...] = 7  # the whole array is ours to write
        assert np.all(aligned_zeros(shape, dtype) == 0)
    arch = Architecture((784, 16, 16, 10), (get_activation("relu"),) * 2, "softmax",
                        "log_loss")
    theta = init_parameters(arch, np.random.RandomState(0), dtype)
    coefs, intercepts = unpack(theta, arch.units)
    packed = pack(coefs, intercepts, dtype)
    assert np.array_equal(packed, theta)
    adam, sgd = Adam(theta.size, dtype), SGD(theta.size, dtype)
    hot = [theta, packed, adam.m, adam.v, sgd.velocity]
    if _compiled.available():
        hot.append(_kernels.plan(arch).scratch(200, dtype))
    assert [x.ctypes.data % ALIGN for x in hot] == [0] * len(hot)


def test_thread_choice_runs_the_faster_way_and_tries_the_other_again():
    """Two threads first (twice: the first run is not counted), then one; then the
    faster way, the other tried again (twice, as it loses) after 4 runs, 8, 16 while it
    keeps losing, and 4 again once it wins; keys learn apart."""
    choice = _batch_thread.ThreadChoice()
    runs = []

    def run(key, two_rate, alone_rate, n):
        for _ in range(n):
            two = choice.two_threads(key)
            runs.append(two)
            choice.record(key, two, 1000, 1000 * (two_rate if two else alone_rate))
    run("a", 3.0, 1.0, 13)  # two threads slower by far: a virtual machine on a busy host
    # the first run loads the code: not counted
    assert runs == [True, True, False] + [False] * 4 + [True, True] + [False] * 4
    assert not choice.two_threads("a")  # the gap doubled to 8: four more runs alone
    runs.clear()
    run("a", 3.0, 1.0, 6)
    assert runs == [False] * 4 + [True, True]
    runs.clear()
    run("a", 0.1, 1.0, 20)  # the host became quiet: the next try of two threads wins
    assert runs == [False] * 16 + [True] * 4  # the gap had doubled to 16
    assert choice.two_threads("a")
    choice.record("a", True, 1000, 100.0)
    assert not choice.two_threads("a")  # one thread tried again after four runs
    assert choice.two_threads("b")  # a new key starts on two threads
    choice.record("b", True, 0, 1.0)  # no rows: nothing learnt
    choice.record("b", True, 10, 1.0)  # the first run: not counted
    assert choice.learnt() == {"a": (1.0, 0.1), "b": (None, None)}


def test_thread_choice_forgives_a_slow_first_try():
    """A try of two threads after a while on one may run slow because the second CPU was
    idle; its second try decides, and wins here: the key moves to two threads."""
    choice = _batch_thread.ThreadChoice()
    choice.record("c", True, 1000, 1.0)  # loads the code: not counted
    for two, seconds in ((True, 1.7), (False, 1.0)) + ((False, 1.0),) * 4:
        assert choice.two_threads("c") == two
        choice.record("c", two, 1000, seconds)
    assert choice.two_threads("c")  # the try after four runs alone
    choice.record("c", True, 1000, 1.75)  # slower than one thread: the CPU was idle
    assert choice.two_threads("c")  # tried once more
    choice.record("c", True, 1000, 0.85)
    assert choice.learnt()["c"] == (1e-3, 0.85e-3)  # the faster try counts
    for _ in range(4):  # two threads are now the faster way
        assert choice.two_threads("c")
        choice.record("c", True, 1000, 0.85)
    assert not choice.two_threads("c")  # one thread tried after four runs: the first gap


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_thread_choice_works_in_a_child_forked_while_its_lock_was_held():
    """A fork while another thread holds the choice's lock would leave the child's copy
    locked for ever: the child gets a new lock."""
    choice = _batch_thread.thread_choice
    with choice._lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
        if pid == 0:  # the child: its main thread is the one that held the lock
            try:
                os._exit(0 if choice._lock.acquire(timeout=5) else 1)
            finally:
                os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def choose_and_watch(monkeypatch, two):
    """Make the thread choice always say ``two``; returns the list its records go to,
    as (kind of work, two threads, rows)."""
    seen = []
    monkeypatch.setattr(_batch_thread.thread_choice, "two_threads", lambda key: two)
    monkeypatch.setattr(_batch_thread.thread_choice, "record",
                        lambda key, used, rows, seconds: seen.append((key[0], used, rows)))
    return seen


@needs_numba
def test_compiled_epoch_and_prediction_ask_the_thread_choice(monkeypatch, rng):
    """Segments of a compiled epoch and predictions of four chunks or more run on two
    threads when the choice says so, else on one, and tell it how long they took, per
    row: the same results either way."""
    from skdigitnet._optimizers import Adam

    arch = Architecture((20, 8, 3), (get_activation("relu"),), "softmax", "log_loss")
    X = rng.uniform(size=(4 * _kernels.PREDICT_ROWS, 20)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.randint(3, size=len(X))]
    monkeypatch.setattr(_batch_thread, "second_cpu", lambda: True)
    monkeypatch.setattr(_batch_thread, "second_core_free", lambda ignore=(): True)
    monkeypatch.setattr(_compiled, "_SEGMENT_ROWS", 500)
    coefs, intercepts = unpack(init_parameters(arch, rng, np.float32), arch.units)
    order = rng.permutation(len(X))
    results = []
    for two in (True, False):
        seen = choose_and_watch(monkeypatch, two)
        backend = _compiled.CompiledBackend(arch)
        theta = init_parameters(arch, np.random.RandomState(0), np.float32)
        ws = backend.workspace(theta, np.empty_like(theta), 100)
        batches = Batches((X, Y, None), 100, np.float32)
        with one_blas_thread(), flush_denormals():
            loss = backend.run_epoch(batches, order, len(X), 1e-4,
                                     Adam(theta.size, np.float32), ws)
        proba = predict_layer(arch, coefs, intercepts, X, 2, backend=backend)
        n_segments = -(-len(X) // 500)
        assert seen[:n_segments] == [("epoch", two, 500)] * (n_segments - 1) + [
            ("epoch", two, len(X) - 500 * (n_segments - 1))]
        assert seen[n_segments:] == [("predict", two, len(X))]
        results.append((loss, theta, proba))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][2], results[1][2])


@needs_numba
def test_generic_loop_gathers_on_a_thread_as_the_choice_says(monkeypatch, rng):
    """A network without kernels (gelu) trains in the generic loop, its batches gathered
    on a second thread when the choice says so: the same batches either way, and the
    whole epoch's time goes to the choice."""
    arch = Architecture((20, 8, 3), (get_activation("gelu"),), "softmax", "log_loss")
    X = rng.uniform(size=(430, 20)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.randint(3, size=len(X))]
    order = rng.permutation(len(X))
    monkeypatch.setattr(_batch_thread, "second_cpu", lambda: True)
    monkeypatch.setattr(_batch_thread, "second_core_free", lambda ignore=(): True)
    epochs = []
    for two in (True, False):
        seen = choose_and_watch(monkeypatch, two)
        backend = _compiled.CompiledBackend(arch)
        batches = Batches((X, Y, None), 100, np.float32)
        epochs.append([(np.copy(x), np.copy(y)) for x, y, _ in
                       backend.epoch(batches, order, len(X))])
        assert seen == [("gather", two, len(X))]
        assert bool(backend._pipeline.ended) == two  # a gathering thread ran and ended
    for (x_a, y_a), (x_b, y_b) in zip(*epochs, strict=True):
        np.testing.assert_array_equal(x_a, x_b)
        np.testing.assert_array_equal(y_a, y_b)
    np.testing.assert_array_equal(epochs[0][1][0], X[order[100:200]])


def test_another_running_thread_is_seen():
    """A thread busy in a loop is seen running; once it sleeps, it is not."""
    if not os.path.isdir("/proc/self/task"):
        pytest.skip("needs Linux's /proc")
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass
    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        deadline = time.monotonic() + 5
        while not _batch_thread.running_threads() and time.monotonic() < deadline:
            time.sleep(0.001)  # the spinner holds the GIL half the time
        assert _batch_thread.running_threads() >= 1
        if _batch_thread._running_on_machine() is not None:  # the machine's count too:
            deadline = time.monotonic() + 5  # the spinner and this thread (reading)
            while (seen := _batch_thread._running_on_machine()) < 2:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.001)
            assert seen >= 2
    finally:
        stop.set()
        spinner.join()
    deadline = time.monotonic() + 5  # BLAS workers of earlier tests sleep after 0.1 s
    while _batch_thread.running_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _batch_thread.running_threads() == 0


@pytest.mark.parametrize("cpus, running, free", [
    (1, 0, False), (2, 0, True), (2, 1, False), (3, 1, True), (4, 2, True), (4, 3, False)])
def test_a_second_thread_needs_a_core_of_its_own(monkeypatch, cpus, running, free):
    """Two threads of ours plus the others running must fit on the CPUs: on two CPUs a
    spinning BLAS worker leaves no core for a second thread; on four it does."""
    monkeypatch.setattr(_batch_thread, "cpu_count", lambda: cpus)
    monkeypatch.setattr(_batch_thread, "others_running",
                        lambda ignore=(), stop_at=None, cpus=None: min(running, stop_at or running))
    assert _batch_thread.second_core_free() is free


@pytest.mark.parametrize("all_cpus, ignore, machine, expected", [
    (True, (), 3, 2),          # the machine's count, less the calling thread
    (True, (), None, 7),       # /proc/loadavg unreadable: this process's threads
    (True, (12345,), 3, 7),    # threads to ignore: only this process's count can
    (False, (), 3, 7)])        # a process kept to some CPUs: the machine's count is wrong
def test_others_running_counts_the_machine_when_it_may_run_everywhere(
        monkeypatch, all_cpus, ignore, machine, expected):
    """One read of the machine's running threads when the process may run on all its
    CPUs; the process's own threads otherwise."""
    monkeypatch.setattr(_batch_thread, "cpu_count",
                        lambda: _batch_thread._ONLINE_CPUS - (0 if all_cpus else 1))
    monkeypatch.setattr(_batch_thread, "_running_on_machine", lambda: machine)
    monkeypatch.setattr(_batch_thread, "running_threads", lambda ignore=(), stop_at=None: 7)
    assert _batch_thread.others_running(ignore) == expected


def test_backend_is_chosen_by_numba_and_the_switch(monkeypatch):
    """Built-in activations get kernels; a user's activation, GELU or a network with no
    hidden layer keep numpy's math; SKDIGITNET_NUMBA=0 gives the numpy backend."""
    monkeypatch.delenv("SKDIGITNET_NUMBA", raising=False)  # the default: on when available
    relu = get_activation("relu")
    supported = Architecture((4, 3, 2), (relu,), "softmax", "log_loss")
    assert (_kernels.plan(supported) is not None) == _compiled.available()
    assert choose_backend(supported).name == ("compiled" if _compiled.available() else "numpy")
    for hidden in [(relu, Squareplus()), (get_activation("gelu"),), ()]:
        units = (4,) + (3,) * len(hidden) + (2,)
        assert _kernels.plan(Architecture(units, hidden, "softmax", "log_loss")) is None
    # unset or 'auto': small work runs on numpy, which loads faster than kernels
    small, big = _backends.COMPILED_MIN_VALUES - 1, _backends.COMPILED_MIN_VALUES
    assert choose_backend(supported, small).name == "numpy"
    assert choose_backend(supported, big).name == choose_backend(supported).name
    monkeypatch.setenv("SKDIGITNET_NUMBA", "auto")
    assert choose_backend(supported, small).name == "numpy"
    monkeypatch.setenv("SKDIGITNET_NUMBA", "1")  # always, where numba is installed
    assert choose_backend(supported, small).name == choose_backend(supported).name
    monkeypatch.setenv("SKDIGITNET_NUMBA", "0")
    assert type(choose_backend(supported)) is NumpyBackend
    assert type(choose_backend(supported, big)) is NumpyBackend
    assert not _backends.compiled_enabled()


def test_backend_is_chosen_once_per_fit_and_once_per_prediction(small_digits, monkeypatch):
    X, y = small_digits
    chosen = []
    real = _backends.choose_backend
    monkeypatch.setattr(_backends, "choose_backend",
                        lambda arch, *args: chosen.append(arch) or real(arch, *args))
    import skdigitnet._training as training
    monkeypatch.setattr(training, "choose_backend", _backends.choose_backend)
    for solver in ("adam", "lbfgs"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = DigitMLPClassifier(solver=solver, max_iter=3).fit(X, y)
        assert len(chosen) == 1, solver
        clf.predict_proba(X)
        assert len(chosen) == 2
        chosen.clear()


@needs_numba
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
        a = DigitMLPClassifier(max_iter=3, random_state=0).fit(X8, y[:400])
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
    clf = DigitMLPClassifier(max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        extra = extra_peak_bytes(lambda: clf.fit(X8, np.tile(y, 10)))
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
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", COMPILED, ids=str)
def test_compiled_activations_are_the_activation_objects(act, dtype):
    """The kernels' activation and derivative code against each built-in's ``__call__``
    and ``derivative`` (``_activations.py``), where they are defined: they cannot drift."""
    activation = get_activation(act)
    code, param = _kernel_math._activation_code(activation)
    z = np.concatenate([np.linspace(-8, 8, 2001), [0.0, -0.0, 1e-30, -1e-30, 30, -30]])
    z = z.astype(dtype)
    one, param = dtype(1), dtype(param)
    a = z.copy()
    _kernel_math._activate(code, param, a, one)
    expected_a = activation(z.copy())
    tol = 8 * np.finfo(dtype).eps  # the kernels' exp is within 2 ulp; tanh, expm1 libm's
    np.testing.assert_allclose(a, expected_a, rtol=tol, atol=tol)
    d = np.linspace(-2, 2, z.size).astype(dtype)
    expected_d = d * activation.derivative(z, expected_a)
    _kernel_math._times_derivative(code, param, a, d, one)
    np.testing.assert_allclose(d, expected_d, rtol=tol, atol=tol)


@needs_numba
def test_kernel_scratch_is_checked(rng):
    """Numba does not check bounds: scratch too small for the rows is refused."""
    arch = Architecture((6, 5, 4, 3), (get_activation("relu"),) * 2, "softmax", "log_loss")
    plan = _kernels.plan(arch)
    theta = init_parameters(arch, rng, np.float64)
    Z = rng.normal(size=(40, 5))
    out = np.empty((40, 3))
    assert plan.predict(Z, theta, out, 3, plan.scratch(40, np.float64))
    with pytest.raises(ValueError, match="kernel scratch too small"):
        plan.predict(Z, theta, out, 3, plan.scratch(39, np.float64))


@needs_numba
@pytest.mark.parametrize("units", [(6, 5, 4, 3), (784, 16, 16, 10), (3, 2, 9, 1, 4)])
def test_kernel_scratch_has_the_size_of_its_layout(units):
    """Plan.scratch sizes the scratch without the compiled layout (which costs a call):
    exactly the size the layout needs, for every row count up to a chunk and past it."""
    hidden = (get_activation("relu"),) * (len(units) - 2)
    plan = _kernels.plan(Architecture(units, hidden, "softmax", "log_loss"))
    for rows in (1, 7, 200, _kernels._CHUNK, _kernels._CHUNK + 1):
        offset, _ = _kernels._layout(plan.meta, min(rows, _kernels._CHUNK))
        assert plan.scratch(rows, np.float32).shape == (offset[-1],)


def test_plans_are_shared_by_equal_architectures():
    """A prediction reuses the plan of an equal architecture; different activation
    settings are different architectures; unhashable settings still get an answer."""
    relu = get_activation("relu")
    first = Architecture((4, 3, 2), (relu,), "softmax", "log_loss")
    again = Architecture((4, 3, 2), (get_activation("relu"),), "softmax", "log_loss")
    assert _kernels.plan(first) is _kernels.plan(again)
    leaky = [Architecture((4, 3, 2), (LeakyReLU(slope),), "softmax", "log_loss")
             for slope in (0.1, 0.2)]
    plans = [_kernels.plan(arch) for arch in leaky]
    if _compiled.available():
        assert plans[0] is not plans[1]
        assert [p.params[np.float64][0] for p in plans] == [0.1, 0.2]

    class Listed(Activation):  # settings in a list: not hashable
        def __init__(self):
            self.knots = [0.0, 1.0]

        def __call__(self, z):
            return z

        def derivative(self, z, a):
            return np.ones_like(a)
    assert _kernels.plan(Architecture((4, 3, 2), (Listed(),), "softmax", "log_loss")) is None


@needs_numba
def test_kernel_array_shapes_are_checked(rng):
    """Numba does not check bounds: an output, input, target or parameter array that
    does not fit the network is refused before a kernel could write past its end (an
    output of the wrong layer's width corrupted the heap before this check)."""
    arch = Architecture((6, 5, 4, 3), (get_activation("relu"),) * 2, "softmax", "log_loss")
    plan = _kernels.plan(arch)
    theta = init_parameters(arch, rng, np.float64)
    Z = rng.normal(size=(40, 5))
    work = plan.scratch(40, np.float64)
    out = np.empty((40, 4))  # layer 2's width
    assert plan.predict(Z, theta, out, 2, work)
    with pytest.raises(ValueError, match=r"shape \(40, 4\) where \(40, 3\) was needed"):
        plan.predict(Z, theta, out, 3, work)  # the output layer is 3 wide
    with pytest.raises(ValueError, match="no layer 4"):
        plan.predict(Z, theta, np.empty((40, 3)), 4, work)
    with pytest.raises(ValueError, match=r"shape \(40, 6\) where \(40, 5\) was needed"):
        plan.predict(rng.normal(size=(40, 6)), theta, out, 2, work)
    with pytest.raises(ValueError, match=f"{theta.size - 1} parameters, not {theta.size}"):
        plan.predict(Z, theta[:-1], out, 2, work)
    Y = np.eye(3)[rng.randint(3, size=40)]
    grad, D = np.empty_like(theta), np.empty((40, 5))
    loss = plan.hidden_and_output(Z, Y, np.empty(0), theta, grad, D, work)
    assert np.isfinite(loss) and loss > 0
    with pytest.raises(ValueError, match=r"shape \(40, 2\) where \(40, 3\) was needed"):
        plan.hidden_and_output(Z, Y[:, :2], np.empty(0), theta, grad, D, work)
    with pytest.raises(ValueError, match="39 weights for 40 rows"):
        plan.hidden_and_output(Z, Y, np.ones(39), theta, grad, D, work)
    with pytest.raises(ValueError, match=r"shape \(39, 5\) where \(40, 5\) was needed"):
        plan.hidden_and_output(Z, Y, np.empty(0), theta, grad, D[:39], work)
    # the zero-skipping prediction reads X itself: rows past its end or past the
    # output's are refused, and Z must hold a chunk's sums
    X = np.where(rng.uniform(size=(40, 6)) < 0.7, 0.0, rng.normal(size=(40, 6)))
    W0 = theta[:30].reshape(6, 5)
    out, Z = np.empty((40, 3)), np.empty((40, 5))
    assert plan.predict_skipping(X, slice(0, 40), W0, theta, out, 3, work, Z)
    np.testing.assert_allclose(out, plan_output(plan, X @ W0, theta, work), rtol=1e-12)
    with pytest.raises(ValueError, match="rows past the end of X or out"):
        plan.predict_skipping(X[:30], slice(0, 40), W0, theta, out, 3, work, Z)
    with pytest.raises(ValueError, match=r"shape \(30, 3\) where \(40, 3\) was needed"):
        plan.predict_skipping(X, slice(0, 40), W0, theta, out[:30], 3, work, Z)
    long = np.vstack([X] * 8)  # a chunk of 256 rows then a short one: out must hold all
    with pytest.raises(ValueError, match="rows past the end of X or out"):
        plan.predict_skipping(long, slice(0, 320), W0, theta, np.empty((300, 3)), 3,
                              plan.scratch(320, np.float64), np.empty((320, 5)))
    with pytest.raises(ValueError, match=r"shape \(40, 3\) where \(39, 3\) was needed"):
        plan.predict_skipping(X, slice(0, 40), W0, theta, out, 3, work, Z[:39])


def plan_output(plan, Z, theta, work):
    """The output layer from the first layer's sums, by the plan's predict."""
    out = np.empty((Z.shape[0], plan.units[-1]))
    plan.predict(np.ascontiguousarray(Z), theta, out, len(plan.units) - 1, work)
    return out
