"""The pretraining pipeline on a tiny corpus, including resuming after a stop."""

import json
import os

import numpy as np
import pytest
import torch

import ulmfit_sklearn.pretrain as pretrain_module
import ulmfit_sklearn.pretraining.awd_lstm as pretraining_awd_lstm
from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.encoders import load_encoder
from ulmfit_sklearn.modules import AWDLSTM, LanguageModel
from ulmfit_sklearn.pretrain import (checkpoint_epochs, init_embedding, main, read_vectors,
                                     vector_vocabulary)
from ulmfit_sklearn.text import SPECIAL_TOKENS

from conftest import make_toy_data


def _corpus(tmp_path):
    texts, _ = make_toy_data(600, seed=4)
    train = tmp_path / "train.txt"
    train.write_text("\n".join(texts[:500]) + "\n")
    valid = tmp_path / "valid.txt"
    valid.write_text("\n".join(texts[500:]) + "\n")
    return train, valid


ARGS = ["--vocab-size", "60", "--emb-size", "8", "--hidden-size", "12", "--n-layers", "2",
        "--tokens", "6000", "--epoch-batches", "5", "--batch-size", "4", "--bptt", "10",
        "--threads", "1"]


def test_pretrain_writes_a_loadable_encoder_and_lowers_perplexity(tmp_path):
    train, valid = _corpus(tmp_path)
    out = tmp_path / "run"
    main(["--train", str(train), "--valid", str(valid), "--out", str(out)] + ARGS + ["--tokens", "20000"])
    enc = load_encoder(str(out / "encoder"))
    meta = enc.metadata
    assert meta["tokens_seen"] > 5000
    assert meta["valid"]["ppl_token"] < 60  # better than uniform over the vocabulary
    curve = [c["valid_loss"] for c in meta["curve"]]
    assert curve[-1] < curve[0]
    X, y = make_toy_data(30)
    clf = ULMFiTClassifier(str(out / "encoder"), lm_epochs=1, unfreeze_epochs=(1, 1),
                           random_state=0).fit(X, y)
    assert clf.predict(X[:3]).shape == (3,)


def test_pretrain_resumes_from_its_checkpoint(tmp_path):
    train, valid = _corpus(tmp_path)
    out = tmp_path / "run"
    # a first run stopped after 4 epochs (as a kill or a time limit would)
    main(["--train", str(train), "--valid", str(valid), "--out", str(out), "--max-epochs", "4"]
         + ARGS)
    first = json.loads((out / "checkpoint" / "history.json").read_text())
    assert len(first) == 4
    main(["--train", str(train), "--valid", str(valid), "--out", str(out)] + ARGS)
    history = json.loads((out / "checkpoint" / "history.json").read_text())
    assert len(history) == 30  # 6000 tokens / (4 rows * 10 steps) / 5 batches per epoch
    assert [h["epoch"] for h in history] == list(range(1, 31))
    ids = np.load(out / "train_ids.npy")
    assert ids.dtype == np.uint16 and len(ids) > 1000


def _lrs(history):
    return [b["event_lr"] for h in history for b in h["batches"] if "train_loss" in b]


def test_a_checkpoint_write_killed_before_its_history_still_resumes(tmp_path, monkeypatch, capsys):
    train, valid = _corpus(tmp_path)
    run = ["--train", str(train), "--valid", str(valid)] + ARGS
    ref = tmp_path / "ref"  # the same run, never interrupted
    main(run + ["--out", str(ref), "--max-epochs", "3"])
    reference = json.loads((ref / "checkpoint" / "history.json").read_text())
    out = tmp_path / "run"
    main(run + ["--out", str(out), "--max-epochs", "2"])
    ckpt = out / "checkpoint"
    before = {f: (ckpt / f).read_bytes() for f in ("params.pt", "optimizer.pt", "history.json")}

    replace = os.replace

    def killed_at_the_history(src, dst):  # the process dies before the history is replaced
        if str(dst).endswith("history.json"):
            raise OSError("killed")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_at_the_history)
    with pytest.raises(OSError, match="killed"):
        main(run + ["--out", str(out), "--max-epochs", "1"])
    monkeypatch.setattr(os, "replace", replace)
    # every file whole: the new epoch's weights and optimizer, the previous history
    assert (ckpt / "history.json").read_bytes() == before["history.json"]
    assert (ckpt / "params.pt").read_bytes() != before["params.pt"]
    assert (ckpt / "optimizer.pt").read_bytes() != before["optimizer.pt"]
    torch.load(ckpt / "params.pt", weights_only=True)
    torch.load(ckpt / "optimizer.pt", weights_only=True)
    assert checkpoint_epochs(ckpt) == 2

    used = []  # the lr each step of the resumed run trains with

    class Spy(pretrain_module.EpochLine):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                used.append(net.optimizer_.param_groups[0]["lr"])

    monkeypatch.setattr(pretraining_awd_lstm, "EpochLine", Spy)
    capsys.readouterr()
    main(run + ["--out", str(out), "--max-epochs", "1"])
    assert "resuming after epoch 2" in capsys.readouterr().out
    # not the lr of the epoch-3 optimizer state, but where the schedule resumes
    np.testing.assert_allclose(used, _lrs(reference)[10:], rtol=1e-6)
    history = json.loads((ckpt / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]  # the epoch count goes on
    assert len(_lrs(history)) == 15
    np.testing.assert_allclose(_lrs(history), _lrs(reference), rtol=1e-6)  # and the schedule
    assert not list(ckpt.glob("*.tmp"))
    assert load_encoder(str(out / "encoder")).metadata["epochs_run"] == 3


def test_a_history_without_its_weights_is_an_error(tmp_path):
    ckpt = tmp_path / "checkpoint"
    ckpt.mkdir()
    assert checkpoint_epochs(ckpt) == 0
    (ckpt / "history.json").write_text("[{}, {}]")
    (ckpt / "optimizer.pt").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="params.pt"):
        checkpoint_epochs(ckpt)
    (ckpt / "params.pt").write_bytes(b"x")
    assert checkpoint_epochs(ckpt) == 2


