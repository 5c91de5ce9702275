"""Warnings that point at the user's line, not at our internals.

A fixed ``stacklevel`` is wrong for a warning raised deep in the training loop: the
same warning is reached through ``fit``, ``partial_fit``, scikit-learn's callback
decorator or a Pipeline, at different depths. :func:`warn` counts the frames instead: the
warning is attributed to the first caller outside skdigitnet, scikit-learn and joblib
(through which scikit-learn's decorators, Pipeline and searches call our methods), so
``python -W error`` tracebacks, ``warnings.filterwarnings(module=...)`` and the printed
``file:line`` all name the user's code.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import joblib
import sklearn

_PACKAGE = str(Path(__file__).resolve().parent)
# scikit-learn's decorators, Pipeline and searches call our methods, through joblib
_CALLERS = tuple(str(Path(m.__file__).resolve().parent) for m in (sklearn, joblib))


def _internal(filename: str) -> bool:
    return filename.startswith((_PACKAGE, *_CALLERS))


def stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` call made by our caller, so that the
    warning points at the first frame outside skdigitnet, scikit-learn and joblib."""
    frame, level = sys._getframe(1), 1  # level 1: the frame that calls warnings.warn
    while frame.f_back is not None and _internal(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` attributed to the user's calling line."""
    warnings.warn(message, category, stacklevel=stacklevel())
