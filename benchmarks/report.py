"""Generate docs/benchmarks.md (tables and plots) from benchmarks/results/*.jsonl.

Numbers on the page come only from the committed result files; commentary lives in
benchmarks/commentary.md and is copied in verbatim.

    python benchmarks/report.py
"""

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs"


def read(name):
    path = RESULTS / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fit_budget_table(rows):
    out = ["| date | dataset | n | method | test error | n_test | fit (s) | predict (docs/s) | "
           "predict GFLOP/s | peak matmul GFLOP/s (fp32 / bf16) | machine | commit | command |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        peak = r.get("peak_matmul_gflops") or {}
        m = r.get("machine", {})
        out.append(
            f"| {r['date'][:10]} | {r['dataset']} | {r['n']} | {r['method']} | {r['error']:.3f} | "
            f"{r['n_test']} | {r['fit_seconds']} | {r.get('predict_docs_per_s', '')} | "
            f"{r.get('predict_gflops_per_s', '')} | "
            f"{peak.get('float32', '')} / {peak.get('bfloat16', '')} | "
            f"{m.get('cpu', '')}, {m.get('cores', '')} cores | {r.get('git_commit')} | "
            f"`{r.get('command', '')}` |")
    return "\n".join(out)


def current(rows):
    """Only the rows of each method's newest package commit and encoder (no stale mix)."""
    latest = {}
    for r in rows:
        latest[r["method"]] = (r.get("git_commit"), r.get("encoder_sha256"))
    return [r for r in rows if (r.get("git_commit"), r.get("encoder_sha256")) == latest[r["method"]]]


def learning_curves(rows):
    groups = defaultdict(list)
    for r in current(rows):
        groups[(r["dataset"], r["n_unlabeled"], r["method"], r["n"])].append(r["error"])
    if not groups:
        return "No learning-curve results yet (run `benchmarks/learning_curve.py`)."
    out = ["| dataset | unlabeled | method | n | error (mean ± std over seeds) | seeds |",
           "| --- | --- | --- | --- | --- | --- |"]
    for (ds, unl, method, n), errs in sorted(groups.items()):
        out.append(f"| {ds} | {unl} | {method} | {n} | {np.mean(errs):.3f} ± {np.std(errs):.3f} | "
                   f"{len(errs)} |")
    plot_curves(groups)
    return "\n".join(out)


ABLATION_ORDER = ["ulmfit", "ulmfit_no_lm_finetune", "ulmfit_no_gradual", "ulmfit_no_discr",
                  "ulmfit_no_stlr", "ulmfit_no_pretrain"]


def ablations(rows):
    """The paper-style table: one row per variant, one column per data set."""
    latest = {}
    for r in rows:
        latest[(r["dataset"], r["n"])] = (r.get("git_commit"), r.get("encoder_sha256"))
    groups = defaultdict(list)
    for r in rows:
        if (r.get("git_commit"), r.get("encoder_sha256")) == latest[(r["dataset"], r["n"])]:
            groups[(r["method"], r["dataset"], r["n"])].append(r)
    if not groups:
        return "No ablation results yet (run `benchmarks/ablations.py`)."
    cols = sorted({(d, n) for _, d, n in groups})
    out = ["| variant | " + " | ".join(f"{d}, n = {n}: error (seeds)" for d, n in cols) + " |",
           "| --- |" + " --- |" * len(cols)]
    for m in [m for m in ABLATION_ORDER if any(k[0] == m for k in groups)]:
        cells = []
        for d, n in cols:
            rs = groups.get((m, d, n), [])
            errs = [r["error"] for r in rs]
            cells.append(f"{np.mean(errs):.3f} ({len(errs)})" if errs else "")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    some = next(iter(groups.values()))[0]
    out += ["", f"Commit {some.get('git_commit')}, command `{some.get('command')}`, "
                f"{some.get('machine', {}).get('cpu', '')}, {some['date'][:10]}."]
    return "\n".join(out)


def fastai_speed(rows):
    """Per-library measurements of the newest run and the ratios."""
    if not rows:
        return "No speed comparison yet (run `benchmarks/fastai_speed.py` in a fastai environment)."
    last = rows[-3:]  # one run writes fastai, ours, ratios
    out = ["| library | vocabulary | LM fine-tuning tokens/s | LM GFLOP/s | classifier docs/s | "
           "batch prediction docs/s | single-document latency (ms) | peak memory (MB) | "
           "peak matmul GFLOP/s (fp32 / bf16) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in last[:2]:
        peak = r["peak_matmul_gflops"]
        out.append(f"| {r['library']} | {r['vocab_size']} | {r['lm_tokens_per_s']:.0f} | "
                   f"{r['lm_gflops_per_s']:.0f} | {r['clf_docs_per_s']:.1f} | "
                   f"{r['pred_docs_per_s']:.1f} | {1000 * r['latency_seconds']:.0f} | "
                   f"{r['peak_rss_mb']:.0f} | {peak['float32']:.0f} / {peak['bfloat16']:.0f} |")
    q = last[2]
    out += ["", f"Ratios (ulmfit-sklearn / fastai, higher is better for ulmfit-sklearn except "
                f"memory): LM training {q['lm_training']:.2f}, classifier training "
                f"{q['clf_training']:.2f}, batch prediction {q['batch_prediction']:.2f}, "
                f"latency {q['latency']:.2f} (fastai's / ours), peak memory {q['peak_memory']:.2f}. "
                f"{q['date'][:10]}, {q['machine']['cpu']}, {q['machine']['cores']} cores, torch "
                f"{q['machine']['torch']}, commit {q['git_commit']}, `{q['command']}`."]
    return "\n".join(out)


def plot_curves(groups):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (DOCS / "img").mkdir(parents=True, exist_ok=True)
    for ds in sorted({k[0] for k in groups}):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for (d, unl, method, _n) in sorted({k[:3] + (None,) for k in groups if k[0] == ds}):
            ns = sorted(n for (d2, u2, m2, n) in groups if (d2, u2, m2) == (d, unl, method))
            means = [np.mean(groups[(d, unl, method, n)]) for n in ns]
            stds = [np.std(groups[(d, unl, method, n)]) for n in ns]
            label = method + (f" + {unl} unlabeled" if unl else "")
            ax.errorbar(ns, means, yerr=stds, marker="o", capsize=3, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("labeled training examples")
        ax.set_ylabel("test error")
        ax.set_title(ds)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(DOCS / "img" / f"learning-curve-{ds}.png", dpi=110)
        plt.close(fig)


def main():
    commentary = ROOT / "benchmarks" / "commentary.md"
    parts = ["# Benchmarks", "",
             "Generated by `benchmarks/report.py` from `benchmarks/results/*.jsonl`; "
             "each row names the command, machine, commit and date of its run.", ""]
    if commentary.exists():
        parts += [commentary.read_text(), ""]
    parts += ["## Fit budget: IMDb, n = 1,000", "", fit_budget_table(read("fit_budget.jsonl")), "",
              "## Learning curves", "", learning_curves(read("learning_curve.jsonl")), "",
              "## Ablations", "", ablations(read("ablations.jsonl")), "",
              "## Speed against fastai", "", fastai_speed(read("fastai_speed.jsonl")), ""]
    for png in sorted((DOCS / "img").glob("learning-curve-*.png")):
        parts.append(f"![{png.stem}](img/{png.name})")
    (DOCS / "benchmarks.md").write_text("\n".join(parts) + "\n")
    print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