@pytest.mark.slow
def test_data_parallel_under_torchrun_with_two_cpu_processes(tmp_path):
    import os
    import re
    import subprocess
    import sys

    train, valid = _corpus(tmp_path)
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", "29581", "-m", "ulmfit_sklearn.pretrain",
           "--train", str(train), "--valid", str(valid), "--out", str(out)] + ARGS
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sums = dict(re.findall(r"rank (\d): weights checksum (\S+)", proc.stdout))
    assert set(sums) == {"0", "1"} and sums["0"] == sums["1"]  # identical weights on both ranks
    enc = load_encoder(str(out / "encoder"))
    # each process read its own half of the corpus: twice the tokens of one process
    assert enc.metadata["tokens_seen"] > 10000


def test_pretraining_goes_on_from_an_encoder(tmp_path):
    train, valid = _corpus(tmp_path)
    first = tmp_path / "first"
    main(["--train", str(train), "--valid", str(valid), "--out", str(first)] + ARGS + ["--tokens", "3000"])
    base = load_encoder(str(first / "encoder"))
    more = tmp_path / "more"
    main(["--train", str(train), "--valid", str(valid), "--out", str(more), "--init",
          str(first / "encoder")] + ARGS + ["--tokens", "3000"])
    cont = load_encoder(str(more / "encoder"))
    assert cont.tokenizer.itos == base.tokenizer.itos  # the encoder's tokenizer is reused
    assert cont.metadata["valid"]["ppl_token"] < base.metadata["valid"]["ppl_token"]


def _vector_file(tmp_path):
    """GloVe-format vectors for the toy words (and one the corpus lacks)."""
    from conftest import FILL, NEG, POS

    rng = np.random.default_rng(0)
    words = FILL + POS + NEG + ["zebra"]
    path = tmp_path / "vectors.txt"
    path.write_text("".join(w + " " + " ".join(f"{x:.4f}" for x in rng.normal(size=6)) + "\n"
                            for w in words))
    return path, words


def test_read_vectors_and_their_vocabulary(tmp_path):
    path, words = _vector_file(tmp_path)
    got, matrix = read_vectors(path)
    assert got == words and matrix.shape == (len(words), 6) and matrix.dtype == np.float32
    assert read_vectors(path, limit=3)[0] == words[:3]
    tok = vector_vocabulary(got, 10)
    assert tok.vocab_size == 10 and tok.itos[len(SPECIAL_TOKENS):] == words[: 10 - len(SPECIAL_TOKENS)]
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2 3\nof 1 2\n")
    with pytest.raises(ValueError, match="line 2"):
        read_vectors(bad)


def test_embedding_starts_from_the_vectors(tmp_path):
    path, _ = _vector_file(tmp_path)
    words, matrix = read_vectors(path)
    tok = vector_vocabulary(words, 100)
    lm = LanguageModel(AWDLSTM(tok.vocab_size, 8, 12, 2, tok.pad_id))
    assert init_embedding(lm, tok, words, matrix) == len(words)
    emb = lm.encoder.embedding.weight.detach()
    np.testing.assert_allclose(emb[tok.stoi["zebra"], :6].numpy(), matrix[words.index("zebra")])
    assert (emb[tok.pad_id] == 0).all()
    assert lm.decoder.weight is lm.encoder.embedding.weight
    with pytest.raises(ValueError, match="below"):
        init_embedding(LanguageModel(AWDLSTM(tok.vocab_size, 4, 12, 2, tok.pad_id)), tok, words, matrix)


def test_pretraining_from_word_vectors_ships_them(tmp_path):
    train, valid = _corpus(tmp_path)
    path, words = _vector_file(tmp_path)
    out = tmp_path / "run"
    main(["--train", str(train), "--valid", str(valid), "--out", str(out), "--vectors", str(path)]
         + ARGS + ["--tokens", "3000"])
    enc = load_encoder(str(out / "encoder"))
    assert enc.tokenizer.kind == "word" and "zebra" in enc.tokenizer.stoi
    assert enc.vectors[0] == words and enc.metadata["word_vectors"] == "vectors.txt"
    more = tmp_path / "more"
    main(["--train", str(train), "--valid", str(valid), "--out", str(more), "--init",
          str(out / "encoder")] + ARGS + ["--tokens", "1000"])
    assert load_encoder(str(more / "encoder")).vectors[0] == words  # kept when going on
