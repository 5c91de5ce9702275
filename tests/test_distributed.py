"""Beyond one machine: GridSearchCV on a dask.distributed cluster, and dask-ml's
Incremental over a chunked dask array. The tests start their own cluster on 127.0.0.1."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skdigitnet import DigitMLPClassifier, load_digits

from _custom import ScaledTanh

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
joblib = pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def test_grid_search_on_the_cluster_equals_the_local_one(client, digits):
    X, y = digits
    grid = {"activation": ["relu", ScaledTanh()], "hidden_layer_sizes": [(16,), (16, 16)]}
    search = GridSearchCV(DigitMLPClassifier(max_iter=30, random_state=0), grid, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = clone(search).fit(X, y)
        with joblib.parallel_backend("dask"):
            remote = clone(search).fit(X, y)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    # the work ran on the workers: each of them fitted something
    assert len(client.scheduler_info()["workers"]) == 2


def test_incremental_over_many_chunks_learns_like_a_local_fit(client, digits):
    from dask_ml.wrappers import Incremental
    X, y = digits
    X_test, y_test = load_digits(return_X_y=True)
    X_test, y_test = X_test[1200:], y_test[1200:]
    Xd = da.from_array(X, chunks=(40, X.shape[1]))  # 15 chunks
    yd = da.from_array(y, chunks=40)
    assert Xd.numblocks[0] == 15
    inc = Incremental(DigitMLPClassifier(random_state=0), random_state=0)
    for _ in range(20):
        inc.partial_fit(Xd, yd, classes=np.arange(10))
    assert inc.estimator_.t_ == 20 * 600
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = DigitMLPClassifier(max_iter=20, random_state=0).fit(X, y)
    assert inc.estimator_.score(X_test, y_test) >= local.score(X_test, y_test) - 0.03
