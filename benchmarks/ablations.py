"""The paper's ablations (its Table 6 and 7 analogues) on this package.

Full ULMFiT and one change at a time, each with the estimator's defaults otherwise:

    no_lm_finetune   lm_epochs=0 (stage 2 skipped)
    no_gradual       all layers trained from the start, same number of epochs, at the
                     first stage's peak lr (``lr``)
    no_gradual_lr_last  the same at the last stage's peak lr (``lr / 20``: the rate the
                     default schedule uses once every layer trains)
    no_discr         lr_decay=1 and lm_lr_decay=1 (no discriminative learning rates)
    discr_clf        lr_decay=2.6: the paper's discriminative lrs in stage 3 too (the
                     default is 1.0 there, chosen on validation splits)
    no_stlr          a constant learning rate per stage instead of STLR
    no_pretrain      a randomly initialised encoder (no stage 1)

Each (dataset, n, seed, method) appends one JSON line to
benchmarks/results/ablations.jsonl (method "ulmfit" or "ulmfit_<ablation>"); runs
already there for the same commit and encoder are skipped.

    python benchmarks/ablations.py --datasets trec6 imdb --n 1000 --seeds 0
"""

import argparse

from common import add_grid_args, append_result, grid, run_one

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, load_encoder
from ulmfit_sklearn.training.stages import stage_lr_factors

ABLATIONS = {
    "ulmfit": {},
    "ulmfit_no_lm_finetune": {"lm_epochs": 0},
    "ulmfit_no_gradual": "all_at_once",
    "ulmfit_no_gradual_lr_last": "all_at_once_lr_last",
    "ulmfit_no_discr": {"lr_decay": 1.0, "lm_lr_decay": 1.0},
    # the paper's stage-3 factor (the default became 1.0, measured on validation splits)
    "ulmfit_discr_clf": {"lr_decay": 2.6},
    "ulmfit_no_stlr": {"stlr": False},
    "ulmfit_no_pretrain": {"pretrained": None},
}


def params_for(method, pretrained):
    """The parameters an ablation changes."""
    change = ABLATIONS[method]
    if isinstance(change, str):  # as many epochs as the default schedule, all layers
        default = ULMFiTClassifier(pretrained)
        epochs = default._stage_epochs(load_encoder(pretrained))
        lr = default.lr * (stage_lr_factors(len(epochs))[-1] if change.endswith("lr_last") else 1)
        change = {"unfreeze_epochs": (sum(epochs),), "lr": lr}
    return change


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_grid_args(p, ["imdb", "trec6"], [1000], [0], "ablations.jsonl")
    p.set_defaults(pretrained=AWD_LSTM_ENCODER)  # the stages ablated are the AWD-LSTM path's
    p.add_argument("--methods", nargs="+", default=list(ABLATIONS), choices=list(ABLATIONS))
    a = p.parse_args()
    for ds, n, seed, (X, y, Xt, yt), done, commit, enc_sha in grid(a):
        for method in a.methods:
            if (ds, n, seed, method, 0, commit, enc_sha) in done:
                continue
            change = params_for(method, a.pretrained)
            est = ULMFiTClassifier(a.pretrained, random_state=seed).set_params(**change)
            err, fit_s, pred_s = run_one(est, X, y, Xt, yt)
            row = {"dataset": ds, "n": n, "seed": seed, "method": method, "error": err,
                   "n_test": len(Xt), "n_unlabeled": 0, "fit_seconds": round(fit_s, 1),
                   "predict_seconds": round(pred_s, 1), "git_commit": commit,
                   "encoder_sha256": enc_sha, "change": {k: repr(v) for k, v in change.items()}}
            print(append_result(a.out, row), flush=True)


if __name__ == "__main__":
    main()
