"""The batch-gathering thread of a training epoch (with the compiled kernels only).

Gathering a shuffled batch (200 random rows of X, 627 kB for MNIST in float32) is
bound by memory bandwidth, and one core reaches only part of it. ``BatchPipeline``
therefore gathers the next batches on a second thread while the first computes; the
thread runs one compiled loop for the whole epoch, without the GIL, and the two hand
batches over through flags read and written atomically (small llvmlite intrinsics:
numba has no atomics of its own).
"""

import os
import threading

import numpy as np

from ._kernel_math import _jit, numba

if numba is not None:
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic

_SLOTS = 2  # batches in flight: one being used, one being gathered


def pipeline_applies(X, order):
    """Whether ``BatchPipeline`` can gather ``X[order]``: numba, dense C-ordered
    real X, a shuffled order, POSIX (for sched_yield) and a second CPU."""
    if numba is None or order is None or os.name != "posix":
        return False
    if not isinstance(X, np.ndarray) or X.dtype.kind not in "uif" or not X.flags.c_contiguous:
        return False
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(
        os.cpu_count() or 1)
    return len(cpus) > 1


class BatchPipeline:
    """Gather the rows ``X[order[start:stop]]`` of every batch on a second thread.

    ``ring`` (_SLOTS, batch_size, n_features) in the training dtype holds the batches.
    With ``forward=(W0, Z)`` (the first weight matrix and the buffer for ``X @ W0``) the
    thread also computes the second half of each batch's ``X @ W0`` on the rows it just
    gathered (in its own cache) while the trainer computes the first half: see
    ``start_forward``. ``flags`` holds: per slot 1 when it holds a batch ready for
    training, 0 when free to fill; then the stop request; then the number of batches
    whose weights are ready for the forward product, and of those done. Use as::

        pipeline = BatchPipeline(X, batch_size, dtype)   # once per fit
        for batch in pipeline.epoch(order):               # each epoch
            ...                                           # batch is valid until the next
    """

    def __init__(self, X, batch_size, dtype, forward=None):
        self.X, self.batch_size = X, batch_size
        self.ring = np.empty((_SLOTS, batch_size, X.shape[1]), dtype)
        self.flags = np.zeros(_SLOTS + 3, np.int64)
        if forward is None:
            forward = (np.zeros((X.shape[1], 0), dtype), np.zeros((batch_size, 0), dtype))
        self.W0, self.Z = forward
        self.current, self._batch = None, 0

    def epoch(self, order):
        """Yield ``X[rows]`` for each batch of ``order`` (cast to the ring's dtype)."""
        flags, n, size = self.flags, order.shape[0], self.batch_size
        flags[:] = 0
        worker = threading.Thread(
            target=_gather_epoch, args=(self.X, order, size, self.ring, flags, self.W0,
                                        self.Z), name="skdigitnet-batches", daemon=True)
        worker.start()
        try:
            for b, start in enumerate(range(0, n, size)):
                slot = b % _SLOTS
                self._wait(worker, slot, 1)
                self.current, self._batch = self.ring[slot, : min(size, n - start)], b
                yield self.current
                self.current = None
                self.start_forward()  # in case the batch was not used for a step
                self._wait(worker, _SLOTS + 2, b + 1)
                _store(flags, slot, 0)
        finally:
            self.current = None
            _store(flags, _SLOTS, 1)  # stop the gatherer, whatever happened here
            worker.join()

    def start_forward(self):
        """The weights are current: let the thread compute its half of the batch's
        ``X @ W0``; returns the number of first rows the caller computes itself."""
        _store(self.flags, _SLOTS + 1, self._batch + 1)
        return self.current.shape[0] // 2 if self.current is not None else 0

    def wait_forward(self):
        """Wait until the thread's half of ``X @ W0`` is in ``Z``."""
        _wait_for(self.flags, _SLOTS + 2, self._batch + 1, 1 << 62)

    def _wait(self, worker, index, value):
        while not _wait_for(self.flags, index, value, 1_000_000):
            if not worker.is_alive():  # pragma: no cover - cannot happen
                raise RuntimeError("the batch-gathering thread stopped early")


if numba is not None:
    @intrinsic
    def _load_acquire(typingctx, array, index):
        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            return builder.load_atomic(builder.gep(data, [args[1]]), "acquire", 8)
        return numba.types.int64(array, numba.types.intp), codegen

    @intrinsic
    def _store_release(typingctx, array, index, value):
        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            builder.store_atomic(args[2], builder.gep(data, [args[1]]), "release", 8)
            return context.get_dummy_value()
        return numba.types.void(array, numba.types.intp, numba.types.int64), codegen

    def _c_int_function(name, n_args):
        """``int name(int...)`` from the C library, called from compiled code."""
        def codegen(context, builder, signature, args):
            fnty = ir.FunctionType(ir.IntType(32), [ir.IntType(32)] * n_args)
            fn = cgutils.get_or_insert_function(builder.module, fnty, name)
            return builder.call(fn, [builder.trunc(a, ir.IntType(32)) for a in args])
        return codegen

    @intrinsic
    def _sched_yield(typingctx):
        return numba.types.int32(), _c_int_function("sched_yield", 0)
else:  # pragma: no cover
    _load_acquire = _store_release = _sched_yield = None


@_jit
def _wait_for(flags, index, value, max_spins):
    """Spin until ``flags[index] >= value``, yielding the CPU; False after ``max_spins``."""
    for spin in range(max_spins):
        if _load_acquire(flags, index) >= value:
            return True
        if spin > 100:
            _sched_yield()
    return False


@_jit
def _store(flags, slot, value):
    _store_release(flags, slot, value)



@_jit
def _gather_epoch(X, order, batch_size, ring, flags, W0, Z):
    """The gathering thread: fill free slots with the epoch's batches, in order, and
    compute the second half of each batch's ``X @ W0`` when W0 has columns."""
    n, slots = order.shape[0], ring.shape[0]
    stop_flag, ready, done = slots, slots + 1, slots + 2
    for b, start in enumerate(range(0, n, batch_size)):
        slot = b % slots
        if not _wait_or_stop(flags, slot, 0, stop_flag):  # the trainer uses this slot
            return
        m = min(batch_size, n - start)
        batch = ring[slot]
        for r in range(m):
            src, dst = X[order[start + r]], batch[r]
            for k in range(src.shape[0]):
                dst[k] = src[k]
        _store_release(flags, slot, 1)
        if W0.shape[1] > 0:
            if not _wait_or_stop(flags, ready, b + 1, stop_flag):
                return
            np.dot(batch[m // 2: m], W0, Z[m // 2: m])
        _store_release(flags, done, b + 1)


@_jit
def _wait_or_stop(flags, index, value, stop_flag):
    """Spin until ``flags[index]`` reaches ``value`` (exactly 0 for a slot); False when
    asked to stop."""
    spins = 0
    while True:
        current = _load_acquire(flags, index)
        if current == value or (value > 0 and current > value):
            return True
        if _load_acquire(flags, stop_flag) != 0:
            return False
        spins += 1
        if spins > 100:
            _sched_yield()
