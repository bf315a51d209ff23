"""Stage 1's corpus: a plain-text corpus (``.txt`` or ``.txt.xz``, one paragraph per
line) made into a tokenizer and a flat array of token ids.

:func:`train_tokenizer` trains the tokenizer (SentencePiece unigram or a word
vocabulary) on a sample of the corpus, after the same rules the estimators use;
:func:`corpus_vocabulary` and :func:`vector_vocabulary` make a word vocabulary from
the corpus' or a vector file's most frequent words; :func:`tokenize_corpus` writes
the corpus once as a flat array of token ids (``.npy``, memory-mapped when read), so
that training never holds Python lists; :func:`prepare_corpus` does all of it once
for a run's folder.
"""

import itertools
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..datasets import open_text
from ..text import SPECIAL_TOKENS, TOKENIZERS, WordTokenizer, apply_rules


def read_paragraphs(files, limit=None):
    """Yield the non-empty lines of text files (xz-compressed or not)."""
    def lines():
        for f in files:
            with open_text(f) as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        yield line
    return itertools.islice(lines(), limit)


def train_tokenizer(files, kind="sentencepiece", vocab_size=8000, sample=100_000):
    """Train a tokenizer on the first ``sample`` paragraphs of ``files``."""
    texts = list(read_paragraphs(files, sample))
    if kind == "sentencepiece":
        return TOKENIZERS[kind].train(texts, vocab_size=vocab_size)
    return TOKENIZERS[kind].train(texts, max_vocab=vocab_size)


def read_vectors(path, limit=None):
    """Word vectors in GloVe's text format: ``word x1 ... xd`` per line.

    Returns (words, float32 array of shape (n_words, d)), in the file's order
    (GloVe's: most frequent first), keeping the first of repeated words.  The file
    may be plain, ``.gz``, ``.bz2`` or ``.xz``.
    """
    words, rows, seen = [], [], set()
    with open_text(path) as f:
        for i, line in enumerate(itertools.islice(f, limit), 1):
            parts = line.rstrip().split(" ")
            if len(parts) < 2:
                continue
            try:
                vec = [float(x) for x in parts[1:]]
            except ValueError:
                raise ValueError(f"{path}, line {i}: not a word followed by numbers") from None
            if rows and len(vec) != len(rows[0]):
                raise ValueError(f"{path}, line {i}: {len(vec)} numbers, expected {len(rows[0])}")
            if parts[0] not in seen:
                seen.add(parts[0])
                words.append(parts[0])
                rows.append(vec)
    if not rows:
        raise ValueError(f"{path}: no word vectors found")
    return words, np.asarray(rows, dtype=np.float32)


def corpus_vocabulary(files, vocab_size, min_freq=2, every=1):
    """A word tokenizer over the ``vocab_size`` most frequent words of ``files``.

    Counts the words (after the text rules) of every ``every``-th paragraph of all
    the files, so a vocabulary drawn from a mixed corpus reflects every part of it,
    not only the first file.
    """
    counts = Counter()
    for i, text in enumerate(read_paragraphs(files)):
        if i % every == 0:
            counts.update(apply_rules(text))
    words = [w for w, c in counts.most_common() if c >= min_freq and w not in SPECIAL_TOKENS]
    return WordTokenizer(list(SPECIAL_TOKENS) + words[: max(0, vocab_size - len(SPECIAL_TOKENS))])


def vector_vocabulary(words, vocab_size):
    """A word tokenizer over the special tokens and the first words of a vector file.

    A vector file lists words by their frequency in a large corpus (GloVe: 6B
    tokens of Wikipedia and news), a vocabulary for modern English that a small
    pretraining corpus could not give.
    """
    rest = [w for w in words if w not in SPECIAL_TOKENS]
    return WordTokenizer(list(SPECIAL_TOKENS) + rest[: max(0, vocab_size - len(SPECIAL_TOKENS))])


def tokenize_corpus(files, tokenizer, out_path, limit=None):
    """Tokenize paragraphs into one flat id array saved as ``out_path`` (.npy).

    Returns (number of tokens, number of whitespace words).
    """
    dtype = np.uint16 if tokenizer.vocab_size < 2**16 else np.int32
    chunks, n_words, n_tokens = [], 0, 0
    for text in read_paragraphs(files, limit):
        ids = tokenizer.encode(text).astype(dtype)
        chunks.append(ids)
        n_words += len(text.split())
        n_tokens += len(ids)
    arr = np.concatenate(chunks) if chunks else np.zeros(0, dtype)
    np.save(out_path, arr)
    return n_tokens, n_words


def prepare_corpus(out, train, valid, tokenizer="sentencepiece", vocab=None, vocab_size=8000,
                   vocab_every=1, vectors=None):
    """Train the tokenizer and tokenize the corpus into ``out``, unless done before there.

    Parameters
    ----------
    out : Path
        The run's folder: the tokenizer file, ``train_ids.npy``, ``valid_ids.npy``
        and ``corpus.json`` (their counts) go there.
    train : list of path
        Training text files.
    valid : path
        The held-out text file.
    tokenizer : {"sentencepiece", "word"}
        The tokenizer's kind (a word vocabulary with ``vocab``).
    vocab : {"corpus", "vectors"} or None
        A word vocabulary of the training files' most frequent words, or of the
        first words of ``vectors``; None: train the tokenizer.
    vocab_size : int
        Entries of the tokenizer.
    vocab_every : int
        With ``vocab="corpus"``: count every ``vocab_every``-th paragraph.
    vectors : (words, array) or None
        Word vectors (:func:`read_vectors`).
    """
    tok_cls = TOKENIZERS[tokenizer]
    tok_path = out / tok_cls.filename
    t0 = time.time()
    if tok_path.exists():
        tok = tok_cls.load(tok_path)
    elif vocab == "corpus":
        tok = corpus_vocabulary(train, vocab_size, every=vocab_every)
        tok.save(out)
        print(f"vocabulary counted ({tok.vocab_size} words) in {time.time() - t0:.0f}s", flush=True)
    elif vectors:
        tok = vector_vocabulary(vectors[0], vocab_size)
        tok.save(out)
    else:
        tok = train_tokenizer(train, tokenizer, vocab_size)
        tok.save(out)
        print(f"tokenizer trained ({tok.vocab_size} entries) in {time.time() - t0:.0f}s", flush=True)
    stats_path = out / "corpus.json"
    if not stats_path.exists():
        n_tok, n_words = tokenize_corpus(train, tok, out / "train_ids.npy")
        v_tok, v_words = tokenize_corpus([valid], tok, out / "valid_ids.npy")
        stats = {"train_files": [Path(f).name for f in train], "train_tokens": n_tok,
                 "train_words": n_words, "valid_file": Path(valid).name, "valid_tokens": v_tok,
                 "valid_words": v_words}
        stats_path.write_text(json.dumps(stats, indent=2))
        print(f"corpus tokenized: {stats} in {time.time() - t0:.0f}s", flush=True)
