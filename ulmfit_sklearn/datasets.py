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
                        rows.append(json.loads(line))
                    except ValueError as exc:
                        raise ValueError(f"{path}, line {i}: not valid JSON ({exc})") from None
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
    texts = [r[text_column] or "" for r in rows]
    if label_column is None:
        return texts, None
    if label_column not in cols:
        if required_label:
            raise KeyError(f"{path}: no column {label_column!r} (columns: {cols})")
        return texts, None
    return texts, np.array([r[label_column] for r in rows])


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
