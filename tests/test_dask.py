"""GridSearchCV over a dask.distributed cluster through joblib's dask backend."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from ulmfit_sklearn import ULMFiTClassifier

from conftest import FAST, make_toy_data

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow  # starts a local cluster of two worker processes


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, worker_dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_grid_search_on_two_worker_processes_shares_the_stage2_cache(client, tiny_encoder_dir, tmp_path):
    X, y = make_toy_data(40, seed=41)
    cache = tmp_path / "cache"  # a path every worker reaches (on a cluster: a shared disk)
    est = ULMFiTClassifier(str(tiny_encoder_dir), memory=str(cache), **FAST)
    grid = {"lr": [1e-2, 2e-2], "lr_decay": [1.0, 2.6]}
    with distributed.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        gs = GridSearchCV(est, grid, cv=2, n_jobs=-1).fit(X, y)
    assert len(gs.cv_results_["params"]) == 4 and np.isfinite(gs.cv_results_["mean_test_score"]).all()
    assert gs.predict(X[:3]).shape == (3,)
    assert len({task["worker"] for task in stream.data}) == 2  # both workers fitted
    # one cached stage 2 per training fold (+ the refit on all data), not one per candidate:
    # the workers shared the cache
    runs = list(cache.rglob("output.pkl"))
    assert len(runs) == 3
    # a serial search reuses the same cache entries and scores the same
    serial = GridSearchCV(est, grid, cv=2).fit(X, y)
    np.testing.assert_allclose(serial.cv_results_["mean_test_score"], gs.cv_results_["mean_test_score"])
