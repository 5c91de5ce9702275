"""The second thread of a training epoch (with the compiled kernels only).

The two first-layer products of a batch are most of an epoch's arithmetic. When
``BatchPipeline`` trains a whole epoch (``train_epoch``), a second thread shares them,
both sides running one compiled loop for the whole epoch, without the GIL, and handing
over through flags read and written atomically (small llvmlite intrinsics: numba has no
atomics of its own). Two ways:

- X sparse enough (``_skip_zeros``; MNIST is): ``_train_direct`` and ``_direct_worker``.
  The products skip zeros and read X's rows in place: nothing is gathered. The threads
  split them by the columns of X, and with them W0's rows and their optimizer step; the
  small layers they split by rows. Only the first layer's sums and delta and the later
  layers' gradient pass between the cores, a few kB a batch.
- Otherwise: ``_train_epoch`` and ``_fused_worker``. Gathering a shuffled batch (200
  random rows of X, 627 kB for MNIST in float32) is bound by memory bandwidth; the
  second thread computes its rows of both products (in BLAS) while the trainer computes
  the others, each thread gathering the rows it computes (batches of one block, which
  the trainer computes whole, the thread gathers for it).

The generic loop (``epoch``) has the thread gather whole batches.
"""

import functools
import os
import threading

import numpy as np

from . import _skip_zeros
from ._compute import aligned_empty
from ._kernel_math import _jit, numba
from ._kernels import (
    _adam_step,
    _check_scratch,
    _finish_gradient,
    _finish_range,
    _sgd_step,
    _small_layers,
)

if numba is not None:
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic

_SLOTS = 2  # batches in flight: one being used, one being gathered
# ``flags``: per slot 1 when it holds a batch ready for training, 0 when free to fill;
# then the stop request; a failure report from the thread; and four counters of
# batches: weights ready for the forward product, the thread's forward share done,
# the first layer's delta ready for the weight gradient, the thread's gradient share
# done. Written with release and read with acquire ordering.
_STOP, _FAILED, _FWD_READY, _FWD_DONE, _BACK_READY, _BACK_DONE = range(_SLOTS, _SLOTS + 6)
_N_FLAGS = _SLOTS + 6
# The optimizer, in ``_train_epoch``.
_ADAM, _MOMENTUM, _NESTEROV = range(3)
ADAM = _ADAM  # for the caller, which slices Adam's step sizes by segment
# The trainer gathers and computes the first ``m * _MAIN_SHARE // 16`` rows of each
# batch's two first-layer products, the thread the rest; the trainer also does the small
# layers and the step, so it takes fewer rows: 7/16 balances the two on MNIST (uint8 or
# float32 X; measured on AMD EPYC: 6/16 to 8/16 within a few per cent). A constant, so
# that results never depend on timing.
_MAIN_SHARE = 7
# When the products skip zeros and read X in place (``_train_direct``), the threads split
# them by columns instead: the trainer takes the first ones, with this many sixteenths
# of the work (the columns it visits, ``_skip_zeros.column_split``).
_TRAINER_COLUMNS = 7


def gather_applies(X, order):
    """Whether ``BatchPipeline`` can gather ``X[order]``: numba, dense C-ordered real X,
    a shuffled order and POSIX (for sched_yield)."""
    if numba is None or order is None or os.name != "posix":
        return False
    return isinstance(X, np.ndarray) and X.dtype.kind in "uif" and X.flags.c_contiguous


def pipeline_applies(X, order):
    """Whether ``BatchPipeline`` can gather ``X[order]`` on a second thread: see
    ``gather_applies``, and a second CPU."""
    return gather_applies(X, order) and second_cpu()


def second_core_free(ignore=()):
    """Whether a second thread of ours would have a core of its own: this process may
    run on at least two CPUs more than other threads are running right now
    (``others_running``). Those are typically OpenBLAS workers still spinning (for
    about 0.1 s) after the last multithreaded product: on two CPUs one of them takes the
    core a second thread of ours would need; on four, two threads of ours still fit
    beside it. ``ignore``: native thread ids of ours not to count (our own ended
    workers, which may show until they are gone)."""
    cpus = cpu_count()
    if cpus < 2:
        return False
    return others_running(ignore, stop_at=cpus - 1, cpus=cpus) + 2 <= cpus


def others_running(ignore=(), stop_at=None, cpus=None):
    """How many threads other than the calling one are running right now where this
    process may run: when it may run on every CPU of the machine and there are no
    threads to ignore, the machine's count of running threads (/proc/loadavg, one read:
    some 0.05 ms less than reading each thread's state right after another library's
    work has emptied the caches), which counts other processes' too, as it should;
    else this process's own (``running_threads``). ``cpus``: ``cpu_count()``, if known."""
    if not ignore and (cpu_count() if cpus is None else cpus) == _ONLINE_CPUS:
        running = _running_on_machine()
        if running is not None:
            return running - 1  # the calling thread runs
    return running_threads(ignore, stop_at)


_ONLINE_CPUS = os.cpu_count()


