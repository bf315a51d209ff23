"""Speed against fastai, side by side on the same 1,000 IMDb reviews and model sizes.

Runs in an environment with fastai (fastai 2.8 needs torchvision):

    python3 -m venv /tmp/fastai-venv
    /tmp/fastai-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 fastai
    /tmp/fastai-venv/bin/pip install -e .
    /tmp/fastai-venv/bin/python benchmarks/fastai_speed.py --n 1000

Each library runs in its own fresh process (peak memory is per process); both use
the bundled encoder's sizes (fastai's AWD_LSTM randomly initialised: its pretrained
weights cannot be downloaded here; speed does not depend on the weights) and the
same batch sizes and bptt.  Measured, per library: LM fine-tuning tokens/s (one
epoch), classifier training documents/s (one epoch, all layers), batch prediction
documents/s (texts in, probabilities out, tokenization included), single-document
latency (median of 20), peak resident memory, and model FLOP/s against the fastest
square matmul measured in the same process.  One JSON line per library and one with
the ratios go to benchmarks/results/fastai_speed.jsonl.  ``--variant fast`` runs ours
with the two opt-in speed settings, ``lm_sampled_softmax=True`` (stage 2) and
``quantize=True`` (prediction); its row names them in ``library``.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from common import ROOT, append_result, git_commit, load_dataset, lstm_flops_per_token, peak_matmul

RESULTS = ROOT / "benchmarks" / "results" / "fastai_speed.jsonl"
BS, BPTT, LM_LR, LR = 32, 70, 5e-3, 2e-2


def _latency(fn, texts):
    times = []
    for t in texts:
        t0 = time.perf_counter()
        fn(t)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


#: our settings of each ``--variant``
VARIANTS = {"default": {}, "fast": {"lm_sampled_softmax": True, "quantize": True}}


def run_ours(X, y, Xp, variant="default"):
    from ulmfit_sklearn import ULMFiTClassifier
    from ulmfit_sklearn._base import finetune_encoder
    from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, extend_vocabulary, load_encoder, new_words
    from ulmfit_sklearn.text import encode_texts

    enc = load_encoder(AWD_LSTM_ENCODER)
    enc = extend_vocabulary(enc, new_words(enc, X))
    t0 = time.perf_counter()
    docs = encode_texts(enc.tokenizer, X)
    tok_s = time.perf_counter() - t0
    settings = VARIANTS[variant]
    sampled = settings.get("lm_sampled_softmax", False)
    _, hist = finetune_encoder(enc, docs, epochs=1, lr=LM_LR, lr_decay=2.6, drop_mult=0.3,
                               bptt=BPTT, batch_size=BS, cut_frac=0.1, ratio=32, seed=0,
                               device="cpu", autocast=False, verbose=0, sampled_softmax=sampled)
    lm_tokens = sum(b.get("train_tokens", 0) for h in hist for b in h["batches"])
    lm_s = sum(h["dur"] for h in hist)
    clf = ULMFiTClassifier(AWD_LSTM_ENCODER, lm_epochs=0, unfreeze_epochs=(1,), batch_size=BS, bptt=72,
                           quantize=settings.get("quantize", False), random_state=0).fit(X, y)
    clf_s = clf.history_["classifier"][-1]["dur"]
    t0 = time.perf_counter()
    clf.predict_proba(Xp)
    pred_s = time.perf_counter() - t0
    latency = _latency(lambda t: clf.predict_proba([t]), Xp[:20])
    stream = np.concatenate(docs)
    # stage 2's softmax covers the ids the texts contain (finetune_language_model), or
    # with the sampled softmax those of each batch's targets (about, from 50 batches)
    step = BS * BPTT
    softmax = (np.mean([len(np.unique(stream[i:i + step])) for i in range(0, len(stream) - step, step)][:50])
               if sampled else len(np.unique(stream)))
    name = "ulmfit-sklearn" + (f" ({', '.join(settings)})" if settings else "")
    return {"library": name, "vocab_size": enc.tokenizer.vocab_size,
            "softmax_size": int(softmax), "variant": variant,
            "config": {k: enc.config[k] for k in ("emb_size", "hidden_size", "n_layers")},
            "tokenize_seconds": tok_s, "lm_tokens": lm_tokens, "lm_seconds": lm_s,
            "clf_docs": len(X), "clf_seconds": clf_s, "pred_docs": len(Xp), "pred_seconds": pred_s,
            "latency_seconds": latency, "clf_tokens": sum(len(d) for d in docs)}


def run_fastai(X, y, Xp, config):
    import pandas as pd
    from fastai.text.all import (AWD_LSTM, TextDataLoaders, awd_lstm_clas_config,
                                 awd_lstm_lm_config, language_model_learner,
                                 text_classifier_learner)

    df = pd.DataFrame({"text": X, "label": [str(v) for v in y], "is_valid": False})
    df.loc[df.index[-BS:], "is_valid"] = True  # a one-batch validation set (fastai needs one)
    sizes = dict(emb_sz=config["emb_size"], n_hid=config["hidden_size"], n_layers=config["n_layers"])
    t0 = time.perf_counter()
    dls_lm = TextDataLoaders.from_df(df, text_col="text", is_lm=True, valid_col="is_valid",
                                     bs=BS, seq_len=BPTT)
    tok_s = time.perf_counter() - t0
    lm = language_model_learner(dls_lm, AWD_LSTM, config=dict(awd_lstm_lm_config, **sizes),
                                pretrained=False, drop_mult=0.3)
    lm.unfreeze()
    t0 = time.perf_counter()
    lm.fit_one_cycle(1, LM_LR)
    lm_s = time.perf_counter() - t0
    lm_tokens = len(dls_lm.train) * BS * BPTT
    dls = TextDataLoaders.from_df(df, text_col="text", label_col="label", valid_col="is_valid",
                                  text_vocab=dls_lm.vocab, bs=BS, seq_len=72)
    clf = text_classifier_learner(dls, AWD_LSTM, config=dict(awd_lstm_clas_config, **sizes),
                                  pretrained=False, drop_mult=0.5)
    clf.unfreeze()
    t0 = time.perf_counter()
    clf.fit_one_cycle(1, LR)
    clf_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf.get_preds(dl=dls.test_dl(Xp))
    pred_s = time.perf_counter() - t0
    latency = _latency(lambda t: clf.predict(t), Xp[:20])
    return {"library": "fastai", "vocab_size": len(dls_lm.vocab),
            "softmax_size": len(dls_lm.vocab), "config": config,
            "tokenize_seconds": tok_s, "lm_tokens": lm_tokens, "lm_seconds": lm_s,
            "clf_docs": len(df) - BS, "clf_seconds": clf_s, "pred_docs": len(Xp),
            "pred_seconds": pred_s, "latency_seconds": latency,
            "note": "fastai's epoch times include its one-batch validation"}


def one(library, n, n_pred, variant="default"):
    torch.manual_seed(0)
    X, y, Xt, _ = load_dataset("imdb", n, 0, n_pred)
    from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, load_encoder

    config = {k: load_encoder(AWD_LSTM_ENCODER).config[k] for k in ("emb_size", "hidden_size", "n_layers")}
    r = run_ours(X, y, Xt, variant) if library == "ours" else run_fastai(X, y, Xt, config)
    fwd = lstm_flops_per_token(config)
    r.update({
        "lm_tokens_per_s": r["lm_tokens"] / r["lm_seconds"],
        "clf_docs_per_s": r["clf_docs"] / r["clf_seconds"],
        "pred_docs_per_s": r["pred_docs"] / r["pred_seconds"],
        # training: forward + backward ~ 3x forward; the LM adds the decoder's matmul
        "lm_gflops_per_s": 3 * (fwd + 2 * config["emb_size"] * r["softmax_size"])
        * r["lm_tokens"] / r["lm_seconds"] / 1e9,
        "peak_matmul_gflops": peak_matmul(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
    })
    print(json.dumps(r))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--n-pred", type=int, default=1000)
    p.add_argument("--variant", choices=list(VARIANTS), default="default",
                   help="our settings: the defaults, or the opt-in speed settings (fast)")
    p.add_argument("--one", choices=["ours", "fastai"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        return one(a.one, a.n, a.n_pred, a.variant)
    rows = {}
    for lib in ("fastai", "ours"):
        out = subprocess.run([sys.executable, __file__, "--one", lib, "--n", str(a.n),
                              "--n-pred", str(a.n_pred), "--variant", a.variant],
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{lib} run failed:\n{out.stderr[-4000:]}")
        rows[lib] = json.loads(out.stdout.strip().splitlines()[-1])
        rows[lib].update({"dataset": "imdb", "n": a.n, "git_commit": git_commit()})
        print(append_result(RESULTS, rows[lib]), flush=True)
    ours, fa = rows["ours"], rows["fastai"]
    ratios = {"library": "ratio ulmfit-sklearn / fastai", "dataset": "imdb", "n": a.n,
              "lm_training": ours["lm_tokens_per_s"] / fa["lm_tokens_per_s"],
              "clf_training": ours["clf_docs_per_s"] / fa["clf_docs_per_s"],
              "batch_prediction": ours["pred_docs_per_s"] / fa["pred_docs_per_s"],
              "latency": fa["latency_seconds"] / ours["latency_seconds"],
              "peak_memory": ours["peak_rss_mb"] / fa["peak_rss_mb"], "variant": a.variant,
              "git_commit": git_commit()}
    print(append_result(RESULTS, ratios), flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
