"""A contrastive stage on pairs of labeled documents (SetFit's idea, Tunstall et al.
2022), between stage 2 and stage 3.

Pairs of labeled documents are drawn at random, half of them of one class and half of
two classes; the encoder's pooled embeddings of a pair are compared by their cosine,
and the loss is the squared distance of that cosine from 1 (same class) or 0 (other
classes): SetFit's ``CosineSimilarityLoss``.  The encoder learns an embedding in
which the classes fall apart, from ``n * (n - 1) / 2`` comparisons instead of ``n``
labels, which is what helps with few labels.  The pieces are a pair sampler
(:func:`sample_pairs`), an iterator (:class:`PairBatches`), a module
(:class:`PairCosine`) and :func:`train_contrastive`, which trains through the same
skorch net, optimizer and STLR callback as the other stages.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .batching import DocumentDataset, pad_batch
from .callbacks import stlr_callback
from .nets import DocumentNet
from .stages import _optimizer, layer_patterns


def sample_pairs(y, n_pairs, seed=0):
    """``n_pairs`` random pairs of distinct rows of ``y`` (class labels), half with
    equal labels and half with different ones (as far as the labels allow).

    Returns
    -------
    pairs : int array (n_pairs, 2)
        Row indices; each half drawn uniformly among its kind of pair.
    same : float32 array (n_pairs,)
        1.0 where the pair's labels are equal, else 0.0.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(y, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(classes))]
    can_pos = [m for m in members if len(m) >= 2]
    want_pos = n_pairs // 2 if can_pos and len(classes) > 1 else (n_pairs if can_pos else 0)
    pairs = []
    if want_pos:
        sizes = np.array([len(m) * (len(m) - 1) for m in can_pos], dtype=float)
        which = rng.choice(len(can_pos), size=want_pos, p=sizes / sizes.sum())
        for k in which:  # a pair of one class, the class chosen by its number of pairs
            pairs.append(rng.choice(can_pos[k], size=2, replace=False))
    want_neg = n_pairs - want_pos
    if want_neg and len(classes) > 1:
        while len(pairs) < n_pairs:
            i, j = rng.integers(0, len(y), size=2)
            if inverse[i] != inverse[j]:
                pairs.append(np.array([i, j]))
    pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    order = rng.permutation(len(pairs))
    pairs = pairs[order]
    return pairs, (inverse[pairs[:, 0]] == inverse[pairs[:, 1]]).astype(np.float32)


class PairDataset(DocumentDataset):
    """Documents and pairs of them: item ``i`` is pair ``i`` (two documents) and
    its target (1.0 same class, 0.0 not)."""

    def __init__(self, docs, pairs, same):
        super().__init__(docs)
        self.pairs, self.y = np.asarray(pairs), np.asarray(same, dtype=np.float32)

    def __len__(self):
        return len(self.pairs)


class PairBatches:
    """Batches ``({"tokens", "lengths"}, same)`` of a :class:`PairDataset`: the
    first documents of ``batch_size`` pairs, then their second documents, padded
    together (``2 * batch_size`` rows); shuffled by the iterator's own seeded
    generator when training."""

    def __init__(self, dataset, batch_size=16, shuffle=False, seed=0, pad_idx=0):
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.pad_idx, self.rng = pad_idx, np.random.default_rng(seed)

    def __len__(self):
        return int(np.ceil(len(self.dataset) / self.batch_size))

    def __iter__(self):
        ds, n = self.dataset, len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            b = order[start:start + self.batch_size]
            rows = np.concatenate([ds.pairs[b, 0], ds.pairs[b, 1]])
            tokens, lengths = pad_batch([ds.docs[i] for i in rows], self.pad_idx)
            yield {"tokens": tokens, "lengths": lengths}, torch.as_tensor(ds.y[b])


class PairCosine(nn.Module):
    """The cosine of the pooled embeddings of the two halves of a batch (rows
    ``i`` and ``i + B``): ``features(tokens, lengths)`` of ``encoder`` (a
    :class:`~ulmfit_sklearn.models.heads.WindowPoolEncoder` or any module with a
    ``features`` method and ``layer_groups``)."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def layer_groups(self):
        return [[f"encoder.{p}" for p in group] for group in self.encoder.layer_groups()]

    def forward(self, tokens, lengths):
        features = self.encoder.features(tokens, lengths).float()
        a, b = features.chunk(2)
        return F.cosine_similarity(a, b, dim=-1)


def train_contrastive(encoder, docs, y, *, n_pairs, pad_idx, lr=2e-5, batch_size=16, epochs=1,
                      cut_frac=0.1, ratio=1e4, weight_decay=0.01, betas=(0.9, 0.999), seed=0,
                      device="cpu", autocast=False, verbose=0):
    """Train ``encoder`` (see :class:`PairCosine`) on ``n_pairs`` pairs of the
    labeled documents ``docs`` (token-id arrays) with labels ``y``: SetFit's
    cosine-similarity loss, every layer at ``lr`` (AdamW), linear warm-up over
    ``cut_frac`` of the steps then linear decay (an STLR of a huge ``ratio``),
    SetFit's defaults.  Returns the fitted net; ``encoder`` is trained in place."""
    pairs, same = sample_pairs(y, n_pairs, seed)
    module = PairCosine(encoder)
    steps = epochs * int(np.ceil(len(pairs) / batch_size))
    net = DocumentNet(
        module,
        criterion=nn.MSELoss,
        **_optimizer(layer_patterns(module), lr, 1.0, betas, weight_decay),
        max_epochs=epochs,
        batch_size=batch_size,
        iterator_train=PairBatches,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_train__pad_idx=pad_idx,
        train_split=None,
        callbacks=[("stlr", stlr_callback([steps], cut_frac, ratio))],
        device=device,
        autocast=autocast,
        verbose=verbose,
    )
    return net.fit(PairDataset(docs, pairs, same), same)
