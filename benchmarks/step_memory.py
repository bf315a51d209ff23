"""Memory of one training step against the number of training documents: why a fit's
peak memory grows with the number of IMDb reviews (see scaling.py).

For each n and each stage, in a fresh process (peak resident memory is a per-process
maximum): the bundled encoder loaded as ``fit`` prepares it, the reviews tokenized, and
two training steps (forward, backward, Adam; the first also allocates Adam's state) on
that stage's largest batch:

* stage 2 (LM fine-tuning): ``lm_batch_size`` x ``lm_bptt`` tokens (32 x 70 from 250
  reviews up), softmax restricted to the token ids the reviews contain, as ``fit`` does;
  with ``--sampled``, to the ids among the batch's targets, as ``fit`` does with
  ``lm_sampled_softmax=True`` (rows labeled ``sampled_softmax: true``);
* stage 3 (classifier, all layers unfrozen): the ``batch_size`` longest reviews (the
  automatic batch size for n), read by BPT3C with ``bptt`` and ``max_len``. Training
  batches are sorted by length within chunks of 50 batches, so for n up to 50 batches
  the longest batch holds the longest reviews.

Each (n, stage) appends one JSON line to benchmarks/results/step_memory.jsonl.

    python benchmarks/step_memory.py --n 250 500 1000 2000
"""

import argparse
import json
import resource
import subprocess
import sys

import numpy as np
import torch
from common import ROOT, append_result, load_dataset

from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER  # noqa: E402
from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.encoders import extend_vocabulary, load_encoder, new_words
from ulmfit_sklearn.modules import (CLAS_DROPOUT, LM_DROPOUT, SequenceClassifier,
                                    scaled_dropout)
from ulmfit_sklearn.text import encode_texts
from ulmfit_sklearn.training.batching import TokenStream, pad_batch


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lm_batch(encoder, docs, p, lm_batch_size, sampled=False):
    """Stage 2's language model and one batch ((x, y), description)."""
    stream = TokenStream(docs).stream()
    bs, bptt = lm_batch_size, p["lm_bptt"]
    rows = torch.as_tensor(stream[:bs * (bptt + 1)].reshape(bs, bptt + 1))
    ids = np.unique(rows[:, 1:].numpy() if sampled else stream)
    lm = encoder.build_module(**scaled_dropout(LM_DROPOUT, p["lm_drop_mult"]))
    lm.restrict_output(ids)
    x, y = rows[:, :-1], lm.output_positions(rows[:, 1:])

    def loss():
        return torch.nn.functional.cross_entropy(lm(x)[0].flatten(0, 1), y.flatten())

    return lm, loss, {"vocab": int(lm.decoder.out_features), "batch_size": bs, "batch_tokens": bs * bptt, "softmax_ids": int(len(ids)),
                      "logits_mb": round(bs * bptt * len(ids) * 4 / 2**20, 1)}


def classifier_batch(encoder, docs, p, batch_size):
    """Stage 3's classifier (the vocabulary of stage 2: training-text words
    added, other vector words only aliased) and its largest batch."""
    awd = encoder.build_module().encoder
    clf = SequenceClassifier(awd, 2, bptt=p["bptt"], max_len=p["max_len"])
    clf.set_dropout(**scaled_dropout(CLAS_DROPOUT, p["drop_mult"]))
    longest = sorted(docs, key=len, reverse=True)[:batch_size]
    tokens, lengths = pad_batch(longest, encoder.tokenizer.pad_id)
    y = torch.arange(len(longest)) % 2

    def loss():
        return torch.nn.functional.cross_entropy(clf(tokens, lengths), y)

    return clf, loss, {"vocab": int(awd.encoder.num_embeddings), "batch_size": batch_size,
                       "batch_tokens": int(lengths.clamp(max=p["max_len"]).sum())}


def one(n, stage, seed, sampled=False):
    """Measure one stage in this process; print one JSON object."""
    est = ULMFiTClassifier(AWD_LSTM_ENCODER)
    p = est.get_params()
    X, _, _, _ = load_dataset("imdb", n, seed)
    encoder = load_encoder(p["pretrained"])
    encoder = extend_vocabulary(encoder, new_words(encoder, X))
    docs = encode_texts(encoder.tokenizer, X)
    torch.manual_seed(seed)
    if stage == 2:
        module, loss, facts = lm_batch(encoder, docs, p, 32, sampled)
        facts["sampled_softmax"] = sampled
    else:
        module, loss, facts = classifier_batch(encoder, docs, p, est._batch_size(n))
    module.train()
    opt = torch.optim.Adam(module.parameters(), lr=1e-4)
    before = rss_mb()
    for _ in range(2):
        opt.zero_grad()
        loss().backward()
        opt.step()
    print(json.dumps(dict(
        facts, n=n, stage=stage, seed=seed, tokens=int(sum(map(len, docs))),
        rss_before_steps_mb=round(before, 1), peak_rss_mb=round(rss_mb(), 1),
        encoder_sha256=encoder.sha256)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", nargs="+", type=int, default=[250, 500, 1000, 2000])
    p.add_argument("--stages", nargs="+", type=int, choices=[2, 3], default=[2, 3])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "step_memory.jsonl"))
    p.add_argument("--sampled", action="store_true",
                   help="stage 2 with the in-batch sampled softmax (lm_sampled_softmax=True)")
    p.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        return one(*a.one, a.seed, a.sampled)
    for n in a.n:
        for stage in a.stages:
            out = subprocess.run([sys.executable, __file__, "--one", str(n), str(stage),
                                  "--seed", str(a.seed)] + (["--sampled"] if a.sampled else []),
                                 capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            row["step_memory_mb"] = round(row["peak_rss_mb"] - row["rss_before_steps_mb"], 1)
            print(append_result(a.out, dict(row, dataset="imdb")), flush=True)


if __name__ == "__main__":
    main()
