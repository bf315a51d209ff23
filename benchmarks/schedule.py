"""Stage-3 schedule search: validation error of ULMFiTClassifier under several
``unfreeze_epochs`` / ``lr`` settings, on a validation split carved from each data set's
training split (the test split is never read), so that defaults can be chosen without
tuning to the test sets.

For each (dataset, n, seed): a stratified training sample of n (``random_state=seed``)
and a stratified validation sample of ``--n-val`` from the rest of the training split
(``random_state=seed + 100``).  Stage 2 is shared between settings through the
``memory`` cache.  Each run appends one JSON line to benchmarks/results/schedule.jsonl.

    python benchmarks/schedule.py --datasets trec6 sst2 --n 500 1000 --seeds 0 \\
        --settings default g1116 flat6_lr5e-3
"""

import argparse
import contextlib
import functools
import tempfile
import time
from unittest import mock
from pathlib import Path

import numpy as np
from common import FILES, ROOT, SHARED, append_result, done_keys, git_commit, load_texts
from sklearn.model_selection import train_test_split

from ulmfit_sklearn import ULMFiTClassifier, _base
from ulmfit_sklearn.baselines import FineTuneClassifier, embedding_logreg
from ulmfit_sklearn.encoders import load_encoder
from ulmfit_sklearn.families import bert as bert_family
from ulmfit_sklearn.transformer import BertClassifier

SETTINGS = {
    "default": {},
    "fp32": {"autocast": False},  # the default was fp32 before autocast="auto"
    # the paper's schedule as given: no floor on the last stage's steps (the default
    # before MIN_LAST_STAGE_STEPS)
    "paper": {"unfreeze_epochs": [1, 1, 1, 2]},
    "g1116": {"unfreeze_epochs": [1, 1, 1, 6]},
    "g2224": {"unfreeze_epochs": [2, 2, 2, 4]},
    "flat6_lr5e-3": {"unfreeze_epochs": [6], "lr": 5e-3},
    "flat6_lr1e-2": {"unfreeze_epochs": [6], "lr": 1e-2},
    "flat6_lr2e-2": {"unfreeze_epochs": [6]},
    "g1116_lr5e-2": {"unfreeze_epochs": [1, 1, 1, 6], "lr": 5e-2},
    "nodiscr_clf": {"lr_decay": 1.0},  # the default since lr_decay=1.0 became it
    "discr_clf": {"lr_decay": 2.6},  # the paper's stage-3 factor
    "nodiscr_lm": {"lm_lr_decay": 1.0},
    "nodiscr_both": {"lr_decay": 1.0, "lm_lr_decay": 1.0},
    "lm_sampled": {"lm_sampled_softmax": True},  # stage 2's in-batch sampled softmax
    # small training sets: more dropout, a lower peak lr
    "drop1": {"drop_mult": 1.0},
    "drop0.25": {"drop_mult": 0.25},
    "lr1e-2": {"lr": 1e-2},
    # a BERT encoder (no stage 2 until it has a masked-LM head): the peak lr of stage 3
    "bert_lr3e-4": {"lm_epochs": 0, "lr": 3e-4},
    "bert_lr1e-3": {"lm_epochs": 0, "lr": 1e-3},
    "bert_lr3e-3": {"lm_epochs": 0, "lr": 3e-3},
    "bert_fp32": {"lm_epochs": 0, "lr": 1e-3, "autocast": False},
    # pooling of a BERT's windows (benchmark only: not an estimator parameter)
    "bert_cls": {"lm_epochs": 0, "lr": 1e-3, "pooling": "cls"},
    "bert_concat": {"lm_epochs": 0, "lr": 1e-3, "pooling": "concat"},
    # stage 2 of a BERT with a masked-LM head (``ulmfit-sklearn mlm-head``)
    "bert_stage2": {"lm_epochs": 1, "lr": 1e-3},
    "bert_stage2_lm3e-4": {"lm_epochs": 1, "lm_lr": 3e-4, "lr": 1e-3},
}

