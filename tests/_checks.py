"""scikit-learn's ``parametrize_with_checks``, with its checks in a list.

Some scikit-learn releases (1.7) hand pytest the checks as a generator, which pytest
deprecates (``PytestRemovedIn10Warning``: a non-Collection iterable to ``parametrize``)
and will refuse; a list is the same checks, in the same order, with the same ids.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks as _sklearn


def parametrize_with_checks(estimators, **kwargs):
    """``sklearn.utils.estimator_checks.parametrize_with_checks(estimators, **kwargs)``
    with the checks listed."""
    mark = _sklearn(estimators, **kwargs)
    names, checks, *rest = mark.args
    return pytest.mark.parametrize(names, list(checks), *rest, **mark.kwargs)
