"""The GPU pretraining kit (benchmarks/gpu), rehearsed on the CPU with a tiny model,
and the sharded weights of the encoder format."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.encoders import (EncoderError, _sha256, join_pieces, load_encoder,
                                     random_encoder, save_encoder, shard_tensors)
from ulmfit_sklearn.text import SPECIAL_TOKENS, WordTokenizer

from conftest import make_toy_data

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "benchmarks" / "gpu"
TINY = ["--device", "cpu", "--emb", "16", "--hidden", "24", "--layers", "2", "--batch-size", "8",
        "--bptt", "10", "--epoch-batches", "10", "--max-shard-bytes", "6000"]


def _module(name):
    spec = importlib.util.spec_from_file_location(f"gpu_kit_{name}", KIT / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny_encoder():
    tok = WordTokenizer(list(SPECIAL_TOKENS) + [f"w{i}" for i in range(300)])
    return random_encoder(tok, 16, 24, 2), tok


def test_shard_tensors_cuts_large_tensors_into_pieces_and_joins_them():
    tensors = {"a": torch.arange(1000, dtype=torch.float16).reshape(100, 10), "b": torch.ones(3)}
    shards = shard_tensors(tensors, 900)
    assert len(shards) == 3 and "a#0" in shards[0] and "b" in shards[-1]
    joined = join_pieces({k: v for s in shards for k, v in s.items()})
    assert torch.equal(joined["a"], tensors["a"]) and torch.equal(joined["b"], tensors["b"])
    with pytest.raises(ValueError, match="one row"):
        shard_tensors({"a": torch.zeros(2, 1000)}, 900)
    with pytest.raises(ValueError, match="pieces"):
        join_pieces({"a#0": torch.zeros(1), "a#2": torch.zeros(1)})


def test_sharded_encoder_round_trip_within_the_size_limit(tmp_path):
    enc, tok = _tiny_encoder()
    save_encoder(tmp_path, enc.config, enc.state_dict, tok, max_shard_bytes=4000)
    config = json.loads((tmp_path / "config.json").read_text())
    shards = config["weights"]
    assert isinstance(shards, list) and len(shards) > 1
    assert all((tmp_path / s).stat().st_size <= 4000 for s in shards)
    assert set(json.loads((tmp_path / "metadata.json").read_text())["files"]) >= set(shards)
    assert any("#" in k for s in shards for k in load_file(str(tmp_path / s)))  # a cut tensor
    loaded = load_encoder(str(tmp_path))
    for k, v in enc.state_dict.items():
        assert torch.equal(loaded.state_dict[k], v.half().float()), k
    # small enough for one file: written as before
    one = tmp_path / "one"
    save_encoder(one, enc.config, enc.state_dict, tok, max_shard_bytes=10 ** 6)
    assert json.loads((one / "config.json").read_text())["weights"] == "weights.safetensors"


def test_sharded_encoder_errors(tmp_path):
    enc, tok = _tiny_encoder()
    save_encoder(tmp_path, enc.config, enc.state_dict, tok, max_shard_bytes=4000)
    shards = json.loads((tmp_path / "config.json").read_text())["weights"]
    meta_path = tmp_path / "metadata.json"
    meta = json.loads(meta_path.read_text())
    # a tensor in two shards (checksums made to match)
    first, last = (load_file(str(tmp_path / s)) for s in (shards[0], shards[-1]))
    save_file({**last, **first}, str(tmp_path / shards[-1]))
    meta_path.write_text(json.dumps(dict(meta, files=dict(
        meta["files"], **{shards[-1]: _sha256(tmp_path / shards[-1])}))))
    with pytest.raises(EncoderError, match="two weight shards"):
        load_encoder(str(tmp_path))
    save_file(last, str(tmp_path / shards[-1]))  # corrupt now: the checksum is the other's
    with pytest.raises(EncoderError, match="sha256"):
        load_encoder(str(tmp_path))
    (tmp_path / shards[-1]).unlink()
    with pytest.raises(EncoderError, match="missing"):
        load_encoder(str(tmp_path))


def test_export_plan_of_the_paper_sizes():
    plan = _module("train").export_plan
    paper = plan(30000, 400, 1150, 3, vocab_bytes=240_000)
    assert paper["fits"] and paper["files"] <= 8 and paper["total_mib"] <= 64, paper
    assert not plan(60000, 400, 1150, 3, vocab_bytes=480_000)["fits"]
    assert not plan(300, 16, 24, 2, vocab_bytes=2000, max_file=1000)["fits"]  # over 8 files


def _tiny_kit(tmp_path):
    X, _ = make_toy_data(1500, seed=3)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, part in (("a.txt", X[:600]), ("b.txt", X[600:1200]), ("v.txt", X[1200:])):
        (corpus / name).write_text("\n".join(part) + "\n")
    _module("prepare").main(["--corpus", str(corpus), "--files", "a.txt", "b.txt", "--valid",
                             "v.txt", "--vocab-size", "60", "--tokens", "8000", "--no-wheels",
                             "--out", str(tmp_path / "kit")])
    stats = json.loads((tmp_path / "kit" / "corpus.json").read_text())
    assert 5000 < stats["train_tokens"] <= 8100 and stats["vocab_size"] <= 60
    return tmp_path / "kit"


def test_kit_rehearsal_writes_a_sharded_encoder_the_classifier_fits(tmp_path, capsys):
    kit, out = _tiny_kit(tmp_path), tmp_path / "enc"
    train = _module("train")
    train.main(["--data", str(kit), "--out", str(out), "--work", str(tmp_path / "work"),
                "--budget-minutes", "0.04", "--checkpoint-minutes", "0.005", "--tokens", "1e6"]
               + TINY)
    log = capsys.readouterr().out
    assert "checkpoint written" in log and "tokens/s" in log and "done:" in log
    config = json.loads((out / "config.json").read_text())
    assert len(config["weights"]) > 1 and "direction" not in config
    assert len(list(out.iterdir())) <= 8
    assert all((out / f).stat().st_size <= 6000 for f in config["weights"])
    enc = load_encoder(str(out))
    assert enc.metadata["tokens_seen"] > 0 and "partial" not in enc.metadata
    assert (tmp_path / "work" / "checkpoint" / "params.pt").exists()
    X, y = make_toy_data(30)
    clf = ULMFiTClassifier(pretrained=str(out), lm_epochs=1, unfreeze_epochs=(1,), batch_size=8,
                           random_state=0).fit(X, y)
    assert clf.predict(X[:3]).shape == (3,)
    # a backward LM: the streams reversed, the config says so
    back = tmp_path / "back"
    train.main(["--data", str(kit), "--out", str(back), "--work", str(tmp_path / "work"),
                "--budget-minutes", "0.5", "--tokens", "2000", "--backward"] + TINY)
    assert json.loads((back / "config.json").read_text())["direction"] == "backward"
    assert load_encoder(str(back)).metadata["training"]["direction"] == "backward"


def test_pretrain_cli_backward_with_time_based_checkpoints_resumes(tmp_path, capsys):
    from ulmfit_sklearn.pretrain import main

    X, _ = make_toy_data(600, seed=4)
    (tmp_path / "t.txt").write_text("\n".join(X[:500]) + "\n")
    (tmp_path / "v.txt").write_text("\n".join(X[500:]) + "\n")
    run = ["--train", str(tmp_path / "t.txt"), "--valid", str(tmp_path / "v.txt"), "--out",
           str(tmp_path / "run"), "--vocab-size", "60", "--emb-size", "8", "--hidden-size", "12",
           "--n-layers", "2", "--tokens", "4000", "--epoch-batches", "5", "--batch-size", "4",
           "--bptt", "10", "--threads", "1", "--quiet", "--backward",
           "--checkpoint-minutes", "0.0001"]
    main(run + ["--max-epochs", "3"])
    history = json.loads((tmp_path / "run" / "checkpoint" / "history.json").read_text())
    assert len(history) == 3  # written at the end: the finished epochs
    assert "checkpoint written" in capsys.readouterr().out
    main(run)
    assert "resuming after epoch 3" in capsys.readouterr().out
    enc = load_encoder(str(tmp_path / "run" / "encoder"))
    assert enc.config["direction"] == "backward" and len(enc.metadata["curve"]) == 20


@pytest.mark.slow
def test_pretrain_sh_killed_at_its_limit_leaves_a_loadable_encoder(tmp_path):
    kit, out = _tiny_kit(tmp_path), tmp_path / "enc"
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        ["bash", str(KIT / "pretrain.sh"), "--wheels", str(tmp_path / "no-wheels"), "--data",
         str(kit), "--out", str(out), "--work", str(tmp_path / "work"), "--budget-minutes", "2",
         "--checkpoint-minutes", "0.02"] + TINY,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    deadline = time.time() + 60
    while not (out / "metadata.json").exists() and time.time() < deadline \
            and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.5)  # more exports, one perhaps under way when killed
    os.killpg(proc.pid, signal.SIGKILL)
    log = proc.communicate()[0]
    assert "measured" in log and "checkpoint written" in log, log
    folder = out if (out / "metadata.json").exists() else out.with_name(out.name + ".tmp")
    enc = load_encoder(str(folder))
    assert enc.metadata["partial"] and isinstance(enc.config["weights"], list)
    X, y = make_toy_data(30)
    ULMFiTClassifier(pretrained=str(folder), lm_epochs=1, unfreeze_epochs=(1,), batch_size=8,
                     random_state=0).fit(X, y)
