"""benchmarks/report.py: the tables it generates from result rows."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def report(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "benchmarks" / "report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "DOCS", tmp_path)
    return mod


def row(method, error, seed=0, dataset="imdb", n=1000, commit="abc", unlabeled=0,
        date="2026-11-29T00:00:00", **extra):
    return dict(dataset=dataset, n=n, seed=seed, method=method, error=error, n_unlabeled=unlabeled,
                git_commit=commit, encoder_sha256="e", date=date,
                machine={"cpu": "test cpu"}, command="cmd", **extra)


def test_merged_counts_a_run_once(report):
    a = [row("ulmfit", 0.25)]
    b = [row("ulmfit", 0.30), row("ulmfit", 0.20, seed=1)]
    rows = report.merged(a, b)
    assert [(r["seed"], r["error"]) for r in rows] == [(0, 0.25), (1, 0.20)]


def test_a_budget_run_joins_its_curve_only_at_a_commit_the_curve_has(report):
    curve = [row("ulmfit", 0.30, n=100), row("ulmfit", 0.20, seed=1)]
    budget = [row("ulmfit", 0.25), row("ulmfit", 0.26, commit="newer")]
    rows = report.current(report.with_budget_runs(curve, budget))
    assert sorted((r["n"], r["seed"], r["error"]) for r in rows) == [(100, 0, 0.30), (1000, 0, 0.25),
                                                                    (1000, 1, 0.20)]


def test_comparison_names_the_winner_and_semi_supervised_column(report, tmp_path):
    rows = [row("ulmfit", 0.20), row("ulmfit", 0.30, seed=1), row("tfidf_logreg", 0.20),
            row("tfidf_logreg", 0.20, seed=1), row("ulmfit", 0.4, unlabeled=5000)]
    text = report.learning_curves(rows)
    line = next(ln for ln in text.splitlines() if ln.startswith("| imdb | 1000 |"))
    assert "25.0 % ± 5.0 (2)" in line and "+5.0 (TF-IDF wins)" in line
    assert "40.0 % ± 0.0 (1)" in line  # the + 5000 unlabeled column
    assert (tmp_path / "img" / "learning-curve-imdb.png").exists()


def test_stale_commit_rows_are_left_out(report):
    rows = [row("ulmfit", 0.9, commit="old"), row("ulmfit", 0.2), row("tfidf_logreg", 0.3)]
    line = next(ln for ln in report.learning_curves(rows).splitlines()
                if ln.startswith("| imdb | 1000 |"))
    assert "20.0 % ± 0.0 (1)" in line and "ULMFiT wins" in line


def test_the_newest_rows_by_date_win_over_later_listed_older_ones(report):
    new = [row("ulmfit", 0.2, commit="new", date="2026-11-30T00:00:00")]
    old_budget = [row("ulmfit", 0.9, commit="old", seed=1)]  # listed later, dated earlier
    assert [r["git_commit"] for r in report.current(new + old_budget)] == ["new"]


def test_each_data_set_shows_its_own_newest_commit(report):
    rows = [row("ulmfit", 0.3, dataset="sst2", commit="old"), row("tfidf_logreg", 0.2, dataset="sst2"),
            row("ulmfit", 0.5, commit="old"), row("ulmfit", 0.1, commit="new"),
            row("tfidf_logreg", 0.2)]
    lines = report.learning_curves(rows).splitlines()
    imdb = next(ln for ln in lines if ln.startswith("| imdb | 1000 |"))
    sst2 = next(ln for ln in lines if ln.startswith("| sst2 | 1000 |"))
    assert "10.0 %" in imdb and "50.0 %" not in imdb and imdb.endswith("| new |")
    assert "30.0 %" in sst2 and sst2.endswith("| old |")  # not yet rerun: kept, and labelled


def test_an_unlabeled_column_from_another_commit_says_so(report):
    rows = [row("ulmfit", 0.3, commit="new"), row("tfidf_logreg", 0.2, commit="new"),
            row("ulmfit", 0.4, commit="old", unlabeled=5000)]
    line = next(ln for ln in report.learning_curves(rows).splitlines()
                if ln.startswith("| imdb | 1000 |"))
    assert "40.0 %" in line and line.endswith("| new; 5000 unlabeled: old |")


def test_ablation_full_row_comes_from_the_curves_only_for_the_same_run(report):
    abl = [row("ulmfit_no_gradual", 0.3)]
    curves = [row("ulmfit", 0.25), row("ulmfit", 0.5, commit="other"), row("ulmfit", 0.1, n=500)]
    table = report.ablations(abl, curves)
    assert "| ulmfit | 0.250 (1) |" in table
    assert "| ulmfit_no_gradual | 0.300 (1) |" in table
    assert "0.500" not in table and "0.100" not in table


def test_scaling_table_and_plots(report, tmp_path):
    rows = [dict(kind="docs", value=v, n_docs=v, tokens=300 * v, fit_seconds=v / 3,
                 peak_rss_mb=900 + v / 10, git_commit="abc", date="2026-11-29T00:00:00",
                 machine={"cpu": "test cpu"}) for v in (250, 500)]
    text = report.scaling(rows)
    assert "| 500 | 500 | 150000 | 166.66666666666666 | 1.11 | 950 |" in text
    assert (tmp_path / "img" / "scaling-docs.png").exists()
    assert "No scaling results" in report.scaling([])
    newer = dict(rows[0], fit_seconds=40.0, git_commit="def")
    values = report.numbers([], [], [], [], [], rows + [newer])
    assert values["scaling:docs:250:fit_seconds"] == "40"
    assert values["scaling@abc:docs:250:fit_seconds"] == "83"
    assert values["scaling@def:docs:250:fit_seconds"] == "40"


def test_schedule_table_lists_settings(report):
    rows = [row("default", 0.3, params={}), row("g1116", 0.2, params={"unfreeze_epochs": [1, 1, 1, 6]}),
            row("g1116", 0.4, seed=1, params={"unfreeze_epochs": [1, 1, 1, 6]})]
    text = report.schedule(rows)
    assert "| g1116 | 0.300 (2) |" in text and "| default | 0.300 (1) |" in text
    assert "`g1116`: unfreeze_epochs=[1, 1, 1, 6]" in text and "`default`: defaults" in text
    assert "No schedule search" in report.schedule([])


def test_schedule_legend_names_each_baseline_setting(report):
    rows = [row("frozen_logreg", 0.3, params=None), row("b_plain", 0.2, params=None)]
    text = report.schedule(rows)
    assert "`frozen_logreg`: the encoder frozen" in text
    assert "`b_plain`: not ULMFiT: the encoder fine-tuned the standard way" in text


def test_commentary_numbers_come_from_the_rows(report):
    curves = [row("ulmfit", 0.9, commit="old", n=500), row("ulmfit", 0.20), row("ulmfit", 0.30, seed=1),
              row("ulmfit", 0.4, unlabeled=5000)]  # rows in the order they were appended
    sched = [row("default", 0.3, commit="c1", params={}), row("default", 0.5, commit="c2", params={})]
    values = report.numbers(curves, [row("ulmfit_no_discr", 0.21)], sched, [], [], [])
    text = report.fill_numbers("{{curve:imdb:1000:ulmfit}} ± {{curve-sd:imdb:1000:ulmfit}}; "
                               "{{curve:imdb:1000:ulmfit:5000}}; {{abl:imdb:1000:ulmfit_no_discr}}; "
                               "{{sched:imdb:1000:default:c2}}; {{curve-seed:imdb:1000:ulmfit:1}}", values)
    assert text == "25.0 % ± 5.0; 40.0 %; 21.0 %; 50.0 %; 30.0 %"
    timed = [row("ulmfit:minilm-l6", 0.1, fit_seconds=10, predict_seconds=1.0),
             row("ulmfit:minilm-l6", 0.2, seed=1, fit_seconds=20, predict_seconds=2.0)]
    values = report.numbers(timed, [], [], [], [], [])
    assert report.fill_numbers("{{curve:imdb:1000:ulmfit:minilm-l6}} in {{curve-fit:imdb:1000:"
                               "ulmfit:minilm-l6}} s, {{curve-pred:imdb:1000:ulmfit:minilm-l6}} s",
                               values) == "15.0 % in 15 s, 1.5 s"
    budget = [{"method": "ulmfit", "fit_seconds": 400, "git_commit": "c1"},
              {"method": "ulmfit", "fit_seconds": 300, "git_commit": "c2"},
              {"method": "ulmfit:minilm-l6", "fit_seconds": 9},
              {"method": "ulmfit:minilm-l6", "fit_seconds": 250, "machine": {"cores": 2}}]
    values = report.numbers([], [], [], budget, [], [])
    assert values["budget:fit_seconds"] == "300" and values["budget@ulmfit:fit_seconds"] == "300"
    assert values["budget@c1:fit_seconds"] == "400"  # an older commit keeps its number
    assert values["budget@ulmfit:minilm-l6:fit_seconds"] == "250"  # the newest run of each
    assert values["budget@ulmfit:minilm-l6:machine.cores"] == "2"
    assert "curve:imdb:500:ulmfit" not in values  # a stale commit of the series
    with pytest.raises(KeyError, match="curve:sst2"):
        report.fill_numbers("{{curve:sst2:100:ulmfit}}", values)


def _speed_run(commit, date, clf):
    lib = dict(vocab_size=10, lm_tokens_per_s=1.0, lm_gflops_per_s=1.0, clf_docs_per_s=1.0,
               pred_docs_per_s=1.0, latency_seconds=0.1, peak_rss_mb=1.0,
               peak_matmul_gflops={"float32": 1.0, "bfloat16": 1.0})
    ratio = dict(library="ratio ulmfit-sklearn / fastai", lm_training=1.0, clf_training=clf,
                 batch_prediction=1.0, latency=1.0, peak_memory=1.0, git_commit=commit, date=date,
                 machine={"cpu": "c", "cores": 2, "torch": "t"}, command="cmd")
    return [dict(lib, library="fastai"), dict(lib, library="ulmfit-sklearn"), ratio]


def test_speed_shows_every_run_of_the_newest_commit(report):
    rows = (_speed_run("old", "2026-11-28T01:00", 9.0) + _speed_run("new", "2026-11-29T01:00", 0.7)
            + _speed_run("new", "2026-11-29T02:00", 1.3))
    text = report.fastai_speed(rows)
    assert "classifier training 0.70" in text and "classifier training 1.30" in text
    assert "9.00" not in text and text.count("| ulmfit-sklearn |") == 2
    values = report.numbers([], [], [], [], rows, [])
    assert values["speed:clf_training:0"] == "0.70" and values["speed:clf_training:1"] == "1.30"
    assert values["speed@old:clf_training:0"] == "9.00" and values["speed@new:clf_training:1"] == "1.30"
    assert values["speed-fastai:clf_docs_per_s:0"] == "1"
    rows[1]["clf_seconds"] = 7.0  # the old run's own row, cited by commit
    values = report.numbers([], [], [], [], rows, [])
    assert values["speed-ours@old:clf_seconds:0"] == "7" and "speed-ours:clf_seconds:0" not in values
    assert values["speed-ours:peak_matmul_gflops.bfloat16:1"] == "1"


def test_readme_table_bolds_the_winner_between_the_markers(report, tmp_path):
    rows = [row("ulmfit", 0.20, dataset="sst2", n=n) for n in (100, 1000)] + \
        [row("tfidf_logreg", e, dataset="sst2", n=n) for n, e in ((100, 0.3), (1000, 0.1))]
    table = report.readme_table(rows, [("ulmfit", "ULMFiT"), ("tfidf_logreg", "TF-IDF")])
    assert table.startswith("| | n | ULMFiT | TF-IDF | commit |")
    assert "| SST-2 (sentence sentiment) | 100 / 1,000 | **20.0** / 20.0 % | 30.0 / **10.0** % | abc |" in table
    three = rows + [row("frozen", e, dataset="sst2", n=n) for n, e in ((100, 0.15), (1000, 0.15))]
    table3 = report.readme_table(three, [("ulmfit", "U"), ("tfidf_logreg", "T"), ("frozen", "F")])
    assert "| 100 / 1,000 | 20.0 / 20.0 % | 30.0 / **10.0** % | **15.0** / 15.0 % | abc |" in table3
    # a baseline not run shows "–"; a set lacking the ULMFiT runs is left out
    assert "| 100 / 1,000 | **20.0** / **20.0** % | – / – % | abc |" in report.readme_table(
        three[:2] + three[4:], [("ulmfit", "U"), ("tfidf_logreg", "T")])
    assert report.readme_table(three[2:], [("ulmfit", "U"), ("tfidf_logreg", "T")]) \
        .count("SST-2") == 0
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nold\n<!-- results:end -->\nrest\n")
    report.write_readme_table(table, readme)
    text = readme.read_text()
    assert "old" not in text and table in text and text.startswith("intro") and text.endswith("rest\n")


def test_denormal_table_and_numbers_from_the_newest_commit(report):
    def run(mode, commit, epoch):
        return dict(mode=mode, dataset="imdb", n=1000, lr_decay=1.0, epoch_seconds=epoch,
                    fit_seconds=epoch + 3, error=0.25, git_commit=commit,
                    date="2026-11-29T09:00:00", machine={"cpu": "c"}, command="cmd")
    rows = [run("none", "old", 99.0), run("none", "new", 93.0), run("all", "new", 56.0)]
    text = report.denormals(rows)
    assert "| no thread | 1.0 | 93.0 | 96.0 | 0.250 |" in text
    assert "| every thread (default) | 1.0 | 56.0 |" in text and "99.0" not in text
    values = report.numbers([], [], [], [], [], [], rows)
    assert values["denorm:all:1.0:epoch_seconds"] == "56.0"
    assert "No denormal results" in report.denormals([])


def test_step_memory_table_and_numbers_from_the_newest_commit(report):
    def run(n, stage, commit, peak):
        extra = dict(softmax_ids=8000, logits_mb=67.6) if stage == 2 else {}
        return dict(extra, n=n, stage=stage, vocab=31000, batch_size=32, batch_tokens=2240,
                    rss_before_steps_mb=500.0, peak_rss_mb=peak, step_memory_mb=peak - 500.0,
                    git_commit=commit, date="2026-11-29T09:00:00", machine={"cpu": "c"},
                    command="cmd")
    sampled = dict(run(250, 2, "new", 780.0), softmax_ids=700, logits_mb=6.0, sampled_softmax=True)
    rows = [run(250, 2, "old", 777.0), run(250, 3, "new", 2200.0), run(250, 2, "new", 950.0),
            sampled]
    text = report.step_memory(rows)
    lines = [line for line in text.splitlines() if line.startswith("| 250")]
    assert lines == ["| 250 | 2 | texts' ids | 31000 | 32 | 2240 | 8000 | 67.6 | 500 | 950 | 450 |",
                     "| 250 | 2 | in-batch sampled | 31000 | 32 | 2240 | 700 | 6.0 | 500 | 780 | 280 |",
                     "| 250 | 3 |  | 31000 | 32 | 2240 |  |  | 500 | 2200 | 1700 |"]
    values = report.numbers([], [], [], [], [], [], step_rows=rows)
    assert values["step:250:2:peak_rss_mb"] == "950" and values["step:250:3:step_memory_mb"] == "1700"
    assert values["step:250:2s:peak_rss_mb"] == "780"
    assert "No step-memory results" in report.step_memory([])


def test_schedule_rows_of_two_encoders_are_separate_tables(report):
    rows = [row("nodiscr_clf", 0.3, params={"lr_decay": 1.0}, encoder="gutenberg-glove"),
            row("nodiscr_clf", 0.1, params={"lr_decay": 1.0}, encoder="modern-glove")]
    text = report.schedule(rows)
    assert "encoder `gutenberg-glove`" in text and "encoder `modern-glove`" in text
    assert "0.300 (1)" in text and "0.100 (1)" in text and "0.200" not in text
    values = report.numbers([], [], rows, [], [], [])
    commit = rows[0]["git_commit"]
    assert values[f"sched:{rows[0]['dataset']}:{rows[0]['n']}:nodiscr_clf:{commit}:modern-glove"] \
        == "10.0 %"


def test_int8_table_and_numbers_pair_the_same_fits(report):
    def run(method, seed, error, pred, commit="c1"):
        return dict(dataset="trec6", n=100, seed=seed, method=method, error=error,
                    predict_seconds=pred, git_commit=commit, machine={"cpu": "c"})
    rows = [run("ulmfit", 0, 0.30, 2.0), run("ulmfit_int8", 0, 0.31, 1.0),
            run("ulmfit", 1, 0.40, 2.0), run("ulmfit_int8", 1, 0.39, 1.0),
            run("ulmfit", 2, 0.50, 2.0)]  # no int8 row: not a pair
    text = report.quantize(rows)
    assert "| trec6 | 100 | 2 | 35.00 % | 35.00 % | +0.00 | +1.00 | 2.0 | 1.0 |" in text
    values = report.numbers([], [], [], [], [], [], int8_rows=rows)
    assert values["int8-diff:trec6:100"] == "+0.00" and values["int8-speedup:trec6:100"] == "2.0"
    assert values["int8-diff-max"] == "+1.00" and values["int8-pairs"] == "2"
    assert "No int8 results" in report.quantize([])


def test_small_n_table_counts_the_seeds_where_ulmfit_wins(report):
    def run(method, seed, error, commit="c1"):
        return dict(dataset="trec6", n=100, seed=seed, method=method, error=error,
                    git_commit=commit, machine={"cpu": "c"}, command="cmd")
    rows = [run("ulmfit", 0, 0.9, "old"),  # an older commit's run: its own row and slots
            run("ulmfit", 0, 0.30), run("tfidf_logreg", 0, 0.40),
            run("ulmfit", 1, 0.50), run("tfidf_logreg", 1, 0.40),
            # a second encoder's runs, newer: they keep their own rows and slots
            run("ulmfit:minilm-l6", 0, 0.10, "c2"), run("ulmfit:minilm-l6", 1, 0.60, "c2")]
    text = report.small_n(rows)
    assert ("| trec6 | 100 | awd-lstm | c1 | 2 | 40.0 % ± 10.0 | 50.0 % / 30.0 % | 40.0 % | "
            "1 of 2 | 30.0 / 50.0 |") in text
    assert ("| trec6 | 100 | awd-lstm | old | 1 | 90.0 % ± 0.0 | 90.0 % / 90.0 % | 40.0 % | "
            "0 of 1 | 90.0 |") in text
    assert ("| trec6 | 100 | minilm-l6 | c2 | 2 | 35.0 % ± 25.0 | 60.0 % / 10.0 % | 40.0 % | "
            "1 of 2 | 10.0 / 60.0 |") in text
    assert "No small-n results" in report.small_n([])
    values = report.numbers([], [], [], [], [], [], small_rows=rows)
    assert values["small:trec6:100:wins"] == "1" and values["small:trec6:100:worst"] == "50.0 %"
    assert values["small@old:trec6:100:mean"] == "90.0 %" and values["small@c1:trec6:100:seeds"] == "2"
    assert values["small[minilm-l6]:trec6:100:mean"] == "35.0 %"
    assert values["small[minilm-l6]@c2:trec6:100:worst"] == "60.0 %"


def test_small_n_settings_give_spread_and_worst_seed(report):
    rows = [row("default", e, seed=i, params={}) for i, e in enumerate([0.3, 0.5])] + \
           [row("drop1", 0.6, seed=0, params={"drop_mult": 1.0})]
    text = report.small_n_settings(rows)
    assert "`default` (defaults) | 2 | 40.0 % ± 10.0 | 50.0 % / 30.0 % |" in text
    assert "`drop1` (drop_mult=1.0) | 1 | 60.0 % ± 0.0 |" in text
    values = report.numbers([], [], [], [], [], [], small_val_rows=rows)
    assert values["smallset:imdb:1000:default:mean"] == "40.0 %"
    assert values["smallset:imdb:1000:drop1:sd"] == "0.0"
    assert values["smallset:imdb:1000:drop1:better"] == "0"  # 0.6 against 0.3 at seed 0
    assert values["smallset:imdb:1000:drop1:paired"] == "1"


def test_small_n_settings_compare_with_the_defaults_of_their_own_commit(report):
    old = [row("default", e, seed=i, params={}) for i, e in enumerate([0.3, 0.5])]
    new = [row("default", e, seed=i, params={}, commit="new") for i, e in enumerate([0.2, 0.6])] + \
          [row("paper", e, seed=i, params={"x": 1}, commit="new") for i, e in enumerate([0.3, 0.5])]
    values = report.numbers([], [], [], [], [], [], small_val_rows=old + new)
    assert values["smallset:imdb:1000:default:mean"] == "40.0 %"  # the first commit's
    assert values["smallset@new:imdb:1000:default:worst"] == "60.0 %"
    assert values["smallset@new:imdb:1000:paper:better"] == "1"
    assert values["smallset@new:imdb:1000:paper:worse"] == "1"
    assert values["smallset:imdb:1000:paper:commit"] == "new"
    text = report.small_n_settings(old + new)
    assert text.count("`default` (defaults)") == 2


def test_pretraining_tokens_series_joins_the_paper_schedule_rows(report, tmp_path):
    def tok(method, error, tokens, commit, seed=0, name="enc", sha="a"):
        return dict(row(method, error, commit=commit, seed=seed, encoder=name,
                        encoder_tokens_seen=tokens, encoder_ppl_word=100.0), encoder_sha256=sha)

    rows = [tok("nodiscr_clf", 0.24, 50e6, "old", sha="a"),
            tok("paper", 0.22, 100e6, "new", sha="b", name="enc-100M"),
            tok("paper", 0.22, 100e6, "newer", sha="b", name="enc"),  # seed 0 again, renamed
            tok("paper", 0.30, 100e6, "new", seed=1, sha="b"),
            tok("default", 0.01, 100e6, "new", sha="b")]  # another setting: not in the series
    text = report.pretraining_tokens(rows)
    assert "| 50.0M | enc | 100.0 | 24.0 % | old |" in text
    assert "| 100.0M | enc-100M, enc | 100.0 | 22.0 % (2 seeds: 26.0 %) | new, newer |" in text
    assert report.token_slopes(rows) == {("imdb", 1000): pytest.approx(-2.0)}  # seed 0
    values = report.numbers([], [], rows, [], [], [])
    assert values["tokens:100M:imdb:1000"] == "26.0 %" and values["tokens-seeds:100M:imdb:1000"] == "2"
    assert (tmp_path / "img" / "pretraining-tokens.png").exists()


def _profile(stage, backward, lstm, commit="abc"):
    return dict(stage=stage, n=64, tokens=20000, wall_seconds=10.0, model_gflops_per_s=90.0,
                profiled_seconds=10.5, steps=9, lstm_gflops_per_s=100.0, op_seconds=9.0, threads=2,
                phase_share={"forward": 0.3, "backward": backward, "update": 0.05,
                             "outside_steps": 0.65 - backward},
                kind_share={"lstm": lstm / 2, "lstm_backward": lstm / 2, "dropout": 1 - lstm},
                top_ops=[{"op": "aten::mkldnn_rnn_layer_backward", "share": lstm / 2}],
                peak_matmul_gflops={"float32": 150.0, "bfloat16": 600.0}, git_commit=commit,
                date="2026-12-01T00:00", machine={"cpu": "c", "torch": "t"}, command="cmd")


def test_step_profile_table_and_values_use_each_stages_newest_row(report):
    rows = [_profile("lm", 0.5, 0.5, "old"), _profile("lm", 0.55, 0.8), _profile("clf", 0.4, 0.7)]
    text = report.profile_steps(rows)
    assert text.count("| stage 2 (LM fine-tuning) |") == 1 and "| stage 3 (classifier" in text
    assert "| 30.0 / 55.0 / 5.0 / 10.0 |" in text  # the newest lm row's phases, in %
    assert "| 100 | 90 | 150 / 600 |" in text and "`aten::mkldnn_rnn_layer_backward` 40.0" in text
    values = report.numbers([], [], [], [], [], [], profile_rows=rows)
    assert values["profile:lm:lstm_share"] == "80.0" and values["profile:clf:lstm_share"] == "70.0"
    assert values["profile:lm:phase_share.backward"] == "55.0"
    assert values["profile:lm:peak_matmul_gflops.float32"] == "150"
    assert report.profile_steps([]).startswith("No step profile")


def test_model_size_table_and_slots_keep_the_sample_rows(report):
    sample = {"n": 60, "pickle_mb": 33.0, "folder_mb": 32.7, "git_commit": "a"}
    stored = [{"encoder": "minilm-l6", "dataset": "sst2", "n": 100, "seed": 0, "weights": w,
               "folder_mb": mb, "error": 0.2, "stored_error": e, "changed_predictions": c,
               "n_test": 1000, "max_abs_proba_diff": d, "git_commit": "b"}
              for w, mb, e, c, d in (("float32", 90.8, 0.2, 0, 0.0), ("int8", 23.1, 0.201, 3, 0.012))]
    table = report.model_size(stored + [sample])
    assert "| minilm-l6 | sst2 (100, 0) | int8 | 23.1 MB | 20.0 / 20.1 % | 3 of 1000 (0.30 %) | 0.0120 | b |" in table
    assert table.count("\n") == 3  # the heading, the rule and two rows: the sample row is not one
    values = report.numbers([], [], [], [], [], [], [], [], [sample] + stored, [], [], [], [], [])
    assert values["size:folder_mb"] == "32.7"


def test_bert_ablations_compare_with_the_defaults_on_the_same_seeds(report):
    def r(method, seed, error, commit="c"):
        return {"dataset": "trec6", "n": 100, "seed": seed, "method": method, "error": error,
                "git_commit": commit, "encoder": "minilm-l6", "params": {}}
    rows = [r("b_default", 0, 0.20), r("b_default", 1, 0.30), r("b_lr3e-3", 0, 0.10),
            r("b_lr3e-3", 1, 0.20, "d"), r("b_pairs8k", 0, 0.05), r("paper", 0, 0.9)]
    table = report.bert_ablations(rows)
    lines = table.splitlines()[2:]
    assert [line.split("|")[3].strip() for line in lines] == ["`b_pairs8k`", "`b_lr3e-3`", "`b_default`"]
    assert "| trec6 | 100 | `b_lr3e-3` | 2 | 15.0 ± 5.0 | 20.0 | -10.0 (2) | c, d |" in table
    assert "| `b_pairs8k` | 1 | 5.0 ± 0.0 | 5.0 | -15.0 (1) | c |" in table
    assert "paper" not in table


def test_bert_ablations_compare_with_the_defaults_of_their_own_generation(report):
    new, old = report.BERT_DEFAULTS_CHANGED, "875a6f1"  # on main: after and before it
    rows = [row("b_default", 0.20, commit=old), row("b_floor256", 0.15, commit=old),
            row("b_default", 0.10, commit=new), row("b_floordocs0", 0.12, commit=new)]
    assert report.since_commit(new) and not report.since_commit(old)
    text = report.bert_ablation_tables(rows)
    since, before = text.split("Against the defaults before")
    assert "`b_floordocs0`" in since and "+2.0 (1)" in since and "b_floor256" not in since
    assert "`b_floor256`" in before and "-5.0 (1)" in before and "b_floordocs0" not in before


def test_bert_speed_tables_pair_attention_dropout_runs(report):
    steps = [dict(kind="step", window=512, rows=8, attention_p=p, autocast=True, native_bf16=True,
                  threads=2, pieces_per_s=speed, machine={"cpu": "test cpu"}, git_commit="abc")
             for p, speed in ((0.05, 800), (0.0, 2400))]
    pads = [dict(kind="padding", train_max_len=None, real_pieces=300, padded_pieces=350,
                 grouped_pieces=310, padding_share=0.143, grouped_padding_share=0.032,
                 git_commit="abc")]
    text = report.bert_speed(steps + pads)
    assert "| 512 | 8 | yes | 800 | 2,400 | 3.0x | 2 | yes | test cpu | abc |" in text
    assert "all (up to max_len 1,440) | 300 | 350 | 14.3 % | 310 | 3.2 %" in text
