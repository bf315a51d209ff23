"""Data loaders: labeled text from CSV / JSON-lines files, and the bundled sample.

The loaders take a path (plain, ``.gz``, ``.bz2`` or ``.xz``); nothing here
downloads.  No pandas needed.
"""

import bz2
import csv
import gzip
import json
import lzma
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).parent / "data"
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def open_text(path):
    """Open a text file for reading, decompressing ``.gz``, ``.bz2`` or ``.xz``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    opener = _OPENERS.get(path.suffix, open)
    return opener(path, "rt", encoding="utf-8", newline="")


def _stem(path):
    """The file name without a compression suffix."""
    path = Path(path)
    return path.name[: -len(path.suffix)] if path.suffix in _OPENERS else path.name


def _records(path):
    stem = _stem(path)
    with open_text(path) as f:
        if stem.endswith((".jsonl", ".json")):
            rows = []
            for i, line in enumerate(f, 1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except ValueError as exc:
                        raise ValueError(f"{path}, line {i}: not valid JSON ({exc})") from None
                    if not isinstance(row, dict):
                        raise ValueError(f"{path}, line {i}: not a JSON object "
                                         f"({{\"text\": ...}}) but a {type(row).__name__}")
                    rows.append(row)
            return rows
        return list(csv.DictReader(f))


def load_texts(path, text_column="text", label_column="label", required_label=True):
    """Read texts (and labels) from a CSV or JSON-lines file.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.jsonl``, or ``.txt`` (one document per line, no labels);
        optionally compressed: ``.gz``, ``.bz2``, ``.xz``.
    text_column, label_column : str
        Column (key) names.  ``label_column=None`` reads texts only.
    required_label : bool
        If False, a missing label column gives ``y = None`` instead of an error.

    Returns
    -------
    texts : list of str
    labels : ndarray or None
    """
    if _stem(path).endswith(".txt"):  # one document per line, no labels
        with open_text(path) as f:
            return [line.rstrip("\r\n") for line in f if line.strip()], None
    rows = _records(path)
    if not rows:
        return [], None if label_column is None else np.array([])
    cols = list(rows[0].keys())
    if text_column not in cols:
        raise KeyError(f"{path}: no column {text_column!r} (columns: {cols})")
    texts = [v or "" for v in _column(path, rows, text_column)]
    if label_column is None:
        return texts, None
    if label_column not in cols:
        if required_label:
            raise KeyError(f"{path}: no column {label_column!r} (columns: {cols})")
        return texts, None
    return texts, np.array(_column(path, rows, label_column))


def _column(path, rows, key):
    """One field of every row; a KeyError naming the first row (1-based) without it
    (JSON-lines rows need not share their keys)."""
    try:
        return [r[key] for r in rows]
    except KeyError:
        i = next(i for i, r in enumerate(rows, 1) if key not in r)
        raise KeyError(f'{path}, row {i}: no "{key}" field') from None


def load_trec6_sample():
    """A small TREC-6 question-classification sample shipped with the package.

    500 questions drawn from TREC-6's training set (stratified, seed 0) and its
    500-question test set (Li & Roth 2002), with the six coarse labels.

    Returns
    -------
    X_train, y_train, X_test, y_test
    """
    rows = _records(DATA_DIR / "trec6_sample.csv")
    split = {"train": ([], []), "test": ([], [])}
    for r in rows:
        split[r["split"]][0].append(r["text"])
        split[r["split"]][1].append(r["label"])
    return (split["train"][0], np.array(split["train"][1]),
            split["test"][0], np.array(split["test"][1]))


IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_ARCHIVE = "aclImdb_v1.tar.gz"


def data_home(path=None):
    """Where downloads go: ``path``, else $ULMFIT_SKLEARN_DATA, else
    ``~/.cache/ulmfit_sklearn``."""
    import os

    return Path(path or os.environ.get("ULMFIT_SKLEARN_DATA") or Path.home() / ".cache" / "ulmfit_sklearn")


def download(url, dest):
    """Fetch ``url`` to ``dest`` (via a partial file, so a broken download leaves
    nothing that looks complete).  Only called when a user asks for a download."""
    import urllib.request

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    urllib.request.urlretrieve(url, part)
    part.rename(dest)
    return dest


def _imdb_members(path, subset):
    """(label folder, file name, text) of one subset, from the folder or the archive."""
    import tarfile

    path = Path(path)
    if path.is_dir():
        root = path / subset if (path / subset).is_dir() else path / "aclImdb" / subset
        if not root.is_dir():
            raise FileNotFoundError(f"{path}: no {subset}/ folder of the aclImdb data set")
        for label_dir in ("neg", "pos", "unsup"):
            for f in sorted((root / label_dir).glob("*.txt")) if (root / label_dir).is_dir() else []:
                yield label_dir, f.name, f.read_text(encoding="utf-8")
        return
    with tarfile.open(path, "r:*") as tar:
        for m in tar:
            parts = m.name.split("/")
            if m.isfile() and len(parts) == 4 and parts[1] == subset and parts[3].endswith(".txt") \
                    and parts[2] in ("neg", "pos", "unsup"):
                yield parts[2], parts[3], tar.extractfile(m).read().decode("utf-8")


def load_imdb(path=None, subset="train", *, download_if_missing=False, home=None):
    """The Large Movie Review Dataset (Maas et al. 2011), with its star ratings.

    Parameters
    ----------
    path : str, Path or None
        The extracted ``aclImdb`` folder, or the ``aclImdb_v1.tar.gz`` archive
        (read without extracting).  None: the archive in :func:`data_home`.
    subset : {"train", "test", "unsup"}
        25,000 labeled training or test reviews, or the 50,000 unlabeled ones.
    download_if_missing : bool, default=False
        With ``path=None``, download the archive (84 MB) from its public address
        (:data:`IMDB_URL`) into :func:`data_home` if it is not there.  Nothing is
        downloaded unless this is True.
    home : str, Path or None
        Overrides :func:`data_home`.

    Returns
    -------
    texts : list of str
    labels : ndarray of int
        1 positive (rating >= 7), 0 negative (rating <= 4); -1 for ``"unsup"``.
    ratings : ndarray of int
        The review's rating, 1-10 (0 for ``"unsup"``), from the file names.
    """
    if subset not in ("train", "test", "unsup"):
        raise ValueError(f"subset must be 'train', 'test' or 'unsup', got {subset!r}")
    if path is None:
        path = data_home(home) / IMDB_ARCHIVE
        if not path.exists():
            if not download_if_missing:
                raise FileNotFoundError(
                    f"{path} not found: pass the aclImdb folder or archive as path, or "
                    f"download_if_missing=True to fetch {IMDB_URL}")
            download(IMDB_URL, path)
    elif not Path(path).exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    texts, labels, ratings = [], [], []
    for label_dir, name, text in _imdb_members(path, "train" if subset == "unsup" else subset):
        if (label_dir == "unsup") != (subset == "unsup"):
            continue
        texts.append(text)
        labels.append({"neg": 0, "pos": 1, "unsup": -1}[label_dir])
        try:
            ratings.append(int(name.rsplit(".", 1)[0].split("_")[1]))
        except (IndexError, ValueError):
            raise ValueError(f"{path}: unexpected file name {label_dir}/{name} "
                             "(expected ID_RATING.txt)") from None
    if not texts:
        raise ValueError(f"{path}: no {subset} reviews found")
    return texts, np.asarray(labels), np.asarray(ratings)
