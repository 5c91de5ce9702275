"""The compute environment of a training loop: BLAS threads, subnormal floats and the
alignment of the arrays the compiled kernels sweep.

The first two are process or thread settings, so both are context managers that
restore what they change.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import math
import platform
import sys
from collections.abc import Iterator

import numpy as np
from numpy.typing import DTypeLike
from threadpoolctl import ThreadpoolController

# Bytes: a cache line, and one AVX-512 register.
ALIGN = 64


def aligned_empty(shape: int | tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """An uninitialised C-ordered array whose data starts on an ``ALIGN``-byte boundary.

    numpy aligns its allocations to 16 bytes only, and the compiled kernels' vector loops
    run up to half again slower over arrays that do not start on a 32-byte boundary
    (measured on AMD EPYC, Zen 4, float32: an Adam step over 13,002 parameters 7.3 us
    aligned, 11.2 us 16 bytes off; the later layers of a 200-row batch 21 and 27 us; a
    two-thread MNIST epoch at batch 200, 37-38 ms with every array below aligned, 42 ms
    with every one 16 bytes off). Which a fit got was luck; these arrays take it out:
    the parameters, their gradient, the optimizer's state, the kernels' scratch and the
    batch thread's buffers.
    """
    dtype = np.dtype(dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    size = math.prod(shape) * dtype.itemsize
    buffer = np.empty(size + ALIGN, np.uint8)
    start = -buffer.__array_interface__["data"][0] % ALIGN  # (.ctypes costs 0.01 ms)
    return buffer[start: start + size].view(dtype).reshape(shape)


def aligned_zeros(shape: int | tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """``aligned_empty``, filled with zeros."""
    array = aligned_empty(shape, dtype)
    array[...] = 0
    return array


@functools.cache
def _threadpools() -> ThreadpoolController:
    # The libraries loaded now: scipy's BLAS is numba's (its np.dot), and it may not be
    # loaded yet; a controller made without it would never limit it.
    import scipy.linalg.cython_blas  # noqa: F401
    return ThreadpoolController()


def blas_threads() -> int:
    """How many threads BLAS may use right now (the fewest of the BLAS libraries loaded):
    as many as the cores, unless limited, as joblib limits each worker process of a
    ``GridSearchCV(n_jobs=...)`` to its share of them."""
    return min((lib.num_threads for lib in _threadpools().lib_controllers
                if lib.user_api == "blas"), default=1)


def one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """A context in which BLAS runs on one thread.

    A minibatch's products are small: a second BLAS thread saves nothing measurable for
    784-16-16-10 with batches of 200, and one thread leaves the other core free (for
    ``GridSearchCV(n_jobs=2)``, say) and keeps ``flush_denormals`` in force, since the
    floating-point environment belongs to the calling thread.
    """
    return _threadpools().limit(limits=1, user_api="blas")


class _FEnv(ctypes.Structure):
    """glibc's and musl's ``fenv_t`` on x86-64: the x87 environment, then MXCSR."""

    _fields_ = [("x87", ctypes.c_ubyte * 28), ("mxcsr", ctypes.c_uint32)]


_FTZ_DAZ = 0x8040  # MXCSR bits: flush-to-zero (15) and denormals-are-zero (6)


@functools.cache
def _libm() -> ctypes.CDLL | None:
    """The C math library, where ``fegetenv``/``fesetenv`` set MXCSR; None elsewhere."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        return libm if hasattr(libm, "fegetenv") and hasattr(libm, "fesetenv") else None
    except OSError:
        return None


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat subnormal floats as zero on this thread, then restore the FP environment.

    As float32 training goes on, Adam's moments and some weights decay into the
    subnormal range (below 1.2e-38), where every operation is a slow microcode assist:
    epochs of 784-16-16-10 on MNIST slow down by half after 20-30 epochs. Flushing
    changes values only below 1.2e-38 (float32) or 2.2e-308 (float64). PyTorch offers the
    same switch (``torch.set_flush_denormal``). Linux on x86-64 only; elsewhere this does
    nothing.
    """
    libm, env = _libm(), _FEnv()
    if libm is None or libm.fegetenv(ctypes.byref(env)) != 0:
        yield
        return
    saved = env.mxcsr
    env.mxcsr = saved | _FTZ_DAZ
    libm.fesetenv(ctypes.byref(env))
    try:
        yield
    finally:
        env.mxcsr = saved
        libm.fesetenv(ctypes.byref(env))
