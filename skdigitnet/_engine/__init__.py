"""Who does the arithmetic of a fit or a prediction: the engine.

The data path
-------------
``fit`` validates its input and resolves its configuration (``_classifier``), then hands
the training loop (``_training``) plain arrays: ``X`` as the user gave it (dense in any
real dtype, or CSR: never copied to floats as a whole), ``Y`` the encoded targets in the
parameters' dtype, ``theta`` the flat parameter vector (every weight matrix, then every
bias vector; ``coefs_`` and ``intercepts_`` are views of it), and an optimizer
(``_optimizers.SGD`` or ``Adam``). The loop chooses a backend once per fit
(``choose_backend``) and calls, per epoch, ``backend.run_epoch``: one pass over the
rows in the order the loop shuffled, one optimizer step per batch (L-BFGS calls
``loss_and_gradient`` on every row instead). A prediction calls ``predict_layer``,
which chooses a backend per call and fills the layer asked for, chunk by chunk.

Two backends, one interface (``reference.NumpyBackend``'s methods):

- ``reference.NumpyBackend``, the readable definition: per batch, ``_batches`` gathers
  the rows (converting integer images one batch at a time), ``_network`` computes the
  loss and gradient, and the optimizer's ``step`` updates ``theta``. It runs whatever
  the compiled backend does not cover: scipy sparse ``X``, activations without a
  compiled code, and work too small to repay loading the compiled code.
- ``compiled.CompiledBackend``: an epoch is one compiled call (``compiled/kernels.py``).
  Per batch, the first layer's sums are ``X[rows] @ W0``: zero inputs skipped, ``X``
  read in place (``compiled/skip_zeros.py``), when ``X`` is sparse enough (MNIST is),
  else BLAS on the gathered rows; the later layers are BLAS calls; biases, activations,
  the output, the loss, the backward pass's sums, the L2 term and the optimizer's update
  are compiled loops. No Python runs between batches. A prediction is one compiled
  call too, 256 rows at a time through every layer.

Who owns what: ``theta`` is the fit's, updated in place; an optimizer owns its state
(moments, velocity, step count), which its compiled update rule (``kernels.update``)
changes in place, as its own ``step`` does; buffers belong to one fit or prediction.
A fit runs on the calling thread alone; a large compiled prediction splits its rows
between threads of its own, which take pieces of them in turn
(``compiled.CompiledBackend._split``). The backends' own arithmetic
runs with BLAS on one thread and subnormal floats flushed to zero (``compute``); both
are restored before control returns to the loop, so callbacks and validation scorers
run with the caller's settings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from skdigitnet._neural_network import network as _network

from .reference import NumpyBackend

if TYPE_CHECKING:
    from skdigitnet._neural_network.network import Architecture
    from skdigitnet._typing import FloatArray, Matrix

__all__ = ["PREDICT_ROWS", "NumpyBackend", "choose_backend", "compiled_enabled",
           "input_values", "predict_layer"]

# Rows per chunk when the numpy backend predicts: bounded memory, and the later layers
# find a chunk's first product in cache.
PREDICT_ROWS = 4096

# Fits and predictions on fewer input values (rows x features) than this run on numpy
# (unless SKDIGITNET_NUMBA=1): loading the compiled kernels costs a process a fraction
# of a second, more than they save on data this small. 2**22 values: 5,350 MNIST
# images; the bundled digits have 115,008.
COMPILED_MIN_VALUES = 1 << 22


def compiled_enabled(n_values: int | None = None) -> bool:
    """Whether the compiled backend is used for work on ``n_values`` input values: numba
    importable, and ``SKDIGITNET_NUMBA`` ``1`` (always), or unset or ``auto`` and
    ``n_values`` unknown or at least ``COMPILED_MIN_VALUES``; ``0`` switches it off."""
    switch = os.environ.get("SKDIGITNET_NUMBA", "auto")
    if switch == "0":
        return False
    if switch != "1" and n_values is not None and n_values < COMPILED_MIN_VALUES:
        return False
    from . import compiled
    return compiled.available()


def input_values(X: Matrix) -> int:
    """The number of input values of ``X``: rows x features, or stored values if sparse."""
    return X.nnz if hasattr(X, "nnz") else X.shape[0] * X.shape[1]


def choose_backend(arch: Architecture, X: Matrix | None = None,
                   n_values: int | None = None) -> NumpyBackend:
    """The backend for one fit or prediction of ``arch`` on ``X`` (its first
    ``n_values`` values, if given): compiled when ``compiled_enabled`` says so, ``X`` is
    a dense array and the kernels cover ``arch``; else numpy."""
    if X is not None and n_values is None:
        n_values = input_values(X)
    if X is not None and not isinstance(X, np.ndarray):
        return NumpyBackend(arch)
    if compiled_enabled(n_values):
        from . import compiled
        if compiled.covers(arch):
            return compiled.CompiledBackend(arch)
    return NumpyBackend(arch)


def predict_layer(arch: Architecture, coefs: Sequence[FloatArray],
                  intercepts: Sequence[FloatArray], X: Matrix, layer: int,
                  chunk_rows: int = PREDICT_ROWS, check_finite: bool = False,
                  backend: NumpyBackend | None = None) -> FloatArray:
    """Activations of layer ``layer`` (1 .. L-1) for ``X``, computed in row chunks.

    Memory beyond the result stays bounded by a chunk's rows of each layer (and of
    ``X`` when integer images are converted): ``chunk_rows`` on the numpy backend,
    ``compiled.kernels.CHUNK`` on the compiled one. ``check_finite`` raises
    ``_network.NonFiniteLayer`` when the first layer's sums are not finite (a NaN or infinity in
    ``X`` always shows there).

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, units[0])
    backend : backend, optional
        Default ``choose_backend(arch, X)``.

    Returns
    -------
    ndarray of shape (n_samples, units[layer])
    """
    dtype = coefs[0].dtype if X.dtype.kind in "iub" else np.result_type(X.dtype, coefs[0].dtype)
    out = np.empty((X.shape[0], arch.units[layer]), dtype=dtype)
    backend = choose_backend(arch, X) if backend is None else backend
    with np.errstate(over="ignore", invalid="ignore"):  # check_finite tells instead
        finite = backend.predict_into(coefs, intercepts, X, layer, chunk_rows, out,
                                      check_finite)
    if check_finite and not finite:
        raise _network.NonFiniteLayer("The first layer's weighted sums are not finite.")
    return out