def _running_on_machine():
    """The machine's threads running right now, the calling one included (Linux's
    /proc/loadavg, "0.20 0.18 0.12 1/80 11206": 1 of 80); None where it cannot be read.
    The file stays open and is read again from its start: one system call."""
    descriptor = _loadavg_descriptor()
    if descriptor < 0 or not hasattr(os, "pread"):
        return None
    try:
        fields = os.pread(descriptor, 128, 0).split()
        return int(fields[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):  # pragma: no cover - not Linux's format
        return None


@functools.cache
def _loadavg_descriptor():
    """/proc/loadavg opened once (closed on exec); -1 where it cannot be opened."""
    try:
        return os.open("/proc/loadavg", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return -1


def running_threads(ignore=(), stop_at=None):
    """How many threads of this process other than the calling one are running right
    now (counting stops at ``stop_at``); 0 where /proc/self/task cannot be read. Reads
    /proc/self/task/*/stat (a few microseconds a thread)."""
    me = threading.get_native_id()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0
    running = 0
    for task in tasks:
        if task == str(me) or int(task) in ignore:
            continue
        try:
            with open(f"/proc/self/task/{task}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:  # the thread just ended
            continue
        end = stat.rfind(b")")  # the state follows the command name in parentheses
        if stat[end + 2: end + 3] == b"R":
            running += 1
            if stop_at is not None and running >= stop_at:
                break
    return running


def cpu_count():
    """How many CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def second_cpu():
    """Whether this process may run on more than one CPU."""
    return cpu_count() > 1


class ThreadChoice:
    """Whether a second thread pays for a kind of work (``key``), learnt from the time
    the work took per row on one thread and on two.

    Two CPUs need not be two cores' worth of work: a virtual machine's two vCPUs may
    share one core of a busy host, and other processes may want the cores. Then the
    hand-overs between the threads wait for whichever vCPU the host runs, and two
    threads are slower than one, by far (measured on a 2-vCPU AMD EPYC virtual machine
    whose host was busy: an MNIST epoch at batch 200 took 559 ms on two threads, 67 ms
    on one; on a quiet host 42 and 66 ms). Neither the CPU time of the threads (a
    thread waiting for the other spins) nor a count of running threads shows it: only
    the clock does.

    So each key starts on two threads (the first run, which loads the compiled code from
    numba's cache, some 0.3 s, is not counted), then runs once on one, and from then on runs
    the faster way (by seconds per row: its timings, each averaged with the one before),
    trying the other way again after ``gap`` runs (that try's timing alone counts: the
    host may have changed). A try that loses is tried once more before it counts as lost,
    and the faster of the two counts: on a virtual machine a CPU left idle for 0.1 s or
    more may run the first 10 ms or so of work much slower (measured on the same 2-vCPU
    machine, quiet host: a first two-thread segment after 0.1 s on one thread took up to
    1.75 us a row, the next 0.85 us, one thread 1.04 us), and one slow try would keep
    the key on one thread for ``gap`` runs more, each of which leaves the CPU idle again.
    The gap doubles, up to ``MAX_GAP`` (two tries of a way eight times slower then cost
    some 6 % more), while the other way keeps losing, and is ``FIRST_GAP`` again once it
    wins. The callers choose this way only between ways that compute the same bits.
    """

    FIRST_GAP, MAX_GAP = 4, 256

    def __init__(self):
        self._lock = threading.Lock()
        self._keys = {}  # key -> _Timings

    def two_threads(self, key):
        """Whether the next run of ``key`` should use two threads."""
        with self._lock:
            timings = self._keys.get(key)
            if timings is None or timings.rate[1] is None:
                return True
            if timings.rate[0] is None:
                return False
            # the faster way, and the other once every gap runs (twice when it loses)
            other = timings.since >= timings.gap or timings.again
            return timings.faster_two() != other

    def record(self, key, two, rows, seconds):
        """A run of ``key`` on two threads (``two``) or one took ``seconds`` for
        ``rows`` rows."""
        if rows <= 0:
            return
        rate = seconds / rows
        with self._lock:
            timings = self._keys.get(key)
            if timings is None:  # the first run of a key loads its compiled code: not counted
                self._keys[key] = _Timings(self.FIRST_GAP)
                return
            before = timings.faster_two()
            old = timings.rate[two]
            if before is None or two == before:  # the faster way ran (or not both known)
                timings.rate[two] = rate if old is None else (old + rate) / 2
                if before is not None:
                    timings.since += 1
                return
            # a try of the other way: its timing is the news (the host may have changed
            # since the one before); a second try's, if faster than the first's
            timings.rate[two] = min(rate, old) if timings.again else rate
            timings.since = 0
            lost = timings.faster_two() == before
            if lost and not timings.again:  # the first try may have woken an idle CPU
                timings.again = True
                return
            timings.again = False
            timings.gap = min(2 * timings.gap, self.MAX_GAP) if lost else self.FIRST_GAP

    def learnt(self):
        """``{key: (seconds per row on one thread, on two)}``, None where not timed yet."""
        with self._lock:
            return {key: tuple(timings.rate) for key, timings in self._keys.items()}

    def forget(self):
        """Start learning anew (for tests)."""
        with self._lock:
            self._keys.clear()

    def _after_fork(self):
        """In a forked child: a new lock (another thread may have held the old one as the
        process forked, and no thread of the child would ever release it)."""
        self._lock = threading.Lock()


class _Timings:
    """``ThreadChoice``'s state for one key: seconds per row on one thread and on two
    (``rate[False]``, ``rate[True]``; None until timed), runs of the faster way since
    the other was tried, the runs to wait before trying it again, and whether a try
    that lost is to be tried once more."""

    def __init__(self, gap):
        self.rate = [None, None]
        self.since, self.gap, self.again = 0, gap, False

    def faster_two(self):
        """Whether two threads have been faster; None until both ways are timed."""
        alone, two = self.rate
        return None if alone is None or two is None else two <= alone


# One for the process: what a fit or a prediction learnt serves the next ones (a grid
# search runs many short fits).
thread_choice = ThreadChoice()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=thread_choice._after_fork)


class BatchPipeline:
    """Gather the rows ``X[order[start:stop]]`` of every batch on a second thread.

    ``ring`` (_SLOTS, batch_size, n_features) in the training dtype holds the batches;
    ``flags`` the hand-over state (see ``_FLAGS``). Two ways to use it, once per fit::

        pipeline = BatchPipeline(X, batch_size, dtype)
        for batch in pipeline.epoch(order):     # gathering only; the caller trains
            ...                                 # batch is valid until the next
        pipeline.train_epoch(order, ...)        # a whole epoch in compiled code

    ``train_epoch`` runs the epoch's training loop in one compiled call
    (``_train_epoch``) while the thread gathers and computes its rows of both
    first-layer products (``_fused_worker``): no Python runs between batches.
    """

    def __init__(self, X, batch_size, dtype):
        self.X, self.batch_size = X, batch_size
        self._ring_shape, self._dtype = (_SLOTS, batch_size, X.shape[1]), dtype
        self._ring = None  # made at first use: the zero-skipping epoch gathers nothing
        self.flags = np.zeros(_N_FLAGS, np.int64)
        self._share = None  # the thread's half of the weight gradient, when training
        self._split = None  # the column split of _train_direct (-1: not used), once known
        self._direct_buffers = None  # _train_direct's Zh and scratch
        self.ended = set()  # native ids of this pipeline's threads, ended

    @property
    def ring(self):
        """The batch buffers (``_SLOTS``, batch_size, n_features) in the training dtype."""
        if self._ring is None:
            self._ring = aligned_empty(self._ring_shape, self._dtype)
        return self._ring

    def epoch(self, order):
        """Yield ``X[rows]`` for each batch of ``order`` (cast to the ring's dtype)."""
        flags, n, size = self.flags, order.shape[0], self.batch_size
        flags[:] = 0
        worker = self._start(_gather_epoch, (self.X, order, size, self.ring, flags))
        try:
            for b, start in enumerate(range(0, n, size)):
                slot = b % _SLOTS
                self._wait(worker, slot, 1)
                yield self.ring[slot, : min(size, n - start)]
                _store(flags, slot, 0)
        finally:
            self._stop(worker)

    def train_epoch(self, order, Y, sample_weight, theta, grad, W0, grad_W0, Z, D, plan,
                    work, alpha, step, alone=False):
        """One epoch of minibatch training over ``X[order]``, in place on ``theta``.

        ``Y`` (n_samples, n_outputs) and ``sample_weight`` (n_samples,) or None are
        indexed by ``order`` like ``X``; ``W0`` and ``grad_W0`` are the first weight
        matrix's views of ``theta`` and ``grad``; ``Z`` and ``D`` (batch_size, units[1])
        the first layer's buffers; ``plan`` and ``work`` the kernels' plan and scratch;
        ``step`` the optimizer's view from ``optimizer_step``; ``alone``: this thread
        does all the work (the same arithmetic: the results do not change).
        Returns (sum of batch loss times batch weight, sum of batch weights).
        """
        dtype = theta.dtype
        if self._share is None or self._share.shape != grad_W0.shape:
            self._share = aligned_empty(grad_W0.shape, dtype)
            self._parts = aligned_empty((2, *grad_W0.shape), dtype)  # a block's product, each
        if self._split is None:  # the data decides, once: the same arithmetic every epoch
            self._split = (_skip_zeros.column_split(self.X, _TRAINER_COLUMNS / 16)
                           if _skip_zeros.sparse_enough(self.X) else -1)
        if self._split >= 0 and _skip_zeros.covers(W0):
            return self._train_direct(self._split, order, Y, sample_weight, theta, grad, W0,
                                      grad_W0, Z, D, plan, work, alpha, step, alone)
        flags = self.flags
        flags[:] = 0
        worker = None if alone else self._start(
            _fused_worker, (self.X, order, self.batch_size, self.ring, flags, W0, Z, D,
                            self._share, self._parts[1]))
        # one dtype for every array: each other combination would compile anew
        sw = np.empty(0, dtype) if sample_weight is None else np.asarray(sample_weight, dtype)
        y = np.empty((self.batch_size, Y.shape[1]), dtype)
        w = np.empty(self.batch_size if sample_weight is not None else 0, dtype)
        code, state_1, state_2, hyper = step
        try:
            result = _train_epoch(self.X, order, self.batch_size, self.ring, flags, Y, sw, y,
                                  w, theta, grad, W0, grad_W0, Z, D, self._share,
                                  self._parts, plan.meta,
                                  plan.params[dtype.type], work, plan.eps[dtype.type],
                                  plan.n_weights, float(alpha), code, state_1, state_2,
                                  hyper, bool(alone))
        finally:
            if worker is not None:
                self._stop(worker)
        if result[2] != 0:
            raise RuntimeError("the batch-gathering thread stopped early")
        return result[0], result[1]

    def _train_direct(self, split_column, order, Y, sample_weight, theta, grad, W0, grad_W0,
                      Z, D, plan, work, alpha, step, alone):
        """``train_epoch`` by ``_train_direct``: the products skip zeros, read X in place
        and split by columns; the small layers split by rows."""
        dtype = theta.dtype
        n_batches = -(-order.shape[0] // self.batch_size)
        buffers = self._direct_buffers
        if buffers is None or buffers[0].shape != Z.shape or buffers[0].dtype != dtype:
            buffers = self._direct_buffers = (
                aligned_empty(Z.shape, dtype),  # the thread's part of the sums
                aligned_empty((2, W0.shape[0], _skip_zeros.LANES), dtype),  # scratch
                aligned_empty(grad.shape, dtype),  # the thread's gradient of later layers
                plan.scratch(Z.shape[0], dtype))  # the thread's kernel scratch
        zh, pads, hgrad, hwork = buffers
        weights = np.empty(n_batches)
        losses, squares = np.zeros(n_batches), np.zeros(n_batches)
        split = np.int64(split_column)
        code, state_1, state_2, hyper = step
        flags = self.flags
        flags[:] = 0
        sw = np.empty(0, dtype) if sample_weight is None else np.asarray(sample_weight, dtype)
        y = np.empty((self.batch_size, Y.shape[1]), dtype)
        w = np.empty(self.batch_size if sample_weight is not None else 0, dtype)
        params, eps = plan.params[dtype.type], plan.eps[dtype.type]
        worker = None if alone else self._start(
            _direct_worker, (self.X, order, self.batch_size, flags, y, w, W0, Z, zh,
                             D, theta, grad, grad_W0, hgrad, pads[1], split, plan.meta,
                             params, hwork, eps, plan.n_weights, float(alpha), code,
                             state_1, state_2, hyper, weights, losses, squares))
        try:
            result = _train_direct(self.X, order, self.batch_size, flags, Y, sw, y, w, theta,
                                   grad, hgrad, W0, grad_W0, Z, zh, D, pads, split,
                                   plan.meta, params, work, hwork, eps, plan.n_weights,
                                   float(alpha), code, state_1, state_2, hyper, bool(alone),
                                   weights, losses, squares)
        finally:
            if worker is not None:
                self._stop(worker)
        if result[2] != 0:
            raise RuntimeError("the batch thread stopped early")
        return result[0], result[1]

    def _start(self, target, args):
        def run():
            try:
                target(*args)
            except BaseException:  # pragma: no cover - a compiled loop cannot fail here
                _store(self.flags, _FAILED, 1)
                _store(self.flags, _STOP, 1)  # the trainer waits no longer
                raise
        worker = threading.Thread(target=run, name="skdigitnet-batches", daemon=True)
        worker.start()
        return worker

    def _stop(self, worker):
        """Stop ``worker`` (whatever happened) and wait for it."""
        _store(self.flags, _STOP, 1)  # stop the gatherer, whatever happened here
        worker.join()
        self.ended.add(worker.native_id)

    def _wait(self, worker, index, value):
        while not _wait_for(self.flags, index, value, 1_000_000):
            if not worker.is_alive():  # pragma: no cover - cannot happen
                raise RuntimeError("the batch-gathering thread stopped early")


def optimizer_step(optimizer, n_steps):
    """The compiled loop's view of ``optimizer`` (``_optimizers.SGD`` or ``Adam``) for
    the next ``n_steps`` steps: ``(code, state_1, state_2, hyper)``; None for other optimizers.
    Adam's step sizes are counted here, one per step, as ``Adam.step`` counts them."""
    from ._optimizers import SGD, Adam
    if isinstance(optimizer, Adam):
        sizes = [optimizer.next_step_size() for _ in range(n_steps)]
        hyper = np.array([float(optimizer.beta_1), float(optimizer.beta_2),
                          float(optimizer.epsilon), *sizes])
        return _ADAM, optimizer.m, optimizer.v, hyper
    if isinstance(optimizer, SGD):
        hyper = np.array([float(optimizer.learning_rate), float(optimizer.momentum)])
        code = _NESTEROV if optimizer.nesterov else _MOMENTUM
        return code, optimizer.velocity, optimizer.velocity[:0], hyper
    return None


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



# Integer arguments of compiled calls, as int64: a constant passed as is would be typed
# as that literal value, and each call with another one compile its own copy.
_I = np.int64


@_jit
def _gather(X, order, start, m, batch):
    """``batch[:m] = X[order[start:start + m]]``, cast to ``batch``'s dtype."""
    _gather_rows(X, order, start, _I(0), m, batch)


@_jit
def _gather_rows(X, order, start, lo, hi, batch):
    """``batch[lo:hi] = X[order[start + lo:start + hi]]``, cast to ``batch``'s dtype."""
    for r in range(lo, hi):
        src, dst = X[order[start + r]], batch[r]
        for k in range(src.shape[0]):
            dst[k] = src[k]


@_jit
def _gather_epoch(X, order, batch_size, ring, flags):
    """The gathering thread of ``BatchPipeline.epoch``: fill free slots with the
    epoch's batches, in order."""
    n, slots = order.shape[0], ring.shape[0]
    for b, start in enumerate(range(0, n, batch_size)):
        slot = b % slots
        if not _wait_or_stop(flags, slot, _I(0)):  # the trainer uses this slot
            return
        _gather(X, order, start, min(batch_size, n - start), ring[slot])
        _store_release(flags, slot, 1)


# Rows per BLAS call in the first-layer products: OpenBLAS computes products of up to
# about 64 rows (with 784 inputs and 16 outputs) without packing them first, a third
# faster per row than one call for the 200 rows of a batch (measured, one thread).
_BLOCK = 64


@_jit
def _forward_block_rows(x, W0, Z, lo, hi):
    """``Z[lo:hi] = x[lo:hi] @ W0``, in calls of ``_BLOCK`` rows."""
    for start in range(lo, hi, _BLOCK):
        stop = min(start + _BLOCK, hi)
        np.dot(x[start:stop], W0, Z[start:stop])


@_jit
def _gradient_block_rows(x, D, G, part, lo, hi):
    """``G = x[lo:hi].T @ D[lo:hi]``, summed over calls of ``_BLOCK`` rows (``part``
    holds each call's product); zero when ``lo == hi``."""
    if lo == hi:
        G[...] = 0
        return
    for start in range(lo, hi, _BLOCK):
        stop = min(start + _BLOCK, hi)
        if start == lo:
            np.dot(x[start:stop].T, D[start:stop], G)
        else:
            np.dot(x[start:stop].T, D[start:stop], part)
            G += part


@_jit
def _main_rows(m):
    """Rows of a batch of ``m`` whose first-layer products the trainer computes: all of
    a batch of one block (the thread then only gathers: products of fewer rows in two
    calls cost more per row, measured: a batch-50 epoch took 64-69 ms split against
    51-53), else ``_MAIN_SHARE`` sixteenths."""
    return m if m <= _BLOCK else m * _MAIN_SHARE // 16


@_jit
def _own_rows(batch_size):
    """Whether each thread gathers the rows whose products it computes (batches the
    threads split, ``_main_rows``) rather than the thread gathering whole batches for
    the trainer (batches of one block). A batch's rows then stay in the cache of the
    core that uses them: on a virtual machine whose two CPUs the host puts on different
    core complexes, every cache line one thread writes and the other reads costs some
    0.2 us instead of 0.04 (measured, AMD EPYC), and whole batches handed over took a
    two-thread epoch from 37 to 94 ms (one thread: 58)."""
    return _main_rows(batch_size) < batch_size


@_jit
def _fused_worker(X, order, batch_size, ring, flags, W0, Z, D, share, part):
    """The thread of ``BatchPipeline.train_epoch``: gather its rows of each batch (of
    the whole batch, for the trainer, when the trainer computes all its rows), then
    compute its rows of the batch's ``X @ W0`` (into Z) once the weights are ready,
    gather the next batch while the trainer works through the small layers, and compute
    its rows' part of the weight gradient ``X.T @ D`` (into ``share``) once the delta is
    ready."""
    n, slots = order.shape[0], ring.shape[0]
    n_batches = (n + batch_size - 1) // batch_size
    own = _own_rows(batch_size)
    if n_batches == 0:
        return
    m = min(batch_size, n)
    if own:  # the trainer gathers its own rows; ring rows from _main_rows on are ours
        _gather_rows(X, order, _I(0), _main_rows(m), m, ring[0])
    else:
        if not _wait_or_stop(flags, _I(0), _I(0)):
            return
        _gather(X, order, _I(0), m, ring[0])
        _store_release(flags, 0, 1)
    for b in range(n_batches):
        start = b * batch_size
        m = min(batch_size, n - start)
        h = _main_rows(m)
        batch = ring[b % slots]
        if h < m:
            if not _wait_or_stop(flags, _I(_FWD_READY), b + 1):
                return
            _forward_block_rows(batch, W0, Z, h, m)
            _store_release(flags, _FWD_DONE, b + 1)
        if b + 1 < n_batches:  # the next batch, while the trainer is busy
            following = (b + 1) % slots
            m_next = min(batch_size, n - start - batch_size)
            if own:  # the trainer is done with these rows: it finished batch b - 1
                _gather_rows(X, order, start + batch_size, _main_rows(m_next), m_next,
                             ring[following])
            else:
                if not _wait_or_stop(flags, following, _I(0)):
                    return
                _gather(X, order, start + batch_size, m_next, ring[following])
                _store_release(flags, following, 1)
        if h < m:
            if not _wait_or_stop(flags, _I(_BACK_READY), b + 1):
                return
            _gradient_block_rows(batch, D, share, part, h, m)
            _store_release(flags, _BACK_DONE, b + 1)


@_jit
def _batch_targets(Y, sw, order, start, m, y, w):
    """A batch's rows of Y into y and of the sample weights ``sw`` (or none, empty) into
    w; returns the batch's weight (its rows, or the sum of their weights)."""
    for r in range(m):
        src = order[start + r]
        for j in range(Y.shape[1]):
            y[r, j] = Y[src, j]
    if sw.shape[0] == 0:
        return float(m)
    weight = 0.0
    for r in range(m):
        w[r] = sw[order[start + r]]
        weight += w[r]
    return weight


@_jit
def _wait_or_stop(flags, index, value):
    """Spin until ``flags[index]`` reaches ``value`` (exactly 0 for a slot); False when
    asked to stop."""
    spins = 0
    while True:
        current = _load_acquire(flags, index)
        if current == value or (value > 0 and current > value):
            return True
        if _load_acquire(flags, _STOP) != 0:
            return False
        spins += 1
        if spins > 100:
            _sched_yield()


@_jit
def _train_epoch(X, order, batch_size, ring, flags, Y, sw, y, w, theta, grad, W0, grad_W0,
                 Z, D, share, parts, meta, params, work, eps, n_weights, alpha, code, state_1,
                 state_2, hyper, alone):
    """The trainer's side of ``BatchPipeline.train_epoch``: for each batch, the
    first-layer product (its rows; the thread computes the rest), the small layers,
    loss and backward pass (``_kernels._hidden_and_output``), the weight gradient (its
    rows, plus the thread's share), the L2 term and mean, and the optimizer's step,
    exactly as ``CompiledBackend.loss_and_gradient`` and ``step`` do for one batch.

    ``y`` and ``w`` are buffers for a batch's targets and weights (``w`` empty when
    ``sw`` is). ``code`` names the optimizer; ``state_1`` and ``state_2`` are Adam's m
    and v, or SGD's velocity and an empty array; ``hyper`` holds beta_1, beta_2, epsilon
    and then one step size per batch (Adam), or the learning rate and momentum (SGD).
    Returns (sum of batch losses times batch weights, sum of batch weights, 1 if the
    thread stopped early).

    ``alone``: no second thread; this one gathers each batch and computes the thread's
    rows too, in the same calls, so the results are the same to the last bit. The
    thread gathers its own rows (``_own_rows``), or whole batches for this one.
    """
    n, slots = order.shape[0], ring.shape[0]
    n_batches = (n + batch_size - 1) // batch_size
    own = _own_rows(batch_size)
    _check_scratch(meta, work, min(batch_size, n))
    L = (meta.shape[0] + 3) // 4  # see _kernels.Plan
    total = weight_total = 0.0
    for b in range(n_batches):
        start = b * batch_size
        m = min(batch_size, n - start)
        h = _main_rows(m)
        slot = b % slots
        # the weights are current: the thread may start on its rows (it computes none of
        # a batch of one block, and gathers for it instead)
        _store_release(flags, _FWD_READY, b + 1)
        if alone:
            _gather(X, order, start, m, ring[slot])
        elif own:  # the thread gathers rows h to m itself
            if _load_acquire(flags, _FAILED) != 0:
                return total, weight_total, 1
            _gather_rows(X, order, start, _I(0), h, ring[slot])
        elif not _wait_or_stop(flags, slot, _I(1)) or _load_acquire(flags, _FAILED) != 0:
            return total, weight_total, 1
        x = ring[slot]
        weight = _batch_targets(Y, sw, order, start, m, y, w)
        _forward_block_rows(x, W0, Z, _I(0), h)
        if h == m:
            pass
        elif alone:
            _forward_block_rows(x, W0, Z, h, m)
        elif not _wait_or_stop(flags, _I(_FWD_DONE), b + 1):
            return total, weight_total, 1
        _zero(grad[meta[L + 1]:])  # W0's gradient comes below
        data_loss = _small_layers(Z, y, w, theta, grad, meta, params, D, work, eps, _I(0), m)
        _store_release(flags, _BACK_READY, b + 1)
        _gradient_block_rows(x, D, grad_W0, parts[0], _I(0), h)
        if h < m:
            if alone:
                _gradient_block_rows(x, D, share, parts[1], h, m)
            elif not _wait_or_stop(flags, _I(_BACK_DONE), b + 1):
                return total, weight_total, 1
            grad_W0 += share
        squares = _finish_gradient(theta, grad, n_weights, alpha, 1.0 / weight)
        total += (data_loss + 0.5 * alpha * squares) / weight * weight
        weight_total += weight
        _step_range(theta, grad, state_1, state_2, _I(0), grad.shape[0], code,
                    _step_hyper(code, hyper, b, theta))
        _store_release(flags, slot, 0)  # the slot is free for the batch after next
    return total, weight_total, 0


@_jit
def _step_range(theta, grad, state_1, state_2, lo, hi, code, hyper):
    """The optimizer's step for the parameters ``lo .. hi - 1`` (``hyper`` as
    ``_adam_step`` or ``_sgd_step`` take it)."""
    if code == _ADAM:
        _adam_step(theta[lo:hi], grad[lo:hi], state_1[lo:hi], state_2[lo:hi], hyper)
    else:
        _sgd_step(theta[lo:hi], grad[lo:hi], state_1[lo:hi], hyper, code == _NESTEROV)


@_jit
def _step_hyper(code, hyper, b, dtype_array):
    """The optimizer's numbers for batch ``b``, in ``dtype_array``'s dtype: Adam's step
    size, beta_1, beta_2 and epsilon, or SGD's learning rate and momentum."""
    dt = dtype_array.dtype.type
    if code == _ADAM:
        out = np.empty(4, dtype_array.dtype)
        out[0], out[1], out[2], out[3] = dt(hyper[3 + b]), dt(hyper[0]), dt(hyper[1]), dt(hyper[2])
    else:
        out = np.empty(2, dtype_array.dtype)
        out[0], out[1] = dt(hyper[0]), dt(hyper[1])
    return out


@_jit
def _columns_step(X, order, start, m, D, grad_W0, padded, theta, grad, col_lo, col_hi,
                  n_weights, alpha, scale, code, state_1, state_2, step):
    """For the columns ``col_lo .. col_hi - 1`` (the rows of W0 they weigh): their rows of
    the batch's weight gradient ``X.T @ D``, the L2 term and mean, and the optimizer's
    step. Returns the sum of the squares of those weights."""
    u = grad_W0.shape[1]
    _skip_zeros.gradient_rows(X, order, start, D, grad_W0, padded, _I(0), m, col_lo, col_hi)
    squares = _finish_range(theta, grad, col_lo * u, col_hi * u, n_weights, alpha, scale)
    _step_range(theta, grad, state_1, state_2, col_lo * u, col_hi * u, code, step)
    return squares


@_jit
def _zero(v):
    """``v[:] = 0`` (a loop: numba's slice assignment compiles for seconds)."""
    for i in range(v.shape[0]):
        v[i] = 0


@_jit
def _add(v, w):
    """``v += w``, as ``_zero``."""
    for i in range(v.shape[0]):
        v[i] += w[i]


@_jit
def _add_sums(Z, Zh, lo, hi):
    """``Z[lo:hi] += Zh[lo:hi]``: the two threads' parts of the first layer's sums."""
    ours, theirs = Z[lo:hi], Zh[lo:hi]
    for r in range(ours.shape[0]):
        for j in range(ours.shape[1]):
            ours[r, j] += theirs[r, j]


@_jit
def _direct_worker(X, order, batch_size, flags, y, w, W0, Z, Zh, D, theta, grad,
                   grad_W0, hgrad, padded, split, meta, params, work, eps, n_weights, alpha,
                   code, state_1, state_2, hyper, weights, losses, squares):
    """The thread of ``_train_direct``: for each batch, the first layer's sums over the
    columns from ``split`` on (into Zh); once this one's are in Z, the later half of the
    batch's rows (``_first_half``) through the small layers (their sums, completed, in
    Zh; the later layers' gradients into ``hgrad``, the loss into ``losses[b]``); once
    the whole delta is in D, its columns' rows of the weight gradient, their L2 term and
    their optimizer step (W0's rows ``split`` on are this thread's alone).
    ``squares[b]``: those weights' squares. ``flags[0]`` counts the batches done.
    ``hgrad``: a gradient vector of the thread's own, of which it uses the part after
    W0's; ``work`` its own scratch."""
    n = order.shape[0]
    n_in = W0.shape[0]
    rest = W0.size
    for b in range((n + batch_size - 1) // batch_size):
        start = b * batch_size
        m = min(batch_size, n - start)
        h = _first_half(m)
        _skip_zeros.forward_rows(X, order, start, W0, Zh, _I(0), m, split, n_in)
        _store_release(flags, _FWD_DONE, b + 1)
        if not _wait_or_stop(flags, _I(_FWD_READY), b + 1):  # their sums, y, w, weight
            return
        _add_sums(Zh, Z, h, m)
        _zero(hgrad[rest:])
        losses[b] = _small_layers(Zh, y, w, theta, hgrad, meta, params, D, work, eps, h, m)
        _store_release(flags, _BACK_DONE, b + 1)
        if not _wait_or_stop(flags, _I(_BACK_READY), b + 1):  # their half of the delta
            return
        squares[b] = _columns_step(X, order, start, m, D, grad_W0, padded, theta, grad,
                                   split, n_in, n_weights, alpha, 1.0 / weights[b], code,
                                   state_1, state_2, _step_hyper(code, hyper, b, theta))
        _store_release(flags, 0, b + 1)


@_jit
def _first_half(m):
    """The rows of a batch of ``m`` that the trainer takes through the small layers, the
    thread taking the rest: about half, in whole blocks of 16 (the kernels' vector loops
    take 16 rows at a time and the rest one by one; halves of 25 rows cost an epoch at
    batch 50 some 5 ms on one thread)."""
    return m // 32 * 16


@_jit
def _train_direct(X, order, batch_size, flags, Y, sw, y, w, theta, grad, hgrad, W0,
                  grad_W0, Z, Zh, D, pads, split, meta, params, work, hwork, eps, n_weights,
                  alpha, code, state_1, state_2, hyper, alone, weights, losses, squares):
    """``_train_epoch`` when the first-layer products skip zeros and read X's rows in
    place (``_skip_zeros``): nothing is gathered. The threads split the products by
    columns: this one computes the first layer's sums over the columns before ``split``
    (into Z) and the thread over the rest (``_direct_worker``, into Zh). Each completes
    the sums of half the rows and takes them through the small layers (the later
    layers' gradients: this one's in ``grad``, the thread's in ``hgrad``, added here);
    then each computes its columns' rows of the weight gradient and takes the optimizer's
    step for the weights of those columns, this one for every other parameter too. Only
    sums, deltas and the later layers' gradient pass between the threads, a few kB a
    batch, and the thread starts a batch's sums without waiting: its weights are its
    own. ``alone``: this thread does the thread's part too, in the same calls, with the
    same results to the last bit.

    ``weights``, ``losses`` and ``squares`` (one per batch): each batch's weight, for the
    thread; the thread's rows' loss; the squares of its weights. Returns as
    ``_train_epoch``."""
    n = order.shape[0]
    n_batches = (n + batch_size - 1) // batch_size
    n_in = W0.shape[0]
    _check_scratch(meta, work, min(batch_size, n))
    _check_scratch(meta, hwork, min(batch_size, n))
    rest = W0.size  # the parameters after W0
    total = weight_total = 0.0
    for b in range(n_batches):
        start = b * batch_size
        m = min(batch_size, n - start)
        h = _first_half(m)
        if not alone and _load_acquire(flags, _FAILED) != 0:
            return total, weight_total, 1
        weight = weights[b] = _batch_targets(Y, sw, order, start, m, y, w)
        _skip_zeros.forward_rows(X, order, start, W0, Z, _I(0), m, _I(0), split)
        _store_release(flags, _FWD_READY, b + 1)  # our sums, y, w and the weight
        if alone:
            _skip_zeros.forward_rows(X, order, start, W0, Zh, _I(0), m, split, n_in)
        elif not _wait_or_stop(flags, _I(_FWD_DONE), b + 1):
            return total, weight_total, 1
        _add_sums(Z, Zh, _I(0), h)
        _zero(grad[rest:])  # W0's gradient comes below
        data_loss = _small_layers(Z, y, w, theta, grad, meta, params, D, work, eps, _I(0), h)
        _store_release(flags, _BACK_READY, b + 1)  # our half of the delta
        if alone:
            _add_sums(Zh, Z, h, m)
            _zero(hgrad[rest:])
            losses[b] = _small_layers(Zh, y, w, theta, hgrad, meta, params, D, hwork, eps, h,
                                      m)
        elif not _wait_or_stop(flags, _I(_BACK_DONE), b + 1):
            return total, weight_total, 1
        data_loss += losses[b]
        _add(grad[rest:], hgrad[rest:])
        step = _step_hyper(code, hyper, b, theta)
        scale = 1.0 / weight
        own = _columns_step(X, order, start, m, D, grad_W0, pads[0], theta, grad, _I(0),
                            split, n_weights, alpha, scale, code, state_1, state_2, step)
        own += _finish_range(theta, grad, rest, grad.shape[0], n_weights, alpha, scale)
        _step_range(theta, grad, state_1, state_2, rest, grad.shape[0], code, step)
        if alone:
            squares[b] = _columns_step(X, order, start, m, D, grad_W0, pads[1], theta,
                                       grad, split, n_in, n_weights, alpha, scale, code,
                                       state_1, state_2, step)
        total += (data_loss + 0.5 * alpha * own) / weight * weight
        weight_total += weight
    if not alone and n_batches > 0 and not _wait_or_stop(flags, _I(0), n_batches):
        return total, weight_total, 1
    for b in range(n_batches):
        total += 0.5 * alpha * squares[b]
    return total, weight_total, 0
