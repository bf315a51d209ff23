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
