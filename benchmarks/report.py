"""Generate docs/benchmarks.md (tables and plots) from benchmarks/results/*.jsonl.

Numbers on the page come only from the committed result files; the commentary
(benchmarks/commentary.md) cites them as ``{{key}}`` slots that :func:`numbers` fills.

    python benchmarks/report.py
"""

import functools
import json
import subprocess
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
    out = ["| date | dataset | n | method | test error | n_test | fit (s) | stages 2 / 3 (s) | "
           "native bf16 | predict (docs/s) | "
           "predict GFLOP/s | peak matmul GFLOP/s (fp32 / bf16) | machine | commit | command |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | "
           "--- |"]
    for r in rows:
        peak = r.get("peak_matmul_gflops") or {}
        m = r.get("machine", {})
        stages = r.get("stage_seconds") or {}
        stage_cell = f"{stages.get('lm', '')} / {stages.get('classifier', '')}" if stages else ""
        bf16 = {True: "yes", False: "no"}.get(r.get("native_bf16"), "")
        out.append(
            f"| {r['date'][:10]} | {r['dataset']} | {r['n']} | {r['method']} | {r['error']:.3f} | "
            f"{r['n_test']} | {r['fit_seconds']} | {stage_cell} | {bf16} | "
            f"{r.get('predict_docs_per_s', '')} | "
            f"{r.get('predict_gflops_per_s', '')} | "
            f"{peak.get('float32', '')} / {peak.get('bfloat16', '')} | "
            f"{m.get('cpu', '')}, {m.get('cores', '')} cores | {r.get('git_commit')} | "
            f"`{r.get('command', '')}` |")
    return "\n".join(out)


def _series(r):
    return r["dataset"], r["method"], r.get("n_unlabeled", 0)


def current(rows):
    """Only the rows of each series' (data set, method, unlabeled) newest package commit
    and encoder (of its newest row by date; the later row among equal dates): a series
    is never a mix of commits, and a grid rerun after a change replaces a data set's
    numbers as soon as its rows arrive, even where older rows (a fit-budget run) come
    later in the list."""
    latest = {}  # series -> (date of its newest row, its commit and encoder); ties: file order
    for r in rows:
        date = r.get("date", "")
        if date >= latest.get(_series(r), ("",))[0]:
            latest[_series(r)] = (date, (r.get("git_commit"), r.get("encoder_sha256")))
    return [r for r in rows
            if (r.get("git_commit"), r.get("encoder_sha256")) == latest[_series(r)][1]]


def run_key(r):
    return (r["dataset"], r["n"], r["seed"], r["method"], r.get("n_unlabeled", 0),
            r.get("git_commit"), r.get("encoder_sha256"))


def merged(*row_lists):
    """Rows of several files as one list; a run measured twice (same configuration,
    commit and encoder) counts once, the first file's row winning."""
    seen, out = set(), []
    for rows in row_lists:
        for r in rows:
            if run_key(r) not in seen:
                seen.add(run_key(r))
                out.append(r)
    return out


def with_budget_runs(curve_rows, budget_rows):
    """The curves' rows plus the fit-budget runs (same configuration and test sample, so
    a budget run counts as a seed of its curve) of the commits and encoders a curve
    series already has: a budget run alone at a newer commit never replaces a curve."""
    have = {(_series(r), r.get("git_commit"), r.get("encoder_sha256")) for r in curve_rows}
    return merged(curve_rows, [r for r in budget_rows
                               if (_series(r), r.get("git_commit"), r.get("encoder_sha256")) in have])


