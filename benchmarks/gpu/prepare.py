"""Prepare the GPU pretraining kit here, on the CPU (see docs/gpu_pretraining.md).

Writes, into folders that .gitignore keeps out of git but that travel with the tree
when named in ``carry``:

* ``.gpu-kit/``: ``vocab.txt`` (a word vocabulary: a copy of ``--vocab``, or the
  ``--vocab-size`` most frequent words of the selected text), ``train_ids.npy.xz`` and
  ``valid_ids.npy.xz`` (token ids as uint16 ``.npy`` files, xz-compressed: 0.88 bytes
  a token on the default mix, against 2 raw and about 1.1 with ``np.savez_compressed``) and
  ``corpus.json`` (what was taken, counts and sizes);
* ``.whl/``: the wheels the GPU machine may lack, for CPython 3.12 on x86-64 Linux.

The tree, the wheels, the vocabulary and the corpus must fit in ``--budget-mib``
(64 MiB travel with a device call); the training-token budget is what is left,
less ``--margin-mib``, at 0.9 bytes a token, checked (and trimmed) after compression.
Each training file gives an equal share of tokens, read as every k-th block of
paragraphs so that the share spreads over the whole file.
"""

import argparse
import io
import json
import lzma
import subprocess
import sys
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ulmfit_sklearn.datasets import open_text  # noqa: E402
from ulmfit_sklearn.pretrain import read_paragraphs  # noqa: E402
from ulmfit_sklearn.text import SPECIAL_TOKENS, WordTokenizer, apply_rules  # noqa: E402

MIB = 1 << 20
#: pure-python dependencies (one wheel fits every platform): always carried
PURE = ["skorch", "tabulate", "tqdm", "joblib", "threadpoolctl"]
#: compiled dependencies (about 63 MB together, scipy 35 and numpy 17 of it): the GPU
#: image has them; carry one with --binary-wheels only where it lacks it
BINARY = ["numpy", "scipy", "scikit-learn", "safetensors", "sentencepiece"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "any"]
TOKENS_PER_WORD = 1.45  # rule tokens per whitespace word in shared/corpus (115.5M / 80.1M)
BYTES_PER_TOKEN = 0.9  # xz-compressed word ids: 0.875 measured on the default mix


def tree_bytes(root=ROOT):
    """Bytes of the files that travel with the tree (tracked, and untracked not ignored)."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        print("not a git checkout: the tree's size is not counted", file=sys.stderr)
        return 0
    return sum((root / f).stat().st_size for f in out.decode().split("\0")
               if f and (root / f).is_file())


def download_wheels(folder, binary=()):
    """Download this environment's versions of the dependencies as wheels for the GPU
    machine (CPython 3.12, manylinux x86-64); returns their total bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    names = PURE + [b for b in BINARY if b in binary]
    for name in names:  # one version of each: two stop the install
        for f in folder.glob(name.replace("-", "_") + "-*.whl"):
            if f"-{version(name)}-" not in f.name:
                f.unlink()
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                    *(f"--platform={p}" for p in PLATFORMS), "-d", str(folder),
                    *(f"{n}=={version(n)}" for n in names)], check=True)
    return sum(f.stat().st_size for f in folder.glob("*.whl"))


def spread_paragraphs(path, tokens, block=200):
    """Paragraphs of ``path``: every k-th block of ``block`` lines (fewer in a file of
    under 100 blocks), k set so that the blocks taken (about 10 % more than
    ``tokens``) spread over the whole file."""
    with open_text(path) as f:
        lines, words = 0, 0
        for line in f:
            lines, words = lines + 1, words + line.count(" ") + 1
    block = max(1, min(block, lines // 100))
    frac = min(1.0, 1.1 * tokens / max(1, words * TOKENS_PER_WORD))
    with open_text(path) as f:
        for i, line in enumerate(f):
            b = i // block
            if int((b + 1) * frac) > int(b * frac) and line.strip():
                yield line.strip()


def take(paragraphs, tokens, encode):
    """Encode paragraphs until ``tokens`` ids: (uint16 ids, whitespace words)."""
    chunks, n, words = [], 0, 0
    for text in paragraphs:
        if n >= tokens:
            break
        chunks.append(encode(text).astype(np.uint16))
        n += len(chunks[-1])
        words += len(text.split())
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.uint16)), words


