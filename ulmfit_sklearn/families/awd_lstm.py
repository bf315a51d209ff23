"""The AWD-LSTM family: the paper's encoder (Merity et al. 2017; Howard & Ruder 2018).

An AWD-LSTM encoder folder stores its language model: the AWD-LSTM's parameters
under ``encoder.`` and the decoder bias ``decoder.bias`` (the decoder matrix is the
embedding).  Stage 2 fine-tunes that language model on the target texts as one
stream of tokens (:func:`~ulmfit_sklearn.training.stages.finetune_language_model`);
stage 3 reads each document by BPT3C under fastai's head
(:class:`~ulmfit_sklearn.models.heads.SequenceClassifier`).
"""

from ..exceptions import EncoderError
from ..models import scaled_dropout
from ..models.awd_lstm import AWDLSTM, CLAS_DROPOUT, LM_DROPOUT, LanguageModel
from ..models.heads import ConcatPoolEncoder, SequenceClassifier
from ..training.stages import finetune_language_model, seeded
from .base import COUNT, HEAD_SPEC, INDEX, OPTIONAL_COUNT, EncoderFamily, Network, head_sizes

#: The sizes of an AWD-LSTM, as its config and a network description give them.
SIZES = ("vocab_size", "emb_size", "hidden_size", "n_layers", "pad_idx")
_SPEC = {"vocab_size": COUNT, "emb_size": COUNT, "hidden_size": COUNT, "n_layers": COUNT,
         "pad_idx": INDEX, "bptt": COUNT, "max_len": OPTIONAL_COUNT}


def _awd_lstm(sizes):
    """An :class:`~ulmfit_sklearn.models.awd_lstm.AWDLSTM` of ``sizes`` (a config or a
    network description), initialised at random."""
    return AWDLSTM(**{k: sizes[k] for k in SIZES})