def learning_curves(rows):
    groups, commits = defaultdict(list), defaultdict(set)
    for r in current(rows):
        groups[(r["dataset"], r["n_unlabeled"], r["method"], r["n"])].append(r["error"])
        commits[(r["dataset"], r["n_unlabeled"], r["method"])].add(r.get("git_commit"))
    if not groups:
        return "No learning-curve results yet (run `benchmarks/learning_curve.py`)."
    out = ["| dataset | unlabeled | method | n | error (mean ± std over seeds) | seeds | commit |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for (ds, unl, method, n), errs in sorted(groups.items()):
        out.append(f"| {ds} | {unl} | {method} | {n} | {np.mean(errs):.3f} ± {np.std(errs):.3f} | "
                   f"{len(errs)} | {', '.join(sorted(commits[(ds, unl, method)]))} |")
    plot_curves(groups)
    return comparison(groups, commits) + "\n\n" + "\n".join(out)


def comparison(groups, commits):
    """ULMFiT against TF-IDF per data set and n: means, difference, and the winner; the
    semi-supervised variant (unlabeled documents in stage 2) in its own column; the
    package commit of the ULMFiT numbers."""
    unl = sorted({k[1] for k in groups if k[1]})
    fmt = lambda e: f"{100 * np.mean(e):.1f} % ± {100 * np.std(e):.1f} ({len(e)})" if e else ""
    out = ["| dataset | n | ULMFiT error (seeds) | TF-IDF error (seeds) | ULMFiT - TF-IDF (points) | "
           + "".join(f"ULMFiT + {u} unlabeled (seeds) | " for u in unl) + "ULMFiT commit |",
           "| --- | --- | --- | --- | --- | " + "--- | " * len(unl) + "--- |"]
    for ds, n in sorted({(k[0], k[3]) for k in groups}):
        u, t = groups.get((ds, 0, "ulmfit", n)), groups.get((ds, 0, "tfidf_logreg", n))
        if not (u and t):
            continue
        diff = 100 * (np.mean(u) - np.mean(t))
        out.append(f"| {ds} | {n} | {fmt(u)} | {fmt(t)} | {diff:+.1f} "
                   f"({'ULMFiT' if diff < 0 else 'TF-IDF'} wins) | "
                   + "".join(f"{fmt(groups.get((ds, x, 'ulmfit', n)))} | " for x in unl)
                   + _commit_cell(commits, ds, unl) + " |")
    return "\n".join(out)


def _commit_cell(commits, ds, unl):
    """The ULMFiT columns' package commits: the labeled runs', and an unlabeled
    column's where it differs."""
    own = ", ".join(sorted(commits[(ds, 0, "ulmfit")]))
    extra = [f"{u} unlabeled: {', '.join(sorted(commits[(ds, u, 'ulmfit')]))}" for u in unl
             if commits.get((ds, u, "ulmfit")) and commits[(ds, u, "ulmfit")] != commits[(ds, 0, "ulmfit")]]
    return "; ".join([own] + extra)


README_SETS = {"agnews": "AG News (news topic)", "sst2": "SST-2 (sentence sentiment)",
               "trec6": "TREC-6 (question type)", "imdb": "IMDb (long reviews)"}


#: The README's columns: (method, heading); the table names the commits of the
#: ULMFiT ones (``ulmfit...``).
README_METHODS = [("ulmfit:minilm-l6", "ULMFiTClassifier() (default: MiniLM)"),
                  ("ulmfit", 'ULMFiTClassifier("awd-lstm")'),
                  ("finetune_plain:minilm-l6", "MiniLM fine-tuned the standard way"),
                  ("setfit", "SetFit (MiniLM)"),
                  ("frozen_logreg:minilm-l6", "frozen MiniLM + LogisticRegressionCV"),
                  ("tfidf_logreg", "TF-IDF + LogisticRegressionCV")]


def readme_table(curve_rows, methods=README_METHODS):
    """The README's summary: mean test error per data set and n of each of ``methods``
    (the lowest in bold), with the package commits of the ULMFiT columns' runs (the
    README shows this between its ``results`` markers).  A row shows the n where every
    ULMFiT column has runs; a baseline not run there shows "–"."""
    groups, commits = defaultdict(list), defaultdict(set)
    ours = {m for m, _ in methods if m.startswith("ulmfit")}
    for r in current(curve_rows):
        if not r.get("n_unlabeled"):
            groups[(r["dataset"], r["method"], r["n"])].append(r["error"])
            if r["method"] in ours:
                commits[r["dataset"]].add(r.get("git_commit"))
    out = ["| | n | " + " | ".join(h for _, h in methods) + " | commit |",
           "| --- | --- | " + "--- | " * len(methods) + "--- |"]
    for ds, title in README_SETS.items():
        ns = sorted({n for d, m, n in groups
                     if d == ds and all((d, x, n) in groups for x in ours)})
        if not ns:
            continue
        cells = {m: [] for m, _ in methods}
        for n in ns:
            errs = {m: 100 * np.mean(groups[(ds, m, n)]) for m, _ in methods
                    if (ds, m, n) in groups}
            best = min(errs.values())
            for m, _ in methods:
                e = errs.get(m)
                cells[m].append("–" if e is None else f"**{e:.1f}**" if e == best else f"{e:.1f}")
        out.append(f"| {title} | {' / '.join(f'{n:,}' for n in ns)} | "
                   + " | ".join(f"{' / '.join(cells[m])} %" for m, _ in methods)
                   + f" | {', '.join(sorted(commits[ds]))} |")
    return "\n".join(out)


def write_readme_table(text, path=None):
    """Put ``text`` between the README's ``<!-- results:start -->`` and
    ``<!-- results:end -->`` markers (nothing happens without them)."""
    import re

    path = path or ROOT / "README.md"
    readme = path.read_text()
    pattern = re.compile(r"(<!-- results:start -->\n).*?(<!-- results:end -->)", re.S)
    if pattern.search(readme):
        path.write_text(pattern.sub(lambda m: m.group(1) + text + "\n" + m.group(2), readme))


ABLATION_ORDER = ["ulmfit", "ulmfit_no_lm_finetune", "ulmfit_no_gradual",
                  "ulmfit_no_gradual_lr_last", "ulmfit_no_discr", "ulmfit_discr_clf",
                  "ulmfit_no_stlr", "ulmfit_no_pretrain"]


def ablation_rows(rows, curve_rows=()):
    """The ablation rows plus the full method's: a setting's full row comes from the
    learning curves when the same run (data set, n, seed, commit, encoder) is there and
    not in the ablation file."""
    have = {run_key(r) for r in rows}
    wanted = {run_key(r)[:3] + run_key(r)[4:] for r in rows}
    return list(rows) + [r for r in curve_rows if r["method"] == "ulmfit" and run_key(r) not in have
                         and run_key(r)[:3] + run_key(r)[4:] in wanted]


def ablations(rows, curve_rows=()):
    """The paper-style table: one row per variant, one column per data set."""
    return variants_table(ablation_rows(rows, curve_rows), ABLATION_ORDER, "test error") or \
        "No ablation results yet (run `benchmarks/ablations.py`)."


def _schedule_run(r):
    """(package commit, encoder) of a schedule row; rows from before the encoder was
    recorded used the bundled default of their commit."""
    return r.get("git_commit"), r.get("encoder")


#: The settings of schedule.py that are not ULMFiTClassifier (their rows have no params).
SCHEDULE_BASELINES = {
    "frozen_logreg": "the encoder frozen, its features into LogisticRegressionCV",
    "b_plain": "not ULMFiT: the encoder fine-tuned the standard way (FineTuneClassifier's "
               "defaults: every layer at 5e-5, a linear head at 1e-3, 4 epochs of 16)",
}


def schedule(rows):
    """Validation error of each stage-3 setting (benchmarks/schedule.py): one table per
    package commit and encoder, newest first (a setting's effect is only compared
    within one)."""
    if not rows:
        return "No schedule search yet (run `benchmarks/schedule.py`)."
    order = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for commit, encoder in reversed(list(dict.fromkeys(_schedule_run(r) for r in rows))):
        these = [r for r in rows if _schedule_run(r) == (commit, encoder)]
        title = f"Package commit {commit}" + (f", encoder `{encoder}`" if encoder else "")
        out += [f"{title}:", "",
                variants_table(these, [m for m in order if any(r["method"] == m for r in these)],
                               "validation error"), ""]
    params = {r["method"]: r["params"] for r in rows}
    legend = "; ".join(f"`{m}`: " + (SCHEDULE_BASELINES[m] if params[m] is None else
                                     ", ".join(f"{k}={v}" for k, v in params[m].items()) or "defaults")
                       for m in order)
    return "\n".join(out) + "\nSettings (changes to the defaults of the run's commit): " + legend + "."


def fill_numbers(text, values):
    """Replace each ``{{key}}`` of the commentary by ``values[key]`` (numbers taken
    from the result files, so prose and tables cannot disagree); an unknown key is an
    error, not a blank."""
    import re

    def one(m):
        if m.group(1) not in values:
            raise KeyError(f"commentary names {m.group(0)}, which no result row provides")
        return values[m.group(1)]
    return re.sub(r"\{\{([^{}]+)\}\}", one, text)


def numbers(curve_rows, abl_rows, schedule_rows, budget_rows, speed_rows, scaling_rows,
            denormal_rows=(), step_rows=(), size_rows=(), alias_rows=(), int8_rows=(),
            small_rows=(), small_val_rows=(), profile_rows=()):
    """The values the commentary may cite, by key:

    * ``curve:DS:N:METHOD[:UNLABELED]`` mean test error (%) over the series' current
      seeds; ``curve-sd:...`` its standard deviation (points); ``curve-fit:...`` mean
      fit seconds; ``curve-pred:...`` mean seconds to predict the test set;
      ``curve-seed:...:SEED`` one seed's error; ``curve@COMMIT:...``,
      ``curve-sd@COMMIT:...``, ``curve-fit@COMMIT:...``, ``curve-seed@COMMIT:...`` the
      same for the runs of a given commit (history that later runs do not change);
    * ``abl:DS:N:METHOD`` and ``sched:DS:N:METHOD:COMMIT[:ENCODER]`` mean (test,
      validation) error (%) at the newest commit of the column (schedule: of that
      commit, and encoder where the row names one); ``sched-fit:...`` the schedule
      runs' mean fit seconds;
    * ``tokens-slope:DS:N`` the least-squares change of validation error (points) per
      doubling of pretraining tokens (see :func:`pretraining_tokens`);
      ``tokens:TOKENSM:DS:N`` the mean validation error over the seeds of the encoder
      that saw TOKENS million tokens (``tokens:113M:imdb:100``), ``tokens-seeds:...``
      how many;
    * ``budget:KEY`` (``budget:KEY.SUBKEY``) a field of the newest fit-budget ULMFiT row
      (the AWD-LSTM's), ``budget@METHOD:KEY`` of the newest row of ``METHOD``
      (``budget@ulmfit:minilm-l6:fit_seconds``), ``budget@COMMIT:KEY`` of the
      AWD-LSTM's newest row at a package commit;
    * ``speed:KEY:I`` ratio KEY of the I-th speed run (0-based) at the newest commit,
      ``speed@COMMIT:KEY:I`` at a given commit; ``speed-fastai:KEY:I`` and
      ``speed-ours:KEY:I`` a field of that run's per-library row (rounded; KEY.SUBKEY
      inside a dict field), ``speed-fastai@COMMIT:KEY:I`` and ``speed-ours@COMMIT:KEY:I``
      at a given commit;
    * ``scaling:KIND:VALUE:KEY`` a field of a scaling point's newest row;
      ``scaling@COMMIT:KIND:VALUE:KEY`` the same at a given commit;
    * ``denorm:MODE:LR_DECAY:KEY`` a field of the denormal benchmark's newest row for
      that flush mode and ``lr_decay``;
    * ``step:N:STAGE:KEY`` a field of the step-memory benchmark's newest row for that
      number of reviews and stage (2, 2s: stage 2 with the sampled softmax, or 3);
    * ``int8-diff:DS:N`` mean change of test error (points) from int8 prediction of the
      same models, ``int8-speedup:DS:N`` fp32 / int8 predict seconds; ``int8-diff-mean``,
      ``int8-diff-max``, ``int8-pairs`` over every pair;
    * ``small:DS:N:KEY`` the many-seed small-n runs (``mean``, ``sd``, ``worst``,
      ``best``, ``tfidf``, ``wins``, ``seeds``) of the newest commit,
      ``small@COMMIT:DS:N:KEY`` of a given one; ``smallset:DS:N:SETTING:KEY`` the
      settings on validation splits at the setting's first package commit (``mean``,
      ``sd``, ``worst``, ``seeds``, ``better``/``worse``: seeds where it beat / lost to
      the defaults of that commit, of ``paired``); ``smallset@COMMIT:DS:N:SETTING:KEY``
      the same at a given commit;
    * ``size:KEY`` a field of the newest model-size row (benchmarks/model_size.py);
    * ``alias:VARIANT:DS:SEED`` validation error (%) of benchmarks/vocab_aliases.py;
    * ``profile:STAGE:KEY`` a field of the newest step profile of ``lm`` or ``clf``
      (benchmarks/profile_steps.py): shares in % (``phase_share.backward``,
      ``kind_share.lstm``, and ``lstm_share``, forward and backward together), speeds
      in GFLOP/s (``lstm_gflops_per_s``, ``peak_matmul_gflops.float32``).
    """
    pct = lambda xs: f"{100 * np.mean(xs):.1f} %"
    groups = defaultdict(list)  # ":KEY" for the current runs, "@COMMIT:KEY" for any commit's
    for r in curve_rows:
        key = f"{r['dataset']}:{r['n']}:{r['method']}" + (f":{r['n_unlabeled']}" if r.get("n_unlabeled") else "")
        groups[f"@{r.get('git_commit')}:{key}"].append(r)
    for r in current(curve_rows):
        key = f"{r['dataset']}:{r['n']}:{r['method']}" + (f":{r['n_unlabeled']}" if r.get("n_unlabeled") else "")
        groups[f":{key}"].append(r)
    v = {}
    for key, rs in groups.items():
        v[f"curve{key}"] = pct([r["error"] for r in rs])
        v[f"curve-sd{key}"] = f"{100 * np.std([r['error'] for r in rs]):.1f}"
        if all("fit_seconds" in r for r in rs):
            v[f"curve-fit{key}"] = f"{np.mean([r['fit_seconds'] for r in rs]):.0f}"
        if all("predict_seconds" in r for r in rs):
            v[f"curve-pred{key}"] = f"{np.mean([r['predict_seconds'] for r in rs]):.1f}"
        v.update({f"curve-seed{key}:{r['seed']}": pct([r["error"]]) for r in rs})
    latest = {(r["dataset"], r["n"]): r.get("git_commit") for r in abl_rows}
    abl = defaultdict(list)
    for r in abl_rows:
        if r.get("git_commit") == latest[(r["dataset"], r["n"])]:
            abl[f"abl:{r['dataset']}:{r['n']}:{r['method']}"].append(r["error"])
    sched, sched_fit = defaultdict(list), defaultdict(list)
    for r in schedule_rows:
        key = f"{r['dataset']}:{r['n']}:{r['method']}:{r.get('git_commit')}"
        key += f":{r['encoder']}" if r.get("encoder") else ""
        sched[f"sched:{key}"].append(r["error"])
        if "fit_seconds" in r:
            sched_fit[f"sched-fit:{key}"].append(r["fit_seconds"])
    v.update({k: pct(e) for k, e in list(abl.items()) + list(sched.items())})
    v.update({k: f"{np.mean(x):.0f}" for k, x in sched_fit.items()})
    for (ds, n), slope in token_slopes(schedule_rows).items():
        v[f"tokens-slope:{ds}:{n}"] = f"{slope:+.1f}"
    for key, (mean, seeds) in token_means(schedule_rows).items():
        v[f"tokens:{key}"], v[f"tokens-seeds:{key}"] = f"{mean:.1f} %", str(seeds)
    latest_budget = {r["method"]: r for r in budget_rows}  # each method's newest run
    latest_budget.update({r.get("git_commit"): r for r in budget_rows if r["method"] == "ulmfit"})
    for method, r in latest_budget.items():  # budget@COMMIT: the AWD-LSTM's newest run at COMMIT
        prefixes = ["budget:", f"budget@{method}:"] if method == "ulmfit" else [f"budget@{method}:"]
        for k, x in r.items():
            for k2, x2 in (x.items() if isinstance(x, dict) else [(None, x)]):
                for prefix in prefixes:
                    v[prefix + k + (f".{k2}" if k2 else "")] = (
                        ", ".join(map(str, x2)) if isinstance(x2, list) else str(x2))
    for commit in [None] + sorted({r.get("git_commit") for r in speed_rows if r.get("git_commit")}):
        at = f"@{commit}" if commit else ""  # speed:KEY:I, the I-th run (0-based) of the newest commit
        for i, (fa, us, q) in enumerate(speed_runs(speed_rows, commit)):
            v.update({f"speed{at}:{k}:{i}": f"{x:.2f}" for k, x in q.items() if isinstance(x, float)})
            for lib, r in (("fastai", fa), ("ours", us)):
                flat = {f"{k}.{k2}": x2 for k, x in r.items() if isinstance(x, dict)
                        for k2, x2 in x.items()}
                v.update({f"speed-{lib}{at}:{k}:{i}": f"{x:.0f}"
                          for k, x in list(r.items()) + list(flat.items()) if isinstance(x, float)})
    for r in scaling_rows:  # in file order, so a point's newest row wins
        fields = {k: (f"{x:.0f}" if isinstance(x, float) else str(x))
                  for k, x in r.items() if not isinstance(x, dict)}
        for prefix in ("scaling", f"scaling@{r.get('git_commit')}"):
            v.update({f"{prefix}:{r['kind']}:{r['value']}:{k}": x for k, x in fields.items()})
    for r in denormal_rows:
        v.update({f"denorm:{r['mode']}:{r['lr_decay']}:{k}": str(x) for k, x in r.items()
                  if not isinstance(x, dict)})
    for r in alias_rows:  # in file order, so the newest row wins
        v[f"alias:{r['variant']}:{r['dataset']}:{r['seed']}"] = f"{100 * r['error']:.1f}"
    for r in [r for r in size_rows if "weights" not in r][-1:]:  # the bundled-sample rows
        v.update({f"size:{k}": str(x) for k, x in r.items() if not isinstance(x, dict)})
    for r in step_rows:  # in file order, so the newest row wins
        stage = f"{r['stage']}s" if r.get("sampled_softmax") else r["stage"]
        v.update({f"step:{r['n']}:{stage}:{k}": (f"{x:.0f}" if isinstance(x, float) else str(x))
                  for k, x in r.items() if not isinstance(x, dict)})
    for method in ulmfit_methods(small_rows):  # small:DS:N:KEY is the AWD-LSTM's,
        tag = "" if method == "ulmfit" else f"[{_encoder(method)}]"  # small[minilm-l6]:...
        for key, stats in small_n_stats(small_rows, method=method).items():
            v.update({f"small{tag}:{key}:{k}": x for k, x in stats.items()})
        for commit in ulmfit_commits(small_rows, method):
            for key, stats in small_n_stats(small_rows, commit, method).items():
                v.update({f"small{tag}@{commit}:{key}:{k}": x for k, x in stats.items()})
    for key, stats in small_n_setting_stats(small_val_rows).items():
        if "@" in key:  # smallset@COMMIT:DS:N:SETTING:KEY
            head, commit = key.split("@")
            v.update({f"smallset@{commit}:{head}:{k}": x for k, x in stats.items()})
        else:
            v.update({f"smallset:{key}:{k}": x for k, x in stats.items()})
    for r in profile_rows:  # in file order, so the newest row of a stage wins
        v.update({f"profile:{r['stage']}:{k}": x for k, x in profile_values(r).items()})
    diffs = []
    for (ds, n), ps in quantize_pairs(int8_rows).items():
        d = [100 * (b["error"] - a["error"]) for a, b in ps]
        diffs += d
        v[f"int8-diff:{ds}:{n}"] = f"{np.mean(d):+.2f}"
        v[f"int8-speedup:{ds}:{n}"] = (
            f"{np.mean([a['predict_seconds'] for a, _ in ps]) / np.mean([b['predict_seconds'] for _, b in ps]):.1f}")
    if diffs:
        v["int8-diff-mean"], v["int8-diff-max"] = f"{np.mean(diffs):+.2f}", f"{max(diffs, key=abs):+.2f}"
        v["int8-pairs"] = str(len(diffs))
    return v


def variants_table(rows, order, what):
    """One row per variant (method), one column per (data set, n): mean error over seeds
    of the newest commit and encoder of each column; '' if there are no rows."""
    latest = {}
    for r in rows:
        latest[(r["dataset"], r["n"])] = (r.get("git_commit"), r.get("encoder_sha256"))
    groups = defaultdict(list)
    for r in rows:
        if (r.get("git_commit"), r.get("encoder_sha256")) == latest[(r["dataset"], r["n"])]:
            groups[(r["method"], r["dataset"], r["n"])].append(r)
    if not groups:
        return ""
    cols = sorted({(d, n) for _, d, n in groups})
    out = ["| variant | " + " | ".join(f"{d}, n = {n}: {what} (seeds)" for d, n in cols) + " |",
           "| --- |" + " --- |" * len(cols)]
    for m in [m for m in order if any(k[0] == m for k in groups)]:
        cells = []
        for d, n in cols:
            errs = [r["error"] for r in groups.get((m, d, n), [])]
            cells.append(f"{np.mean(errs):.3f} ({len(errs)})" if errs else "")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    commits = sorted({(r.get("git_commit"), r.get("machine", {}).get("cpu", "")) for rs in
                      groups.values() for r in rs})
    dates = sorted(r["date"][:10] for rs in groups.values() for r in rs)
    commands = sorted({r.get("command") for rs in groups.values() for r in rs})
    out += ["", "Commit " + ", ".join(c for c, _ in commits) + f"; {commits[0][1]}; "
                f"{dates[0]} to {dates[-1]}; commands: " + "; ".join(f"`{c}`" for c in commands)
            + "."]
    return "\n".join(out)


def speed_runs(rows, commit=None):
    """The speed runs of ``commit`` (default: the newest), as (fastai row, our row,
    ratio row); one run writes those three lines in that order."""
    runs = [tuple(rows[i - 2:i + 1]) for i, r in enumerate(rows)
            if r["library"].startswith("ratio") and i >= 2]
    if commit is None:
        commit = runs[-1][2].get("git_commit") if runs else None
    return [run for run in runs if run[2].get("git_commit") == commit]


def fastai_speed(rows):
    """Per-library measurements and ratios of each run at the newest commit (on a
    shared VM, runs vary; all are shown)."""
    runs = speed_runs(rows)
    if not runs:
        return "No speed comparison yet (run `benchmarks/fastai_speed.py` in a fastai environment)."
    out = ["| run | library | vocabulary (LM softmax) | LM fine-tuning tokens/s | LM GFLOP/s | "
           "classifier docs/s | batch prediction docs/s | single-document latency (ms) | "
           "peak memory (MB) | peak matmul GFLOP/s (fp32 / bf16) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in runs:
        for r in run[:2]:
            peak = r["peak_matmul_gflops"]
            out.append(f"| {run[2]['date'][:16]} | {r['library']} | {r['vocab_size']} "
                       f"({r.get('softmax_size', r['vocab_size'])}) | {r['lm_tokens_per_s']:.0f} | "
                       f"{r['lm_gflops_per_s']:.0f} | {r['clf_docs_per_s']:.1f} | "
                       f"{r['pred_docs_per_s']:.1f} | {1000 * r['latency_seconds']:.0f} | "
                       f"{r['peak_rss_mb']:.0f} | {peak['float32']:.0f} / {peak['bfloat16']:.0f} |")
    out += ["", "Ratios (ulmfit-sklearn / fastai; higher is better for ulmfit-sklearn except "
                "memory; latency is fastai's / ours):", ""]
    for _, _, q in runs:
        out.append(f"* {q['date'][:16]}: LM training {q['lm_training']:.2f}, classifier training "
                   f"{q['clf_training']:.2f}, batch prediction {q['batch_prediction']:.2f}, "
                   f"latency {q['latency']:.2f}, peak memory {q['peak_memory']:.2f}.")
    q = runs[-1][2]
    out += ["", f"{q['machine']['cpu']}, {q['machine']['cores']} cores, torch {q['machine']['torch']}, "
                f"commit {q['git_commit']}, `{q['command']}`."]
    return "\n".join(out)


def profile_values(r):
    """A step profile's fields as the commentary cites them: shares in % (one
    decimal), speeds and seconds rounded."""
    v = {k: f"{x:.0f}" for k, x in r.items() if isinstance(x, float)}
    for field in ("phase_share", "kind_share"):
        v.update({f"{field}.{k}": f"{100 * x:.1f}" for k, x in r[field].items()})
    kinds = r["kind_share"]
    v["lstm_share"] = f"{100 * (kinds.get('lstm', 0) + kinds.get('lstm_backward', 0)):.1f}"
    v.update({f"peak_matmul_gflops.{k}": f"{x:.0f}" for k, x in r["peak_matmul_gflops"].items()})
    return v


def profile_steps(rows):
    """The newest step profile of each stage: where its time went, by phase and by
    kind of op, and the LSTM kernels' speed against the machine's matmul peak."""
    latest = {r["stage"]: r for r in rows}
    if not latest:
        return "No step profile yet (run `benchmarks/profile_steps.py`)."
    names = {"lm": "stage 2 (LM fine-tuning)", "clf": "stage 3 (classifier, all layers)"}
    kinds = sorted({k for r in latest.values() for k in r["kind_share"]},
                   key=lambda k: -max(r["kind_share"].get(k, 0) for r in latest.values()))
    out = ["| stage | reviews | tokens | wall (s) | forward / backward / update / outside steps (%) | "
           + " | ".join(f"{k} (%)" for k in kinds) + " | LSTM GFLOP/s | model GFLOP/s | "
           "peak matmul GFLOP/s (fp32 / bf16) |",
           "| --- " * (8 + len(kinds)) + "|"]
    for stage in ("lm", "clf"):
        if stage not in latest:
            continue
        r, v = latest[stage], profile_values(latest[stage])
        phases = " / ".join(v[f"phase_share.{k}"] for k in ("forward", "backward", "update",
                                                             "outside_steps"))
        out.append(f"| {names[stage]} | {r['n']} | {r['tokens']} | {r['wall_seconds']:.1f} | {phases} | "
                   + " | ".join(v.get(f"kind_share.{k}", "0.0") for k in kinds)
                   + f" | {v['lstm_gflops_per_s']} | {v['model_gflops_per_s']} | "
                   f"{v['peak_matmul_gflops.float32']} / {v['peak_matmul_gflops.bfloat16']} |")
    r = list(latest.values())[-1]
    tops = "; ".join(f"{names[s].split(' (')[0]}: " + ", ".join(
        f"`{t['op']}` {100 * t['share']:.1f}" for t in q["top_ops"][:5]) for s, q in latest.items())
    out += ["", f"Largest ops by self time (% of op time): {tops}.", "",
            f"{r['machine']['cpu']}, {r['threads']} threads, torch {r['machine']['torch']}, "
            f"commit {r['git_commit']}, {r['date'][:10]}, `{r['command']}`."]
    return "\n".join(out)


def scaling(rows):
    """Fit time and peak memory against documents and against document length (newest
    commit's rows), with plots."""
    if not rows:
        return "No scaling results yet (run `benchmarks/scaling.py`)."
    newest = rows[-1].get("git_commit")
    rows = [r for r in rows if r.get("git_commit") == newest]
    out = []
    for kind, what in (("docs", "documents (IMDb reviews)"), ("length", "words per document")):
        rs = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["value"])
        if not rs:
            continue
        out += [f"| {what} | documents | tokens | fit (s) | s per 1,000 tokens | peak memory (MB) |",
                "| --- | --- | --- | --- | --- | --- |"]
        out += [f"| {r['value']} | {r['n_docs']} | {r['tokens']} | {r['fit_seconds']} | "
                f"{1000 * r['fit_seconds'] / r['tokens']:.2f} | {r['peak_rss_mb']:.0f} |" for r in rs]
        out += ["", f"![scaling-{kind}](img/scaling-{kind}.png)", ""]
        plot_scaling(rs, kind, what)
    r = rows[-1]
    out += [f"Commit {newest}, {r.get('machine', {}).get('cpu', '')}, {r['date'][:10]}; each "
            "point is one fit in a fresh process (peak resident memory of that process)."]
    return "\n".join(out)


def step_memory(rows):
    """Memory of one training step per stage against the number of reviews (newest
    commit's rows; stage 2 with the softmax over every id of the texts, and with the
    in-batch sampled softmax where measured)."""
    if not rows:
        return "No step-memory results yet (run `benchmarks/step_memory.py`)."
    newest = rows[-1].get("git_commit")
    latest = {(r["n"], r["stage"], bool(r.get("sampled_softmax"))): r
              for r in rows if r.get("git_commit") == newest}
    out = ["| reviews | stage | softmax | vocabulary | batch | batch tokens | softmax ids | "
           "logits (MB) | memory before the steps (MB) | peak (MB) | step memory (MB) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (n, stage, sampled), r in sorted(latest.items()):
        softmax = "" if stage == 3 else ("in-batch sampled" if sampled else "texts' ids")
        out.append(f"| {n} | {stage} | {softmax} | {r['vocab']} | {r['batch_size']} | "
                   f"{r['batch_tokens']} | {r.get('softmax_ids', '')} | {r.get('logits_mb', '')} | "
                   f"{r['rss_before_steps_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
                   f"{r['step_memory_mb']:.0f} |")
    commands = sorted({f"`{r['command']}`" for r in latest.values()})
    r = rows[-1]
    out += ["", f"Commit {newest}, {r.get('machine', {}).get('cpu', '')}, {r['date'][:10]}, "
                f"{'; '.join(commands)}; each stage of each n in a fresh process, two training "
                "steps on the stage's largest batch."]
    return "\n".join(out)


def small_n_stats(rows, commit=None, method="ulmfit"):
    """"DS:N" -> ``method``'s errors (``ulmfit``: the AWD-LSTM; ``ulmfit:minilm-l6``,
    ...) over the seeds of package ``commit`` (default: the newest of its rows),
    against TF-IDF's on the same samples: formatted mean, sd, worst, best, tfidf,
    wins, seeds, and the per-seed list ``by_seed``."""
    rows = [r for r in rows if r["method"] in (method, "tfidf_logreg")]
    ours = [r for r in rows if r["method"] == method]
    if not ours:
        return {}
    commit = commit or ours[-1].get("git_commit")
    by = defaultdict(dict)
    for r in rows:
        if r.get("git_commit") == commit or r["method"] == "tfidf_logreg":
            by[(r["dataset"], r["n"], r["method"])][r["seed"]] = r["error"]
    out = {}
    for ds, n in sorted({(d, n) for d, n, _ in by}):
        u, t = by.get((ds, n, method), {}), by.get((ds, n, "tfidf_logreg"), {})
        if not u:
            continue
        e = np.array([u[k] for k in sorted(u)])
        paired = [k for k in u if k in t]
        out[f"{ds}:{n}"] = {
            "mean": f"{100 * e.mean():.1f} %", "sd": f"{100 * e.std():.1f}",
            "worst": f"{100 * e.max():.1f} %", "best": f"{100 * e.min():.1f} %",
            "tfidf": f"{100 * np.mean(list(t.values())):.1f} %" if t else "",
            "wins": str(sum(u[k] < t[k] for k in paired)), "seeds": str(len(u)),
            "paired": str(len(paired)),
            "by_seed": " / ".join(f"{100 * u[k]:.1f}" for k in sorted(u))}
    return out


def ulmfit_methods(rows):
    """The ULMFiT methods of ``rows`` (one an encoder: ``ulmfit`` is the AWD-LSTM's)."""
    return list(dict.fromkeys(r["method"] for r in rows if r["method"].startswith("ulmfit")))


def ulmfit_commits(rows, method="ulmfit"):
    """The package commits of ``method``'s rows, oldest first."""
    return list(dict.fromkeys(r.get("git_commit") for r in rows if r["method"] == method))


def _encoder(method):
    """The encoder a ULMFiT method's rows name (``ulmfit`` alone: the AWD-LSTM)."""
    return method.split(":", 1)[1] if ":" in method else "awd-lstm"


def small_n(rows):
    """ULMFiT against TF-IDF on the same 100-example samples of many seeds, per
    encoder and package commit: does every seed train?"""
    if not rows:
        return "No small-n results yet (run `benchmarks/learning_curve.py --n 100 --seeds ...`)."
    out = ["| dataset | n | encoder | package | seeds | ULMFiT: mean ± sd | "
           "ULMFiT: worst / best seed | TF-IDF: mean | seeds where ULMFiT wins | "
           "ULMFiT errors by seed |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for method in ulmfit_methods(rows):
        for commit in ulmfit_commits(rows, method):
            for key, x in small_n_stats(rows, commit, method).items():
                ds, n = key.split(":")
                out.append(f"| {ds} | {n} | {_encoder(method)} | {commit} | {x['seeds']} | "
                           f"{x['mean']} ± {x['sd']} | {x['worst']} / {x['best']} | "
                           f"{x['tfidf']} | {x['wins']} of {x['paired']} | {x['by_seed']} |")
    m = rows[-1].get("machine", {})
    out += ["", f"{m.get('cpu', '')}; the newest command: `{rows[-1].get('command', '')}`."]
    return "\n".join(out)


def small_n_setting_stats(rows):
    """"DS:N:SETTING@COMMIT" -> validation error over seeds (mean, sd, worst, best,
    seeds), with the setting's parameters; ``better``/``worse``/``paired`` count the
    seeds against the defaults of the same package commit.  The key without
    ``@COMMIT`` names the setting's first commit (what a default meant then)."""
    by, params, first = defaultdict(dict), {}, {}
    for r in rows:
        key = (r["dataset"], r["n"], r["method"], r.get("git_commit"))
        by[key][r["seed"]] = r["error"]
        params[key] = r["params"]
        first.setdefault(key[:3], key)
    out = {}
    for key, v in by.items():
        e = np.array(list(v.values()))
        base = by.get(key[:2] + ("default", key[3]), {})
        paired = [k for k in v if k in base]
        stats = {
            "better": str(sum(v[k] < base[k] for k in paired)),  # lower error than the defaults
            "worse": str(sum(v[k] > base[k] for k in paired)),
            "paired": str(len(paired)),
            "mean": f"{100 * e.mean():.1f} %", "sd": f"{100 * e.std():.1f}",
            "worst": f"{100 * e.max():.1f} %", "best": f"{100 * e.min():.1f} %",
            "seeds": str(len(e)),
            "setting": ", ".join(f"{k}={x}" for k, x in params[key].items()) or "defaults",
            "commit": str(key[3])}
        out[f"{key[0]}:{key[1]}:{key[2]}@{key[3]}"] = stats
        if first[key[:3]] == key:
            out[":".join(map(str, key[:3]))] = stats
    return out


def small_n_settings(rows):
    """Validation error of settings over many seeds on a small training set
    (benchmarks/schedule.py rows): mean, spread and worst seed per setting."""
    stats = small_n_setting_stats(rows)
    if not stats:
        return "No small-n validation runs yet."
    out = ["| dataset | n | setting | seeds | validation error: mean ± sd | worst / best seed | package |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for key, x in stats.items():
        if "@" not in key:
            continue  # the same stats again, under the setting's first commit
        ds, n, method = key.split("@")[0].split(":", 2)
        out.append(f"| {ds} | {n} | `{method}` ({x['setting']}) | {x['seeds']} | {x['mean']} ± "
                   f"{x['sd']} | {x['worst']} / {x['best']} | {x['commit']} |")
    return "\n".join(out)


def quantize_pairs(rows):
    """(data set, n) -> [(fp32 row, int8 row)] of the same fitted models."""
    fp32 = {(r["dataset"], r["n"], r["seed"], r["git_commit"]): r for r in rows
            if not r["method"].endswith("_int8")}
    pairs = defaultdict(list)
    for r in rows:
        key = (r["dataset"], r["n"], r["seed"], r["git_commit"])
        if r["method"].endswith("_int8") and key in fp32:
            pairs[(r["dataset"], r["n"])].append((fp32[key], r))
    return pairs


def quantize(rows):
    """int8 against fp32 prediction of the same fitted models (``learning_curve.py
    --int8``): test error of each, their paired difference, predict seconds."""
    pairs = quantize_pairs(rows)
    if not pairs:
        return "No int8 results yet (run `benchmarks/learning_curve.py --int8`)."
    out = ["| dataset | n | seeds | fp32 error | int8 error | int8 - fp32 (points, mean) | "
           "largest change (points) | predict fp32 (s) | predict int8 (s) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    diffs = []
    for (ds, n), ps in sorted(pairs.items()):
        d = [100 * (b["error"] - a["error"]) for a, b in ps]
        diffs += d
        out.append(f"| {ds} | {n} | {len(ps)} | {100 * np.mean([a['error'] for a, _ in ps]):.2f} % | "
                   f"{100 * np.mean([b['error'] for _, b in ps]):.2f} % | {np.mean(d):+.2f} | "
                   f"{max(d, key=abs):+.2f} | {np.mean([a['predict_seconds'] for a, _ in ps]):.1f} | "
                   f"{np.mean([b['predict_seconds'] for _, b in ps]):.1f} |")
    commits = sorted({r["git_commit"] for r in rows})
    m = rows[-1].get("machine", {})
    out += ["", f"All {len(diffs)} pairs: mean change {np.mean(diffs):+.2f} points, largest "
                f"{max(diffs, key=abs):+.2f}. Package {', '.join(commits)}; {m.get('cpu', '')}, "
                f"{m.get('torch_threads', '')} thread per run, the other core busy (times only "
                "compare within a row)."]
    return "\n".join(out)


def denormals(rows):
    """One classifier epoch under each flush mode (newest commit's rows)."""
    if not rows:
        return "No denormal results yet (run `benchmarks/denormals.py`)."
    newest = rows[-1].get("git_commit")
    rows = [r for r in rows if r.get("git_commit") == newest]
    out = ["| denormals flushed on | lr_decay | epoch (s) | fit (s) | test error (1,000 reviews) |",
           "| --- | --- | --- | --- | --- |"]
    names = {"none": "no thread", "calling": "the calling thread", "all": "every thread (default)"}
    out += [f"| {names.get(r['mode'], r['mode'])} | {r['lr_decay']} | {r['epoch_seconds']} | "
            f"{r['fit_seconds']} | {r['error']:.3f} |" for r in rows]
    r = rows[-1]
    out += ["", f"Commit {newest}, {r.get('machine', {}).get('cpu', '')}, {r['date'][:10]}; "
                "commands: " + "; ".join(sorted({f"`{q['command']}`" for q in rows})) + "."]
    return "\n".join(out)


def plot_scaling(rs, kind, what):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (DOCS / "img").mkdir(parents=True, exist_ok=True)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    x = [r["value"] for r in rs]
    a1.plot(x, [r["fit_seconds"] for r in rs], marker="o")
    a1.set_ylabel("fit time (s)")
    a2.plot(x, [r["peak_rss_mb"] for r in rs], marker="o", color="tab:orange")
    a2.set_ylabel("peak memory (MB)")
    a2.set_ylim(bottom=0)
    if kind == "length":  # the points may differ in document count: say so on the plot
        for r in rs:
            for ax, key in ((a1, "fit_seconds"), (a2, "peak_rss_mb")):
                ax.annotate(f"{r['n_docs']} docs", (r["value"], r[key]), fontsize=7,
                            textcoords="offset points", xytext=(4, -10))
    for ax in (a1, a2):
        ax.set_xlabel(what)
        ax.set_xscale("log" if kind == "length" else "linear")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(DOCS / "img" / f"scaling-{kind}.png", dpi=110)
    plt.close(fig)


#: The schedule settings whose rows make the pretraining-tokens series: ``nodiscr_clf``
#: (the defaults of their day) and ``paper``, the same schedule once the default
#: gave small sets' last stage a floor of steps (package b6b7d9d).
TOKEN_METHODS = ("nodiscr_clf", "paper")


def token_points(rows, methods=TOKEN_METHODS):
    """{(tokens seen, modern-valid ppl/word): {"names", "commits", "tasks": {(dataset,
    n): {seed: error}}}} over the schedule rows that record the encoder's pretraining
    tokens.  An encoder is its checksum (the same weights under two folder names are
    one point); a seed run again keeps its newest row."""
    points = {}
    for r in rows:
        if not (r.get("encoder_tokens_seen") and r["method"] in methods):
            continue
        key = r.get("encoder_sha256") or r["encoder"]
        p = points.setdefault(key, {"tokens": r["encoder_tokens_seen"],
                                    "ppl": r.get("encoder_ppl_word"), "names": [],
                                    "commits": set(), "tasks": defaultdict(dict)})
        if r["encoder"] not in p["names"]:
            p["names"].append(r["encoder"])
        p["commits"].add(r["git_commit"])
        p["tasks"][(r["dataset"], r["n"])][r["seed"]] = 100 * r["error"]
    return sorted(points.values(), key=lambda p: p["tokens"])


def pretraining_tokens(rows, methods=TOKEN_METHODS):
    """Validation error of the schedule runs against the tokens their encoder's
    pretraining saw (rows that record ``encoder_tokens_seen``: encoders of one
    pretraining run, snapshots along it), a table and docs/img/pretraining-tokens.png,
    with each task's least-squares change per doubling of tokens (seed 0, which every
    point has; cells add the mean where more seeds ran)."""
    points = token_points(rows, methods)
    if not points:
        return "No runs with the encoder's pretraining tokens recorded yet."
    tasks = sorted({t for p in points for t in p["tasks"]})
    head = "| tokens seen | encoder | modern-valid ppl/word | " + " | ".join(
        f"{ds} n={n}" for ds, n in tasks) + " | commit |"
    out = [head, "| --- " * (4 + len(tasks)) + "|"]
    series = defaultdict(list)
    for p in points:
        cells = []
        for task in tasks:
            errs = p["tasks"].get(task, {})
            cell = f"{errs[0]:.1f} %" if 0 in errs else ""
            if len(errs) > 1:
                cell += f" ({len(errs)} seeds: {np.mean(list(errs.values())):.1f} %)"
            cells.append(cell)
            if 0 in errs:
                series[task].append((p["tokens"], errs[0]))
        out.append(f"| {p['tokens'] / 1e6:.1f}M | {', '.join(p['names'])} | {p['ppl']:.1f} | "
                   + " | ".join(cells) + " | " + ", ".join(sorted(p["commits"])) + " |")
    slopes = [f"{ds} n={n}: {slope:+.1f}" for (ds, n), slope in sorted(token_slopes(rows).items())]
    out += ["", "Least-squares change of validation error (seed 0) per doubling of pretraining "
            "tokens (points): " + "; ".join(slopes) + "."]
    _plot_tokens(series)
    return "\n".join(out)


def token_slopes(rows, methods=TOKEN_METHODS):
    """{(dataset, n): least-squares slope of seed 0's validation error (points) against
    log2 of the encoder's pretraining tokens} over the schedule rows that record them."""
    series = defaultdict(list)
    for p in token_points(rows, methods):
        for task, errs in p["tasks"].items():
            if 0 in errs:
                series[task].append((np.log2(p["tokens"]), errs[0]))
    return {task: float(np.polyfit(*zip(*pts), 1)[0]) for task, pts in series.items()
            if len(pts) >= 2}


def token_means(rows, methods=TOKEN_METHODS):
    """{"TOKENSM:DS:N": (mean error %, seeds)} per point (tokens in millions, rounded)."""
    return {f"{p['tokens'] / 1e6:.0f}M:{ds}:{n}": (float(np.mean(list(e.values()))), len(e))
            for p in token_points(rows, methods) for (ds, n), e in p["tasks"].items()}


def _plot_tokens(series):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    ticks = set()
    for (ds, n), pts in sorted(series.items()):
        pts = sorted(pts)
        ticks.update(t / 1e6 for t, _ in pts)
        ax.plot([t / 1e6 for t, _ in pts], [e for _, e in pts], marker="o", label=f"{ds} n={n}")
    ax.set_xscale("log")
    ax.set_xticks(sorted(ticks), [f"{t:.0f}M" for t in sorted(ticks)])
    ax.minorticks_off()
    ax.set_xlabel("pretraining tokens seen (log scale)")
    ax.set_ylabel("validation error (seed 0)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    (DOCS / "img").mkdir(parents=True, exist_ok=True)
    fig.savefig(DOCS / "img" / "pretraining-tokens.png", dpi=110)
    plt.close(fig)


def predict_batching(rows):
    """Prediction speed per batching setting (benchmarks/predict_batching.py), the
    newest run of each data set."""
    if not rows:
        return "No prediction-batching runs yet (run `benchmarks/predict_batching.py`)."
    newest = {}
    for r in rows:
        newest[r["dataset"]] = r["run"]
    out = ["| dataset | documents | tokens | batches | seconds | documents/s | max abs diff | "
           "date | machine | commit |", "| --- " * 10 + "|"]
    for r in rows:
        if r["run"] != newest[r["dataset"]]:
            continue
        limit = f"{r['max_docs']} docs" + (f", {r['max_tokens']:,} tokens" if r["max_tokens"] else "")
        m = r.get("machine", {})
        out.append(f"| {r['dataset']} | {r['documents']} | {r['tokens']:,} | {limit} | "
                   f"{r['seconds']} | {r['docs_per_s']} | {r['max_abs_diff']:.1e} | {r['date'][:10]} | "
                   f"{m.get('cpu', '')}, {m.get('torch_threads', '')} threads | {r['git_commit']} |")
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


#: The package commit whose BERT defaults the ``b_*`` settings of later runs vary
#: (issues 31 and 32: a last-stage floor of 2,048 documents, training on 256 word
#: pieces, no attention dropout); earlier runs vary the defaults before it.
BERT_DEFAULTS_CHANGED = "24f39c3"


@functools.lru_cache(maxsize=None)
def since_commit(commit, ancestor=BERT_DEFAULTS_CHANGED):
    """Whether package ``commit`` is ``ancestor`` or comes after it on main."""
    if not commit:
        return False
    out = subprocess.run(["git", "merge-base", "--is-ancestor", ancestor, str(commit)],
                         cwd=ROOT, capture_output=True)
    return out.returncode == 0


def bert_ablation_tables(rows):
    """:func:`bert_ablations` of the runs against the BERT defaults since
    :data:`BERT_DEFAULTS_CHANGED`, then of the runs against the defaults before."""
    new = [r for r in rows if since_commit(r.get("git_commit"))]
    old = [r for r in rows if not since_commit(r.get("git_commit"))]
    return "\n".join([f"Against the defaults since package {BERT_DEFAULTS_CHANGED} (a last-stage "
                      "floor of 2,048 documents, training on 256 word pieces, no attention "
                      "dropout; `b_floordocs0` is them without the floor):", "",
                      bert_ablations(new), "",
                      f"Against the defaults before {BERT_DEFAULTS_CHANGED} (no floor, training "
                      "on every window, attention dropout 0.05):", "", bert_ablations(old)])


def bert_ablations(rows):
    """The paper's ablations for a BERT (schedule.py's ``b_*`` settings, issue 31):
    per data set and n, each setting's validation error over its seeds (mean ± sd,
    worst seed) and its mean change against ``b_default`` on the same seeds (negative:
    better), best first; the package commits of the runs."""
    rows = [r for r in rows if r["method"].startswith("b_")
            or (r["method"] == "frozen_logreg" and r.get("encoder") == "minilm-l6"
                and any(x["method"].startswith("b_") and x["dataset"] == r["dataset"]
                        and x["n"] == r["n"] for x in rows))]
    if not rows:
        return "No BERT ablations yet (run `benchmarks/schedule.py --settings b_...`)."
    runs = defaultdict(dict)
    for r in rows:  # in file order, so a run's newest row wins
        runs[(r["dataset"], r["n"], r["method"])][r["seed"]] = r
    out = ["| dataset | n | setting | seeds | validation error: mean ± sd | worst seed | "
           "change against b_default, same seeds (points) | package |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for ds, n in sorted({(d, n) for d, n, _ in runs}):
        base = runs.get((ds, n, "b_default"), {})
        lines = []
        for (d, m_n, method), seeds in runs.items():
            if (d, m_n) != (ds, n):
                continue
            errs = np.array([100 * r["error"] for r in seeds.values()])
            common = sorted(set(seeds) & set(base))
            delta = (np.mean([100 * (seeds[s]["error"] - base[s]["error"]) for s in common])
                     if common and method != "b_default" else None)
            commits = ", ".join(sorted({str(r.get("git_commit")) for r in seeds.values()}))
            lines.append((errs.mean(), f"| {ds} | {n:,} | `{method}` | {len(errs)} | "
                          f"{errs.mean():.1f} ± {errs.std():.1f} | {errs.max():.1f} | "
                          + ("" if delta is None else f"{delta:+.1f} ({len(common)})")
                          + f" | {commits} |"))
        out += [line for _, line in sorted(lines)]
    return "\n".join(out)


def model_size(rows):
    """Size of a fitted model's folder in each weight storage form, and how far its
    test predictions move from the fitted model's (benchmarks/model_size.py
    --datasets): one row per encoder, data set and form; the newest run wins."""
    rows = {(r["encoder"], r["dataset"], r["n"], r["seed"], r["weights"]): r
            for r in rows if "weights" in r}
    out = ["| encoder | data set (n, seed) | storage | folder | test error: fitted / loaded "
           "| predictions changed | largest probability change | commit |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (enc, ds, n, seed, weights), r in sorted(rows.items()):
        out.append(f"| {enc} | {ds} ({n}, {seed}) | {weights} | {r['folder_mb']:.1f} MB | "
                   f"{100 * r['error']:.1f} / {100 * r['stored_error']:.1f} % | "
                   f"{r['changed_predictions']} of {r['n_test']} "
                   f"({100 * r['changed_predictions'] / r['n_test']:.2f} %) | "
                   f"{r['max_abs_proba_diff']:.4f} | {r.get('git_commit')} |")
    return "\n".join(out)


def bert_speed(rows):
    """benchmarks/bert_speed.py: training-step speed of a BERT by window length, with
    and without attention dropout (newest run of each), and the padding of stage 3's
    batches of IMDb reviews."""
    steps = {(r["window"], r["attention_p"], r["autocast"]): r for r in rows if r["kind"] == "step"}
    out = ["| window (pieces) | windows a step | bf16 autocast | attention dropout 0.05 (pieces/s) "
           "| none: fused kernel (pieces/s) | ratio | threads | native bf16 | machine | commit |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (window, p, autocast), r in sorted(steps.items()):
        off = steps.get((window, 0.0, autocast))
        if p == 0.0 or off is None:
            continue
        m = r.get("machine", {})
        out.append(f"| {window} | {r['rows']} | {'yes' if autocast else 'no'} | "
                   f"{r['pieces_per_s']:,} | {off['pieces_per_s']:,} | "
                   f"{off['pieces_per_s'] / r['pieces_per_s']:.1f}x | {r['threads']} | "
                   f"{'yes' if r['native_bf16'] else 'no'} | {m.get('cpu', '')} | "
                   f"{r.get('git_commit')} |")
    pads = {r["train_max_len"]: r for r in rows if r["kind"] == "padding"}
    out += ["", "| training reads (pieces) | real pieces a pass | padded, one batch | padding "
            "| padded, length groups | padding | commit |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for cut, r in sorted(pads.items(), key=lambda kv: -(kv[0] or 10**9)):
        out.append(f"| {cut or 'all (up to max_len 1,440)'} | {r['real_pieces']:,} | "
                   f"{r['padded_pieces']:,} | {100 * r['padding_share']:.1f} % | "
                   f"{r['grouped_pieces']:,} | {100 * r['grouped_padding_share']:.1f} % | "
                   f"{r.get('git_commit')} |")
    return "\n".join(out)


def main():
    commentary = ROOT / "benchmarks" / "commentary.md"
    parts = ["# Benchmarks", "",
             "Generated by `benchmarks/report.py` from `benchmarks/results/*.jsonl`; "
             "each row names the command, machine, commit and date of its run.", ""]
    # fit_budget.py runs the same defaults on the same IMDb test sample as the curves
    curve_rows = with_budget_runs(read("learning_curve.jsonl"), read("fit_budget.jsonl"))
    if commentary.exists():
        values = numbers(curve_rows, ablation_rows(read("ablations.jsonl"), curve_rows),
                         read("schedule.jsonl"), read("fit_budget.jsonl"),
                         read("fastai_speed.jsonl"), read("scaling.jsonl"),
                         read("denormals.jsonl"), read("step_memory.jsonl"),
                         read("model_size.jsonl"), read("vocab_aliases.jsonl"),
                         read("quantize.jsonl"), read("small_n.jsonl"),
                         read("small_n_validation.jsonl"), read("profile_steps.jsonl"))
        parts += [fill_numbers(commentary.read_text(), values), ""]
    parts += ["## Fit budget: IMDb, n = 1,000", "", fit_budget_table(read("fit_budget.jsonl")), "",
              "### Speed of the transformer path", "",
              "`benchmarks/bert_speed.py`: training steps of the bundled MiniLM (forward and "
              "backward, the best of three) over random windows, with and without dropout on "
              "the attention probabilities; then the padding of stage 3's length-sorted "
              "batches of 32 IMDb reviews (n = 1,000) read in windows of 512, as one batch "
              "and in length groups (`ulmfit_sklearn.models.heads.length_groups`).", "",
              bert_speed(read("bert_speed.jsonl")), "",
              "## Learning curves", "",
              "The fit-budget run (IMDb, n = 1,000, seed 0) is the same configuration and test "
              "sample as the IMDb curve and counts as its seed 0.", "",
              learning_curves(curve_rows), ""]
    parts += [f"![{png.stem}](img/{png.name})"
              for png in sorted((DOCS / "img").glob("learning-curve-*.png"))]
    parts += ["", "## Downstream error against pretraining tokens", "",
              "Encoders of one pretraining run at several points (validation splits, "
              "the paper's schedule, seed 0, and the mean where seeds 1 and 2 ran too; `benchmarks/schedule.py --settings nodiscr_clf` before "
              "package b6b7d9d, `--settings paper` since).", "",
              pretraining_tokens(read("schedule.jsonl")), "",
              "![pretraining-tokens](img/pretraining-tokens.png)"]
    parts += ["", "## Ablations", "", ablations(read("ablations.jsonl"), curve_rows), "",
              "## The paper's ablations for the BERT family (validation splits)", "",
              "`benchmarks/schedule.py --pretrained minilm-l6 --settings b_...` (see "
              "`BERT_ABLATIONS` there for each setting); `frozen_logreg` is the encoder frozen "
              "under LogisticRegressionCV.", "", bert_ablation_tables(read("schedule.jsonl")), "",
              "## Stage-3 schedule search (validation splits)", "", schedule(read("schedule.jsonl")), "",
              "## Scaling", "", scaling(read("scaling.jsonl")), "",
              "### Memory of one training step", "", step_memory(read("step_memory.jsonl")), "",
              "## int8 prediction", "", quantize(read("quantize.jsonl")), "",
              "## Model size: how saved weights are stored", "",
              "`benchmarks/model_size.py --pretrained ENCODER --n 100 --datasets trec6 sst2 "
              "agnews imdb`: one fit per data set (seed 0), saved in each form and loaded "
              "again; its test predictions against the fitted model's (IMDb: 1,000 test "
              "reviews).", "", model_size(read("model_size.jsonl")), "",
              "## Small training sets: many seeds", "", small_n(read("small_n.jsonl")), "",
              "Settings on validation splits carved from the training set (the test split is "
              "not read; `benchmarks/schedule.py --n 100 --seeds 0 ... 9`):", "",
              small_n_settings(read("small_n_validation.jsonl")), "",
              "## Speed against fastai", "", fastai_speed(read("fastai_speed.jsonl")), "",
              "### Where a training step's time goes", "", profile_steps(read("profile_steps.jsonl")), "",
              "### Prediction batches", "", predict_batching(read("predict_batching.jsonl")), "",
              "## Denormal floats", "", denormals(read("denormals.jsonl")), ""]
    (DOCS / "benchmarks.md").write_text("\n".join(parts) + "\n")
    write_readme_table(readme_table(curve_rows))
    print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