def xz_npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return lzma.compress(buf.getvalue(), preset=6)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    p.add_argument("--files", nargs="+", default=[f"modern-train-0{i}.txt.xz" for i in range(6)]
                   + ["gutenberg-train-00.txt.xz", "gutenberg-train-01.txt.xz"],
                   help="training files in --corpus, an equal share of tokens each "
                        "(default: the six modern files and two Gutenberg ones, 75/25)")
    p.add_argument("--valid", nargs="+", default=["modern-valid.txt.xz", "gutenberg-valid.txt.xz"])
    p.add_argument("--valid-tokens", type=int, default=200_000, help="from each --valid file")
    p.add_argument("--vocab", default=None, help="a vocab.txt to reuse (e.g. a CPU run's)")
    p.add_argument("--vocab-size", type=int, default=30000, help="without --vocab")
    p.add_argument("--tokens", type=int, default=None,
                   help="training tokens (default: what fits in the budget)")
    p.add_argument("--out", default=str(ROOT / ".gpu-kit"))
    p.add_argument("--wheels", default=str(ROOT / ".whl"))
    p.add_argument("--no-wheels", action="store_true", help="download no wheels")
    p.add_argument("--binary-wheels", nargs="*", default=[], choices=BINARY,
                   help="compiled dependencies to carry too (only where the GPU machine lacks them)")
    p.add_argument("--budget-mib", type=float, default=64.0)
    p.add_argument("--margin-mib", type=float, default=4.0,
                   help="left free for the tree to grow before the device call")
    a = p.parse_args(argv)
    out, corpus = Path(a.out), Path(a.corpus)
    out.mkdir(parents=True, exist_ok=True)
    wheel_bytes = 0 if a.no_wheels else download_wheels(Path(a.wheels), a.binary_wheels)
    tree = tree_bytes()
    files = [corpus / f for f in a.files]

    if a.vocab:
        tokenizer = WordTokenizer.load(a.vocab)
    else:  # the most frequent words of the text that will be taken
        counts = Counter()
        share = (a.tokens or 30_000_000) // len(files)
        for f in files:
            n = 0
            for text in spread_paragraphs(f, share):
                words = apply_rules(text)
                counts.update(words)
                n += len(words)
                if n >= share:
                    break
        words = [w for w, c in counts.most_common() if c >= 2 and w not in SPECIAL_TOKENS]
        tokenizer = WordTokenizer(list(SPECIAL_TOKENS) + words[:a.vocab_size - len(SPECIAL_TOKENS)])
    tokenizer.save(out)
    vocab_bytes = (out / tokenizer.filename).stat().st_size

    valid = [take(read_paragraphs([corpus / f]), a.valid_tokens, tokenizer.encode) for f in a.valid]
    valid_xz = xz_npy(np.concatenate([v[0] for v in valid]))
    room = int(a.budget_mib * MIB) - tree - wheel_bytes - vocab_bytes - len(valid_xz) \
        - int(a.margin_mib * MIB)
    if room <= 0:
        sys.exit(f"no room for a corpus: the tree is {tree / MIB:.1f} MiB, wheels "
                 f"{wheel_bytes / MIB:.1f} MiB, of {a.budget_mib} MiB")
    tokens = a.tokens or int(room / BYTES_PER_TOKEN)  # checked below
    parts = [take(spread_paragraphs(f, tokens // len(files)), tokens // len(files),
                  tokenizer.encode) for f in files]
    train_xz = xz_npy(np.concatenate([ids for ids, _ in parts]))
    if len(train_xz) > room:  # trim every file's share alike, once
        keep = 0.98 * room / len(train_xz)
        parts = [(ids[:int(len(ids) * keep)], int(w * keep)) for ids, w in parts]
        train_xz = xz_npy(np.concatenate([ids for ids, _ in parts]))
    (out / "train_ids.npy.xz").write_bytes(train_xz)
    (out / "valid_ids.npy.xz").write_bytes(valid_xz)
    stats = {
        "train_files": [f.name for f in files], "train_tokens": sum(len(i) for i, _ in parts),
        "train_words": sum(w for _, w in parts),
        "train_tokens_per_file": [len(i) for i, _ in parts],
        "valid_file": " + ".join(a.valid), "valid_tokens": sum(len(i) for i, _ in valid),
        "valid_words": sum(w for _, w in valid),
        "vocab": a.vocab or f"the {tokenizer.vocab_size} most frequent words of the text taken",
        "vocab_size": tokenizer.vocab_size,
        "selection": "an equal share of tokens from each training file, every k-th block of "
                     "200 paragraphs; the first tokens of each validation file",
        "sizes_mib": {k: round(v / MIB, 2) for k, v in {
            "tree": tree, "wheels": wheel_bytes, "vocab": vocab_bytes, "valid_xz": len(valid_xz),
            "train_xz": len(train_xz)}.items()},
        "train_bytes_per_token": round(len(train_xz) / max(1, sum(len(i) for i, _ in parts)), 3),
    }
    (out / "corpus.json").write_text(json.dumps(stats, indent=2) + "\n")
    total = tree + wheel_bytes + vocab_bytes + len(valid_xz) + len(train_xz)
    print(json.dumps(stats, indent=2))
    print(f"travels: {total / MIB:.1f} MiB of {a.budget_mib} (carry: "
          f"{Path(a.wheels).name}, {out.name})")


if __name__ == "__main__":
    main()
