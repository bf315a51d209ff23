"""Datasets and batch iterators for the two kinds of training.

* Language modelling reads a continuous stream of token ids, cut into
  ``batch_size`` rows and read in windows of variable length (``bptt`` most of
  the time, ``bptt / 2`` one time in twenty, jittered), as in AWD-LSTM and fastai.
* Classification reads documents, padded on the right, in batches of documents of
  similar length ("sortish" in training, as fastai's SortishSampler).

The iterators are what skorch calls ``iterator_train`` / ``iterator_valid``:
``Iterator(dataset, batch_size=..., **kwargs)``, iterated once per epoch.  Their
randomness comes from their own seeded numpy generator, never from global state.
"""

import numpy as np
import torch
from torch.utils.data import Dataset, Subset


class TokenStream(Dataset):
    """A stream of token ids: documents concatenated, or one (memory-mapped) array.

    Parameters
    ----------
    docs : list of int arrays, or a 1-D int array
        Documents (each starting with ``xxbos``) or an already concatenated stream
        (e.g. a ``numpy.memmap`` of a tokenized corpus).
    """

    def __init__(self, docs):
        if isinstance(docs, np.ndarray) and docs.ndim == 1:
            self.docs, self.array = None, docs
        else:
            self.docs, self.array = list(docs), None
        self.n_tokens = len(self.array) if self.array is not None else int(sum(len(d) for d in self.docs))

    def __len__(self):
        return self.n_tokens

    def __getitem__(self, i):
        raise TypeError("a TokenStream is read through LMStreamBatches, not by index")

    def stream(self, rng=None):
        """The whole stream; documents are shuffled first when ``rng`` is given."""
        if self.array is not None:
            return self.array
        docs = self.docs
        if rng is not None and len(docs) > 1:
            docs = [docs[i] for i in rng.permutation(len(docs))]
        return np.concatenate(docs).astype(np.int64) if docs else np.zeros(0, np.int64)


def bptt_lengths(total, bptt, rng=None):
    """Window lengths covering ``total`` steps: variable if ``rng``, else fixed."""
    out, pos = [], 0
    while pos < total:
        if rng is None:
            n = bptt
        else:
            base = bptt if rng.random() < 0.95 else bptt / 2
            n = max(5, int(rng.normal(base, 5)))
        n = min(n, total - pos)
        out.append(n)
        pos += n
    return out


