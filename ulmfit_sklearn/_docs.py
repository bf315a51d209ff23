"""Parameter descriptions that the estimators' docstrings share.

Each estimator's class docstring holds ``{{lm_params}}``, ``{{stage3_params}}``
or ``{{run_params}}`` slots; :func:`fill_doc` puts the text in.
"""

_LM_PARAMS = """\
    pretrained : str, path or None, default="default"
        The encoder to start from: the name of a bundled encoder (``"default"``
        is ``"minilm-l6"``, all-MiniLM-L6-v2, the most accurate; ``"awd-lstm"``
        is ``"modern-glove"``, the paper's AWD-LSTM, the default before MiniLM;
        ``bidirectional`` needs an AWD-LSTM folder with a backward model), a path to an encoder folder (see
        :mod:`ulmfit_sklearn.encoders`; an AWD-LSTM, or a BERT, also in the
        Hugging Face layout), or None for a randomly initialised AWD-LSTM of
        ``"modern-glove"``'s shape and tokenizer (the paper's "no pretraining"
        ablation).

    lm_epochs : int or "auto", default="auto"
        Epochs of target-task language-model fine-tuning (stage 2); 0 skips it.
        "auto": 1 where the encoder has a language model (an AWD-LSTM; a BERT
        whose folder has a masked-LM head, as ``minilm-l6``), 0 where it has none.
        A BERT is fine-tuned as a masked LM (in windows of 128 word pieces,
        BERT's masking); given epochs and no head, stage 2 is skipped with a
        warning.

    lm_lr : float or "auto", default="auto"
        Peak learning rate of stage 2 for the top layer group.  "auto": 5e-3 for
        an AWD-LSTM, 3e-4 for a BERT (lower validation error than 1e-4 with
        ``minilm-l6`` on SST-2, AG News and IMDb at n = 100, one seed).

    lm_drop_mult : float, default=0.3
        Multiplier of the language model's dropout probabilities in stage 2
        (fastai's LM dropouts: embedding 0.02, input 0.25, weight 0.2, hidden 0.15,
        output 0.1).

    lm_lr_decay : float, default=2.6
        Discriminative fine-tuning in stage 2: each layer group's learning rate is
        the one above divided by ``lm_lr_decay``.  The groups are fastai's LM
        split, bottom up: each LSTM layer, then the embedding with its tied decoder
        on top (at ``lm_lr``, so words new to the vocabulary learn fast).  (Stage 2's STLR has the paper's
        shape: cut_frac 0.1, ratio 32.)

    lm_bptt : int, default=70
        Mean length of the language model's training windows.

    lm_batch_size : int or "auto", default="auto"
        Number of parallel rows the token stream is cut into in stage 2.  "auto":
        32, fewer on small data so that an epoch has at least about 25 windows
        (``min(32, max(4, n_tokens // (25 * lm_bptt)))``).

    lm_sampled_softmax : bool, default=False
        AWD-LSTM only: each stage-2 step's softmax covers only the token ids among
        that batch's targets (at most ``lm_batch_size * lm_bptt``, however many
        texts there are) instead of every id the texts contain, with the logQ
        correction of the ids' frequencies (the in-batch sampled softmax that
        pretraining uses).  Stage 2's step memory then stays flat in the number of
        texts (about 275 MB from 250 to 2,000 IMDb reviews, against 430 to 800 MB).
        Off by default: the validation error was 0.25 to 1.45 points higher with it
        on TREC-6, SST-2 and AG News (n = 1,000, one seed).

"""

