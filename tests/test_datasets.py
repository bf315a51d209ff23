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


def test_jsonl_errors_name_the_row(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n["b", 0]\n')
    with pytest.raises(ValueError, match="line 2: not a JSON object"):
        load_texts(path)
    path.write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": 0}\n{"label": 1}\n')
    with pytest.raises(KeyError, match='row 3: no "text" field'):  # the 3rd row, on line 4
        load_texts(path)
    path.write_text('{"text": "a", "label": 1}\n{"text": "b"}\n')
    with pytest.raises(KeyError, match='row 2: no "label" field'):
        load_texts(path)


# ---------------------------------------------------------------- IMDb with ratings
def _make_aclimdb(root):
    """A miniature aclImdb tree in the data set's own layout."""
    files = {"train/pos/0_9.txt": "Loved it.", "train/pos/1_7.txt": "Good film.",
             "train/neg/2_1.txt": "Awful.", "train/unsup/3_0.txt": "Saw it once.",
             "test/neg/0_3.txt": "Weak plot.", "test/pos/1_10.txt": "Superb!"}
    for name, text in files.items():
        p = root / "aclImdb" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root / "aclImdb"


@pytest.fixture
def imdb_archive(tmp_path):
    import tarfile

    folder = _make_aclimdb(tmp_path / "src")
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    return folder, archive


def test_load_imdb_from_folder_and_archive_alike(imdb_archive):
    from ulmfit_sklearn.datasets import load_imdb

    folder, archive = imdb_archive
    for source in (folder, archive):
        X, y, r = load_imdb(source, "train")
        assert sorted(zip(X, y.tolist(), r.tolist())) == sorted(
            [("Loved it.", 1, 9), ("Good film.", 1, 7), ("Awful.", 0, 1)])
        X, y, r = load_imdb(source, "unsup")
        assert X == ["Saw it once."] and y.tolist() == [-1] and r.tolist() == [0]
        assert load_imdb(source, "test")[2].tolist() == [3, 10]


def test_load_imdb_downloads_only_when_asked(imdb_archive, tmp_path, monkeypatch):
    import shutil
    import urllib.request

    from ulmfit_sklearn.datasets import IMDB_URL, load_imdb

    home = tmp_path / "home"
    with pytest.raises(FileNotFoundError, match="download_if_missing"):
        load_imdb(home=home)
    fetched = []

    def fake_urlretrieve(url, dest):
        fetched.append(url)
        shutil.copy(imdb_archive[1], dest)

    monkeypatch.setattr(urllib.request, "urlretrieve", fake_urlretrieve)
    X, _, _ = load_imdb(home=home, download_if_missing=True)
    assert fetched == [IMDB_URL] and len(X) == 3
    load_imdb(home=home, download_if_missing=True)  # now cached: no second download
    assert fetched == [IMDB_URL]
    with pytest.raises(ValueError, match="subset"):
        load_imdb(home=home, subset="dev")
