"""Command line: ``ulmfit-sklearn {fit,predict,evaluate,pretrain,demo}``.

``fit`` trains a ULMFiT estimator on a CSV / JSON-lines file and saves it: as a
model folder in the safe format (safetensors and JSON, see
:mod:`ulmfit_sklearn.persistence`), or as a joblib pickle when ``--model`` ends
in ``.joblib`` or ``.pkl``; ``predict`` and ``evaluate`` load either.  Errors in
the input (a missing column, an unreadable file, a model of another version, an
invalid option or parameter value) end with a one-line message and exit status
2.  Pickles run code when loaded: load pickled models only from a trusted source.
"""

import argparse
import csv
import json
import os
import sys
import time
import warnings

EXIT_ERROR = 2
COMMANDS = {
    "fit": "fit a ULMFiT classifier or regressor on a labeled file; save the model",
    "predict": "predict labels (or probabilities) of texts with a saved model",
    "evaluate": "score a saved model on a labeled file",
    "pretrain": "pretrain an AWD-LSTM encoder on text files (stage 1)",
    "demo": "fit ULMFiTClassifier on a bundled TREC-6 sample, next to TF-IDF",
    "mlm-head": "give a BERT encoder a masked-LM head for stage 2, trained on text files",
}


TRUST = ("Model files ending in .joblib or .pkl are pickles: loading one runs any code it "
         "holds, so load those only from a trusted source.  A model folder (the safe format, "
         "which 'fit --model FOLDER' writes) loads without running code.")
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def _is_pickle(path):
    return str(path).lower().endswith(PICKLE_SUFFIXES)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _positive_int(text):
    """argparse type: an int >= 1 (argparse reports anything else, exit status 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _check_output(path, option, folder_ok=False):
    """A CLIError unless ``path`` can be written: checked before any long work.
    With ``folder_ok``, ``path`` is a model folder (made if missing)."""
    folder = os.path.dirname(os.path.abspath(path))
    if folder_ok and os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"{option} {path} is a file; a model folder needs a folder name "
                       f"(or end it in .joblib for a pickle)")
    if os.path.isdir(path) and not folder_ok:
        raise CLIError(f"{option} {path} is a folder, not a file name")
    if not os.path.isdir(folder):
        raise CLIError(f"{option} {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"{option} {path}: folder {folder} is not writable")


def _parse_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _params(pairs):
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"--set expects KEY=VALUE, got {pair!r}")
        params[key.strip()] = _parse_value(value)
    return params


def _read(path, text_column, label_column, required_label=True):
    from .datasets import load_texts

    try:
        return load_texts(path, text_column, label_column, required_label=required_label)
    except KeyError as exc:  # a missing column
        raise CLIError(exc.args[0]) from None
    except (OSError, UnicodeDecodeError, ValueError, EOFError, csv.Error) as exc:
        msg = str(exc)
        raise CLIError(msg if msg.startswith(str(path)) else f"cannot read {path}: {msg}") from None


def load_model(path):
    """A model written by ``fit`` (a model folder, or a pickle); a CLIError if it is
    not one, or if another version of the package saved it."""
    import joblib

    from ._base import ULMFiTBase
    from .exceptions import InconsistentVersionWarning, ModelFileError
    from .persistence import load

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        try:
            model = load(path) if os.path.isdir(path) else joblib.load(path)
        except ModelFileError as exc:
            raise CLIError(str(exc)) from None
        except FileNotFoundError:
            raise CLIError(f"no such model file: {path}") from None
        except Exception as exc:  # pickle raises many kinds
            raise CLIError(f"{path} is not a model file of ulmfit-sklearn ({type(exc).__name__}: {exc})") from None
    for w in caught:
        if issubclass(w.category, InconsistentVersionWarning):
            raise CLIError(f"{path}: {w.message}")
    if not isinstance(model, ULMFiTBase) or not hasattr(model, "net_"):
        raise CLIError(f"{path} is not a fitted ulmfit-sklearn model")
    return model


def _progress(iterable, total, quiet, desc):
    if quiet:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="batch", file=sys.stderr)


def _predict(model, X, batch_size, quiet, proba=False):
    """Predictions (and probabilities) in chunks, with a progress bar."""
    import numpy as np

    preds, probs = [], []
    starts = range(0, len(X), batch_size)
    for i in _progress(starts, len(starts), quiet, "predict"):
        chunk = X[i:i + batch_size]
        preds.append(np.asarray(model.predict(chunk)))
        if proba:
            probs.append(model.predict_proba(chunk))
    return (np.concatenate(preds) if preds else np.zeros(0)), (np.concatenate(probs) if probs else None)


def fit(argv=None):
    """Fit a ULMFiT estimator on a labeled CSV or JSON-lines file; save it as a model
    folder (the safe format), or as a joblib pickle if --model ends in .joblib or .pkl."""
    p = argparse.ArgumentParser(prog="ulmfit-sklearn fit", description=fit.__doc__)
    p.add_argument("data", help="training file: .csv or .jsonl (optionally .gz/.bz2/.xz)")
    p.add_argument("--model", required=True,
                   help="where to write the fitted model: a folder in the safe format "
                        "(safetensors + JSON), or a pickle if it ends in .joblib or .pkl; "
                        "its parent folder must exist")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    p.add_argument("--task", choices=["classification", "regression"], default="classification")
    p.add_argument("--pretrained", default="default", help="encoder name or folder")
    p.add_argument("--set", dest="params", action="append", metavar="KEY=VALUE",
                   help="an estimator parameter, e.g. --set lm_epochs=2 --set "
                        "unfreeze_epochs=[1,1,1,4] (values are read as JSON, else as text)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch tables")
    a = p.parse_args(argv)
    _check_output(a.model, "--model", folder_ok=not _is_pickle(a.model))
    import joblib
    from ._compat import InvalidParameterError

    from .classifier import ULMFiTClassifier
    from .regressor import ULMFiTRegressor

    cls = ULMFiTClassifier if a.task == "classification" else ULMFiTRegressor
    params = dict(pretrained=a.pretrained, random_state=a.seed, verbose=0 if a.quiet else 1)
    params.update(_params(a.params))
    unknown = sorted(set(params) - set(cls._get_param_names()))
    if unknown:
        raise CLIError(f"unknown parameter {unknown[0]!r} of {cls.__name__} "
                       f"(parameters: {', '.join(cls._get_param_names())})")
    est = cls(**params)
    try:  # invalid values (a device this machine lacks, too) end here, before the data are read
        est._check_params()
    except (InvalidParameterError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    X, y = _read(a.data, a.text_column, a.label_column)
    t0 = time.time()
    try:
        est.fit(X, y)
    except (InvalidParameterError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    try:
        joblib.dump(est, a.model) if _is_pickle(a.model) else est.save(a.model)
    except OSError as exc:
        raise CLIError(f"cannot write {a.model}: {exc}") from None
    print(f"fitted {cls.__name__} on {len(X)} texts in {time.time() - t0:.0f}s; saved to {a.model}")
    return est


def _model_command(name, doc, data_help):
    p = argparse.ArgumentParser(prog=f"ulmfit-sklearn {name}", description=doc, epilog=TRUST)
    p.add_argument("model", help="a model written by 'ulmfit-sklearn fit': a model folder, or "
                                 "a pickle (.joblib, .pkl: load only from a trusted source)")
    p.add_argument("data", help=data_help)
    p.add_argument("--text-column", default="text")
    return p


def predict(argv=None):
    """Predict with a saved model; writes CSV (one row per text) to --output or stdout."""
    p = _model_command("predict", predict.__doc__,
                       "texts: .csv/.jsonl (with --text-column) or .txt (one per line)")
    p.add_argument("--proba", action="store_true", help="also write each class's probability")
    p.add_argument("--output", default=None,
                   help="CSV file to write (default: stdout); its folder must exist")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="texts per progress step")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    if a.output:
        _check_output(a.output, "--output")
    model = load_model(a.model)
    X, _ = _read(a.data, a.text_column, None)
    if not X:  # almost always a mistake (the wrong file, a failed export): not an empty CSV
        raise CLIError(f"{a.data}: no texts to predict (the file is empty, or holds only a "
                       "header or blank lines)")
    proba = a.proba and hasattr(model, "predict_proba")
    pred, prob = _predict(model, X, a.batch_size, a.quiet, proba)
    header = ["prediction"] + ([f"proba_{c}" for c in model.classes_] if proba else [])
    try:
        out = open(a.output, "w", newline="", encoding="utf-8") if a.output else sys.stdout
    except OSError as exc:
        raise CLIError(f"cannot write {a.output}: {exc}") from None
    try:
        w = csv.writer(out)
        w.writerow(header)
        for j, v in enumerate(pred):
            w.writerow([v] + ([f"{q:.6g}" for q in prob[j]] if proba else []))
    finally:
        if a.output:
            out.close()
    return pred


def evaluate(argv=None):
    """Score a saved model on a labeled file; prints the metrics as JSON."""
    p = _model_command("evaluate", evaluate.__doc__, "labeled file: .csv or .jsonl")
    p.add_argument("--label-column", default="label")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="texts per progress step")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    import numpy as np
    from sklearn import metrics

    model = load_model(a.model)
    X, y = _read(a.data, a.text_column, a.label_column)
    if y is None:
        raise CLIError(f"{a.data}: no labels (a .txt file holds texts only: use .csv or .jsonl)")
    if not X:
        raise CLIError(f"{a.data}: no rows to evaluate")
    if not hasattr(model, "classes_"):
        try:
            y = y.astype(float)
        except (TypeError, ValueError):
            raise CLIError(f"{a.data}: column {a.label_column!r} holds values that are not "
                           "numbers, which a regressor needs") from None
    pred, _ = _predict(model, X, a.batch_size, a.quiet)
    if hasattr(model, "classes_"):  # labels read from a file are text: compare as text
        y, pred = np.asarray(y).astype(str), np.asarray(pred).astype(str)
        result = {"n": len(X), "accuracy": metrics.accuracy_score(y, pred),
                  "error": 1 - metrics.accuracy_score(y, pred),
                  "f1_macro": metrics.f1_score(y, pred, average="macro")}
    else:
        result = {"n": len(X), "r2": metrics.r2_score(y, pred),
                  "mae": metrics.mean_absolute_error(y, pred),
                  "rmse": float(np.sqrt(metrics.mean_squared_error(y, pred)))}
    print(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()}))
    return result


def demo(argv=None):
    """Fit ULMFiTClassifier on the bundled TREC-6 sample; compare with TF-IDF."""
    p = argparse.ArgumentParser(prog="ulmfit-sklearn demo", description=demo.__doc__)
    p.add_argument("--pretrained", default="default", help="encoder name or folder")
    p.add_argument("--n-train", type=_positive_int, default=None,
                   help="use only this many training questions")
    p.add_argument("--n-test", type=_positive_int, default=None, help="use only this many test questions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=0)
    a = p.parse_args(argv)

    from .baselines import tfidf_logreg
    from .classifier import ULMFiTClassifier
    from .datasets import load_trec6_sample

    X_train, y_train, X_test, y_test = load_trec6_sample()
    X_train, y_train = X_train[: a.n_train], y_train[: a.n_train]
    X_test, y_test = X_test[: a.n_test], y_test[: a.n_test]
    print(f"TREC-6 sample: {len(X_train)} training and {len(X_test)} test questions, "
          f"{len(set(y_train))} classes")
    rows = []
    for name, est in [
        ("ULMFiTClassifier", ULMFiTClassifier(a.pretrained, random_state=a.seed, verbose=a.verbose)),
        ("TfidfVectorizer + LogisticRegressionCV", tfidf_logreg()),
    ]:
        t0 = time.time()
        try:
            est.fit(X_train, y_train)
        except ValueError as exc:  # an unknown encoder, for one
            raise CLIError(str(exc)) from None
        fit_s = time.time() - t0
        acc = est.score(X_test, y_test)
        rows.append((name, acc, fit_s))
        print(f"{name:40s} accuracy {acc:.3f}  (fit {fit_s:.0f}s)", flush=True)
    return rows


def _pretrain(argv):
    from .exceptions import EncoderError
    from .pretrain import main as pretrain_main

    try:
        return pretrain_main(argv)
    except (FileNotFoundError, EncoderError) as exc:  # a missing text file, an unknown --init
        raise CLIError(str(exc)) from None


def _mlm_head(argv):
    from .exceptions import EncoderError
    from .pretrain import mlm_head_main

    try:
        return mlm_head_main(argv)
    except (FileNotFoundError, EncoderError) as exc:
        raise CLIError(str(exc)) from None


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    handlers = {"fit": fit, "predict": predict, "evaluate": evaluate, "pretrain": _pretrain,
                "demo": demo, "mlm-head": _mlm_head}
    if argv and argv[0] not in handlers and argv[0] not in ("-h", "--help"):
        print(f"ulmfit-sklearn: error: unknown command {argv[0]!r} (choose from "
              f"{', '.join(COMMANDS)}; see ulmfit-sklearn --help)", file=sys.stderr)
        return EXIT_ERROR
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: ulmfit-sklearn {" + ",".join(COMMANDS) + "} [options]\n")
        for name, text in COMMANDS.items():
            print(f"  {name:13s} {text}")
        print("\n'ulmfit-sklearn COMMAND --help' describes a command's options.")
        return 0 if argv and argv[0] in ("-h", "--help") else EXIT_ERROR
    try:
        handlers[argv[0]](argv[1:])
    except CLIError as exc:
        msg = " ".join(str(exc).split())  # one line, whatever the message
        print(f"ulmfit-sklearn {argv[0]}: error: {msg}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