_STAGE3_PARAMS = """\
    unfreeze_epochs : sequence of int or None, default=None
        Epochs of each gradual-unfreezing stage of stage 3.  The first stage trains
        the head only; each further stage unfreezes one more LSTM layer from the
        top; the last stage always trains everything (the lowest layers and the
        embedding too).  ``(1, 2)`` is head then all, ``(3,)`` is no gradual
        unfreezing, zeros skip a stage.  None: the paper's schedule, one epoch per
        stage and two for the last (``(1, 1, 1, 2)`` for a 3-layer encoder), where
        for an AWD-LSTM the last stage makes at least 64 optimizer steps: small
        training sets get more epochs there (100 documents, in batches of 8, get
        five), which makes them train reliably.

    lr : float or "auto", default="auto"
        Peak learning rate of stage 3's first stage for the head (the top layer
        group; see ``lr_decay`` for the others).  As in fastai's
        recipe, stage k (0-based) peaks at ``lr / 2**k`` and the final all-layers
        stage at ``lr / 20`` (``lr`` itself when it is the only stage).  "auto":
        2e-2 for an AWD-LSTM encoder, 1e-3 for a BERT (whose blocks form three
        layer groups of consecutive blocks, as many as the AWD-LSTM's layers).

    lr_decay : float, default=1.0
        Discriminative fine-tuning in stage 3: each layer group gets the learning
        rate of the group above divided by ``lr_decay``; the groups are fastai's
        classifier split, bottom up: the embedding, each LSTM layer, the head
        (which gets the stage's rate).  The paper's value is 2.6.
        The default 1.0 (every group at the stage's rate) measured better with the
        bundled encoders: with fastai's layer groups, lower validation error than
        2.6 on TREC-6, SST-2, AG News and IMDb at n = 1,000 with both the current
        and the previous bundled encoder (8 of 8 runs, one seed; 2.6 was better on
        IMDb at n = 100, 2 of 2; docs/benchmarks.md); these small, CPU-pretrained
        encoders' lower layers need to move as much as the top.  Try 2.6 with a
        stronger encoder (e.g. fastai's WT103).  Stage 2 keeps the paper's 2.6
        (``lm_lr_decay``).

    stlr_cut_frac : float, default=0.1
        Fraction of each STLR cycle spent increasing the learning rate.

    stlr_ratio : float, default=32
        How much smaller the lowest STLR learning rate is than the peak.

    stlr : bool, default=True
        Use slanted triangular learning rates in stage 3; False keeps each stage's
        peak learning rate constant (the paper's "no STLR" ablation).

    drop_mult : float, default=0.5
        Multiplier of the classifier's dropout probabilities (fastai's classifier
        dropouts: embedding 0.05, input 0.4, weight 0.5, hidden 0.3, head 0.4 and
        0.1).

    bptt : int, default=72
        Chunk length of BPT3C: documents are read ``bptt`` tokens at a time with
        the LSTM state carried across chunks.

    max_len : int, default=1440
        Pooling and gradients cover each document's last ``max_len`` tokens;
        earlier chunks only carry the state (no gradient), so memory stays bounded
        for long documents.

    train_max_len : int, None or "auto", default="auto"
        Training (stage 2's language model and stage 3) reads each document cut to
        this many tokens: its first quarter and its last three quarters (head +
        tail, the truncation Sun et al. 2019 found best for BERT on IMDb), which
        makes long documents cheaper to train on; prediction still reads up to
        ``max_len``.  None: training reads what prediction reads.  ``"auto"``: the
        encoder family's choice (the AWD-LSTM: None; a BERT: see the benchmarks
        page).

    batch_size : int or "auto", default="auto"
        Documents per batch in stage 3.  "auto": ``min(32, max(8, n // 25))`` for
        ``n`` labeled documents, so that small data sets still get enough
        optimizer steps.

"""

_RUN_PARAMS = """\
    device : {"auto", "cpu", "cuda"} or "cuda:N", default="auto"
        Torch device; "auto" takes CUDA when available, "cuda:N" the GPU of
        index N.  ``fit`` raises a ValueError for any other value, or for a
        CUDA device that this machine lacks, before it loads the encoder.

    autocast : bool or "auto", default="auto"
        Run forward passes under bf16 autocast.  "auto" turns it on for a BERT
        where the device computes bf16 natively: a GPU with bf16, a CPU with
        AVX-512 BF16 or AMX (about 2.4x faster training of ``minilm-l6`` on an
        AMD Zen 4, the same validation error); off elsewhere, where bf16 is
        emulated and slower (an AVX2-only CPU), and off for an AWD-LSTM, whose
        validation error was higher under bf16 on every set measured (see
        :attr:`~ulmfit_sklearn.families.base.EncoderFamily.autocast`).  Numbers differ
        slightly between the two modes, so fits on machines of both kinds are
        not bit-identical.

    quantize : bool, default=False
        Predict with int8 weights on a CPU: a copy of the fitted network whose LSTM
        and linear layers are dynamically quantized (weights per output channel,
        activations per batch) is made at the first prediction; the fitted fp32
        weights are what is saved and pickled.  Takes effect without refitting
        (``set_params``).  Ignored on a GPU.  Faster (1.3 to 2x for an AWD-LSTM on
        one thread) and as accurate (test error within 0.17 points on every
        learning-curve cell, mean of three seeds), but off by default: activations
        are quantized per batch, so a document's prediction varies slightly with the
        documents that share its batch (scikit-learn's invariance to predicting a
        subset does not hold).

    memory : str, path, joblib.Memory or None, default=None
        Cache for the fine-tuned language model of stage 2, so that a grid search
        over stage-3 parameters runs stage 2 once per training fold.  Keyed by the
        texts, the ``lm_`` parameters (and ``autocast``), the encoder's checksum,
        the (int) ``random_state`` and the package version.  Stage 2 depends on
        nothing else.

    random_state : int, RandomState instance or None, default=None
        Seed of the fit (initialisation, dropout, batch order).  The same int gives
        identical predictions on CPU.  The global torch and numpy generators are
        left as they were.

    verbose : int, default=0
        0 is silent; 1 prints skorch's epoch tables and progress bars.

"""

#: Parameter descriptions shared by the estimators' docstrings (see :func:`fill_doc`).
PARAM_DOCS = {"lm_params": _LM_PARAMS, "stage3_params": _STAGE3_PARAMS, "run_params": _RUN_PARAMS}


def fill_doc(doc):
    """Put the shared parameter descriptions into a docstring's ``{{name}}`` slots."""
    for name, text in PARAM_DOCS.items():
        doc = doc.replace("{{%s}}" % name, text)
    return doc


