"""Command line: ``ulmfit-sklearn demo`` and ``ulmfit-sklearn pretrain``."""

import argparse
import sys
import time


def demo(argv=None):
    """Fit ULMFiTClassifier on the bundled TREC-6 sample; compare with TF-IDF."""
    p = argparse.ArgumentParser(prog="ulmfit-sklearn demo", description=demo.__doc__)
    p.add_argument("--pretrained", default="default", help="encoder name or folder")
    p.add_argument("--n-train", type=int, default=None, help="use only this many training questions")
    p.add_argument("--n-test", type=int, default=None, help="use only this many test questions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=0)
    a = p.parse_args(argv)

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline

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
        ("TfidfVectorizer + LogisticRegressionCV",
         make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                       LogisticRegressionCV(max_iter=2000, scoring="accuracy", use_legacy_attributes=False))),
    ]:
        t0 = time.time()
        est.fit(X_train, y_train)
        fit_s = time.time() - t0
        acc = est.score(X_test, y_test)
        rows.append((name, acc, fit_s))
        print(f"{name:40s} accuracy {acc:.3f}  (fit {fit_s:.0f}s)", flush=True)
    return rows


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"demo": demo, "pretrain": None}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: ulmfit-sklearn {demo,pretrain} [options]\n\n"
              "  demo      fit ULMFiTClassifier on a bundled TREC-6 sample, next to TF-IDF\n"
              "  pretrain  pretrain an AWD-LSTM encoder on text files (stage 1)\n\n"
              "'ulmfit-sklearn COMMAND --help' describes a command's options.")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    if argv[0] == "pretrain":
        from .pretrain import main as pretrain_main
        return pretrain_main(argv[1:])
    demo(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
