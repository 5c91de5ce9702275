"""Type aliases shared by the annotations of the package (no runtime behaviour).

scikit-learn, scipy and pandas ship no type information, so their objects are ``Any`` to
a type checker; the aliases still say what is meant.
"""

from __future__ import annotations

import os
from typing import Any, Literal, TypeAlias

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ArrayLike", "FloatArray", "IntArray", "Matrix", "MatrixLike", "NDArray", "PathLike",
    "TargetKind",
]

#: Data as the estimators take it: an array-like (lists, ndarrays, DataFrames) or a
#: scipy sparse matrix or array.
MatrixLike: TypeAlias = "ArrayLike | scipy.sparse.spmatrix | scipy.sparse.sparray"
#: A float array of either precision (float32 or float64).
FloatArray: TypeAlias = NDArray[np.floating[Any]]
#: An integer array (indices, labels, pixel values).
IntArray: TypeAlias = NDArray[np.integer[Any]]
#: Validated training or prediction data: a dense array or a CSR matrix.
Matrix: TypeAlias = "NDArray[Any] | scipy.sparse.csr_matrix | scipy.sparse.csr_array"
#: The kind of ``y``, as scikit-learn's ``type_of_target`` names it (see ``_targets``).
TargetKind: TypeAlias = Literal["binary", "multiclass", "multilabel"]
#: A file or folder name.
PathLike: TypeAlias = "str | os.PathLike[str]"
