"""What stage 3 puts on an encoder: the pooling of a whole document, fastai's
classifier head, and the classifier and feature modules of both families.

An AWD-LSTM reads a document of any length by BPT3C (:func:`bpt3c_pool`: chunks of
``bptt`` tokens, the LSTM state carried across them) and concat-pools its outputs
(:class:`ConcatPoolEncoder`; :class:`SequenceClassifier` adds the head).  A BERT,
which has no state to carry, reads it in windows of its position table, each
``[CLS] ... [SEP]``, pooled across all of them (:func:`window_pool`: the BPT3C idea
for a model without recurrent state; :class:`WindowPoolEncoder`, and
:class:`BertClassifier` with the head).  Both heads are fastai's
(:class:`PoolingHead`).
"""

import torch
import torch.nn.functional as F
from torch import nn

from . import bert as _bert

#: fastai's dropout before the classifier head's first block (a quarter of it before
#: the second), which the estimators scale with ``drop_mult``.
HEAD_DROPOUT = 0.4
#: The poolings of :func:`window_pool`, with their width in units of ``hidden_size``.
POOLINGS = {"mean": 1, "cls": 1, "concat": 3}


def masked_concat_pool(outputs, mask):
    """Concat pooling of one chunk's outputs, for combining across chunks.

    Returns the chunk's (max, sum, count) over the positions where ``mask``
    (batch, time) is True.
    """
    m = mask.unsqueeze(-1)
    neg = torch.finfo(outputs.dtype).min
    mx = outputs.masked_fill(~m, neg).max(dim=1).values
    sm = (outputs * m).sum(dim=1)
    return mx, sm, m.sum(dim=1)


def bpt3c_pool(encoder, tokens, lengths, bptt, max_len):
    """Backpropagation through time for text classification (BPT3C).

    Reads ``tokens`` (batch, time; right-padded; rows sorted by length, longest
    first) in chunks of ``bptt`` tokens, carrying the LSTM state across chunks.
    Chunks that lie wholly before a document's last ``max_len`` tokens only carry
    the state: they run without gradient.  Returns the concat pooling
    ``[last, max, mean]`` (batch, 3 * emb_size) over each document's last
    ``max_len`` tokens, with padding masked out.
    """
    batch, total = tokens.shape
    lengths = lengths.to(tokens.device)
    if batch > 1 and bool((lengths[1:] > lengths[:-1]).any()):
        raise ValueError("rows must be sorted by length, longest first")
    lengths = lengths.clamp(min=1)
    starts = (lengths - max_len).clamp(min=0)
    pos = torch.arange(total, device=tokens.device)
    state = encoder.init_state(batch)
    d = encoder.emb_size
    last = mx = sm = cnt = None
    for start in range(0, int(lengths.max()), bptt):
        n = int((lengths > start).sum())  # rows still going on in this chunk
        chunk = tokens[:n, start:start + bptt]
        p = pos[start:start + chunk.size(1)]
        needs_grad = bool((starts[:n] < start + chunk.size(1)).any())
        with torch.set_grad_enabled(needs_grad and torch.is_grad_enabled()):
            # rows are sorted longest first, so the state of the n going rows is a prefix
            out, state = encoder(chunk, [(h[:, :n], c[:, :n]) for h, c in state])
        if not needs_grad:
            continue
        mask = (p[None, :] >= starts[:n, None]) & (p[None, :] < lengths[:n, None])
        cmx, csm, ccnt = masked_concat_pool(out.float(), mask)
        if mx is None:
            mx = torch.full((batch, d), torch.finfo(cmx.dtype).min, device=tokens.device)
            sm = torch.zeros(batch, d, device=tokens.device)
            cnt = torch.zeros(batch, 1, device=tokens.device)
            last = torch.zeros(batch, d, device=tokens.device)
        pad = (0, 0, 0, batch - n)
        mx = torch.maximum(mx, F.pad(cmx, pad, value=torch.finfo(cmx.dtype).min))
        sm = sm + F.pad(csm, pad)
        cnt = cnt + F.pad(ccnt.to(cnt.dtype), pad)
        # rows whose last token is in this chunk take their last output from it
        ends = (lengths[:n] - 1 - start)
        here = (ends >= 0) & (ends < chunk.size(1))
        idx = ends.clamp(0, chunk.size(1) - 1)
        chunk_last = out.float()[torch.arange(n, device=tokens.device), idx]
        last = torch.where(F.pad(here, (0, batch - n)).unsqueeze(1), F.pad(chunk_last, pad), last)
    return torch.cat([last, mx, sm / cnt.clamp(min=1)], dim=1)