class AWDLSTMFamily(EncoderFamily):
    """The AWD-LSTM: one layer group per LSTM layer, a language model whose decoder is
    the embedding, BPT3C and concat pooling in stage 3."""

    name = "awd_lstm"
    auto_lr = 2e-2
    auto_lm_lr = 5e-3
    #: Measured for the AWD-LSTM (benchmarks/commentary.md, "small training sets"):
    #: small training sets get more epochs in the last stage (see
    #: :func:`~ulmfit_sklearn.training.stages.last_stage_epochs`).
    min_last_stage_steps = 64
    #: int8 rows moved 0 to 0.4 % of test predictions (benchmarks/model_size.py, n = 100 on
    #: TREC-6, SST-2, AG News and IMDb): a quarter of fp32
    saved_weights = "int8"
    #: Not under bf16: fine-tuned so, its validation error was higher on all three sets
    #: measured (TREC-6 17.3 vs 16.1 %, SST-2 29.25 vs 27.05, AG News 12.8 vs 12.55;
    #: n = 1,000, seed 0, package 3833734) for no steady speed-up.
    autocast = False
    sampled_softmax = True
    word_embedding, output_bias = "encoder.encoder.weight", "decoder.bias"
    config_keys = SIZES
    networks = {"SequenceClassifier": Network("classifier", {**_SPEC, **HEAD_SPEC}),
                "ConcatPoolEncoder": Network("features", _SPEC)}

    # ------------------------------------------------------------------ encoders
    def has_language_model(self, config):
        return True  # its decoder is the embedding

    def n_layer_groups(self, config):
        return config["n_layers"]

    def expected_shapes(self, config):
        """The shape of each stored tensor of an encoder of ``config``'s sizes, as
        :class:`~ulmfit_sklearn.models.awd_lstm.AWDLSTM` builds it."""
        vocab, emb, hidden, n_layers = (config[k] for k in SIZES[:4])
        shapes = {"encoder.encoder.weight": (vocab, emb), "decoder.bias": (vocab,)}
        sizes = [emb] + [hidden] * (n_layers - 1) + [emb]
        for i in range(n_layers):
            n_in, n_out = sizes[i], sizes[i + 1]
            prefix = f"encoder.rnns.{i}.lstm."
            shapes.update({prefix + "weight_ih_l0": (4 * n_out, n_in),
                           prefix + "weight_hh_l0": (4 * n_out, n_out),
                           prefix + "bias_ih_l0": (4 * n_out,), prefix + "bias_hh_l0": (4 * n_out,)})
        return shapes

    def check_weights(self, config, state, where="encoder"):
        for key in SIZES[:4]:
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EncoderError(f"{where}: {key} must be a positive int, got {value!r}")
        pad = config["pad_idx"]
        if isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad < config["vocab_size"]:
            raise EncoderError(f"{where}: pad_idx must be an int in [0, vocab_size="
                               f"{config['vocab_size']}), got {pad!r}")
        sizes = ", ".join(f"{k}={config[k]}" for k in SIZES[:4])
        expected = self.expected_shapes(config)
        missing = sorted(expected.keys() - state.keys())
        if missing:
            raise EncoderError(f"{where}: the weights lack tensors {missing} that the config "
                               f"({sizes}) needs")
        extra = sorted(state.keys() - expected.keys())
        if extra:
            raise EncoderError(f"{where}: the weights have tensors {extra} that the config "
                               f"({sizes}) does not describe")
        for name, shape in expected.items():
            actual = tuple(state[name].shape)
            if actual != shape:
                raise EncoderError(f"{where}: tensor {name!r} has shape {actual}, but the config "
                                   f"({sizes}) implies {shape}")

    def build_language_model(self, encoder, **dropout):
        """The :class:`~ulmfit_sklearn.models.awd_lstm.LanguageModel` of ``encoder``;
        ``dropout``: ``embed``, ``input``, ``weight``, ``hidden``, ``output``."""
        lm = LanguageModel(_awd_lstm(encoder.config))
        if encoder.state_dict is not None:
            lm.load_stored_state_dict(encoder.state_dict)
        lm.set_dropout(**dropout)
        return lm

    def build_encoder(self, encoder, **dropout):
        """The :class:`~ulmfit_sklearn.models.awd_lstm.AWDLSTM` of ``encoder``, built
        through its language model (whose tensors the folder stores)."""
        return self.build_language_model(encoder, **dropout).encoder

    def build_module(self, encoder, **dropout):
        return self.build_language_model(encoder, **dropout)

    def language_model_state(self, model):
        return model.stored_state_dict()

    # ------------------------------------------------------------------ stages
    def finetune(self, encoder, docs, *, epochs, lr, lr_decay, drop_mult, bptt, batch_size,
                 cut_frac, ratio, seed, device, autocast, verbose, sampled_softmax=False,
                 lr_range=None):
        """Stage 2 as the paper's: the language model with fastai's LM dropouts
        (scaled by ``drop_mult``) fine-tuned on ``docs`` as one token stream by
        :func:`~ulmfit_sklearn.training.stages.finetune_language_model`."""
        with seeded(seed, device):
            lm = self.build_language_model(encoder, **scaled_dropout(LM_DROPOUT, drop_mult))
            net = finetune_language_model(lm, docs, epochs=epochs, lr=lr, lr_decay=lr_decay,
                                          bptt=bptt, batch_size=batch_size, cut_frac=cut_frac,
                                          ratio=ratio, seed=seed, device=device,
                                          autocast=autocast, verbose=verbose,
                                          sampled_softmax=sampled_softmax, lr_range=lr_range)
        return self.language_model_state(net.module_), net.history.to_list()

    def classifier_module(self, encoder, n_out, *, bptt, max_len, drop_mult):
        """A :class:`~ulmfit_sklearn.models.heads.SequenceClassifier` with fastai's
        classifier dropouts scaled by ``drop_mult``."""
        module = SequenceClassifier(self.build_encoder(encoder), n_out, bptt=bptt,
                                    max_len=max_len)
        module.set_dropout(**scaled_dropout(CLAS_DROPOUT, drop_mult))
        return module

    def feature_module(self, encoder, *, bptt, max_len):
        """Concat pooling by BPT3C (:class:`~ulmfit_sklearn.models.heads.ConcatPoolEncoder`)."""
        return ConcatPoolEncoder(self.build_encoder(encoder), bptt, max_len)

    # ------------------------------------------------------------------ model files
    def describe(self, module):
        awd = module.encoder
        return {"vocab_size": awd.embedding.num_embeddings, "emb_size": awd.emb_size,
                "hidden_size": awd.hidden_size, "n_layers": awd.n_layers,
                "pad_idx": awd.embedding.padding_idx, "bptt": module.bptt, "max_len": module.max_len,
                **head_sizes(module)}

    def rebuild(self, spec):
        awd = _awd_lstm(spec)
        if spec["kind"] == "SequenceClassifier":
            return SequenceClassifier(awd, spec["n_out"], bptt=spec["bptt"],
                                      max_len=spec["max_len"], hidden=spec["head_hidden"])
        return ConcatPoolEncoder(awd, bptt=spec["bptt"], max_len=spec["max_len"])


#: The AWD-LSTM family.
AWD_LSTM = AWDLSTMFamily()
