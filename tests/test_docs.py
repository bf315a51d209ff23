"""The documentation site builds offline, without warnings."""

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"


@pytest.mark.slow  # a full Sphinx build in a subprocess
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    pytest.importorskip("numpydoc")
    out = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", str(DOCS),
                          str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    api = (tmp_path / "html" / "api.html").read_text()
    for name in ("ULMFiTClassifier", "ULMFiTRegressor", "ULMFiTVectorizer", "lr_find", "load_imdb"):
        assert name in api
    assert "unfreeze_epochs" in api  # parameters come from the docstrings
