"""The BERT family: BERT (Devlin et al. 2019) and its distilled variants (MiniLM, ...).

A BERT encoder folder stores the :class:`~ulmfit_sklearn.models.bert.BertModel`'s
tensors, and a masked-LM head's under ``mlm.`` where it has one
(``config["mlm_head"]``; see :mod:`ulmfit_sklearn.encoders.bert` for the folders and
the conversion of Hugging Face checkpoints).  Stage 2 is masked-LM fine-tuning
(:func:`~ulmfit_sklearn.training.stages.finetune_masked_lm`), and only an encoder
with a head has it; stage 3 reads each document in windows of 512 word pieces,
mean-pooled over all of them, under fastai's head
(:class:`~ulmfit_sklearn.models.heads.BertClassifier`).
"""

import torch

from ..exceptions import EncoderError
from ..models import scaled_dropout
from ..models.bert import BertModel, BertMaskedLM
from ..models.heads import HEAD_DROPOUT, BertClassifier, WindowPoolEncoder
from ..training.stages import finetune_masked_lm, seeded
from .base import (COUNT, HEAD_SPEC, INDEX, OPTIONAL_COUNT, POSITIVE, EncoderFamily, Network,
                   head_sizes)

#: The prefix of the masked-LM head's tensors in an encoder folder's weights.
MLM_PREFIX = "mlm."
#: The sizes and ids of a BERT, as its config and a network description give them,
#: with :class:`~ulmfit_sklearn.models.bert.BertModel`'s argument for each.
SIZES = {"vocab_size": "vocab_size", "hidden_size": "hidden_size", "n_layers": "n_layers",
         "n_heads": "n_heads", "intermediate_size": "intermediate_size",
         "max_positions": "max_positions", "type_vocab_size": "type_vocab_size",
         "pad_idx": "pad_idx", "cls_idx": "cls_idx", "sep_idx": "sep_idx",
         "layer_norm_eps": "eps"}
_SPEC = {"vocab_size": COUNT, "hidden_size": COUNT, "n_layers": COUNT, "n_heads": COUNT,
         "intermediate_size": COUNT, "max_positions": COUNT, "type_vocab_size": COUNT,
         "layer_norm_eps": POSITIVE, "pad_idx": INDEX, "cls_idx": INDEX, "sep_idx": INDEX,
         "pooling": {"mean", "cls", "concat"}, "max_len": OPTIONAL_COUNT,
         "window": OPTIONAL_COUNT}


def _bert(sizes):
    """A :class:`~ulmfit_sklearn.models.bert.BertModel` of ``sizes`` (a config or a
    network description), initialised at random."""
    return BertModel(**{arg: sizes[key] for key, arg in SIZES.items()})


def _sizes(bert):
    """The sizes of a :class:`~ulmfit_sklearn.models.bert.BertModel`, as a config
    gives them."""
    layer, emb = bert.layers[0], bert.embeddings
    return {"vocab_size": emb.word.num_embeddings, "hidden_size": bert.hidden_size,
            "n_layers": bert.n_layers, "n_heads": layer.n_heads,
            "intermediate_size": layer.ff_in.out_features, "max_positions": bert.max_positions,
            "type_vocab_size": emb.token_type.num_embeddings, "layer_norm_eps": emb.norm.eps,
            "pad_idx": bert.pad_idx, "cls_idx": bert.cls_idx, "sep_idx": bert.sep_idx}