class PoolingHead(nn.Module):
    """fastai's classifier head: two blocks of batchnorm, dropout and linear.

    ``in_features -> hidden (ReLU) -> n_out``; dropout ``ps[0]`` and ``ps[1]``.
    A batch of one document in training mode uses the running statistics, so it
    never breaks batchnorm.
    """

    def __init__(self, in_features, n_out, hidden=50, ps=(0.4, 0.1)):
        super().__init__()
        self.bn1, self.dp1 = nn.BatchNorm1d(in_features), nn.Dropout(ps[0])
        self.lin1 = nn.Linear(in_features, hidden)
        self.bn2, self.dp2 = nn.BatchNorm1d(hidden), nn.Dropout(ps[1])
        self.lin2 = nn.Linear(hidden, n_out)

    def set_dropout(self, ps):
        self.dp1.p, self.dp2.p = ps

    @staticmethod
    def _bn(bn, x):
        if bn.training and x.size(0) == 1:
            return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                training=False, eps=bn.eps)
        return bn(x)

    def forward(self, x):
        x = F.relu(self.lin1(self.dp1(self._bn(self.bn1, x))))
        return self.lin2(self.dp2(self._bn(self.bn2, x)))


class ConcatPoolEncoder(nn.Module):
    """An AWD-LSTM encoder read by BPT3C: one concat-pooled vector per document.

    ``forward(tokens, lengths)`` returns, for each document, the last, the max- and
    the mean-pooled outputs of the top layer over its last ``max_len`` tokens:
    ``3 * encoder.emb_size`` features.  Rows may come in any order.
    """

    #: chunk length when no gradient is needed (prediction): the same result as
    #: ``bptt``-sized chunks, in fewer and larger steps
    inference_bptt = 512
    #: the pooling of its features (as :class:`WindowPoolEncoder` names its own)
    pooling = "concat"

    def __init__(self, encoder, bptt=72, max_len=1440):
        super().__init__()
        self.encoder = encoder
        self.bptt, self.max_len = bptt, max_len

    @property
    def n_features(self):
        return 3 * self.encoder.emb_size

    @property
    def n_out(self):
        """Width of the output rows."""
        return self.n_features

    def features(self, tokens, lengths):
        order = torch.argsort(lengths, descending=True, stable=True)
        bptt = self.bptt if torch.is_grad_enabled() else max(self.bptt, self.inference_bptt)
        pooled = bpt3c_pool(self.encoder, tokens[order], lengths[order], bptt, self.max_len)
        return pooled[torch.argsort(order)]

    def forward(self, tokens, lengths):
        return self.features(tokens, lengths)


class SequenceClassifier(ConcatPoolEncoder):
    """A :class:`ConcatPoolEncoder` with a :class:`PoolingHead` on top.

    ``forward(tokens, lengths)`` returns one row of scores (logits, or regression
    outputs) per document.
    """

    def __init__(self, encoder, n_out, bptt=72, max_len=1440, hidden=50, ps=(0.4, 0.1)):
        super().__init__(encoder, bptt, max_len)
        self.head = PoolingHead(self.n_features, n_out, hidden, ps)

    @property
    def n_out(self):
        return self.head.lin2.out_features

    def set_dropout(self, output=0.0, **encoder_ps):
        """Set the head's dropouts (``output`` before its first block, a quarter of
        it before the second, as fastai's 0.4 and 0.1) and the encoder's."""
        self.head.set_dropout((output, output / 4))
        self.encoder.set_dropout(**encoder_ps)

    def layer_groups(self):
        """Parameter-name prefixes of the layer groups, bottom up (fastai's
        classifier split): the embedding, each LSTM layer, the head.  Gradual
        unfreezing trains the head, then one more LSTM layer per stage, and
        unfreezes the embedding with the lowest layer in the last stage."""
        n = self.encoder.n_layers
        return [["encoder.embedding."]] + [[f"encoder.rnns.{i}."] for i in range(n)] + [["head."]]

    def forward(self, tokens, lengths):
        return self.head(self.features(tokens, lengths).float())


