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
import itertools
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


def pretrain_main(argv=None):
    """Pretrain an AWD-LSTM language model into an encoder folder (ULMFiT's stage 1)
    on text files: ``ulmfit-sklearn pretrain``, ``python -m ulmfit_sklearn.pretrain``,
    or ``torchrun --nproc_per_node N -m ulmfit_sklearn.pretrain`` (data-parallel on N
    processes).  Errors raise (the ``pretrain`` command prints them as one line)."""
    import torch

    from .pretraining.awd_lstm import pretrain_on_files
    from .text import TOKENIZERS

    p = argparse.ArgumentParser(prog="ulmfit-sklearn pretrain",
                                description=pretrain_main.__doc__.split("\n\n")[0])
    p.add_argument("--train", nargs="+", required=True, help="training text files (.txt or .txt.xz)")
    p.add_argument("--valid", required=True, help="held-out text file")
    p.add_argument("--out", required=True, help="output folder (checkpoints, ids, encoder)")
    p.add_argument("--tokenizer", choices=sorted(TOKENIZERS), default="sentencepiece")
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--emb-size", type=int, default=200)
    p.add_argument("--hidden-size", type=int, default=600)
    p.add_argument("--n-layers", type=int, default=3)
    p.add_argument("--tokens", type=float, default=10e6, help="tokens in the STLR cycle")
    p.add_argument("--epoch-batches", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=70)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--drop-mult", type=float, default=0.1)
    p.add_argument("--max-minutes", type=float, default=None, help="stop this run after so long")
    p.add_argument("--vectors", default=None,
                   help="word vectors in GloVe's text format: a word vocabulary of their first "
                        "--vocab-size words, whose embeddings start from them")
    p.add_argument("--vocab", choices=["vectors", "corpus"], default=None,
                   help="word vocabulary from the first words of --vectors (the default with "
                        "--vectors) or from the most frequent words of the training files")
    p.add_argument("--vocab-every", type=int, default=1,
                   help="with --vocab corpus: count every N-th paragraph")
    p.add_argument("--corpus-description", default=None,
                   help="what the training text is, its sources and terms (for the metadata)")
    p.add_argument("--language", default=None, help="the training text's language and kind")
    p.add_argument("--init", default=None,
                   help="encoder (name or folder) to start from; its tokenizer is reused")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="stop this run after so many epochs (0: write the encoder from the last checkpoint)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--autocast", action="store_true", help="bf16 autocast (fast on CPUs with "
                   "native bf16, e.g. AVX-512 BF16, and on GPUs)")
    p.add_argument("--sampled-softmax", action="store_true",
                   help="train with an in-batch sampled softmax (each step's softmax covers the "
                        "batch's own target ids); validation uses the full softmax")
    p.add_argument("--backward", action="store_true",
                   help="train a backward LM (the token streams reversed: it reads right to left)")
    p.add_argument("--checkpoint-minutes", type=float, default=None,
                   help="write the checkpoint and the encoder every so many minutes "
                        "(instead of the checkpoint after each epoch)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar (epoch lines only)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    enc = pretrain_on_files(
        a.out, a.train, a.valid, tokenizer=a.tokenizer, vocab=a.vocab, vocab_size=a.vocab_size,
        vocab_every=a.vocab_every, vectors=a.vectors, init=a.init, emb_size=a.emb_size,
        hidden_size=a.hidden_size, n_layers=a.n_layers,
        corpus_description=a.corpus_description, language=a.language, device=a.device,
        verbose=0 if a.quiet else 1, tokens=a.tokens, epoch_batches=a.epoch_batches,
        batch_size=a.batch_size, bptt=a.bptt, lr=a.lr, drop_mult=a.drop_mult, seed=a.seed,
        autocast=a.autocast, max_seconds=a.max_minutes * 60 if a.max_minutes else None,
        max_epochs=a.max_epochs, sampled_softmax=a.sampled_softmax, backward=a.backward,
        checkpoint_every_s=a.checkpoint_minutes * 60 if a.checkpoint_minutes else None)
    if enc is not None:
        print(f"encoder written to {enc}", flush=True)
        print(json.dumps(json.loads((enc / "metadata.json").read_text())["valid"]), flush=True)
    return enc


def mlm_head_main(argv=None):
    """Give a BERT encoder a masked-LM head
    (:func:`~ulmfit_sklearn.pretraining.mlm_head.train_mlm_head`) on text files:
    ``ulmfit-sklearn mlm-head``.  Errors raise (the command prints them as one line)."""
    import torch

    from .encoders import load_encoder
    from .pretraining.corpus import read_paragraphs
    from .pretraining.mlm_head import train_mlm_head

    p = argparse.ArgumentParser(prog="ulmfit-sklearn mlm-head", description=mlm_head_main.__doc__)
    p.add_argument("--encoder", required=True, help="a BERT encoder: a bundled name or a folder")
    p.add_argument("--train", nargs="+", required=True, help="training text files (.txt or .txt.xz)")
    p.add_argument("--out", required=True, help="folder of the encoder with its head")
    p.add_argument("--every", type=int, default=1, help="read every EVERY-th paragraph")
    p.add_argument("--documents", type=int, default=20_000, help="at most so many paragraphs")
    p.add_argument("--head-epochs", type=int, default=1)
    p.add_argument("--all-epochs", type=int, default=0,
                   help="epochs with the encoder unfrozen too (0 keeps the encoder's weights)")
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--all-lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--autocast", action="store_true", help="bf16 autocast")
    p.add_argument("--int8", action="store_true", help="store the weights as int8 rows "
                   "(as the bundled minilm-l6), not fp16")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    encoder = load_encoder(a.encoder)
    texts = itertools.islice(itertools.islice(read_paragraphs(a.train), 0, None, a.every),
                             a.documents)
    out = train_mlm_head(encoder, list(texts), a.out, head_epochs=a.head_epochs,
                         all_epochs=a.all_epochs, head_lr=a.head_lr, all_lr=a.all_lr,
                         batch_size=a.batch_size, seed=a.seed, autocast=a.autocast, verbose=1,
                         dtype=torch.int8 if a.int8 else torch.float16,
                         record={"command": "ulmfit-sklearn mlm-head " + " ".join(
                             sys.argv[2:] if argv is None else argv)})
    print(f"encoder with a masked-LM head: {out}", flush=True)
    return out


def _pretrain(argv):
    from .exceptions import EncoderError

    try:
        return pretrain_main(argv)
    except (FileNotFoundError, EncoderError) as exc:  # a missing text file, an unknown --init
        raise CLIError(str(exc)) from None


def _mlm_head(argv):
    from .exceptions import EncoderError

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
