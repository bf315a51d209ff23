"""The AWD-LSTM (Merity et al. 2017) and its language model, as plain torch modules.

Merity et al. regularise an LSTM language model with five kinds of dropout; ULMFiT
(Howard & Ruder 2018) pretrains it (stage 1), fine-tunes it on the target texts
(stage 2), and reads documents with it under a classifier head (stage 3, see
:mod:`ulmfit_sklearn.models.heads`).  These modules hold no recurrent state between
calls: the state goes in and comes back out, so a fitted model can be called from
several threads.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .heads import HEAD_DROPOUT

#: fastai's dropout probabilities for the language model and the classifier;
#: the estimators scale them with ``drop_mult``.
LM_DROPOUT = {"embed": 0.02, "input": 0.25, "weight": 0.2, "hidden": 0.15, "output": 0.1}
CLAS_DROPOUT = {"embed": 0.05, "input": 0.4, "weight": 0.5, "hidden": 0.3, "output": HEAD_DROPOUT}


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

    Notes
    -----
    The word embedding is :attr:`embedding`; its state-dict name is ``encoder.``,
    fastai's, which every saved AWD-LSTM has (encoder folders, model files, fastai's
    weights): state dicts are written and read under that name.
    """

    #: The embedding's name in state dicts (fastai's).
    SAVED_EMBEDDING = "encoder."

    def __init__(self, vocab_size, emb_size, hidden_size, n_layers, pad_idx=1,
                 embed_p=0.0, input_p=0.0, weight_p=0.0, hidden_p=0.0):
        super().__init__()
        self.emb_size, self.hidden_size, self.n_layers = emb_size, hidden_size, n_layers
        self.embedding = nn.Embedding(vocab_size, emb_size, padding_idx=pad_idx)
        self.embed_p = embed_p
        self.input_dp = LockedDropout(input_p)
        sizes = [emb_size] + [hidden_size] * (n_layers - 1) + [emb_size]
        self.rnns = nn.ModuleList(
            WeightDropLSTM(sizes[i], sizes[i + 1], weight_p) for i in range(n_layers)
        )
        self.hidden_dps = nn.ModuleList(LockedDropout(hidden_p) for _ in range(n_layers - 1))
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        self._register_saved_names()

    def _register_saved_names(self):
        self.register_state_dict_post_hook(_embedding_saved_as_encoder)
        self.register_load_state_dict_pre_hook(_encoder_loaded_as_embedding)

    @property
    def encoder(self):
        """The embedding, by its old name (fastai's): use :attr:`embedding`."""
        return self.embedding

    def __setstate__(self, state):
        super().__setstate__(state)
        if "encoder" in self._modules:  # pickled before the embedding had its name
            self._modules = type(self._modules)(
                ("embedding" if k == "encoder" else k, v) for k, v in self._modules.items())
            if _embedding_saved_as_encoder not in self._state_dict_hooks.values():
                self._register_saved_names()

    def set_dropout(self, embed=0.0, input=0.0, weight=0.0, hidden=0.0):
        """Change the dropout probabilities (e.g. between LM and classifier)."""
        self.embed_p, self.input_dp.p = embed, input
        for rnn in self.rnns:
            rnn.weight_p = weight
        for dp in self.hidden_dps:
            dp.p = hidden

    def init_state(self, batch_size, device=None, dtype=None):
        """A zero state: one ``(h, c)`` pair per layer."""
        w = self.embedding.weight
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
        x = self.input_dp(embedding_dropout(self.embedding, tokens, self.embed_p, self.training))
        new_state = []
        for i, (rnn, s) in enumerate(zip(self.rnns, state)):
            x, s = rnn(x, s)
            new_state.append(s)
            if i < self.n_layers - 1:
                x = self.hidden_dps[i](x)
        return x, new_state



def _embedding_saved_as_encoder(module, state_dict, prefix, local_metadata):
    """State-dict hook of :class:`AWDLSTM`: its embedding under its saved name."""
    ours, saved = prefix + "embedding.", prefix + AWDLSTM.SAVED_EMBEDDING
    items = list(state_dict.items())
    state_dict.clear()  # renamed in place, in order
    state_dict.update((saved + k[len(ours):] if k.startswith(ours) else k, v) for k, v in items)


def _encoder_loaded_as_embedding(module, state_dict, prefix, *args):
    """Load-state-dict pre-hook of :class:`AWDLSTM`: the saved name read as its
    embedding."""
    ours, saved = prefix + "embedding.", prefix + AWDLSTM.SAVED_EMBEDDING
    for key in [k for k in state_dict if k.startswith(saved)]:
        state_dict[ours + key[len(saved):]] = state_dict.pop(key)


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
        self.decoder = nn.Linear(encoder.emb_size, encoder.embedding.num_embeddings)
        self.decoder.weight = encoder.embedding.weight
        nn.init.zeros_(self.decoder.bias)
        self.register_buffer("output_ids", None, persistent=False)

    #: The decoder matrix: the embedding itself (tied), so an encoder folder does not
    #: store it.
    TIED = "decoder.weight"

    def set_dropout(self, output=0.0, **encoder_ps):
        """Set the output dropout and the encoder's (``embed``, ``input``,
        ``weight``, ``hidden``)."""
        self.output_dp.p = output
        self.encoder.set_dropout(**encoder_ps)

    def stored_state_dict(self):
        """The tensors as an encoder folder stores them: fp32 copies on the CPU,
        without the tied decoder matrix."""
        return {k: v.detach().float().cpu().clone() for k, v in self.state_dict().items()
                if k != self.TIED}

    def load_stored_state_dict(self, state):
        """Load tensors as :meth:`stored_state_dict` gives them (the decoder matrix is
        the embedding's)."""
        return self.load_state_dict(dict(state, **{self.TIED: state["encoder.encoder.weight"]}))

    def layer_groups(self):
        """Parameter-name prefixes of the layer groups, bottom up (fastai's LM split).

        One group per LSTM layer, then the embedding with its tied decoder on top:
        words new to the vocabulary learn at the top group's rate.
        """
        n = self.encoder.n_layers
        return [[f"encoder.rnns.{i}."] for i in range(n)] + [["encoder.embedding.", "decoder."]]

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
