"""Held-out perplexity of encoders on the corpus' validation files.

For each encoder and file: the file (the first ``--max-words`` whitespace words of its
paragraphs) is tokenized with the encoder's own tokenizer and read as one stream
with the full softmax; perplexity per token and per whitespace word (the per-word
figure compares encoders with different tokenizers, up to how often each maps a
word to ``xxunk``, which is reported too).  Appends one JSON line per (encoder,
file) to benchmarks/results/perplexity.jsonl.

    python benchmarks/perplexity.py --encoders default /work/runs/modern/encoder \\
        --files gutenberg-valid.txt.xz modern-valid.txt.xz
"""

import argparse
import os
from pathlib import Path

import numpy as np
from common import ROOT, append_result

from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER  # noqa: E402
from ulmfit_sklearn.encoders import load_encoder
from ulmfit_sklearn.pretrain import evaluate_perplexity, read_paragraphs

CORPUS = Path(os.environ.get("ULMFIT_SHARED", ROOT.parent / "shared")) / "corpus"


def tokenize(tokenizer, path, max_words):
    """(flat token ids, whitespace words) of the first ``max_words`` words' paragraphs."""
    chunks, words = [], 0
    for text in read_paragraphs([path]):
        chunks.append(tokenizer.encode(text))
        words += len(text.split())
        if words >= max_words:
            break
    return np.concatenate(chunks), words


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoders", nargs="+", default=[AWD_LSTM_ENCODER])
    p.add_argument("--files", nargs="+", default=["gutenberg-valid.txt.xz", "modern-valid.txt.xz"])
    p.add_argument("--max-words", type=int, default=300_000)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "perplexity.jsonl"))
    a = p.parse_args()
    for name in a.encoders:
        enc = load_encoder(name)
        lm = enc.build_module()
        for f in a.files:
            ids, words = tokenize(enc.tokenizer, CORPUS / f, a.max_words)
            unk = getattr(enc.tokenizer, "stoi", {}).get("xxunk")
            res = evaluate_perplexity(lm, ids, n_words=words)
            print(append_result(a.out, {
                "encoder": name,
                "encoder_sha256": enc.sha256, "file": f, "words": words,
                "tokens": int(len(ids)), "evaluated_tokens": res["tokens"],
                "unk_rate": None if unk is None else float(np.mean(ids == unk)),
                "ppl_token": res["ppl_token"], "ppl_word": res["ppl_word"]}), flush=True)


if __name__ == "__main__":
    main()
