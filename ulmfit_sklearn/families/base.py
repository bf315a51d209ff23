"""The interface of an encoder family: what the package asks of one.

An encoder family is an architecture that ULMFiT's recipe runs over (the AWD-LSTM
of the paper, a BERT).  Everything that differs between families is a method or an
attribute of one small :class:`EncoderFamily` object, registered in
:data:`ulmfit_sklearn.families.FAMILIES` under the name that an encoder folder's
``config["architecture"]`` gives.  The estimators, the stages, the encoder folders
and the safe model format ask the family; none of them tests the architecture.

Adding a family: its networks in :mod:`ulmfit_sklearn.models`, a subclass of
:class:`EncoderFamily` in this package, and an entry in
:data:`~ulmfit_sklearn.families.FAMILIES`.
"""

from dataclasses import dataclass

#: What a value of a network description (see :attr:`EncoderFamily.networks`) must
#: be: a count (int >= 1), an index (int >= 0), an optional count (None or a
#: count), a positive finite float; or else a set of the strings it may be.
COUNT, INDEX, OPTIONAL_COUNT, POSITIVE = "count", "index", "optional count", "positive"
#: The description of fastai's classifier head, which both families' classifiers carry.
HEAD_SPEC = {"n_out": COUNT, "head_hidden": COUNT}


@dataclass(frozen=True)
class Network:
    """A kind of fitted network of a family, as the safe model format describes it."""

    #: what it computes: ``"classifier"`` (stage 3's scores) or ``"features"``
    #: (document vectors)
    role: str
    #: the keys of its description (besides ``"kind"``), each with what it must be
    spec: dict


def head_sizes(module):
    """The description of ``module``'s classifier head (none for a feature module)."""
    if not hasattr(module, "head"):
        return {}
    return {"n_out": module.n_out, "head_hidden": module.head.lin1.out_features}


class EncoderFamily:
    """What the package knows of an encoder family: subclass and fill in.

    Attributes
    ----------
    name : str
        The family's name in an encoder folder's ``config["architecture"]``.
    auto_lr, auto_lm_lr : float
        Stage 3's and stage 2's peak learning rates for ``lr="auto"`` and
        ``lm_lr="auto"``.
    min_last_stage_steps, min_last_stage_docs : int
        Fewest optimizer steps, and fewest documents read, of stage 3's last stage
        (everything unfrozen) under the default schedule (``unfreeze_epochs=None``);
        0: none (see :func:`~ulmfit_sklearn.training.stages.last_stage_floor`).
    train_max_len : int or None
        How many tokens of each document training reads (head + tail) for
        ``train_max_len="auto"``; None: all of it.
    autocast : bool
        Whether ``autocast="auto"`` runs the family under bf16 where the device
        computes it natively.
    sampled_softmax : bool
        Whether stage 2 can bound its softmax by the batch (``lm_sampled_softmax``).
    word_embedding, output_bias : str or None
        The state-dict names of the word embedding and of the language model's
        output bias, whose rows grow with a word vocabulary
        (:mod:`ulmfit_sklearn.encoders.vocabulary`); None where the family has no
        word vocabulary.
    config_keys : tuple of str
        The sizes that an encoder folder's config must give.
    saved_weights : str
        How a saved model stores a fitted network of the family by default
        (``save(weights="auto")``): the smallest of
        :data:`~ulmfit_sklearn.training.numerics.STORAGE_DTYPES` measured to move at
        most 0.5 % of test predictions (docs/persistence.md).
    networks : dict
        The kinds of fitted networks (class names) that the safe model format
        describes, each a :class:`Network`.
    """

    name = None
    auto_lr = auto_lm_lr = None
    min_last_stage_steps = 0
    min_last_stage_docs = 0
    train_max_len = None
    autocast = False
    sampled_softmax = False
    word_embedding = output_bias = None
    config_keys = ()
    saved_weights = "float32"
    networks = {}

    def __repr__(self):
        return f"<encoder family {self.name!r}>"

    # ------------------------------------------------------------------ encoders
    def has_language_model(self, config):
        """Whether stage 2 can fine-tune an encoder of ``config``."""
        raise NotImplementedError

    def n_layer_groups(self, config):
        """How many layer groups lie between the embedding and the head in stage 3
        (gradual unfreezing takes one more stage than this at most)."""
        raise NotImplementedError

    def check_weights(self, config, state, where="encoder"):
        """Raise :class:`~ulmfit_sklearn.exceptions.EncoderError` naming the first
        tensor of ``state`` missing, extra or of another shape than ``config``'s
        sizes imply (so that it does not surface later inside ``load_state_dict``)."""
        raise NotImplementedError

    def build_encoder(self, encoder, **dropout):
        """The encoder network (without any head) of ``encoder`` (an
        :class:`~ulmfit_sklearn.encoders.Encoder`), with its weights if it has some;
        ``dropout``: the family's dropout probabilities (default 0)."""
        raise NotImplementedError

    def build_language_model(self, encoder, **dropout):
        """The language model that stage 2 fine-tunes, with ``encoder``'s weights."""
        raise NotImplementedError

    def build_module(self, encoder, **dropout):
        """What :meth:`Encoder.build_module <ulmfit_sklearn.encoders.Encoder.build_module>`
        (deprecated) returned for this family."""
        raise NotImplementedError

    def language_model_state(self, model):
        """The tensors of a language model (or of an encoder network) as an encoder
        folder stores them: fp32 copies on the CPU."""
        raise NotImplementedError

    # ------------------------------------------------------------------ stages
    def finetune(self, encoder, docs, *, epochs, lr, lr_decay, drop_mult, bptt, batch_size,
                 cut_frac, ratio, seed, device, autocast, verbose, sampled_softmax=False,
                 lr_range=None):
        """Stage 2: fine-tune ``encoder``'s language model on ``docs`` (token ids),
        with its dropouts scaled by ``drop_mult``.  ``lr_range=(start, end, steps)``:
        a learning-rate range test instead.

        Returns
        -------
        state : dict
            The fine-tuned tensors, as :meth:`language_model_state` gives them.
        history : list
            The skorch history.
        """
        raise NotImplementedError

    def classifier_module(self, encoder, n_out, *, bptt, max_len, drop_mult):
        """Stage 3's network over ``encoder``: the whole document pooled, then
        fastai's head of ``n_out`` outputs; the dropouts scaled by ``drop_mult``."""
        raise NotImplementedError

    def feature_module(self, encoder, *, bptt, max_len):
        """The network of document features over ``encoder`` (no dropout)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ model files
    def describe(self, module):
        """The description of a fitted network (one of :attr:`networks`) that
        :meth:`rebuild` reads, without its ``"kind"``, as JSON data."""
        raise NotImplementedError

    def rebuild(self, spec):
        """A network as :meth:`describe` described it (with its ``"kind"``),
        initialised at random: the weights are loaded into it."""
        raise NotImplementedError
