import pytest

from ulmfit_sklearn.cli import main


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "demo" in out and "pretrain" in out


def test_unknown_command(capsys):
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'frobnicate'" in err


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
    assert main(["evaluate", str(path), str(files["train"]), "--text-column", "review",
                 "--label-column", "stars", "--quiet"]) == 2  # labels "neg", "pos"
    assert "not numbers" in capsys.readouterr().err


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


# ---------------------------------------------------------------- user errors (issue 20)
def _one_line_error(capsys, message):
    """stderr is exactly one line, holding ``message``, and no traceback."""
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "error: " in err, err
    assert message in err and "Traceback" not in err, err
    return err


def _write_jsonl(path, rows):
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _fit_args(files, data, model, tiny_encoder_dir):
    return ["fit", str(data), "--model", str(model), "--text-column", "review",
            "--label-column", "stars", "--pretrained", str(tiny_encoder_dir)] + FIT_FAST


def test_jsonl_rows_that_are_not_objects(files, tiny_encoder_dir, capsys):
    data = _write_jsonl(files["dir"] / "lists.jsonl", [[t, v] for t, v in zip(files["X"], files["y"])])
    assert main(_fit_args(files, data, files["dir"] / "x.joblib", tiny_encoder_dir)) == 2
    _one_line_error(capsys, "lists.jsonl, line 1: not a JSON object")


def test_jsonl_row_without_the_text_key(files, model_file, capsys):
    rows = [{"review": t, "stars": v} for t, v in zip(files["X"][:5], files["y"][:5])]
    del rows[2]["review"]
    data = _write_jsonl(files["dir"] / "holes.jsonl", rows)
    assert main(["evaluate", str(model_file), str(data), "--text-column", "review",
                 "--label-column", "stars", "--quiet"]) == 2
    _one_line_error(capsys, 'holes.jsonl, row 3: no "review" field')


@pytest.mark.parametrize("setting, message", [
    ("device=tpu", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N' (N an int), got 'tpu'"),
    ("batch_size=1", "'batch_size' parameter"),
    ("unfreeze_epochs=[0,0]", "unfreeze_epochs must train at least one epoch"),
    ("bogus=1", "unknown parameter 'bogus' of ULMFiTClassifier"),
])
def test_invalid_set_is_refused_before_the_fit(files, tiny_encoder_dir, capsys, monkeypatch,
                                               setting, message):
    from ulmfit_sklearn.classifier import ULMFiTClassifier

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit started")

    monkeypatch.setattr(ULMFiTClassifier, "fit", no_fit)
    args = _fit_args(files, files["train"], files["dir"] / "x.joblib", tiny_encoder_dir)
    assert main(args + ["--set", setting]) == 2
    _one_line_error(capsys, message)


def test_fit_on_nine_rows(files, tiny_encoder_dir, capsys):
    # 9 documents with batch_size=8 once raised IndexError inside training
    data = _write_csv(files["dir"] / "nine.csv", files["X"][:9], files["y"][:9])
    path = files["dir"] / "nine.joblib"
    assert main(_fit_args(files, data, path, tiny_encoder_dir)) == 0
    assert path.exists() and "Traceback" not in capsys.readouterr().err


def test_output_in_a_missing_folder_is_refused_first(files, model_file, tiny_encoder_dir, capsys,
                                                     monkeypatch):
    import ulmfit_sklearn.cli as cli
    from ulmfit_sklearn.classifier import ULMFiTClassifier

    def never(*args, **kwargs):
        raise AssertionError("the work started")

    monkeypatch.setattr(ULMFiTClassifier, "fit", never)
    monkeypatch.setattr(cli, "load_model", never)
    missing = files["dir"] / "no" / "such"
    assert main(_fit_args(files, files["train"], missing / "m.joblib", tiny_encoder_dir)) == 2
    _one_line_error(capsys, "--model")
    assert main(["predict", str(model_file), str(files["texts"]), "--text-column", "review",
                 "--output", str(missing / "p.csv")]) == 2
    _one_line_error(capsys, "no such folder")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("size", ["0", "-1", "x"])
def test_batch_size_must_be_positive(files, model_file, capsys, command, size):
    with pytest.raises(SystemExit) as exc:
        main([command, str(model_file), str(files["train"]), "--text-column", "review",
              "--label-column", "stars", "--batch-size", size])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert "error: argument --batch-size" in captured.err.strip().splitlines()[-1]


def test_evaluate_on_an_empty_file(files, model_file, capsys):
    empty = files["dir"] / "empty.csv"
    empty.write_text("")
    assert main(["evaluate", str(model_file), str(empty), "--quiet"]) == 2
    _one_line_error(capsys, "no rows to evaluate")


@pytest.mark.parametrize("name, content", [("empty.csv", ""), ("header.csv", "review\n"),
                                           ("blank.txt", "\n \n"), ("empty.jsonl", "")])
def test_predict_on_an_empty_file(files, model_file, capsys, name, content):
    empty = files["dir"] / name
    empty.write_text(content)
    out = files["dir"] / "predictions.csv"
    assert main(["predict", str(model_file), str(empty), "--text-column", "review",
                 "--output", str(out), "--quiet"]) == 2
    _one_line_error(capsys, "no texts to predict (the file is empty")
    assert not out.exists()


def test_evaluate_needs_labels(files, model_file, capsys):
    txt = files["dir"] / "unlabeled.txt"
    txt.write_text("a great film\n")
    assert main(["evaluate", str(model_file), str(txt), "--quiet"]) == 2
    _one_line_error(capsys, "no labels")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_help_says_model_files_are_pickles(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "pickle" in out and "trusted source" in out


def test_fit_to_a_model_folder_loads_without_pickles(files, model_file, tiny_encoder_dir,
                                                      monkeypatch, capsys):
    import csv
    import pickle

    import joblib

    folder = files["dir"] / "safe-model"
    assert main(["fit", str(files["train"]), "--model", str(folder), "--text-column", "review",
                 "--label-column", "stars", "--pretrained", str(tiny_encoder_dir)] + FIT_FAST) == 0
    assert (folder / "model.json").is_file() and (folder / "weights.safetensors").is_file()
    expected = joblib.load(model_file).predict(files["X"][:7])  # same seed, same fit
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    out = files["dir"] / "pred-safe.csv"
    assert main(["predict", str(folder), str(files["texts"]), "--text-column", "review",
                 "--output", str(out), "--quiet"]) == 0
    assert [r["prediction"] for r in csv.DictReader(open(out))] == list(expected)
    assert main(["predict", str(files["dir"]), str(files["texts"])]) == 2
    assert "not a saved ulmfit-sklearn model" in capsys.readouterr().err