class LMStreamBatches:
    """Batches ``(x, y)`` of a :class:`TokenStream` for language modelling.

    ``y`` is ``x`` shifted by one token.  Consecutive batches continue each row, so
    the network carries its LSTM state from one batch to the next.

    Parameters
    ----------
    dataset : TokenStream
    batch_size : int
        Number of parallel rows the stream is cut into.
    bptt : int
        Mean window length.
    shuffle : bool
        Shuffle documents every epoch and vary window lengths (training).
    seed : int or numpy Generator
    max_batches : int or None
        Read at most this many windows per pass; the next pass goes on where this
        one stopped (pretraining uses this to make an "epoch" a few minutes).
    start : int
        Position (in tokens per row) where the first pass starts (to resume).
    """

    def __init__(self, dataset, batch_size=64, bptt=70, shuffle=False, seed=0, max_batches=None,
                 start=0):
        self.dataset, self.batch_size, self.bptt = dataset, batch_size, bptt
        self.shuffle, self.max_batches = shuffle, max_batches
        self.rng = np.random.default_rng(seed)
        self.offset = start  # position (in steps per row) where the next pass starts
        self._rows = None

    def _make_rows(self):
        stream = self.dataset.stream(self.rng if self.shuffle else None)
        n_rows = min(self.batch_size, max(1, (len(stream) - 1) // 2))
        per_row = (len(stream) - 1) // n_rows
        return stream, n_rows, per_row

    def __len__(self):
        n = len(self.dataset) - 1
        steps = max(1, n // max(1, min(self.batch_size, n)))
        est = int(np.ceil(steps / self.bptt))
        return min(est, self.max_batches) if self.max_batches else est

    def __iter__(self):
        if self._rows is None or self.offset == 0:
            self._rows = self._make_rows()
            self.offset = self.offset % max(1, self._rows[2])
        stream, n_rows, per_row = self._rows
        if per_row < 1:
            return
        lengths = bptt_lengths(per_row - self.offset, self.bptt, self.rng if self.shuffle else None)
        if self.max_batches:
            lengths = lengths[: self.max_batches]
        pos = self.offset
        for n in lengths:
            idx = np.arange(n_rows)[:, None] * per_row + pos + np.arange(n + 1)[None, :]
            window = torch.from_numpy(np.asarray(stream[idx], dtype=np.int64))
            yield window[:, :-1], window[:, 1:]
            pos += n
        self.offset = pos if pos < per_row else 0


class DocumentDataset(Dataset):
    """Documents as token-id arrays, with optional targets."""

    def __init__(self, docs, y=None):
        self.docs = list(docs)
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and len(self.y) != len(self.docs):
            raise ValueError("docs and y differ in length")
        self.lengths = np.array([len(d) for d in self.docs], dtype=np.int64)

    def __len__(self):
        return len(self.docs)

    def __getitem__(self, i):
        return self.docs[i], (None if self.y is None else self.y[i])


def pad_batch(docs, pad_idx):
    """Right-pad a list of id arrays into a (batch, max_len) LongTensor."""
    lengths = torch.tensor([max(1, len(d)) for d in docs], dtype=torch.long)
    out = torch.full((len(docs), int(lengths.max())), pad_idx, dtype=torch.long)
    for i, d in enumerate(docs):
        out[i, : len(d)] = torch.as_tensor(np.asarray(d, dtype=np.int64))
    return out, lengths


def head_tail(doc, length, head=0.25):
    """``doc`` (token ids) cut to ``length`` tokens: its first ``round(head *
    length)`` and its last ``length`` minus those (Sun et al. 2019's head + tail
    truncation); a document of at most ``length`` tokens is returned as it is.  The
    first and last tokens ([CLS] and [SEP], or ``xxbos`` and the end) stay."""
    if len(doc) <= length:
        return doc
    first = max(1, int(round(head * length)))
    return np.concatenate([doc[:first], doc[len(doc) - (length - first):]]).astype(doc.dtype)


def head_tails(docs, length):
    """Every document of ``docs`` cut by :func:`head_tail` to ``length`` tokens
    (None: ``docs`` as they are)."""
    return docs if not length else [head_tail(d, length) for d in docs]


def training_batch_count(n_docs, batch_size):
    """Batches of a training pass over ``n_docs`` documents.

    A last batch of a single document is merged into the one before it (batchnorm
    needs two rows), so ``n_docs = k * batch_size + 1`` makes ``k`` batches.  The
    STLR schedule counts its steps with this same rule.
    """
    batches = int(np.ceil(n_docs / batch_size))
    if batches > 1 and n_docs % batch_size == 1:
        batches -= 1
    return batches


def token_batches(lengths, max_docs, max_tokens):
    """Consecutive batches (index arrays) of at most ``max_docs`` documents whose
    padded size (documents x the longest) stays within ``max_tokens``; a longer
    document makes a batch of its own.  On documents sorted by length, short ones
    come in large batches and long ones in small."""
    batches, start, longest = [], 0, 0
    for i, n in enumerate(lengths):
        grown = max(longest, int(n))
        if i > start and (i - start >= max_docs or (i - start + 1) * grown > max_tokens):
            batches.append(np.arange(start, i))
            start, grown = i, int(n)
        longest = grown
    if len(lengths):
        batches.append(np.arange(start, len(lengths)))
    return batches


class DocumentBatches:
    """Padded batches ``({"tokens", "lengths"}, y)`` of a :class:`DocumentDataset`.

    In training (``shuffle=True``) documents are shuffled, grouped into chunks of
    50 batches, sorted by length within a chunk, and the batches are shuffled:
    similar lengths share a batch (little padding) while epochs still differ.
    Without shuffling, batches follow the dataset's order, so predictions come
    back in input order; with ``max_tokens`` they are sized by tokens as well
    (see :func:`token_batches`: ``batch_size`` is then the most documents a batch
    holds).  A last batch of one document is merged into the one before it when
    training (batchnorm needs two).
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, seed=0, pad_idx=1,
                 max_tokens=None):
        if isinstance(dataset, Subset):  # e.g. skorch's validation split
            base, idx = dataset.dataset, np.asarray(dataset.indices)
            dataset = DocumentDataset([base.docs[i] for i in idx], None if base.y is None else base.y[idx])
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.pad_idx, self.max_tokens = pad_idx, max_tokens
        self.rng = np.random.default_rng(seed)

    def _index_batches(self):
        n, bs = len(self.dataset), self.batch_size
        if not self.shuffle:
            if self.max_tokens:
                return token_batches(self.dataset.lengths, bs, self.max_tokens)
            return [np.arange(i, min(i + bs, n)) for i in range(0, n, bs)]
        idx = self.rng.permutation(n)
        lengths = self.dataset.lengths
        chunk = 50 * bs
        batches = []
        for c in range(0, n, chunk):
            part = idx[c:c + chunk]
            part = part[np.argsort(-lengths[part], kind="stable")]
            batches += [part[i:i + bs] for i in range(0, len(part), bs)]
        if len(batches) > training_batch_count(n, bs):  # a last batch of one joins the one before
            last = batches.pop()
            batches[-1] = np.concatenate([batches[-1], last])
        return [batches[i] for i in self.rng.permutation(len(batches))]

    def __len__(self):
        n = len(self.dataset)
        if self.shuffle:
            return training_batch_count(n, self.batch_size)
        if self.max_tokens:
            return len(self._index_batches())
        return int(np.ceil(n / self.batch_size))

    def __iter__(self):
        ds = self.dataset
        for b in self._index_batches():
            tokens, lengths = pad_batch([ds.docs[i] for i in b], self.pad_idx)
            y = None if ds.y is None else torch.as_tensor(ds.y[b])
            yield {"tokens": tokens, "lengths": lengths}, y


def framed_windows(docs, window, cls_id, sep_id):
    """Documents encoded ``[CLS] body [SEP]`` cut into windows of at most ``window``
    tokens, each framed again as ``[CLS] piece [SEP]`` (a BERT's stage-2 examples)."""
    step, out = window - 2, []
    if step < 1:
        raise ValueError(f"window must be at least 3, got {window}")
    for doc in docs:
        body = np.asarray(doc)[1:-1]
        for start in range(0, max(len(body), 1), step):
            piece = body[start:start + step]
            out.append(np.concatenate([[cls_id], piece, [sep_id]]).astype(np.int64))
    return out


class MaskedWindowBatches(DocumentBatches):
    """:class:`DocumentBatches` of BERT windows with masked-LM targets: BERT's masking.

    Each real token other than ``special_ids`` is chosen with probability ``p``
    (at least one per batch); a chosen token is replaced by ``mask_id`` (80 %), by
    a random non-special id (10 %) or kept (10 %), and is the only kind of position
    with a target.  Yields ``({"tokens", "lengths", "targets"}, labels)``, where
    ``targets`` holds the original ids at chosen positions and
    :data:`~ulmfit_sklearn.models.bert.IGNORE_INDEX` elsewhere, and ``labels`` are
    the chosen positions' ids in row-major order (what the model scores).  The
    masks are drawn from the iterator's seeded generator: each epoch differs.
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, seed=0, pad_idx=0, *, mask_id,
                 special_ids, vocab_size, p=0.15):
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed,
                         pad_idx=pad_idx)
        self.mask_id, self.vocab_size, self.p = mask_id, vocab_size, p
        self.special_ids = torch.as_tensor(sorted(set(special_ids) | {pad_idx}))
        self.gen = torch.Generator().manual_seed(int(seed))

    def __iter__(self):
        from ..models.bert import IGNORE_INDEX

        for x, _ in super().__iter__():
            tokens, lengths = x["tokens"], x["lengths"]
            real = torch.arange(tokens.size(1))[None, :] < lengths[:, None]
            candidate = real & ~torch.isin(tokens, self.special_ids)
            if not candidate.any():
                continue  # nothing to predict (windows of special tokens only)
            chosen = candidate & (torch.rand(tokens.shape, generator=self.gen) < self.p)
            if not chosen.any():  # at least one position per batch
                first = candidate.flatten().nonzero()[0, 0]
                chosen.view(-1)[first] = True
            targets = torch.where(chosen, tokens, torch.full_like(tokens, IGNORE_INDEX))
            roll = torch.rand(tokens.shape, generator=self.gen)
            masked = chosen & (roll < 0.8)
            inputs = torch.where(masked, torch.full_like(tokens, self.mask_id), tokens)
            randoms = torch.randint(0, self.vocab_size, tokens.shape, generator=self.gen)
            swap = chosen & (roll >= 0.8) & (roll < 0.9) & ~torch.isin(randoms, self.special_ids)
            inputs = torch.where(swap, randoms, inputs)
            yield ({"tokens": inputs, "lengths": lengths, "targets": targets},
                   targets[chosen])
