"""A BERT in plain torch: embeddings, post-norm transformer blocks, a masked-LM head.

:class:`BertModel` is BERT (Devlin et al. 2019) and its distilled variants
(MiniLM, ...): word, position and token-type embeddings, then post-norm transformer
blocks.  Its parameter names are this package's; a Hugging Face ``BertModel`` state
dict maps to them by the renaming table of :mod:`ulmfit_sklearn.encoders.bert`.
:class:`BertMaskedLM` adds the masked-LM head that stage 2 fine-tunes; ULMFiT's
classifier over a BERT, which reads a long document in windows, is
:class:`~ulmfit_sklearn.models.heads.BertClassifier`.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

#: A batch of more token positions than this is trained with activation checkpointing
#: (each block recomputed in backward), so that 32 long reviews (96 windows of 512) no
#: longer take 21 GB.  Up to one window of 512 for each of 32 documents trains without
#: it: a step of minilm-l6 on 32 x 512 pieces (bf16) peaked at 2.9 GB of process memory
#: without and 1.7 GB with recomputation, which took a fifth longer (in fp32, where the
#: CPU has no bf16: 4.7 GB without; 32 x 300 pieces in bf16: 2.0 and 1.3 GB; one
#: thread, package 9d0cffd).
CHECKPOINT_TOKENS = 16384


class BertEmbeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, vocab_size, hidden_size, max_positions, type_vocab_size, pad_idx,
                 eps, hidden_p=0.0):
        super().__init__()
        self.word = nn.Embedding(vocab_size, hidden_size, padding_idx=pad_idx)
        self.position = nn.Embedding(max_positions, hidden_size)
        self.token_type = nn.Embedding(type_vocab_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=eps)
        self.dropout = nn.Dropout(hidden_p)

    def forward(self, tokens, token_types=None):
        if tokens.size(1) > self.position.num_embeddings:
            raise ValueError(f"sequences of {tokens.size(1)} tokens exceed the "
                             f"{self.position.num_embeddings} positions; read them in windows "
                             "(window_pool)")
        pos = torch.arange(tokens.size(1), device=tokens.device)
        if token_types is None:
            types = self.token_type.weight[0]
        else:
            types = self.token_type(token_types)
        x = self.word(tokens) + self.position(pos)[None] + types
        return self.dropout(self.norm(x))


class BertLayer(nn.Module):
    """One post-norm transformer block: self-attention, then a GELU feed-forward,
    each followed by dropout, the residual sum and LayerNorm."""

    def __init__(self, hidden_size, n_heads, intermediate_size, eps, hidden_p=0.0,
                 attention_p=0.0):
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError(f"hidden_size={hidden_size} is not a multiple of n_heads={n_heads}")
        self.n_heads, self.hidden_p, self.attention_p = n_heads, hidden_p, attention_p
        self.query, self.key, self.value = (nn.Linear(hidden_size, hidden_size) for _ in range(3))
        self.attn_out = nn.Linear(hidden_size, hidden_size)
        self.attn_norm = nn.LayerNorm(hidden_size, eps=eps)
        self.ff_in = nn.Linear(hidden_size, intermediate_size)
        self.ff_out = nn.Linear(intermediate_size, hidden_size)
        self.ff_norm = nn.LayerNorm(hidden_size, eps=eps)

    def _heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, -1).transpose(1, 2)

    def forward(self, x, mask):
        """``x`` (batch, time, hidden); ``mask`` (batch, 1, 1, time), True at real tokens."""
        q, k, v = (self._heads(lin(x)) for lin in (self.query, self.key, self.value))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.attention_p if self.training else 0.0)
        x = self.attn_norm(x + self._drop(self.attn_out(a.transpose(1, 2).reshape(x.shape))))
        return self.ff_norm(x + self._drop(self.ff_out(F.gelu(self.ff_in(x)))))  # erf GELU

    def _drop(self, h):
        return F.dropout(h, self.hidden_p, self.training)


class BertModel(nn.Module):
    """A whole BERT: embeddings and ``n_layers`` post-norm transformer blocks
    (Hugging Face's ``BertModel`` without its pooler).

    Parameters
    ----------
    vocab_size, hidden_size, n_layers, n_heads, intermediate_size : int
        Sizes (all-MiniLM-L6-v2: 30522, 384, 6, 12, 1536).
    max_positions : int
        Length of the position table: the longest sequence one call reads (512).
    type_vocab_size : int
        Number of token types (segments); every token here is of type 0.
    pad_idx, cls_idx, sep_idx : int
        Ids of ``[PAD]``, ``[CLS]`` and ``[SEP]`` (0, 101, 102 in BERT's vocabulary).
    eps : float
        LayerNorm's epsilon.
    hidden_p, attention_p : float
        Dropout on the embeddings and on each block's two outputs, and on the
        attention probabilities (see :meth:`set_dropout`).

    Notes
    -----
    Parameter names: ``embeddings.{word,position,token_type}.weight``,
    ``embeddings.norm.*``, and per block ``layers.{i}.{query,key,value,attn_out,
    attn_norm,ff_in,ff_out,ff_norm}.*``.
    """

    def __init__(self, vocab_size, hidden_size, n_layers, n_heads, intermediate_size,
                 max_positions=512, type_vocab_size=2, pad_idx=0, cls_idx=101, sep_idx=102,
                 eps=1e-12, hidden_p=0.0, attention_p=0.0):
        super().__init__()
        self.hidden_size, self.n_layers, self.max_positions = hidden_size, n_layers, max_positions
        self.pad_idx, self.cls_idx, self.sep_idx = pad_idx, cls_idx, sep_idx
        self.embeddings = BertEmbeddings(vocab_size, hidden_size, max_positions, type_vocab_size,
                                         pad_idx, eps, hidden_p)
        self.layers = nn.ModuleList(
            BertLayer(hidden_size, n_heads, intermediate_size, eps, hidden_p, attention_p)
            for _ in range(n_layers))
        self.apply(_init_weights)

    def set_dropout(self, hidden=0.0, attention=0.0):
        """Change the dropout probabilities: ``hidden`` on the embeddings and on each
        block's outputs, ``attention`` on the attention probabilities (BERT: 0.1, 0.1)."""
        self.embeddings.dropout.p = hidden
        for layer in self.layers:
            layer.hidden_p, layer.attention_p = hidden, attention

    def layer_groups(self):
        """Parameter-name prefixes of the layer groups, bottom up: the embeddings,
        then each block (whoever adds a head adds its group on top)."""
        return [["embeddings."]] + [[f"layers.{i}."] for i in range(self.n_layers)]

    def block_groups(self, n_groups=None, prefix=""):
        """Parameter-name prefixes of the blocks in ``n_groups`` layer groups of
        consecutive blocks (6 blocks in 3 groups of 2), bottom up; None: a group a
        block.  ``prefix``: where this BERT lies in the module that asks."""
        n_groups = self.n_layers if n_groups is None else n_groups
        if not 1 <= n_groups <= self.n_layers:
            raise ValueError(f"n_groups must lie in [1, {self.n_layers}], got {n_groups}")
        return [[f"{prefix}layers.{i}." for i in group]
                for group in np.array_split(np.arange(self.n_layers), n_groups)]

    def forward(self, tokens, lengths=None, token_types=None, recompute=None):
        """The last hidden states (batch, time, hidden_size) of ``tokens`` (batch,
        time), right-padded to ``lengths`` (None: no padding).  Padded positions are
        masked out of the attention, so they never change a real position's output
        (their own outputs are meaningless).  ``recompute``: whether autograd keeps
        only each block's input (None: when the batch has more than
        :data:`CHECKPOINT_TOKENS` positions)."""
        mask = None
        if lengths is not None:
            pos = torch.arange(tokens.size(1), device=tokens.device)
            mask = (pos[None, :] < lengths.to(tokens.device)[:, None])[:, None, None, :]
        x = self.embeddings(tokens, token_types)
        # a large batch under autograd keeps only each block's input and recomputes
        # the block in backward: attention's (windows, heads, time, time) activations
        # of every block at once took 21 GB for 32 IMDb reviews
        if recompute is None:
            recompute = tokens.numel() > CHECKPOINT_TOKENS
        recompute = recompute and torch.is_grad_enabled()
        for layer in self.layers:
            if recompute:
                x = checkpoint(layer, x, mask, use_reentrant=False)
            else:
                x = layer(x, mask)
        return x


#: The target of a position that is not predicted (as torch's cross-entropy skips it).
IGNORE_INDEX = -100


class MaskedLMHead(nn.Module):
    """BERT's masked-LM head: a dense layer, GELU and LayerNorm, then scores over the
    vocabulary from the word embedding (tied: passed to :meth:`forward`) and a bias.

    Parameter names ``dense.*``, ``norm.*``, ``bias``: Hugging Face's
    ``cls.predictions.transform.dense``, ``...transform.LayerNorm`` and
    ``cls.predictions.bias``.
    """

    def __init__(self, hidden_size, vocab_size, eps=1e-12):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        nn.init.normal_(self.dense.weight, std=0.02)
        nn.init.zeros_(self.dense.bias)

    def forward(self, hidden, word_weight):
        return F.linear(self.norm(F.gelu(self.dense(hidden))), word_weight, self.bias)


#: The old name of :class:`BertModel` (it is the whole BERT, embeddings included),
#: kept for old code and pickles.
BertEncoder = BertModel


class BertMaskedLM(nn.Module):
    """A :class:`BertModel` with a :class:`MaskedLMHead`: ULMFiT's stage 2 for a BERT.

    ``forward(tokens, lengths, targets)`` returns the scores (n_predicted, vocab_size)
    of the positions whose ``targets`` are not :data:`IGNORE_INDEX`, in row-major
    order (so ``targets[targets != IGNORE_INDEX]`` are their labels).
    """

    def __init__(self, encoder, head=None, n_groups=None):
        super().__init__()
        encoder.block_groups(n_groups)  # checks n_groups
        self.encoder, self.n_groups = encoder, n_groups
        self.head = head if head is not None else MaskedLMHead(
            encoder.hidden_size, encoder.embeddings.word.num_embeddings,
            encoder.embeddings.norm.eps)

    def layer_groups(self):
        """Parameter-name prefixes of the layer groups, bottom up (fastai's LM split
        for a BERT): the blocks in ``n_groups`` groups (None: a group a block), then
        the embeddings with the head, whose decoder they are, on top."""
        return (self.encoder.block_groups(self.n_groups, "encoder.")
                + [["encoder.embeddings.", "head."]])

    def forward(self, tokens, lengths, targets):
        hidden = self.encoder(tokens, lengths)
        return self.head(hidden[targets != IGNORE_INDEX], self.encoder.embeddings.word.weight)


def _init_weights(module):
    """BERT's initialisation: N(0, 0.02) matrices and embeddings, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear):
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()
