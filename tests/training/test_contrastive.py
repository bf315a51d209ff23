"""The contrastive stage on pairs of labeled documents (SetFit's idea)."""

import numpy as np
import pytest
import torch

from ulmfit_sklearn.training.contrastive import (PairBatches, PairCosine, PairDataset,
                                                 sample_pairs, train_contrastive)
from ulmfit_sklearn.transformer import WindowPoolEncoder


def test_pairs_are_half_of_one_class_and_half_of_two():
    y = np.array(["a"] * 10 + ["b"] * 3 + ["c"] * 1)
    pairs, same = sample_pairs(y, 400, seed=0)
    assert pairs.shape == (400, 2) and same.dtype == np.float32
    assert (pairs[:, 0] != pairs[:, 1]).all()
    np.testing.assert_array_equal(same, (y[pairs[:, 0]] == y[pairs[:, 1]]).astype(np.float32))
    assert same.sum() == 200
    # positives come from classes with two members or more, in proportion to their pairs
    pos = y[pairs[same == 1, 0]]
    assert set(pos) == {"a", "b"} and (pos == "a").mean() > 0.8
    again, _ = sample_pairs(y, 400, seed=0)
    np.testing.assert_array_equal(pairs, again)
    assert not np.array_equal(pairs, sample_pairs(y, 400, seed=1)[0])
    # one class: positives only; singletons only: negatives only
    assert sample_pairs(np.zeros(5), 10)[1].tolist() == [1.0] * 10
    assert sample_pairs(np.arange(5), 10)[1].tolist() == [0.0] * 10


def test_a_batch_holds_the_first_documents_then_the_second():
    docs = [np.array([2, 5 + i, 3]) for i in range(6)]
    ds = PairDataset(docs, np.array([[0, 1], [2, 3], [4, 5]]), np.array([1, 0, 1]))
    (x, same), = list(PairBatches(ds, batch_size=4, pad_idx=0))
    assert x["tokens"][:, 1].tolist() == [5, 7, 9, 6, 8, 10]
    assert same.tolist() == [1.0, 0.0, 1.0]


def test_training_pulls_a_class_together(monkeypatch):
    from test_bert import tiny_bert

    torch.manual_seed(0)
    encoder = WindowPoolEncoder(tiny_bert())
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    # class 0 documents use ids 5-9, class 1 ids 10-14: separable, but not at first
    docs = [np.concatenate([[2], rng.integers(5 + 5 * c, 10 + 5 * c, size=6), [3]]) for c in y]
    cosine = PairCosine(encoder).eval()
    pairs, same = sample_pairs(y, 200, seed=1)
    ds = PairDataset(docs, pairs, same)

    def loss():
        with torch.no_grad():
            return float(np.mean([torch.mean((cosine(**x) - t) ** 2) for x, t in
                                  PairBatches(ds, batch_size=50, pad_idx=0)]))

    before = loss()
    net = train_contrastive(encoder, docs, y, n_pairs=400, pad_idx=0, lr=1e-3, epochs=2, seed=0)
    assert net.module_.encoder is encoder
    assert loss() < 0.5 * before
    groups = [g["lr"] for g in net.optimizer_.param_groups]
    assert groups and max(groups) == pytest.approx(min(groups))  # one rate for every layer
