import pytest
import torch

from ulmfit_sklearn.modules import (AWDLSTM, LanguageModel, LockedDropout, PoolingHead,
                                    SequenceClassifier, WeightDropLSTM, bpt3c_pool)


def make_encoder(p=0.0, n_layers=2):
    torch.manual_seed(0)
    return AWDLSTM(30, 8, 12, n_layers, pad_idx=1, embed_p=p, input_p=p, weight_p=p, hidden_p=p)


def test_locked_dropout_shares_mask_over_time():
    torch.manual_seed(0)
    dp = LockedDropout(0.5).train()
    out = dp(torch.ones(4, 7, 10))
    assert torch.equal(out[:, 0], out[:, 3])  # same mask at every time step
    assert (out == 0).any()
    assert torch.equal(dp.eval()(torch.ones(2, 3, 4)), torch.ones(2, 3, 4))


def test_weight_drop_leaves_parameters_untouched():
    torch.manual_seed(0)
    layer = WeightDropLSTM(5, 6, weight_p=0.9).train()
    before = layer.lstm.weight_hh_l0.detach().clone()
    x = torch.randn(2, 4, 5)
    s = (torch.zeros(1, 2, 6), torch.zeros(1, 2, 6))
    a, _ = layer(x, s)
    b, _ = layer(x, s)
    assert not torch.allclose(a, b)  # a fresh DropConnect mask per call
    assert torch.equal(layer.lstm.weight_hh_l0, before)
    a.sum().backward()
    assert layer.lstm.weight_hh_l0.grad is not None


def test_encoder_state_is_passed_not_kept():
    enc = make_encoder().eval()
    x = torch.randint(2, 30, (3, 10))
    out1, state = enc(x)
    out2, _ = enc(x)  # no state given: starts from zeros again
    assert torch.equal(out1, out2)
    full, _ = enc(torch.cat([x, x], 1))
    cont, _ = enc(x, state)  # continuing from the returned state = one long call
    torch.testing.assert_close(cont, full[:, 10:])
    assert not any(isinstance(v, torch.Tensor) for k, v in vars(enc).items() if not k.startswith("_"))


def test_decoder_is_tied_to_embedding():
    lm = LanguageModel(make_encoder())
    assert lm.decoder.weight is lm.encoder.embedding.weight
    logits, state, raw, dropped = lm(torch.randint(0, 30, (2, 5)))
    assert logits.shape == (2, 5, 30) and raw.shape == dropped.shape == (2, 5, 8)


def _pool_one_by_one(enc, docs, bptt, max_len):
    rows = []
    for d in docs:
        t = torch.tensor([d])
        rows.append(bpt3c_pool(enc, t, torch.tensor([len(d)]), bptt, max_len))
    return torch.cat(rows)


def test_bpt3c_matches_single_documents_and_masks_padding():
    enc = make_encoder().eval()
    docs = [list(range(2, 25)), list(range(3, 15)), [4, 5, 6]]
    tokens = torch.full((3, 23), 1)
    for i, d in enumerate(docs):
        tokens[i, : len(d)] = torch.tensor(d)
    lengths = torch.tensor([len(d) for d in docs])
    with torch.no_grad():
        batched = bpt3c_pool(enc, tokens, lengths, bptt=5, max_len=8)
        single = _pool_one_by_one(enc, docs, bptt=5, max_len=8)
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)
    # the "last" part is the output at the document's last token, not at padding
    out, _ = enc(torch.tensor([docs[2]]))
    torch.testing.assert_close(batched[2, :8], out[0, -1], atol=1e-5, rtol=1e-4)


def test_bpt3c_gradient_only_reaches_last_max_len_tokens():
    enc = make_encoder().eval()
    tokens = torch.randint(2, 30, (1, 40))
    calls = []
    orig = enc.forward

    def spy(x, state=None):
        calls.append(torch.is_grad_enabled())
        return orig(x, state)

    enc.forward = spy
    pooled = bpt3c_pool(enc, tokens, torch.tensor([40]), bptt=10, max_len=10)
    assert calls == [False, False, False, True]
    pooled.sum().backward()
    assert enc.embedding.weight.grad is not None


def test_bpt3c_requires_sorted_rows():
    enc = make_encoder().eval()
    with pytest.raises(ValueError, match="sorted"):
        bpt3c_pool(enc, torch.ones(2, 4, dtype=torch.long), torch.tensor([2, 4]), 2, 4)