class BertFamily(EncoderFamily):
    """A BERT: its blocks in at most :attr:`block_groups` layer groups, a masked-LM
    head for stage 2 where the folder has one, window pooling in stage 3."""

    name = "bert"
    auto_lr = 1e-3
    auto_lm_lr = 3e-4
    min_last_stage_steps = 0
    #: Small training sets want more and larger steps: the last stage reads at least
    #: 2,048 documents (256 steps of 8 at n = 100; nothing changes from n = 1,000 in
    #: batches of 32).  Validation error at n = 100 (schedule.py b_floor256, three
    #: seeds): TREC-6 14.7 against 22.3 %, SST-2 25.9 against 29.6, AG News 13.8
    #: against 16.5 (seed 0), better on every seed.
    min_last_stage_docs = 2048
    #: Training reads each document's head + tail of 256 word pieces (stages 2 and 3;
    #: prediction reads up to max_len): 1,000 IMDb reviews fit in 376 s instead of more
    #: than 30 minutes on 2 CPU threads (with :attr:`attention_dropout` off; native bf16;
    #: benchmarks/fit_budget.py).
    train_max_len = 256
    #: fp16 moved at most 0.1 % of test predictions; int8 rows moved 3.5 to 5 % of them
    #: and test error by up to 3.4 points (benchmarks/model_size.py, n = 100)
    saved_weights = "float16"
    #: Under bf16 where native: its validation error was the same (7.5 / 18.35 / 11.0 %
    #: against 7.5 / 18.3 / 10.9 on TREC-6, SST-2, AG News; n = 1,000, seed 0, package
    #: 3833734) at twice the speed.
    autocast = True
    config_keys = tuple(SIZES)
    networks = {"BertClassifier": Network("classifier", {**_SPEC, **HEAD_SPEC, "n_groups": COUNT}),
                "WindowPoolEncoder": Network("features", _SPEC)}
    #: How many layer groups a BERT's blocks form in stages 2 and 3 (at most): as many
    #: as the bundled AWD-LSTM's layers, so the schedules have the same stages.
    block_groups = 3
    #: Dropout on the attention probabilities in stage 3 (the checkpoint's rate,
    #: scaled by ``drop_mult``; stage 2 keeps it: its 128-piece windows lose ~1 %).
    #: With it torch's scaled-dot-product attention cannot use its fused kernel and
    #: materialises every (heads, time, time) matrix: on 2 CPU threads a training step
    #: over 512-piece windows ran 2.6 times slower than without it (1,070 against 2,807
    #: pieces a second in bf16; 902 against 1,890 in fp32; 256 pieces: 1.4 and 1.6
    #: times; AMD EPYC, native bf16; benchmarks/bert_speed.py).  Off: validation
    #: error without it (schedule.py b_noattn, n = 100, three seeds) was TREC-6 22.1
    #: against 22.3 %, SST-2 29.5 against 29.6, AG News 15.8 against 16.5 (seed 0).
    attention_dropout = False

    # ------------------------------------------------------------------ encoders
    def has_language_model(self, config):
        """Only with a masked-LM head (``config["mlm_head"]``)."""
        return bool(config.get("mlm_head"))

    def n_layer_groups(self, config):
        """:attr:`block_groups`, or one a block where there are fewer blocks."""
        return min(self.block_groups, config["n_layers"])

    def expected_shapes(self, config):
        """The shape of each tensor of a BERT of ``config``'s sizes, with its
        masked-LM head's if ``config["mlm_head"]`` (built on the meta device: no
        memory)."""
        with torch.device("meta"):
            module = _bert(config)
            if self.has_language_model(config):
                module = BertMaskedLM(module, n_groups=self.n_layer_groups(config))
            return {k: tuple(v.shape) for k, v in self._named_tensors(module).items()}

    def check_weights(self, config, state, where="encoder"):
        for key in ("vocab_size", "hidden_size", "n_layers", "n_heads", "intermediate_size",
                    "max_positions", "type_vocab_size", "pad_idx", "cls_idx", "sep_idx"):
            value = config.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise EncoderError(f"{where}: {key} must be a non-negative int, got {value!r}")
        try:
            expected = self.expected_shapes(config)
        except (ValueError, RuntimeError, KeyError) as exc:
            raise EncoderError(f"{where}: inconsistent sizes ({exc})") from None
        for problem, names in (("lack", expected.keys() - state.keys()),
                               ("have unexpected", state.keys() - expected.keys())):
            if names:
                raise EncoderError(f"{where}: the weights {problem} tensors {sorted(names)[:5]}")
        for name, shape in expected.items():
            if tuple(state[name].shape) != shape:
                raise EncoderError(f"{where}: tensor {name!r} has shape "
                                   f"{tuple(state[name].shape)}, but the config implies {shape}")

    def _classifier_dropout(self, encoder, drop_mult):
        """Stage 3's encoder dropouts: the checkpoint's scaled by ``drop_mult``,
        without the attention's unless :attr:`attention_dropout`."""
        ps = scaled_dropout(encoder.config["dropout"], drop_mult)
        if not self.attention_dropout and "attention" in ps:
            ps["attention"] = 0.0
        return ps

    def build_encoder(self, encoder, **dropout):
        """The :class:`~ulmfit_sklearn.models.bert.BertModel` of ``encoder``, in fp32;
        ``dropout``: ``hidden`` and ``attention`` (default 0)."""
        module = _bert(encoder.config)
        if encoder.state_dict is not None:
            module.load_state_dict({k: v for k, v in encoder.state_dict.items()
                                    if not k.startswith(MLM_PREFIX)})
        module.set_dropout(**dropout)
        return module

    def build_language_model(self, encoder, **dropout):
        """The :class:`~ulmfit_sklearn.models.bert.BertMaskedLM` of ``encoder``: its BERT
        with the folder's masked-LM head (a fresh one if it has none), the blocks in
        :meth:`n_layer_groups` layer groups."""
        model = BertMaskedLM(self.build_encoder(encoder, **dropout),
                             n_groups=self.n_layer_groups(encoder.config))
        head = {k[len(MLM_PREFIX):]: v for k, v in (encoder.state_dict or {}).items()
                if k.startswith(MLM_PREFIX)}
        if head:
            model.head.load_state_dict(head)
        return model

    def build_module(self, encoder, **dropout):
        return self.build_encoder(encoder, **dropout)

    def language_model_state(self, model):
        """The tensors of a :class:`~ulmfit_sklearn.models.bert.BertMaskedLM` (or of a
        bare BERT) as an encoder folder stores them: the BERT's names, the head under
        ``mlm.``; fp32 on the CPU."""
        return {k: v.detach().float().cpu().clone() for k, v in self._named_tensors(model).items()}

    @staticmethod
    def _named_tensors(model):
        parts = {"": model} if isinstance(model, BertModel) else \
            {"": model.encoder, MLM_PREFIX: model.head}
        return {prefix + k: v for prefix, module in parts.items()
                for k, v in module.state_dict().items()}

    # ------------------------------------------------------------------ stages
    def finetune(self, encoder, docs, *, epochs, lr, lr_decay, drop_mult, bptt, batch_size,
                 cut_frac, ratio, seed, device, autocast, verbose, sampled_softmax=False,
                 lr_range=None):
        """Masked-LM fine-tuning of the BERT and its head, with the checkpoint's
        dropouts scaled by ``drop_mult`` (``bptt`` and ``sampled_softmax`` do not
        apply; a range test is not supported)."""
        if lr_range:
            raise ValueError("a learning-rate range test of a BERT's stage 2 is not supported")
        tok = encoder.tokenizer
        with seeded(seed, device):
            model = self.build_language_model(
                encoder, **scaled_dropout(encoder.config["dropout"], drop_mult))
            net = finetune_masked_lm(model, docs, epochs=epochs, lr=lr, lr_decay=lr_decay,
                                     batch_size=batch_size, cut_frac=cut_frac, ratio=ratio,
                                     seed=seed, device=device, autocast=autocast,
                                     verbose=verbose, mask_id=tok.mask_id,
                                     special_ids=tok.special_ids)
        return self.language_model_state(net.module_), net.history.to_list()

    def classifier_module(self, encoder, n_out, *, bptt, max_len, drop_mult):
        """A :class:`~ulmfit_sklearn.models.heads.BertClassifier`: fastai's head
        dropout and the checkpoint's dropouts, both scaled by ``drop_mult`` (``bptt``
        does not apply)."""
        module = BertClassifier(self.build_encoder(encoder), n_out, max_len=max_len,
                                n_groups=self.n_layer_groups(encoder.config))
        module.set_dropout(**scaled_dropout({"output": HEAD_DROPOUT}, drop_mult),
                           **self._classifier_dropout(encoder, drop_mult))
        return module

    def feature_module(self, encoder, *, bptt, max_len):
        """The windows mean-pooled (:class:`~ulmfit_sklearn.models.heads.WindowPoolEncoder`)."""
        return WindowPoolEncoder(self.build_encoder(encoder), max_len=max_len)

    # ------------------------------------------------------------------ model files
    def describe(self, module):
        net = {**_sizes(module.encoder), "pooling": module.pooling, "max_len": module.max_len,
               "window": module.window}
        if hasattr(module, "head"):  # a classifier
            net["n_groups"] = module.n_groups
        return {**net, **head_sizes(module)}

    def rebuild(self, spec):
        window = dict(pooling=spec["pooling"], max_len=spec["max_len"], window=spec["window"])
        if spec["kind"] == "WindowPoolEncoder":
            return WindowPoolEncoder(_bert(spec), **window)
        return BertClassifier(_bert(spec), spec["n_out"], n_groups=spec["n_groups"],
                              hidden=spec["head_hidden"], **window)


#: The BERT family.
BERT = BertFamily()
