"""How a fit's two threads share the first layer's products.

A wide first layer's products are computed tile by tile (``skip_zeros``), and tiles are
independent. The fit's own thread runs ``kernels.sweep``; a second thread runs
``kernels.assist``; both are compiled and run without the GIL. For each batch's two
products the fit's thread posts a job in ``flags`` (``FORWARD`` or ``GRADIENT``, and the
batch's size); both threads then claim tiles, one at a time, until none is left
(``claim``), and the sweep waits until the second thread says it is done (``wait``);
``STOP`` ends the second thread's loop. A tile is computed the same way whichever
thread claims it, so a fit gives the same numbers, to the last bit, on one thread or
two.

``flags`` is a small int64 array (the slots below): ``POSTED`` counts the jobs posted
and ``DONE`` the jobs the second thread has done; then the job and its rows; ``NEXT``
counts the tiles claimed; ``READY`` says the second thread runs (the fit waits for that
before its sweep starts); ``ALONE`` counts the jobs the fit's thread still computes
alone. The counters are written with release and read with acquire ordering (small
llvmlite intrinsics: numba has no atomics of its own), so that the job, and the arrays
written before it was posted, are seen by the other thread.

A waiting thread spins (with x86's ``pause``); after ``SPINS`` turns it yields its core
on each turn (``sched_yield``), so that a wait never starves the thread it waits for.
A second thread that is late leaves its tiles to the fit's thread, but one whose core
another thread takes while it holds a tile makes the fit wait: typically another
library's BLAS thread, which spins for a tenth of a second after its work. A wait that
long makes the fit's thread compute the next ``ALONE_JOBS`` jobs alone, then try again.
An empty ``flags`` means no second thread.
"""

import sys

import numpy as np

from .elementwise import jit, numba

if numba is not None:
    import llvmlite.binding as llvm
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic

FORWARD, GRADIENT, STOP = 1, 2, 3
#: The slots of ``flags``.
POSTED, DONE, JOB, ROWS, NEXT, READY, ALONE = range(7)
N_FLAGS = 7
#: Turns a waiting thread spins before it starts yielding its core on each turn.
SPINS = 1 << 12
#: Jobs the fit's thread computes alone after a wait that outlasted ``SPINS`` (``wait``).
ALONE_JOBS = 32

if numba is not None:
    def _slot_pointer(context, builder, array_type, array, index):
        data = context.make_array(array_type)(context, builder, array).data
        return builder.gep(data, [index])

    @intrinsic
    def _load_acquire(typingctx, flags, index):
        """``flags[index]``, read with acquire ordering."""
        def codegen(context, builder, signature, args):
            pointer = _slot_pointer(context, builder, flags, args[0], args[1])
            return builder.load_atomic(pointer, "acquire", 8)
        return numba.types.int64(flags, index), codegen

    @intrinsic
    def _fetch_add(typingctx, flags, index, value):
        """``flags[index] += value`` in one atomic step; returns the value before."""
        def codegen(context, builder, signature, args):
            pointer = _slot_pointer(context, builder, flags, args[0], args[1])
            return builder.atomic_rmw("add", pointer, args[2], "monotonic")
        return numba.types.int64(flags, index, value), codegen

    @intrinsic
    def _store_release(typingctx, flags, index, value):
        """``flags[index] = value``, written with release ordering."""
        def codegen(context, builder, signature, args):
            pointer = _slot_pointer(context, builder, flags, args[0], args[1])
            builder.store_atomic(args[2], pointer, "release", 8)
            return context.get_dummy_value()
        return numba.types.void(flags, index, value), codegen

    _X86 = llvm.get_process_triple().split("-")[0] in ("x86_64", "i686", "i386")

    @intrinsic
    def _pause(typingctx):
        """A spin loop's hint to the CPU (x86's ``pause``): the waiting thread leaves the
        core's resources to another on the same core, and leaves the loop quicker."""
        def codegen(context, builder, signature, args):
            if _X86:
                fn = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
                builder.call(fn, [])
            return context.get_dummy_value()
        return numba.types.void(), codegen

    @intrinsic
    def _yield(typingctx):
        """Let another thread run on this core (POSIX ``sched_yield``; nothing on
        Windows, where fits use one thread)."""
        def codegen(context, builder, signature, args):
            if sys.platform != "win32":
                fn = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
                builder.call(fn, [])
            return context.get_dummy_value()
        return numba.types.void(), codegen
else:  # pragma: no cover - exercised when numba is absent
    _load_acquire = _fetch_add = _store_release = _pause = _yield = None


@jit
def _await(flags, index, value):
    """Wait until ``flags[index]`` is ``value``; returns whether that took more than
    ``SPINS`` turns."""
    turns = 0
    while _load_acquire(flags, index) != value:
        turns += 1
        if turns > SPINS:
            _yield()
        else:
            _pause()
    return turns > SPINS


@jit
def post(flags, job, n):
    """Hand ``job`` on a batch of ``n`` rows to the second thread, every tile still to
    claim, and return ``flags``; or, with no second thread, or while the fit's thread
    works alone (``wait``), return no flags: ``claim`` then gives it every tile."""
    if flags.shape[0] == 0 or flags[ALONE] > 0:
        if flags.shape[0] > 0:
            flags[ALONE] -= 1
        return flags[:0]
    flags[JOB], flags[ROWS], flags[NEXT] = job, n, 0
    _store_release(flags, POSTED, flags[POSTED] + 1)  # only this thread writes it
    return flags


@jit
def claim(flags, last, count, second):
    """The next of ``count`` tiles for this thread to compute, after ``last``, or -1 when
    none is left: the fit's thread takes them from the first up (``last`` -1 to start),
    the ``second`` from the last down (``last`` ``count`` to start), so that each
    writes a block of outputs of its own, until they meet; one counter of the tiles
    taken, added to atomically, keeps the two from taking the same one."""
    if flags.shape[0] > 0 and _fetch_add(flags, NEXT, np.int64(1)) >= count:
        return np.int64(-1)
    tile = last - 1 if second else last + 1
    return tile if 0 <= tile < count else np.int64(-1)


@jit
def wait(flags):
    """Wait until the second thread has done the last job posted (if ``post`` gave
    flags). A long wait means its core is taken, typically by another library's BLAS
    thread, which spins for a tenth of a second after its work (the second thread then
    makes the fit slower than one thread would): the fit's thread computes the next
    ``ALONE_JOBS`` jobs alone."""
    if flags.shape[0] > 0 and _await(flags, DONE, flags[POSTED]):
        flags[ALONE] = ALONE_JOBS


@jit
def ready(flags):
    """The second thread: it runs, and takes jobs."""
    _store_release(flags, READY, np.int64(1))


@jit
def take(flags, seen):
    """The second thread: wait for job number ``seen + 1`` and return it."""
    _await(flags, POSTED, seen + 1)
    return flags[JOB]


@jit
def done(flags, seen):
    """The second thread: job number ``seen`` is done."""
    _store_release(flags, DONE, seen)


@jit(entry=True)
def stop(flags):
    """Post ``STOP``: the second thread's loop returns."""
    flags[ALONE] = 0
    post(flags, STOP, 0)
