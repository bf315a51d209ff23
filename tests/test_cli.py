import pytest

from ulmfit_sklearn.cli import main


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "demo" in out and "pretrain" in out


def test_unknown_command(capsys):
    assert main(["frobnicate"]) == 2


def test_demo_runs_and_compares_with_tfidf(capsys, tiny_encoder_dir):
    assert main(["demo", "--pretrained", str(tiny_encoder_dir), "--n-train", "60",
                 "--n-test", "30"]) == 0
    out = capsys.readouterr().out
    assert "ULMFiTClassifier" in out and "TfidfVectorizer" in out and "accuracy" in out


def test_pretrain_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "--help"])
    assert exc.value.code == 0
    assert "--max-minutes" in capsys.readouterr().out


# ---------------------------------------------------------------- fit / predict / evaluate
def _write_csv(path, texts, labels=None):
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["review", "stars"] if labels is not None else ["review"])
        for i, t in enumerate(texts):
            w.writerow([t, labels[i]] if labels is not None else [t])
    return path


FIT_FAST = ["--set", "lm_epochs=1", "--set", "unfreeze_epochs=[1,2]", "--set", "batch_size=8",
            "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from conftest import make_toy_data

    d = tmp_path_factory.mktemp("cli")
    X, y = make_toy_data(40, seed=12)
    return {"train": _write_csv(d / "train.csv", X, y), "texts": _write_csv(d / "texts.csv", X[:7]),
            "dir": d, "X": X, "y": y}


@pytest.fixture(scope="module")
def model_file(files, tiny_encoder_dir):
    path = files["dir"] / "model.joblib"
    assert main(["fit", str(files["train"]), "--model", str(path), "--text-column", "review",
                 "--label-column", "stars", "--pretrained", str(tiny_encoder_dir)] + FIT_FAST) == 0
    return path


def test_fit_predict_evaluate(files, model_file, capsys):
    import csv
    import json

    import joblib

    est = joblib.load(model_file)
    assert est.unfreeze_epochs == [1, 2] and est.lm_epochs == 1  # --set values are read as JSON
    out = files["dir"] / "pred.csv"
    assert main(["predict", str(model_file), str(files["texts"]), "--text-column", "review",
                 "--proba", "--output", str(out), "--quiet"]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 7 and set(rows[0]) == {"prediction", "proba_neg", "proba_pos"}
    assert [r["prediction"] for r in rows] == list(est.predict(files["X"][:7]))
    capsys.readouterr()
    assert main(["evaluate", str(model_file), str(files["train"]), "--text-column", "review",
                 "--label-column", "stars"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert "predict" in captured.err  # a progress bar unless --quiet
    assert result["n"] == 40
    assert result["accuracy"] == pytest.approx(est.score(files["X"], files["y"]))


def test_predict_reads_plain_text_lines(files, model_file, capsys):
    txt = files["dir"] / "texts.txt"
    txt.write_text("a great film\n\nan awful film\n")
    capsys.readouterr()
    assert main(["predict", str(model_file), str(txt), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "prediction" and len(lines) == 3  # the blank line is no document


def test_fit_a_regressor(files, tiny_encoder_dir, capsys):
    import json

    from conftest import make_toy_data

    X, labels = make_toy_data(30, seed=13)
    data = _write_csv(files["dir"] / "ratings.csv", X, [5 if v == "pos" else 1 for v in labels])
    path = files["dir"] / "reg.joblib"
    assert main(["fit", str(data), "--model", str(path), "--task", "regression", "--text-column",
                 "review", "--label-column", "stars", "--pretrained", str(tiny_encoder_dir)]
                + FIT_FAST) == 0
    capsys.readouterr()
    assert main(["evaluate", str(path), str(data), "--text-column", "review",
                 "--label-column", "stars"]) == 0
    assert {"r2", "mae", "rmse"} <= set(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("make_args, message", [
    (lambda f, m: ["fit", str(f["train"]), "--model", "x.joblib"], "no column 'text'"),
    (lambda f, m: ["fit", str(f["dir"] / "missing.csv"), "--model", "x.joblib"], "no such file"),
    (lambda f, m: ["fit", str(f["train"]), "--model", "x.joblib", "--text-column", "review",
                   "--label-column", "stars", "--set", "lr=-1"], "'lr' parameter"),
    (lambda f, m: ["fit", str(f["train"]), "--model", "x.joblib", "--set", "nonsense"], "KEY=VALUE"),
    (lambda f, m: ["predict", str(f["train"]), str(f["texts"])], "not a model file"),
    (lambda f, m: ["predict", str(m), str(f["texts"])], "no column 'text'"),
    (lambda f, m: ["evaluate", str(m), str(f["texts"]), "--text-column", "review"], "no column 'label'"),
])
def test_clear_errors(files, model_file, capsys, make_args, message):
    assert main(make_args(files, model_file)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_model_of_another_version_is_refused(files, model_file, capsys, monkeypatch):
    import joblib

    import ulmfit_sklearn._base as base

    est = joblib.load(model_file)
    monkeypatch.setattr(base, "__version__", "0.0.1")
    old = files["dir"] / "old.joblib"
    joblib.dump(est, old)
    monkeypatch.undo()
    assert main(["predict", str(old), str(files["texts"]), "--text-column", "review"]) == 2
    assert "saved by ulmfit-sklearn 0.0.1" in capsys.readouterr().err
    with pytest.warns(base.InconsistentVersionWarning):
        joblib.load(old)  # the library itself warns, and loads
