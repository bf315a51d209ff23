"""Write docs/encoders.md's training record and validation-curve plot from an encoder's
metadata (so the page's numbers come from the shipped files, not from typing).

    python benchmarks/encoder_report.py [--encoder NAME]   (default: the default encoder)
"""

import argparse
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import sys  # noqa: E402

sys.path.insert(0, str(ROOT))
from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, BUNDLED_DIR, load_encoder  # noqa: E402

BEGIN, END = "<!-- encoder-record:begin -->", "<!-- encoder-record:end -->"


def plot_curve(meta, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = [c for c in meta["curve"] if c.get("valid_loss") is not None]
    per_epoch = meta["training"]["batch_size"] * meta["training"]["bptt"] * meta["training"].get("epoch_batches", 200)
    x = [c["epoch"] * per_epoch / 1e6 for c in curve]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(x, [math.exp(c["valid_loss"]) for c in curve], marker="o", label="validation (first 100k tokens)")
    tr = [c for c in meta["curve"] if c.get("train_loss") is not None]
    ax.plot([c["epoch"] * per_epoch / 1e6 for c in tr], [math.exp(c["train_loss"]) for c in tr],
            marker=".", alpha=0.6,
            label="training (sampled softmax, dropout, AR/TAR)" if meta["training"].get("sampled_softmax")
            else "training (with dropout, AR/TAR)")
    ax.set_xlabel("tokens seen (millions)")
    ax.set_ylabel("perplexity per token")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def record(name):
    enc = load_encoder(name)
    m, c = enc.metadata, enc.config
    size_mb = sum(f.stat().st_size for f in (BUNDLED_DIR / name).iterdir()) / 1e6
    lines = [
        f"### `{name}`", "",
        "| | |", "| --- | --- |",
        f"| architecture | AWD-LSTM, embedding {c['emb_size']}, hidden {c['hidden_size']}, "
        f"{c['n_layers']} layers, tied decoder |",
        f"| tokenizer | {c['tokenizer']['type']}, {c['vocab_size']} entries |",
        (f"| word vectors | {m['word_vectors']}: the embedding started from them; "
         f"{len(enc.vectors[0]):,} of them ship in the folder to place target words |"
         if enc.vectors is not None else None),
        f"| corpus | {m.get('corpus')}: {', '.join(m.get('train_files', []))} "
        f"({m.get('train_words', 0) / 1e6:.1f}M words, {m.get('train_tokens', 0) / 1e6:.1f}M tokens) |",
        f"| tokens seen | {m['tokens_seen'] / 1e6:.2f}M ({m['epochs_run']} epochs of "
        f"{m['training']['batch_size']} x {m['training']['bptt']} x "
        f"{m['training'].get('epoch_batches', 200)} windows) |",
        f"| wall time | {m['wall_seconds_total'] / 3600:.2f} h |" if "wall_seconds_total" in m else
        f"| wall time (last run) | {m['wall_seconds_this_run'] / 3600:.2f} h |",
        f"| hardware | {m['hardware']} |",
        f"| held-out perplexity (`{m.get('valid_file')}`, all {m['valid']['tokens']:,} tokens) | "
        f"{m['valid']['ppl_token']:.1f} per token, {m['valid']['ppl_word']:.1f} per word |",
        *[f"| held-out perplexity (`{v['file']}`, first {v['words']:,} words) | "
          f"{v['ppl_token']:.1f} per token, {v['ppl_word']:.1f} per word |"
          for v in m.get("valid_other", [])],
        f"| language | {m['language']} |" if m.get("language") else None,
        f"| terms | {m['terms']} |" if m.get("terms") else None,
        f"| training | {json.dumps(m['training'])} |",
        f"| files | {size_mb:.1f} MB (weights and vectors fp16) |",
        f"| command | `{m.get('command')}` |",
        f"| runs | {m['runs']} |" if m.get("runs") else "", "",
        f"![validation curve](img/{name}-curve.png)", "",
    ]
    plot_curve(m, ROOT / "docs" / "img" / f"{name}-curve.png")
    return "\n".join(line for line in lines if line is not None)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--encoder", default=AWD_LSTM_ENCODER)
    a = p.parse_args()
    (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
    page = ROOT / "docs" / "encoders.md"
    text = page.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    page.write_text(text[:start] + "\n" + record(a.encoder) + "\n" + text[end:])
    print(f"updated {page}")


if __name__ == "__main__":
    main()
