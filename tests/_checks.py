"""scikit-learn's ``parametrize_with_checks``, with its checks in a list and its test ids
free of memory addresses.

Some scikit-learn releases (1.7) hand pytest the checks as a generator, which pytest
deprecates (``PytestRemovedIn10Warning``: a non-Collection iterable to ``parametrize``)
and will refuse; a list is the same checks, in the same order. A configuration with a
function in its parameters would be named after the function's address (``<function f
at 0x7f...>``), which differs from process to process: ``stable_id`` names it ``<function
f>``, so that every process collects the same tests.
"""

import re

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks as _sklearn


def stable_id(value, name=repr):
    """``name(value)`` (a test id) without the ``at 0x...`` of the objects it shows."""
    text = name(value)
    return text if text is None else re.sub(r"\s*at\s*0x[0-9a-fA-F]+", "", text)


def parametrize_with_checks(estimators, **kwargs):
    """``sklearn.utils.estimator_checks.parametrize_with_checks(estimators, **kwargs)``
    with the checks listed and the ids stable."""
    mark = _sklearn(estimators, **kwargs)
    names, checks, *rest = mark.args
    options = dict(mark.kwargs)
    ids = options.get("ids")
    if callable(ids):
        options["ids"] = lambda value: stable_id(value, ids)
    return pytest.mark.parametrize(names, list(checks), *rest, **options)
