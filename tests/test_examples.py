"""Every script in examples/ runs in its --fast mode."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted(p for p in (Path(__file__).parent.parent / "examples").glob("*.py")
                  if not p.name.startswith("_"))


def test_there_are_examples():
    assert {p.stem for p in EXAMPLES} >= {"quickstart", "grid_search_unfreezing", "compare_tfidf",
                                          "semi_supervised", "vectorizer_pipeline",
                                          "regression_ratings"}


@pytest.mark.slow  # a fresh interpreter per script: 5 to 15 s each
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_fast(script):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(script), "--fast"], capture_output=True, text=True,
                         timeout=600, cwd=script.parent, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip()