#: The paper's ablations (its tables 6 and 7) for a BERT encoder (issue 31), each one
#: change from the estimator's defaults (stage 2 on the masked LM, gradual unfreezing
#: [1, 1, 1, 2] with each stage's peak halving and the last at lr / 20, lr 1e-3,
#: lr_decay 1.0, STLR, drop_mult 0.5, mean pooling, no last-stage floor).  ``floor``
#: and ``pooling`` are not estimator parameters: the run patches them in.
BERT_ABLATIONS = {
    "b_default": {},
    # full fine-tuning (one stage, every layer from the first step) at BERT's usual rates
    "b_full_lr5e-5": {"unfreeze_epochs": [5], "lr": 5e-5},
    "b_full_lr1e-4": {"unfreeze_epochs": [5], "lr": 1e-4},
    "b_full_lr3e-4": {"unfreeze_epochs": [5], "lr": 3e-4},
    # the rate of the gradual schedule
    "b_lr1e-4": {"lr": 1e-4},
    "b_lr3e-4": {"lr": 3e-4},
    "b_lr3e-3": {"lr": 3e-3},
    "b_lr2e-3": {"lr": 2e-3},  # the last stage at 1e-4 (b_full_lr1e-4's rate)
    # discriminative rates: the paper's factor, and about BERT practice's 0.9 per block
    # (two blocks a group)
    "b_decay2.6": {"lr_decay": 2.6},
    "b_decay1.2": {"lr_decay": 1.2},
    # the schedule's shape: linear warm-up then decay to ~0 (a huge STLR ratio), constant
    "b_linear": {"stlr_ratio": 1e4},
    "b_nostlr": {"stlr": False},
    # optimizer steps of the last stage at small n (a floor, as the AWD-LSTM's), or epochs
    "b_floor64": {"floor": 64},
    "b_floor256": {"floor": 256},
    # 256 steps of at most 16 documents (half the tokens of b_floor256 at n = 1,000)
    "b_bs16_floor256": {"batch_size": 16, "floor": 256},
    # a floor in documents read (2,048: 256 steps of 8 at n = 100, none at n = 1,000)
    "b_floordocs2k": {"floor_docs": 2048},
    "b_noattn_floordocs2k": {"attention_dropout": False, "floor_docs": 2048},
    "b_floordocs0": {"floor_docs": 0},  # the defaults since 24f39c3 without their floor
    "b_g1116": {"unfreeze_epochs": [1, 1, 1, 6]},
    # four epochs of the last stage at every n (the plain fine-tune's four epochs of
    # every layer; no floor, as with any given schedule)
    "b_g1114": {"unfreeze_epochs": [1, 1, 1, 4]},
    "b_bs8": {"batch_size": 8},
    "b_bs16": {"batch_size": 16},
    "b_bs32": {"batch_size": 32},
    "b_nolm": {"lm_epochs": 0},
    "b_drop1": {"drop_mult": 1.0},
    "b_drop0": {"drop_mult": 0.0},
    "b_maxlen128": {"max_len": 128},
    "b_maxlen512": {"max_len": 512},
    # issue 32: stage 3 trains on head + tail of this many word pieces (long texts)
    "b_train256": {"train_max_len": 256},
    "b_train512": {"train_max_len": 512},
    # issue 32: no dropout on the attention probabilities (torch's fused attention)
    "b_noattn": {"attention_dropout": False},
    "b_noattn_floor256": {"attention_dropout": False, "floor": 256},
    "b_noattn_train256": {"attention_dropout": False, "train_max_len": 256},
    "b_noattn_train512": {"attention_dropout": False, "train_max_len": 512},
    "b_cls": {"pooling": "cls"},
    "b_concat": {"pooling": "concat"},
    # SetFit's idea (issue 31, item 3): the estimator's contrastive stage on this many
    # pairs of the labeled texts (SetFit's loss, rate 2e-5, batch 16) before stage 3
    # (the first rows, package c89515b, ran the same function patched in before stage 3)
    "b_pairs4k": {"contrastive_pairs": 4000},
    "b_pairs8k": {"contrastive_pairs": 8000},
    "b_pairs8k_lr5e-4": {"contrastive_pairs": 8000, "lr": 5e-4},
    # the two best of n = 100's first seeds together
    "b_pairs4k_floor256": {"contrastive_pairs": 4000, "floor": 256},
}
SETTINGS.update(BERT_ABLATIONS)

