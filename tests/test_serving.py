"""A saved model in a fresh process; the version stamp."""

import json
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest

import ulmfit_sklearn._base as base
from ulmfit_sklearn import ULMFiTClassifier, __version__

from conftest import FAST, make_toy_data

SCRIPT = """
import json, sys, warnings
warnings.simplefilter("error")  # any warning fails the load
import joblib
model = joblib.load(sys.argv[1])
print(json.dumps(model.predict_proba(json.loads(sys.argv[2])).tolist()))
"""


@pytest.fixture(scope="module")
def saved(tiny_encoder_dir, tmp_path_factory):
    X, y = make_toy_data(30, seed=31)
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y)
    path = tmp_path_factory.mktemp("serve") / "model.joblib"
    joblib.dump(clf, path)
    return clf, path, X[:4]


def test_loads_and_predicts_in_a_fresh_process(saved):
    clf, path, X = saved
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(path), json.dumps(X)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(json.loads(out.stdout), clf.predict_proba(X), rtol=1e-5)


def test_same_version_loads_silently_other_version_warns(saved, monkeypatch, tmp_path):
    clf, path, _ = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        joblib.load(path)
    monkeypatch.setattr(base, "__version__", "9.9.9")
    joblib.dump(clf, tmp_path / "future.joblib")
    monkeypatch.undo()
    with pytest.warns(base.InconsistentVersionWarning, match=f"saved by ulmfit-sklearn 9.9.9 .* version {__version__}"):
        joblib.load(tmp_path / "future.joblib")