def document_windows(tokens, lengths, encoder, window=None, max_len=None):
    """Cut documents into windows that the encoder can read.

    Each row of ``tokens`` (batch, time; right-padded to ``lengths``) is a document
    as the tokenizer encodes it, ``[CLS] body [SEP]``.  The body is cut to its last
    ``max_len`` tokens (None: all; the part that BPT3C pools), then into pieces of
    ``window - 2`` tokens, each read as ``[CLS] piece [SEP]``.

    Returns
    -------
    windows : LongTensor (n_windows, time)
        Right-padded with the encoder's ``pad_idx``; a document's windows are
        consecutive rows, in order.
    window_lengths : LongTensor (n_windows,)
    owner : LongTensor (n_windows,)
        The document (row of ``tokens``) of each window.
    """
    window = window or encoder.max_positions
    if not 3 <= window <= encoder.max_positions:
        raise ValueError(f"window must lie in [3, {encoder.max_positions}], got {window}")
    step = window - 2
    pieces, owner = [], []
    for i, n in enumerate(lengths.tolist()):
        body = tokens[i, 1:max(n - 1, 1)]
        if max_len is not None:
            body = body[max(0, len(body) - max_len):]
        for start in range(0, max(len(body), 1), step):
            pieces.append(body[start:start + step])
            owner.append(i)
    window_lengths = torch.tensor([len(p) + 2 for p in pieces], device=tokens.device)
    windows = tokens.new_full((len(pieces), int(window_lengths.max())), encoder.pad_idx)
    windows[:, 0] = encoder.cls_idx
    for j, piece in enumerate(pieces):
        windows[j, 1:1 + len(piece)] = piece
        windows[j, len(piece) + 1] = encoder.sep_idx
    return windows, window_lengths, torch.tensor(owner, device=tokens.device)


def length_groups(lengths, waste=0.25, slack=32):
    """Windows of similar length, to be run together: index tensors into
    ``lengths`` (longest first), each group's windows within ``max(waste * longest,
    slack)`` tokens of its longest, so that little of a group is padding (short
    windows share a group: their padding costs less than another call)."""
    order = torch.argsort(lengths, descending=True, stable=True)
    sizes, groups, start = lengths[order].tolist(), [], 0
    for i, n in enumerate(sizes):
        if sizes[start] - n > max(waste * sizes[start], slack):
            groups.append(order[start:i])
            start = i
    return groups + [order[start:]]


def encode_windows(encoder, windows, lengths, waste=0.25, slack=32):
    """The encoder's last hidden states of ``windows`` (right-padded to ``lengths``),
    run in :func:`length_groups` so that padding costs little: the same outputs as
    ``encoder(windows, lengths)`` at the real positions (zeros elsewhere).  Blocks
    are recomputed in backward by the windows' padded size in groups (see
    :class:`~ulmfit_sklearn.models.bert.BertModel`)."""
    groups = length_groups(lengths, waste, slack)
    if len(groups) == 1:
        return encoder(windows, lengths)
    tops = [int(lengths[g[0]]) for g in groups]
    recompute = sum(len(g) * top for g, top in zip(groups, tops)) > _bert.CHECKPOINT_TOKENS
    parts = [encoder(windows[g, :top], lengths[g], recompute=recompute)
             for g, top in zip(groups, tops)]
    out = parts[0].new_zeros(len(lengths), max(tops), parts[0].size(2))
    for g, top, part in zip(groups, tops, parts):
        out[g, :top] = part
    return out


