"""AWD-LSTM and the ULMFiT heads, as plain torch modules.

Merity et al. (2017) regularise an LSTM language model with five kinds of dropout;
Howard & Ruder (2018) put a concat-pooling classifier on top of it.  These modules
hold no recurrent state between calls: the state goes in and comes back out, so a
fitted model can be called from several threads.  No scikit-learn or skorch here.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

#: fastai's dropout probabilities for the language model and the classifier;
#: the estimators scale them with ``drop_mult``.
LM_DROPOUT = {"embed": 0.02, "input": 0.25, "weight": 0.2, "hidden": 0.15, "output": 0.1}
CLAS_DROPOUT = {"embed": 0.05, "input": 0.4, "weight": 0.5, "hidden": 0.3, "output": 0.4}


def scaled_dropout(base, mult):
    """The dropout dict ``base`` with every probability multiplied by ``mult``."""
    return {k: min(v * mult, 0.99) for k, v in base.items()}


class LockedDropout(nn.Module):
    """Variational dropout: one mask per sequence, shared over time steps.

    Input is ``(batch, time, features)``.
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask


def embedding_dropout(emb, words, p, training):
    """Look ``words`` up in ``emb``, dropping whole words (matrix rows) in training.

    The mask is drawn per vocabulary entry (a dropped word is dropped wherever it
    occurs) but applied to the looked-up rows only, so the cost does not grow with
    the vocabulary.
    """
    out = F.embedding(words, emb.weight, emb.padding_idx)
    if training and p > 0:
        mask = emb.weight.new_empty(emb.weight.size(0)).bernoulli_(1 - p) / (1 - p)
        out = out * mask[words].unsqueeze(-1)
    return out


class WeightDropLSTM(nn.Module):
    """One ``nn.LSTM`` layer with DropConnect on its hidden-to-hidden matrix.

    The dropped matrix is passed through :func:`torch.func.functional_call`, so
    the parameters themselves are never overwritten and the fast fused LSTM kernel
    (oneDNN on CPU, cuDNN on GPU) still runs.
    """

    def __init__(self, input_size, hidden_size, weight_p=0.0):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.weight_p = weight_p

    def forward(self, x, state):
        if self.training and self.weight_p > 0:
            w = F.dropout(self.lstm.weight_hh_l0, self.weight_p, training=True)
            return functional_call(self.lstm, {"weight_hh_l0": w}, (x, state), strict=False)
        return self.lstm(x, state)


class AWDLSTM(nn.Module):
    """AWD-LSTM encoder (Merity et al. 2017) in fastai's layout.

    Parameters
    ----------
    vocab_size, emb_size, hidden_size, n_layers : int
        Sizes; the last layer's output has ``emb_size`` features so that a decoder
        can be tied to the embedding.
    pad_idx : int
        Id of the padding token.
    embed_p, input_p, weight_p, hidden_p : float
        Embedding (whole words), input (locked), weight (DropConnect) and hidden
        (locked, between layers) dropout.
    """

    def __init__(self, vocab_size, emb_size, hidden_size, n_layers, pad_idx=1,
                 embed_p=0.0, input_p=0.0, weight_p=0.0, hidden_p=0.0):
        super().__init__()
        self.emb_size, self.hidden_size, self.n_layers = emb_size, hidden_size, n_layers
        self.encoder = nn.Embedding(vocab_size, emb_size, padding_idx=pad_idx)
        self.embed_p = embed_p
        self.input_dp = LockedDropout(input_p)
        sizes = [emb_size] + [hidden_size] * (n_layers - 1) + [emb_size]
        self.rnns = nn.ModuleList(
            WeightDropLSTM(sizes[i], sizes[i + 1], weight_p) for i in range(n_layers)
        )
        self.hidden_dps = nn.ModuleList(LockedDropout(hidden_p) for _ in range(n_layers - 1))
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)

    def set_dropout(self, embed=0.0, input=0.0, weight=0.0, hidden=0.0):
        """Change the dropout probabilities (e.g. between LM and classifier)."""
        self.embed_p, self.input_dp.p = embed, input
        for rnn in self.rnns:
            rnn.weight_p = weight
        for dp in self.hidden_dps:
            dp.p = hidden

    def init_state(self, batch_size, device=None, dtype=None):
        """A zero state: one ``(h, c)`` pair per layer."""
        w = self.encoder.weight
        kw = {"device": device or w.device, "dtype": dtype or w.dtype}
        return [
            (torch.zeros(1, batch_size, rnn.lstm.hidden_size, **kw),
             torch.zeros(1, batch_size, rnn.lstm.hidden_size, **kw))
            for rnn in self.rnns
        ]

    def forward(self, tokens, state=None):
        """Encode ``tokens`` (batch, time) from ``state`` (None: zeros).

        Returns the last layer's output (batch, time, emb_size), before any output
        dropout, and the new state.
        """
        if state is None:
            state = self.init_state(tokens.size(0))
        x = self.input_dp(embedding_dropout(self.encoder, tokens, self.embed_p, self.training))
        new_state = []
        for i, (rnn, s) in enumerate(zip(self.rnns, state)):
            x, s = rnn(x, s)
            new_state.append(s)
            if i < self.n_layers - 1:
                x = self.hidden_dps[i](x)
        return x, new_state



