"""AWD-LSTM encoder folders: their config, and a random encoder (the "no
pretraining" ablation).

An AWD-LSTM folder (:mod:`ulmfit_sklearn.encoders.format`) has the sizes
``vocab_size``, ``emb_size``, ``hidden_size``, ``n_layers`` and ``pad_idx``, and
stores the language model's tensors: the AWD-LSTM's under ``encoder.`` and the
decoder bias ``decoder.bias`` (the decoder matrix is the embedding, so it is not
stored; :func:`lm_state_dict`).  Pretraining writes one
(:mod:`ulmfit_sklearn.pretraining`); fastai's files convert to one
(:mod:`ulmfit_sklearn.encoders.fastai`).
"""

from dataclasses import replace

import torch

from ..families.awd_lstm import AWD_LSTM
from ..text import SPECIAL_TOKENS
from .format import FORMAT_VERSION, Encoder

#: Shape of a freshly initialised encoder when no pretrained one is given.
DEFAULT_SHAPE = {"emb_size": 200, "hidden_size": 600, "n_layers": 3}


def make_config(tokenizer, emb_size, hidden_size, n_layers):
    """The config of an AWD-LSTM encoder of these sizes over ``tokenizer``."""
    return {
        "format_version": FORMAT_VERSION,
        "architecture": AWD_LSTM.name,
        "vocab_size": tokenizer.vocab_size,
        "emb_size": emb_size,
        "hidden_size": hidden_size,
        "n_layers": n_layers,
        "pad_idx": tokenizer.pad_id,
        "special_tokens": list(SPECIAL_TOKENS),
        "tokenizer": {"type": tokenizer.kind, "file": tokenizer.filename},
        "weights": "weights.safetensors",
    }


def lm_state_dict(lm):
    """The tensors of a :class:`~ulmfit_sklearn.models.awd_lstm.LanguageModel` as an
    encoder folder stores them (without the tied decoder matrix)."""
    return AWD_LSTM.language_model_state(lm)


def check_weights(config, state_dict, where="encoder"):
    """Check that ``state_dict`` has exactly the tensors, of the shapes, that an
    AWD-LSTM ``config``'s sizes imply (see
    :meth:`~ulmfit_sklearn.families.awd_lstm.AWDLSTMFamily.check_weights`)."""
    AWD_LSTM.check_weights(config, state_dict, where)


def random_encoder(tokenizer, emb_size=None, hidden_size=None, n_layers=None, seed=0):
    """A randomly initialised AWD-LSTM encoder over ``tokenizer`` (the "no
    pretraining" ablation); sizes default to :data:`DEFAULT_SHAPE`."""
    shape = dict(DEFAULT_SHAPE)
    shape.update({k: v for k, v in dict(emb_size=emb_size, hidden_size=hidden_size,
                                         n_layers=n_layers).items() if v is not None})
    config = make_config(tokenizer, **shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lm = AWD_LSTM.build_language_model(Encoder(config, None, tokenizer))
    return Encoder(config, lm_state_dict(lm), tokenizer, {"pretraining": "none (random)"})


def random_encoder_like(encoder, seed=0, direction="forward"):
    """A random AWD-LSTM of ``encoder``'s sizes and tokenizer, reading in
    ``direction``: what an estimator's ``pretrained=None`` starts from."""
    enc = random_encoder(encoder.tokenizer, seed=seed,
                         **{k: encoder.config[k] for k in DEFAULT_SHAPE})
    return replace(enc, config=dict(enc.config, direction=direction))