def window_pool(encoder, tokens, lengths, pooling="mean", max_len=None, window=None):
    """One vector per document, pooled over all the windows it is read in.

    Parameters
    ----------
    encoder : BertModel
    tokens, lengths : LongTensor
        Documents (batch, time) encoded as ``[CLS] ... [SEP]``, right-padded to
        ``lengths``; any length (see :func:`document_windows` for ``max_len`` and
        ``window``, the longest window: the encoder's ``max_positions`` by default).
    pooling : {"mean", "cls", "concat"}
        ``"mean"``: the mean of the last hidden states over every real token of
        every window ([CLS] and [SEP] included: sentence-transformers' pooling for
        a document within one window); ``"cls"``: the [CLS] state of the first
        window; ``"concat"``: ULMFiT's concat pooling ``[last, max, mean]``, where
        ``last`` is the state of the last token of the last window (its [SEP]) and
        ``max`` is taken over the same tokens as the mean.

    Returns
    -------
    FloatTensor (batch, POOLINGS[pooling] * hidden_size), in fp32.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {sorted(POOLINGS)}, got {pooling!r}")
    windows, wlens, owner = document_windows(tokens, lengths, encoder, window, max_len)
    out = encode_windows(encoder, windows, wlens).float()
    batch, rows = tokens.size(0), torch.arange(len(owner), device=out.device)
    ends = torch.bincount(owner, minlength=batch).cumsum(0)  # a document's windows are consecutive
    first = torch.cat([ends.new_zeros(1), ends[:-1]])
    if pooling == "cls":
        return out[first, 0]
    mask = torch.arange(out.size(1), device=out.device)[None, :] < wlens[:, None]
    mx, sm, cnt = masked_concat_pool(out, mask)
    mean = (out.new_zeros(batch, out.size(2)).index_add(0, owner, sm)
            / out.new_zeros(batch, 1).index_add(0, owner, cnt.to(out.dtype)))
    if pooling == "mean":
        return mean
    last, k = ends - 1, rows - first[owner]  # k: the window's number in its document
    grid = out.new_full((batch, int(k.max()) + 1, out.size(2)), torch.finfo(out.dtype).min)
    grid[owner, k] = mx
    return torch.cat([out[last, wlens[last] - 1], grid.amax(1), mean], dim=1)


class WindowPoolEncoder(nn.Module):
    """A :class:`BertModel` read in windows: one pooled vector per document.

    ``forward(tokens, lengths)`` returns :func:`window_pool` of the documents:
    ``n_features`` columns.  The layer groups are the encoder's, under ``encoder.``.
    """

    def __init__(self, encoder, pooling="mean", max_len=None, window=None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {sorted(POOLINGS)}, got {pooling!r}")
        self.encoder, self.pooling, self.max_len, self.window = encoder, pooling, max_len, window

    @property
    def n_features(self):
        return POOLINGS[self.pooling] * self.encoder.hidden_size

    @property
    def n_out(self):
        """Width of the output rows."""
        return self.n_features

    def layer_groups(self):
        return [[f"encoder.{p}" for p in group] for group in self.encoder.layer_groups()]

    def features(self, tokens, lengths):
        return window_pool(self.encoder, tokens, lengths, self.pooling, self.max_len, self.window)

    def forward(self, tokens, lengths):
        return self.features(tokens, lengths)


class BertClassifier(WindowPoolEncoder):
    """A :class:`WindowPoolEncoder` with ULMFiT's :class:`PoolingHead` on top: one row
    of scores (logits, or regression outputs) per document.

    ``n_groups`` sets how many layer groups the blocks form (consecutive blocks
    share a group: 6 blocks in 3 groups of 2; None: a group a block).  The BERT
    family gives as many as the bundled AWD-LSTM has layers, so that gradual
    unfreezing and discriminative learning rates take the same number of stages
    (:meth:`~ulmfit_sklearn.families.bert.BertFamily.n_layer_groups`).
    """

    def __init__(self, encoder, n_out, pooling="mean", max_len=None, window=None, n_groups=None,
                 hidden=50, ps=(0.4, 0.1)):
        super().__init__(encoder, pooling, max_len, window)
        encoder.block_groups(n_groups)  # checks n_groups
        self.n_groups = n_groups
        self.head = PoolingHead(self.n_features, n_out, hidden, ps)

    @property
    def n_out(self):
        return self.head.lin2.out_features

    def set_dropout(self, output=0.0, hidden=0.0, attention=0.0):
        """The head's dropouts (``output``, then a quarter of it, as fastai's) and
        the encoder's (``hidden``, ``attention``: see :meth:`BertModel.set_dropout`)."""
        self.head.set_dropout((output, output / 4))
        self.encoder.set_dropout(hidden, attention)

    def layer_groups(self):
        """Parameter-name prefixes of the layer groups, bottom up: the embeddings,
        the blocks in ``n_groups`` groups of consecutive blocks (None: a group a
        block), the head."""
        return ([["encoder.embeddings."]] + self.encoder.block_groups(self.n_groups, "encoder.")
                + [["head."]])

    def forward(self, tokens, lengths):
        return self.head(self.features(tokens, lengths).float())
