import gzip
import json

import numpy as np
import pytest

from ulmfit_sklearn.datasets import load_texts, load_trec6_sample


def test_trec6_sample_is_bundled():
    X, y, Xt, yt = load_trec6_sample()
    assert len(X) == len(y) == 500 and len(Xt) == len(yt) == 500
    assert set(y) == {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    assert all(isinstance(t, str) and t for t in X)


def test_load_csv_and_compressed(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"hello, world",pos\nbye,neg\n', encoding="utf-8")
    X, y = load_texts(path)
    assert X == ["hello, world", "bye"] and list(y) == ["pos", "neg"]
    gz = tmp_path / "d.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert load_texts(gz)[0] == X


def test_load_jsonl(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"body": t, "y": i}) for i, t in enumerate("ab")) + "\n")
    X, y = load_texts(path, text_column="body", label_column="y")
    assert X == ["a", "b"] and np.array_equal(y, [0, 1])


def test_clear_errors(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("body,label\nx,1\n")
    with pytest.raises(KeyError, match="no column 'text'"):
        load_texts(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_texts(tmp_path / "missing.csv")
    X, y = load_texts(path, text_column="body", label_column="stars", required_label=False)
    assert X == ["x"] and y is None