def test_classifier_sorts_rows_itself_and_handles_one_document_in_training():
    enc = make_encoder()
    torch.manual_seed(0)
    clf = SequenceClassifier(enc, 3, bptt=4, max_len=8).eval()
    tokens = torch.tensor([[2, 3, 1, 1], [4, 5, 6, 7]])
    out = clf(tokens, torch.tensor([2, 4]))
    out_rev = clf(tokens.flip(0), torch.tensor([4, 2]))
    torch.testing.assert_close(out, out_rev.flip(0))
    clf.train()
    assert clf(tokens[:1], torch.tensor([2])).shape == (1, 3)  # batchnorm with one row


def test_pooling_head_shapes():
    head = PoolingHead(24, 4).eval()
    assert head(torch.randn(5, 24)).shape == (5, 4)


def test_inference_chunks_give_the_training_chunks_result():
    enc = make_encoder()
    clf = SequenceClassifier(enc, 2, bptt=4, max_len=10).eval()
    tokens = torch.randint(2, 30, (3, 23))
    lengths = torch.tensor([23, 17, 5])
    with torch.no_grad():
        fast = clf.features(tokens, lengths)  # one chunk of up to 512 tokens
    small = clf.features(tokens, lengths)  # grad enabled: 4-token chunks
    torch.testing.assert_close(fast, small.detach(), atol=1e-5, rtol=1e-4)


def test_embedding_dropout_drops_whole_words_consistently():
    from ulmfit_sklearn.modules import embedding_dropout

    torch.manual_seed(0)
    emb = torch.nn.Embedding(50, 4, padding_idx=1)
    words = torch.tensor([[3, 7, 3, 9, 7, 3] * 20])
    out = embedding_dropout(emb, words, 0.5, training=True)
    ratio = out / emb(words)
    for w in (3, 7, 9):  # every occurrence of a word is kept (x2) or dropped (x0) alike
        r = ratio[words == w]
        assert torch.allclose(r, r[0].expand_as(r)) and r[0, 0].item() in (0.0, 2.0)
    torch.testing.assert_close(embedding_dropout(emb, words, 0.5, training=False), emb(words))
    out.sum().backward()
    assert emb.weight.grad[[0, 2, 4]].abs().sum() == 0  # only looked-up rows get gradient


def test_restricted_output_gives_the_same_logits_for_the_kept_ids():
    lm = LanguageModel(make_encoder()).eval()
    x = torch.randint(0, 30, (2, 5))
    full, *_ = lm(x)
    keep = torch.tensor([7, 2, 11, 29])
    restricted, *_ = lm.restrict_output(keep)(x)
    assert restricted.shape == (2, 5, 4)
    torch.testing.assert_close(restricted, full[..., keep])
    assert lm.output_positions(torch.tensor([11, 7, 3])).tolist() == [2, 0, -100]
    assert "output_ids" not in lm.state_dict()  # the stored encoder is the same
    assert lm.restrict_output(None)(x)[0].shape == (2, 5, 30)
    with pytest.raises(ValueError, match="distinct"):
        lm.restrict_output([3, 3])
    with pytest.raises(ValueError, match="lie in"):
        lm.restrict_output([30])


def test_the_embedding_is_saved_under_fastai_name_and_old_pickles_load():
    import pickle

    lm = LanguageModel(AWDLSTM(12, 4, 6, 2, pad_idx=1))
    assert lm.encoder.embedding is lm.encoder.encoder  # the old name still reads it
    assert "encoder.embedding.weight" in dict(lm.named_parameters())
    state = lm.state_dict()
    assert "encoder.encoder.weight" in state and "encoder.embedding.weight" not in state
    again = LanguageModel(AWDLSTM(12, 4, 6, 2, pad_idx=1))
    again.load_state_dict(state)  # strict
    assert torch.equal(again.encoder.embedding.weight, lm.encoder.embedding.weight)
    old = lm.encoder  # as pickled before the rename: the embedding under "encoder"
    old._modules = type(old._modules)(("encoder" if k == "embedding" else k, v)
                                      for k, v in old._modules.items())
    loaded = pickle.loads(pickle.dumps(old))
    assert "embedding" in loaded._modules and "encoder" not in loaded._modules
    assert list(loaded.state_dict()) == list(AWDLSTM(12, 4, 6, 2).state_dict())