#: The settings that are not ULMFiTClassifier, each a baseline of (pretrained, seed)
#: (their rows record no params): the encoder frozen, its pooled features into
#: LogisticRegressionCV; the plain fine-tune of learning_curve.py's finetune_plain.
BASELINES = {
    "frozen_logreg": lambda pretrained, seed: embedding_logreg(pretrained),
    "b_plain": lambda pretrained, seed: FineTuneClassifier(pretrained, random_state=seed),
}
SETTINGS.update(dict.fromkeys(BASELINES))


#: Settings that are not estimator parameters, and the BERT family attribute each
#: patches for the run.
FAMILY_SETTINGS = {"floor": "min_last_stage_steps", "floor_docs": "min_last_stage_docs",
                   "attention_dropout": "attention_dropout"}


@contextlib.contextmanager
def bert_settings(params):
    """Pop the settings of ``params`` that are not estimator parameters and patch them
    in for the block: BERT family attributes (:data:`FAMILY_SETTINGS`) and stage 3's
    pooling (``"pooling"``: another than its default, the mean)."""
    with contextlib.ExitStack() as stack:
        for key, attribute in FAMILY_SETTINGS.items():
            if key in params:
                stack.enter_context(mock.patch.object(bert_family.BERT, attribute, params.pop(key)))
        if "pooling" in params:
            stack.enter_context(mock.patch.object(
                bert_family, "BertClassifier",
                functools.partial(BertClassifier, pooling=params.pop("pooling"))))
        yield


def split(name, n, n_val, seed):
    """(X_train, y_train, X_val, y_val), both from the training split of ``name``."""
    X, y = load_texts(SHARED / name / FILES[name][0])
    X, y = list(X), np.asarray(y)
    Xtr, Xrest, ytr, yrest = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    Xv, _, yv, _ = train_test_split(Xrest, yrest, train_size=n_val, stratify=yrest,
                                    random_state=seed + 100)
    return Xtr, ytr, Xv, yv


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["trec6", "sst2", "agnews"])
    p.add_argument("--n", nargs="+", type=int, default=[500, 1000])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--n-val", type=int, default=2000)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--pretrained", default="default")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "schedule.jsonl"))
    a = p.parse_args()
    enc = load_encoder(a.pretrained)
    enc_sha, commit, enc_name = enc.sha256, git_commit(), Path(enc.path).name
    done = done_keys(a.out)
    with tempfile.TemporaryDirectory() as cache:
        for ds in a.datasets:
            for n in a.n:
                for seed in a.seeds:
                    Xtr, ytr, Xv, yv = split(ds, n, a.n_val, seed)
                    for name in a.settings:
                        if (ds, n, seed, name, 0, commit, enc_sha) in done:
                            continue
                        t0 = time.perf_counter()
                        if name in BASELINES:
                            clf = BASELINES[name](a.pretrained, seed).fit(Xtr, ytr)
                        else:
                            params = dict(SETTINGS[name])
                            with bert_settings(params):
                                clf = ULMFiTClassifier(a.pretrained, memory=cache,
                                                       random_state=seed, **params).fit(Xtr, ytr)
                        fit_s = time.perf_counter() - t0
                        err = float(np.mean(clf.predict(Xv) != yv))
                        print(append_result(a.out, {
                            "dataset": ds, "n": n, "seed": seed, "method": name,
                            "params": SETTINGS[name], "split": "validation", "error": err,
                            "n_val": len(Xv), "n_unlabeled": 0, "fit_seconds": round(fit_s, 1),
                            "git_commit": commit, "encoder": enc_name,
                            "encoder_sha256": enc_sha,
                            "encoder_tokens_seen": enc.metadata.get("tokens_seen"),
                            "encoder_ppl_word": enc.metadata.get("valid", {}).get("ppl_word")}),
                              flush=True)


if __name__ == "__main__":
    main()