def detach_state(state):
    return [tuple(t.detach() for t in s) for s in state]


class LanguageModel(nn.Module):
    """AWD-LSTM with a decoder tied to its embedding.

    ``forward(tokens, state)`` returns ``(logits, new_state, raw, dropped)`` where
    ``raw`` and ``dropped`` are the last layer's output before and after output
    dropout (for AR and TAR regularisation).

    :meth:`restrict_output` limits the softmax to some token ids (e.g. those of a
    target corpus, as fastai's target-task vocabulary does): the logits then cover
    only those ids, in that order, and :meth:`output_positions` maps token ids to
    their columns.  The state dict is the same either way.
    """

    def __init__(self, encoder, output_p=0.1):
        super().__init__()
        self.encoder = encoder
        self.output_dp = LockedDropout(output_p)
        self.decoder = nn.Linear(encoder.emb_size, encoder.encoder.num_embeddings)
        self.decoder.weight = encoder.encoder.weight
        nn.init.zeros_(self.decoder.bias)
        self.register_buffer("output_ids", None, persistent=False)

    def set_dropout(self, output=0.0, **encoder_ps):
        """Set the output dropout and the encoder's (``embed``, ``input``,
        ``weight``, ``hidden``)."""
        self.output_dp.p = output
        self.encoder.set_dropout(**encoder_ps)

    def layer_groups(self):
        """Parameter-name prefixes of the layer groups, bottom up (fastai's LM split).

        One group per LSTM layer, then the embedding with its tied decoder on top:
        words new to the vocabulary learn at the top group's rate.
        """
        n = self.encoder.n_layers
        return [[f"encoder.rnns.{i}."] for i in range(n)] + [["encoder.encoder.", "decoder."]]

    def restrict_output(self, ids):
        """Predict only the token ids ``ids`` (None: the whole vocabulary again)."""
        if ids is None:
            self.output_ids = None
            return self
        ids = torch.as_tensor(ids, dtype=torch.long, device=self.decoder.bias.device)
        if ids.ndim != 1 or len(ids) == 0 or len(torch.unique(ids)) != len(ids):
            raise ValueError("output ids must be a non-empty 1-D sequence of distinct ids")
        if int(ids.min()) < 0 or int(ids.max()) >= self.decoder.out_features:
            raise ValueError(f"output ids must lie in [0, {self.decoder.out_features})")
        self.output_ids = ids
        return self

    def output_positions(self, targets):
        """The logit columns of token ids ``targets``; -100 (cross-entropy's
        ``ignore_index``) for ids outside a restricted output."""
        if self.output_ids is None:
            return targets
        lookup = torch.full((self.decoder.out_features,), -100, dtype=torch.long,
                            device=targets.device)
        lookup[self.output_ids.to(targets.device)] = torch.arange(
            len(self.output_ids), device=targets.device)
        return lookup[targets]

    def forward(self, tokens, state=None):
        raw, new_state = self.encoder(tokens, state)
        dropped = self.output_dp(raw)
        if self.output_ids is None:
            logits = self.decoder(dropped)
        else:
            logits = F.linear(dropped, self.decoder.weight[self.output_ids],
                              self.decoder.bias[self.output_ids])
        return logits, new_state, raw, dropped


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
        return [["encoder.encoder."]] + [[f"encoder.rnns.{i}."] for i in range(n)] + [["head."]]

    def forward(self, tokens, lengths):
        return self.head(self.features(tokens, lengths).float())
