"""The compiled backend: an epoch, a full-batch gradient or a prediction is one call of
the compiled loop ``kernels.sweep``, on arrays grouped as ``layout.py`` defines them.

Chosen by ``skdigitnet._engine.choose_backend`` for dense ``X`` and architectures the
kernels cover (``covers``); the numpy backend (``reference.NumpyBackend``) is the
reference it is tested against.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from skdigitnet._engine.compute import (
    blas_threads,
    flush_denormals,
    one_blas_thread,
)
from skdigitnet._engine.reference import NumpyBackend
from skdigitnet._neural_network.activations import ReLU
from skdigitnet._neural_network.network import Architecture, parameter_vector
from skdigitnet._neural_network.optimizers import SGD, Adam

from . import kernels, layout, skip_zeros
from .elementwise import numba

if TYPE_CHECKING:
    from skdigitnet._neural_network.batches import Batches
    from skdigitnet._neural_network.network import Workspace
    from skdigitnet._typing import FloatArray, IntArray, Matrix, NDArray


#: A prediction takes a second thread (a third, ...) for each this many multiplications
#: in its first layer, while a CPU is idle (``idle_cpus``): the seed network's from
#: 5,350 rows on, where its threads start to pay (the speed guide has the timings).
PARALLEL_MIN = 1 << 25
#: ... and for each this many while every other CPU is busy: a thread that shares its
#: core with another library's spinning BLAS thread waits milliseconds for it, which
#: only a long prediction (a wider network's) makes up for.
BUSY_PARALLEL_MIN = 1 << 28
#: Threads of a prediction at most.
MAX_THREADS = 8
#: Pieces of a prediction's rows for each of its threads (``_split``).
PIECES = 4


def available() -> bool:
    """Whether numba could be imported."""
    return numba is not None


def covers(arch: Architecture) -> bool:
    """Whether the kernels compute ``arch``: numba, at least one hidden layer, built-in
    hidden activations with a compiled code, a known output and loss."""
    return available() and layout.plan(arch) is not None


def prepare(X_dtype: DTypeLike, dtype: DTypeLike, first_layer: int = skip_zeros.LANES) -> None:
    """Compile, or load from numba's cache, the epoch of a fit on X of ``X_dtype`` with
    parameters of ``dtype`` and a first hidden layer of ``first_layer`` units (the seed
    network's 16 by default), and with it what predictions use. What a compiled call is
    compiled for depends on these dtypes, and on whether that layer is one vector wide
    (``skip_zeros.LANES`` units: its products need no tiles, ``layout.work``), only: an
    architecture is otherwise data to it, so a tiny network does."""
    width = skip_zeros.LANES if first_layer == skip_zeros.LANES else 3
    arch = Architecture((4, width, 2), (ReLU(),), "softmax", "log_loss")
    plan = layout.plan(arch)
    if plan is None:  # pragma: no cover - the kernels cover ReLU, softmax and log loss
        return
    X = np.zeros((4, 4), X_dtype)
    Y = np.eye(2, dtype=dtype)[[0, 1, 0, 1]]
    theta = np.full(arch.n_parameters, 0.1, dtype)
    net = layout.net(plan, theta, False)
    work = layout.work(plan, 4, 4, dtype, False)
    data = layout.data(X, Y, None, np.arange(4), plan, dtype)
    kernels.sweep(data, net, work, layout.opt(Adam(arch.n_parameters, dtype)), 0.0, 2, 2,
                  np.empty((0, 2), dtype))


@functools.cache
def _sched_getcpu() -> Callable[[], int] | None:
    """The C library's ``sched_getcpu`` where threads can be kept off CPUs (Linux)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        return ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError):  # pragma: no cover - glibc and musl have it
        return None


def current_cpu() -> int | None:
    """The CPU the calling thread runs on, or None where that is not known."""
    getcpu = _sched_getcpu()
    return None if getcpu is None else int(getcpu())


@functools.cache
def _loadavg() -> int | None:
    """A descriptor of Linux's /proc/loadavg, opened once: a read at its start is one
    system call (opening it each time takes three times as long right after another
    library's BLAS work); None where there is no such file."""
    try:
        return os.open("/proc/loadavg", os.O_RDONLY)
    except (OSError, AttributeError):
        return None


def idle_cpus() -> int | None:
    """The machine's CPUs with no thread running on them right now, the calling one
    counted as running (/proc/loadavg, "0.20 0.18 0.12 2/80 11206": 2 of 80 threads
    running); None where that cannot be read. Right after another library's
    multithreaded BLAS work, its threads spin for a tenth of a second and take the
    other CPUs."""
    descriptor = _loadavg()
    if descriptor is None or not hasattr(os, "pread"):
        return None
    try:
        running = int(os.pread(descriptor, 128, 0).split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, (os.cpu_count() or 1) - running)


def keep_off(thread: threading.Thread, cpu: int | None) -> None:
    """Keep ``thread`` (a prediction's own, just started, which ends with it) off
    ``cpu``, the CPU of the thread that started it, when it may run elsewhere.

    When every CPU is busy, Linux starts a new thread on the CPU of its creator: right
    after another library's BLAS call, whose threads spin on the other cores for a
    while, a prediction's two threads would share one core (and take as long as one).
    Elsewhere, the thread can take its pieces of the rows (``PIECES``) alongside the
    spinning thread, and the prediction's own thread takes the others. The starting
    thread moves the new one while it waits to begin, which the kernel does at once; a
    thread moving itself holds the GIL until it runs on the other CPU, in turn behind
    the spinning thread, and the starting thread waits as long (milliseconds)."""
    if cpu is None or thread.native_id is None:
        return
    with contextlib.suppress(OSError):  # (the CPUs allowed changed meanwhile: stay put)
        elsewhere = os.sched_getaffinity(0) - {cpu}
        if elsewhere:
            os.sched_setaffinity(thread.native_id, elsewhere)


class CompiledBackend(NumpyBackend):
    """The compiled backend for one fit or prediction of ``arch`` (``covers(arch)``)."""

    name = "compiled"

    def __init__(self, arch: Architecture) -> None:
        super().__init__(arch)
        plan = layout.plan(arch)
        if plan is None:
            raise ValueError(f"skdigitnet internal error: no compiled plan for {arch}")
        self.plan = plan
        self._work: tuple[tuple[object, ...], layout.Work] | None = None

    @staticmethod
    def _skip(X: NDArray[Any], W0: FloatArray) -> bool:
        """Whether the first layer's products skip zeros: X sparse enough, W0 finite."""
        return skip_zeros.sparse_enough(X) and skip_zeros.covers(W0)

    def _work_for(self, rows: int, X: NDArray[Any], dtype: np.dtype[Any],
                  skip: bool) -> layout.Work:
        """The buffers of this fit, made at its first epoch (and again only if the batch
        size, the features, the dtype or the product changes)."""
        key = (rows, X.shape[1], dtype, skip)
        if self._work is None or self._work[0] != key:
            self._work = (key, layout.work(self.plan, rows, X.shape[1], dtype, skip))
        return self._work[1]

    def run_epoch(self, batches: Batches, order: IntArray | None, n_rows: int, alpha: float,
                  optimizer: SGD | Adam, workspace: Workspace) -> float:
        """The whole epoch in one compiled call: ``kernels.sweep``."""
        X, theta = batches.X, workspace.theta
        if not isinstance(X, np.ndarray):  # (choose_backend gives sparse X to numpy)
            return super().run_epoch(batches, order, n_rows, alpha, optimizer, workspace)
        X = np.ascontiguousarray(X)
        skip = self._skip(X, workspace.coefs[0])
        rows = None if order is None else order[:n_rows]  # None: every row in turn
        data = layout.data(X, batches.Y, batches.sample_weight, rows, self.plan, theta.dtype)
        work = self._work_for(batches.batch_size, X, theta.dtype, skip)
        total, weight_sum = self._train(data, layout.net(self.plan, theta, skip), work,
                                        layout.opt(optimizer), alpha, batches.batch_size)
        return total / weight_sum if weight_sum > 0 else 0.0

    def loss_and_gradient(self, theta: FloatArray, X: Matrix, Y: FloatArray,
                          sample_weight: FloatArray | None, alpha: float, grad: FloatArray,
                          workspace: Workspace) -> float:
        """``kernels.sweep`` over every row as one batch, with no optimizer: the
        gradient only."""
        if not isinstance(X, np.ndarray):
            return super().loss_and_gradient(theta, X, Y, sample_weight, alpha, grad,
                                             workspace)
        X = np.ascontiguousarray(X)
        skip = self._skip(X, workspace.coefs[0])
        data = layout.data(X, Y, sample_weight, None, self.plan, theta.dtype)
        rows = max(X.shape[0], 1)
        work = self._work_for(rows, X, theta.dtype, skip)
        total, weight_sum = self._train(data, layout.net(self.plan, theta, skip), work,
                                        layout.opt(None, theta.dtype), alpha, rows)
        grad[...] = work.grad
        return float(total / weight_sum)

    def _train(self, data: layout.Data, net: layout.Net, work: layout.Work, opt: layout.Opt,
               alpha: float, batch_size: int) -> tuple[float, float]:
        """``kernels.sweep`` training (an epoch, or with no optimizer the gradient) with
        BLAS on one thread and subnormals flushed; returns the loss sum and the weight
        sum."""
        with one_blas_thread(), flush_denormals():
            total, weight_sum, _ = kernels.sweep(
                data, net, work, opt, float(alpha), batch_size, len(self.plan.units) - 1,
                np.empty((0, self.plan.units[-1]), net.theta.dtype))
        return total, weight_sum

    def predict_into(self, coefs: Sequence[FloatArray], intercepts: Sequence[FloatArray],
                     X: Matrix, layer: int, chunk_rows: int, out: FloatArray,
                     check_finite: bool) -> bool:
        """``kernels.sweep``'s forward pass, ``kernels.CHUNK`` rows at a time
        (``chunk_rows`` is the numpy backend's), layer ``layer`` into ``out``; with many
        rows, threads of its own take pieces of them in turn (``_split``)."""
        if not isinstance(X, np.ndarray):
            return super().predict_into(coefs, intercepts, X, layer, chunk_rows, out,
                                        check_finite)
        X = np.ascontiguousarray(X)
        theta = parameter_vector(coefs, intercepts, out.dtype)  # read only
        skip = self._skip(X, theta[: coefs[0].size].reshape(coefs[0].shape))
        n = X.shape[0]
        if n == 0:
            return True
        net, (threads, piece) = layout.net(self.plan, theta, skip), self._split(n)
        rows, opt = min(kernels.CHUNK, piece), layout.opt(None, out.dtype)
        here = current_cpu() if threads > 1 else None
        claims = itertools.count()  # the pieces' numbers (next() is atomic: one C call)
        finite, failed, placed = [True] * threads, [], threading.Event()

        def predict(thread: int) -> None:
            try:
                if thread:
                    placed.wait()  # (off the starting thread's CPU: ``keep_off``)
                work = layout.work(self.plan, rows, X.shape[1], out.dtype, skip, train=False)
                while (lo := next(claims) * piece) < n:
                    hi = min(lo + piece, n)
                    data = layout.data(X[lo:hi], None, None, None, self.plan, out.dtype)
                    finite[thread] &= kernels.sweep(data, net, work, opt, 0.0, rows, layer,
                                                    out[lo:hi])[2]
            except BaseException as error:  # noqa: BLE001 - raised below, once all are done
                failed.append(error)
        with one_blas_thread():  # the threads are ours (``_split``)
            helpers = [threading.Thread(target=predict, args=(thread,), daemon=True)
                       for thread in range(1, threads)]
            try:
                for helper in helpers:
                    helper.start()
                    keep_off(helper, here)
            finally:  # (should a thread fail to start, the ones started still end)
                placed.set()
            predict(0)
            for helper in helpers:
                helper.join()
        if failed:  # rows of ``out`` were not computed
            raise failed[0]
        return all(finite)

    def _split(self, n_rows: int) -> tuple[int, int]:
        """A prediction's threads and the rows each takes at a time: one thread for each
        BLAS may use (``blas_threads``, so one in a worker of ``GridSearchCV(n_jobs=2)``
        on two cores), at most one for each ``PARALLEL_MIN`` multiplications of the first
        layer, or ``BUSY_PARALLEL_MIN`` when no CPU is idle. The threads take ``PIECES``
        pieces each in turn, whole chunks, rather than a fixed share each: a thread that
        shares its core takes fewer."""
        work = n_rows * int(self.plan.units[0]) * int(self.plan.units[1])
        threads = max(1, min(blas_threads(), MAX_THREADS, work // PARALLEL_MIN, n_rows))
        if threads > work // BUSY_PARALLEL_MIN and idle_cpus() == 0:
            threads = max(1, work // BUSY_PARALLEL_MIN)
        if threads == 1:
            return 1, n_rows
        piece = -(-n_rows // (threads * PIECES))
        return threads, -(-piece // kernels.CHUNK) * kernels.CHUNK
