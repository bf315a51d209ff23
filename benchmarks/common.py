"""Shared helpers of the benchmark scripts: data sets from ../shared/data, machine
facts, peak matmul speed, model FLOPs and result files (JSON lines)."""

import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ULMFIT_SHARED", ROOT.parent / "shared")) / "data"
sys.path.insert(0, str(ROOT))

from ulmfit_sklearn.datasets import load_texts  # noqa: E402

FILES = {"imdb": ("train.csv.xz", "test.csv.xz"), "trec6": ("train.csv", "test.csv"),
         "sst2": ("train.csv", "test.csv"), "agnews": ("train.csv", "test.csv")}


def stratified_sample(X, y, n, seed):
    from sklearn.model_selection import train_test_split
    if n >= len(X):
        return list(X), np.asarray(y)
    Xs, _, ys, _ = train_test_split(list(X), np.asarray(y), train_size=n, stratify=y,
                                    random_state=seed)
    return Xs, ys


def load_dataset(name, n_train, seed, n_test=None):
    """(X_train, y_train, X_test, y_test): a stratified training sample of n_train
    (seed), and the test split (a stratified sample of n_test, seed 0, if given)."""
    train_file, test_file = FILES[name]
    X, y = load_texts(SHARED / name / train_file)
    Xt, yt = load_texts(SHARED / name / test_file)
    Xs, ys = stratified_sample(X, y, n_train, seed)
    if n_test:
        Xt, yt = stratified_sample(Xt, yt, n_test, 0)
    return Xs, ys, list(Xt), np.asarray(yt)


def machine():
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()}


def git_commit():
    """The last commit that changed the package (so doc-only commits keep results current)."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%h", "--", "ulmfit_sklearn"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "ulmfit_sklearn"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def peak_matmul(n=2048, reps=5):
    """The fastest of fp32 and bf16 square matmuls, in GFLOP/s."""
    best = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best[str(dtype).replace("torch.", "")] = 2 * n**3 * reps / (time.perf_counter() - t) / 1e9
    return best


def lstm_flops_per_token(config):
    """Forward FLOPs of the AWD-LSTM per token (the LSTM matmuls)."""
    e, h, n = config["emb_size"], config["hidden_size"], config["n_layers"]
    sizes = [e] + [h] * (n - 1) + [e]
    return sum(2 * 4 * sizes[i + 1] * (sizes[i] + sizes[i + 1]) for i in range(n))


def bert_flops(config, doc_lengths, window=512):
    """Forward FLOPs of a BERT over documents of these lengths (word pieces, [CLS] and
    [SEP] included): the blocks' matmuls per token, plus attention over each window."""
    h, f, n = config["hidden_size"], config["intermediate_size"], config["n_layers"]
    per_token = n * 2 * (4 * h * h + 2 * h * f)
    attention = sum(n * 4 * h * min(L, window) * L for L in doc_lengths)  # QK^T and AV
    return per_token * sum(doc_lengths) + attention


def encoder_label(method, pretrained):
    """The learning-curve series of ``method`` over the encoder ``pretrained``: plain
    ``method`` for the bundled AWD-LSTM (the series' history: it was the default until
    minilm-l6 became it), ``method:NAME`` for any other encoder."""
    from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, load_encoder

    name = Path(load_encoder(pretrained).path).name
    return method if name == AWD_LSTM_ENCODER else f"{method}:{name}"


def run_one(est, X, y, Xt, yt):
    """Fit, then predict the test set: (error, fit seconds, predict seconds)."""
    t0 = time.perf_counter()
    est.fit(X, y)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    err = float(np.mean(est.predict(Xt) != yt))
    return err, fit_s, time.perf_counter() - t0


def append_result(path, row):
    row = dict(row)
    row.setdefault("date", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    row.setdefault("machine", machine())
    row.setdefault("git_commit", git_commit())
    row.setdefault("command", " ".join([Path(sys.executable).name] + sys.argv))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def done_keys(path, fields=("dataset", "n", "seed", "method", "n_unlabeled", "git_commit",
                            "encoder_sha256")):
    """Keys of the runs already in a result file (to resume an interrupted grid)."""
    path = Path(path)
    if not path.exists():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            keys.add(tuple(row.get(f) for f in fields))
    return keys


def add_grid_args(p, datasets, n, seeds, out_name):
    """The command-line options every benchmark grid shares."""
    p.add_argument("--datasets", nargs="+", default=datasets)
    p.add_argument("--n", nargs="+", type=int, default=n)
    p.add_argument("--seeds", nargs="+", type=int, default=seeds)
    p.add_argument("--n-test", type=int, default=5000, help="test sample size for IMDb")
    p.add_argument("--pretrained", default="default")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / out_name))


def grid(a):
    """Yield (dataset, n, seed, (X, y, X_test, y_test), done, commit, encoder sha) over a
    benchmark grid; ``done`` holds the keys of the runs already in ``a.out``."""
    from ulmfit_sklearn.encoders import load_encoder

    enc_sha = load_encoder(a.pretrained).sha256
    commit = git_commit()
    done = done_keys(a.out)
    for ds in a.datasets:
        for n in a.n:
            for seed in a.seeds:
                data = load_dataset(ds, n, seed, a.n_test if ds == "imdb" else None)
                yield ds, n, seed, data, done, commit, enc_sha
