import numpy as np
import torch

from ulmfit_sklearn.training.batching import (DocumentBatches, DocumentDataset, LMStreamBatches,
                                              training_batch_count,
                                              TokenStream, bptt_lengths)


def test_lm_batches_continue_each_row_and_shift_targets():
    stream = TokenStream(np.arange(1001))
    batches = list(LMStreamBatches(stream, batch_size=4, bptt=10))
    x0, y0 = batches[0]
    assert x0.shape == (4, 10)
    assert torch.equal(y0[:, :-1], x0[:, 1:])
    x1, _ = batches[1]
    assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # the next batch continues each row
    assert sum(x.size(1) for x, _ in batches) == 250


def test_variable_bptt_is_seeded():
    a = bptt_lengths(10_000, 70, np.random.default_rng(0))
    b = bptt_lengths(10_000, 70, np.random.default_rng(0))
    assert a == b and sum(a) == 10_000 and len(set(a)) > 5
    assert min(a[:-1]) >= 5


def test_lm_batches_shuffle_documents_per_epoch():
    docs = [np.full(50, i) for i in range(20)]
    it = LMStreamBatches(TokenStream(docs), batch_size=2, bptt=10, shuffle=True, seed=0)
    first = torch.cat([x for x, _ in it], 1)
    second = torch.cat([x for x, _ in it], 1)
    assert not torch.equal(first[:, :20], second[:, :20])


def test_document_batches_in_order_without_shuffle():
    docs = [np.arange(n) + 2 for n in (3, 7, 1, 5)]
    batches = list(DocumentBatches(DocumentDataset(docs, np.arange(4)), batch_size=3))
    (x, y), (x2, y2) = batches
    assert torch.equal(y, torch.tensor([0, 1, 2])) and torch.equal(y2, torch.tensor([3]))
    assert torch.equal(x["lengths"], torch.tensor([3, 7, 1]))
    assert x["tokens"].shape == (3, 7) and x["tokens"][0, 3:].eq(1).all()  # right padding


def test_document_batches_sortish_and_never_one_in_training():
    rng = np.random.default_rng(0)
    docs = [np.ones(int(n)) for n in rng.integers(1, 100, size=65)]
    it = DocumentBatches(DocumentDataset(docs, np.zeros(65)), batch_size=8, shuffle=True, seed=0)
    sizes, spreads = [], []
    for x, _ in it:
        sizes.append(len(x["lengths"]))
        spreads.append(int(x["lengths"].max() - x["lengths"].min()))
    assert sum(sizes) == 65 and min(sizes) > 1
    assert np.mean(spreads) < 40  # similar lengths share a batch


def _seen(n, batch_size, seed=0):
    docs = [np.full(3, i) for i in range(n)]
    it = DocumentBatches(DocumentDataset(docs, np.arange(n)), batch_size=batch_size, shuffle=True,
                         seed=seed)
    return [y.tolist() for _, y in it], len(it)


def test_training_pass_sees_every_document_once_when_a_single_one_is_left():
    # 33 = 4 * 8 + 1: the last batch of one joins another; nothing is dropped or repeated
    batches, n_batches = _seen(33, 8)
    seen = sorted(i for b in batches for i in b)
    assert seen == list(range(33))
    assert len(batches) == n_batches == training_batch_count(33, 8) == 4
    assert sorted(len(b) for b in batches) == [8, 8, 8, 9]


def test_two_batches_with_a_single_document_left_make_one():
    batches, n_batches = _seen(9, 8)  # raised IndexError before
    assert len(batches) == n_batches == 1 and sorted(batches[0]) == list(range(9))


def test_training_batch_count_rule():
    assert [training_batch_count(n, 8) for n in (1, 2, 8, 9, 10, 16, 17, 33)] == \
        [1, 1, 1, 1, 2, 2, 2, 4]


def test_token_batches_keep_order_and_bound_padding():
    from ulmfit_sklearn.training.batching import token_batches

    lengths = np.array([50, 40, 40, 30, 10, 10, 10, 10, 10, 2, 1])
    batches = token_batches(lengths, max_docs=4, max_tokens=100)
    assert np.array_equal(np.concatenate(batches), np.arange(len(lengths)))
    for b in batches:
        assert len(b) <= 4 and (len(b) == 1 or len(b) * lengths[b].max() <= 100)
    assert [len(b) for b in batches] == [2, 2, 4, 3]
    assert [len(b) for b in token_batches([500, 3], 8, 100)] == [1, 1]  # too long: alone
    assert token_batches([], 8, 100) == []


def test_prediction_in_token_batches_equals_fixed_batches():
    from ulmfit_sklearn.training.batching import DocumentBatches, DocumentDataset

    rng = np.random.default_rng(0)
    docs = [rng.integers(2, 50, size=n) for n in sorted(rng.integers(1, 40, size=30), reverse=True)]
    ds = DocumentDataset(docs)
    by_tokens = DocumentBatches(ds, batch_size=16, max_tokens=120)
    seen = [x["tokens"].shape for x, _ in by_tokens]
    assert len(seen) == len(by_tokens) and all(r * c <= 120 or r == 1 for r, c in seen)
    rows = torch.cat([x["tokens"][:, :1] for x, _ in by_tokens])[:, 0]
    assert rows.tolist() == [int(d[0]) for d in docs]  # input order kept


def test_head_tail_keeps_a_quarter_from_the_start_and_the_rest_from_the_end():
    from ulmfit_sklearn.training.batching import head_tail

    doc = np.arange(100, dtype=np.int32)
    cut = head_tail(doc, 20)
    np.testing.assert_array_equal(cut, np.r_[0:5, 85:100])
    assert cut.dtype == np.int32
    assert head_tail(doc, 100) is doc and len(head_tail(doc, 2)) == 2
    assert head_tail(doc, 2)[0] == 0 and head_tail(doc, 2)[-1] == 99
