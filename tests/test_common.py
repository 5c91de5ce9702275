"""scikit-learn's estimator contract, for several configurations, with no expected failures."""

import pytest
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_global_output_transform_pandas,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
)

from skdigitnet import DigitMLPClassifier

from _checks import parametrize_with_checks, stable_id
from _custom import Squareplus, balanced_accuracy_scorer

# The checks train on small problems with each configuration's max_iter, and some
# fit on a DataFrame and predict on an array (or the other way round) to see the
# warnings scikit-learn gives; neither warning is what these tests are about.
pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names:UserWarning"),
]

CONFIGURATIONS = [
    DigitMLPClassifier(),
    DigitMLPClassifier(solver="lbfgs", activation="tanh"),
    # plain SGD needs a larger step than Adam's default to learn the checks' blobs in
    # 200 epochs (check_classifiers_train asks for 83 % accuracy)
    DigitMLPClassifier(solver="sgd", activation="logistic", learning_rate_init=0.1),
    DigitMLPClassifier(activation=Squareplus()),
    DigitMLPClassifier(activation=("elu", "swish"), out_activation="logistic",
                       loss="squared_error"),
    # a callable parameter: clone, pickle and the unchanged-parameter checks take it
    # (the checks pass no validation set, so it is never called)
    DigitMLPClassifier(scoring=balanced_accuracy_scorer),
]


@parametrize_with_checks(CONFIGURATIONS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


EXTRA_CHECKS = [
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    check_dataframe_column_names_consistency,
]


@pytest.mark.parametrize("estimator", CONFIGURATIONS, ids=stable_id)
@pytest.mark.parametrize("check", EXTRA_CHECKS, ids=lambda c: c.__name__)
def test_checks_outside_check_estimator(estimator, check):
    check(type(estimator).__name__, estimator)
