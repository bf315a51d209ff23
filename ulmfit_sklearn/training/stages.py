"""ULMFiT's training stages on top of the skorch nets.

* Stage 2 (target-task LM fine-tuning, :func:`finetune_language_model`) and
  stage 1 (pretraining, see :mod:`ulmfit_sklearn.pretrain`) train through the net
  of :func:`make_lm_net`: the same code with other data and settings.  A BERT's
  stage 2 is masked-LM fine-tuning (:func:`finetune_masked_lm`).
* Stage 3 (classifier fine-tuning, :func:`train_classifier`) trains through the
  net of :func:`make_classifier_net`: discriminative lrs, a fresh STLR cycle per
  gradual-unfreezing stage, optional early stopping.

Layer groups are the modules' own (``layer_groups()``: fastai's separate LM and
classifier splits); gradient clipping is skorch's ``GradientNormClipping``.
"""

import contextlib

import numpy as np
import torch
from skorch.callbacks import EarlyStopping, GradientNormClipping, ProgressBar
from skorch.dataset import ValidSplit

from .batching import (DocumentBatches, DocumentDataset, LMStreamBatches, MaskedWindowBatches,
                       TokenStream, framed_windows, training_batch_count)
from .callbacks import gradual_unfreezing_callbacks, lr_range_callbacks, stlr_callback
from .nets import (DocumentNet, LanguageModelNet, batch_inclusion_log_q,
                   discriminative_param_groups)

AUTO = "auto"
#: Prediction batches hold at most this many documents and padded tokens (the inputs
#: are sorted by length), so that long documents come in smaller batches and memory
#: stays bounded.  Larger batches of short texts were not faster on this project's
#: CPUs (benchmarks/predict_batching.py: 512 TREC-6 questions a batch took twice as
#: long as 64; IMDb reviews alike).
PREDICT_DOCS, PREDICT_TOKENS = 64, 32768


def auto_batch_size(n_items, smallest=4, largest=32, batches=25):
    """The batch size of ``"auto"``: about ``batches`` batches an epoch of ``n_items``
    (documents, windows of a stream), within ``[smallest, largest]``, so that small
    data sets still get enough optimizer steps."""
    return int(min(largest, max(smallest, n_items // batches)))


def _optimizer(layers, lr, lr_decay, betas, weight_decay):
    """skorch's optimizer parameters: AdamW (decoupled weight decay, as fastai's
    Adam) with discriminative lrs over ``layers`` (see :func:`layer_patterns`)."""
    return dict(optimizer=torch.optim.AdamW,
                optimizer__param_groups=discriminative_param_groups(layers, lr, lr_decay),
                optimizer__betas=betas, optimizer__weight_decay=weight_decay, lr=lr)


@contextlib.contextmanager
def seeded(seed, device):
    """Seed torch for a fit without touching the caller's global generators."""
    devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def layer_patterns(module):
    """skorch parameter-name patterns of ``module.layer_groups()``, bottom up."""
    return [[f"{prefix}*" for prefix in group] for group in module.layer_groups()]


def steps_per_epoch(iterator_len, max_batches=None):
    return max(1, min(iterator_len, max_batches) if max_batches else iterator_len)


def make_lm_net(lm, stream, *, epochs, lr, lr_decay=2.6, batch_size=32, bptt=70,
                cut_frac=0.1, ratio=32, seed=0, device="cpu", autocast=False,
                max_batches=None, valid_stream=None, callbacks=(), verbose=0, start=0,
                weight_decay=0.01, betas=(0.7, 0.99), clip=0.4, sampled_log_q=None,
                lr_range=None):
    """A :class:`LanguageModelNet` set up to train ``lm`` on ``stream`` with STLR.

    The STLR cycle spans ``epochs`` passes of ``max_batches`` windows (or the
    whole stream).  Validation on ``valid_stream`` (fixed windows) if given.
    ``start`` is the stream position (tokens per row) where reading begins.
    ``lr_range=(start_lr, end_lr, steps)`` makes it a learning-rate range test
    instead (the top group's lr ramps exponentially; as many epochs as needed).
    Discriminative lrs follow ``lm.layer_groups()`` (the embedding and decoder on
    top); gradients are clipped to norm ``clip`` (None: not clipped) after the
    ``callbacks`` have seen them.  ``sampled_log_q``: an in-batch sampled softmax
    in training (see :class:`LanguageModelNet`).
    """
    probe = LMStreamBatches(stream, batch_size=batch_size, bptt=bptt, max_batches=max_batches)
    per_epoch = steps_per_epoch(len(probe), max_batches)
    if lr_range:
        epochs = int(np.ceil(lr_range[2] / per_epoch))
        cbs = lr_range_callbacks(*lr_range, lr) + list(callbacks)
    else:
        cbs = [("stlr", stlr_callback([per_epoch * epochs], cut_frac, ratio))] + list(callbacks)
    if clip:
        cbs.append(("clip", GradientNormClipping(clip)))
    if verbose:
        cbs.append(("progress", ProgressBar()))
    train_split = None
    if valid_stream is not None:
        from skorch.helper import predefined_split
        train_split = predefined_split(valid_stream)
    return LanguageModelNet(
        lm,
        criterion=torch.nn.CrossEntropyLoss,  # the loss is computed in get_loss
        **_optimizer(layer_patterns(lm), lr, lr_decay, betas, weight_decay),
        max_epochs=epochs,
        batch_size=batch_size,
        iterator_train=LMStreamBatches,
        iterator_train__bptt=bptt,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_train__max_batches=max_batches,
        iterator_train__start=start,
        iterator_valid=LMStreamBatches,
        iterator_valid__bptt=bptt,
        train_split=train_split,
        callbacks=cbs,
        device=device,
        autocast=autocast,
        sampled_log_q=sampled_log_q,
        verbose=verbose,
    )


def stage_lr_factors(n_stages):
    """Peak lr of each unfreezing stage relative to ``lr`` (fastai's recipe).

    Stage k (0-based) of a gradual schedule peaks at ``lr / 2**k``; the last stage,
    which trains every layer, at ``lr / 20``.  A single stage uses ``lr``.
    """
    if n_stages == 1:
        return [1.0]
    return [0.5 ** k for k in range(n_stages - 1)] + [0.05]


def last_stage_floor(min_steps, min_docs, batch_size):
    """The fewest optimizer steps of the last stage in batches of ``batch_size``:
    ``min_steps``, or more to read ``min_docs`` documents (a floor in documents
    gives a small set many steps and leaves a large one as it is, whatever its
    batch size)."""
    return max(int(min_steps), -(-int(min_docs) // int(batch_size)))


def last_stage_epochs(epochs, batches, min_steps):
    """Epochs of the last unfreezing stage: ``epochs``, or more if ``batches``
    per epoch make fewer than ``min_steps`` optimizer steps in them.

    With the paper's fixed epochs, a small training set trains for a handful of
    steps (100 documents in batches of 8 make 26 in two epochs) and some samples
    do not train; a floor in steps instead of epochs leaves larger sets as
    they are.
    """
    if epochs <= 0 or min_steps <= 0:
        return epochs
    return max(int(epochs), int(np.ceil(min_steps / batches)))


def make_classifier_net(module, *, n_train, stage_epochs, lr, lr_decay=2.6, batch_size=32,
                        cut_frac=0.1, ratio=32, constant_lr=False, criterion=torch.nn.CrossEntropyLoss,
                        criterion_kwargs=None, seed=0, device="cpu", autocast=False,
                        validation_fraction=None, stratify=None, pad_idx=1, verbose=0,
                        weight_decay=0.01, betas=(0.7, 0.99), clip=None, lr_range=None,
                        min_last_steps=0):
    """A :class:`DocumentNet` for stage 3 of ULMFiT.

    ``stage_epochs`` is the gradual-unfreezing schedule (see
    :func:`~ulmfit_sklearn.training.callbacks.gradual_unfreezing_callbacks`).
    With ``min_last_steps``, its last stage (everything unfrozen) gets as many
    more epochs as it needs to make at least that many optimizer steps (see
    :func:`last_stage_epochs`).
    With ``validation_fraction``, that share of the data (stratified by
    ``stratify``) is held out and training stops early once the validation loss
    stops improving (the best epoch's weights are kept).
    ``lr_range=(start_lr, end_lr, steps)`` makes it a learning-rate range test of
    the schedule's first stage (e.g. the head alone) instead.
    Discriminative lrs follow ``module.layer_groups()``, bottom up, with the head
    on top at ``lr``; gradual unfreezing freezes the groups below the head.
    Gradients are clipped to norm ``clip`` if given.
    """
    layers = layer_patterns(module)
    n_fit = n_train if not validation_fraction else n_train - int(np.ceil(n_train * validation_fraction))
    batches = training_batch_count(n_fit, batch_size)
    stage_epochs = list(stage_epochs)
    stage_epochs[-1] = last_stage_epochs(stage_epochs[-1], batches, min_last_steps)
    stage_steps = [e * batches for e in stage_epochs]
    if lr_range:
        stage_epochs = [int(np.ceil(lr_range[2] / batches))] + [0] * (len(stage_epochs) - 1)
    cbs = gradual_unfreezing_callbacks(layers[:-1], list(stage_epochs))
    if lr_range:
        cbs += lr_range_callbacks(*lr_range, lr)
    else:
        cbs.append(("stlr", stlr_callback(stage_steps, cut_frac, ratio,
                                          stage_lr_factors(len(stage_epochs)), constant=constant_lr)))
    train_split = None
    if validation_fraction:
        train_split = ValidSplit(validation_fraction, stratified=stratify is not None,
                                 random_state=seed)
        cbs.append(("early_stopping", EarlyStopping(patience=2, load_best=True)))
    if clip:
        cbs.append(("clip", GradientNormClipping(clip)))
    if verbose:
        cbs.append(("progress", ProgressBar()))
    kwargs = {f"criterion__{k}": v for k, v in (criterion_kwargs or {}).items()}
    return DocumentNet(
        module,
        criterion=criterion,
        **_optimizer(layers, lr, lr_decay, betas, weight_decay),
        max_epochs=int(sum(stage_epochs)),
        batch_size=batch_size,
        iterator_train=DocumentBatches,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_train__pad_idx=pad_idx,
        iterator_valid=DocumentBatches,
        iterator_valid__pad_idx=pad_idx,
        iterator_valid__batch_size=PREDICT_DOCS,
        iterator_valid__max_tokens=PREDICT_TOKENS,
        train_split=train_split,
        callbacks=cbs,
        device=device,
        autocast=autocast,
        verbose=verbose,
        **kwargs,
    )


def finetune_language_model(lm, docs, *, epochs, lr, lr_decay, bptt, batch_size, cut_frac,
                            ratio, seed, device, autocast, verbose, sampled_softmax=False,
                            lr_range=None):
    """Stage 2: fine-tune the language model ``lm`` on ``docs`` (token-id arrays).

    The softmax covers only the token ids that ``docs`` contain (fastai's
    target-task vocabulary): on 1,000 IMDb reviews that is 16k of 34k ids, and
    training steps take about 70 % of the time.  With ``sampled_softmax`` each
    step's softmax covers only the ids among that batch's targets (at most
    ``batch_size * bptt``, whatever the size of ``docs``), with the logQ
    correction of the ids' frequencies in ``docs`` (see
    :class:`~ulmfit_sklearn.training.nets.LanguageModelNet`).  ``batch_size="auto"`` cuts the
    stream into at most 32 rows, fewer on small data (at least ~25 windows an
    epoch).  Returns the fitted :class:`LanguageModelNet`.  ``lr_range`` runs a
    learning-rate range test instead (see :func:`make_lm_net`).
    """
    stream = TokenStream(docs)
    if batch_size == AUTO:  # of the stream's windows of bptt tokens
        batch_size = auto_batch_size(len(stream) // bptt)
    ids = stream.stream()
    lm.restrict_output(np.unique(ids))
    log_q = None
    if sampled_softmax:
        counts = np.bincount(ids, minlength=lm.decoder.out_features)
        log_q = batch_inclusion_log_q(counts, batch_size * bptt)
    net = make_lm_net(lm, stream, epochs=epochs, lr=lr, lr_decay=lr_decay, batch_size=batch_size,
                      bptt=bptt, cut_frac=cut_frac, ratio=ratio, seed=seed, device=device,
                      autocast=autocast, verbose=verbose, lr_range=lr_range, sampled_log_q=log_q)
    return net.fit(stream, None)


#: Stage 2 of a BERT reads documents in windows of at most this many word pieces.
MLM_WINDOW = 128


def finetune_masked_lm(model, docs, *, epochs, lr, lr_decay, batch_size, cut_frac, ratio, seed,
                       device, autocast, verbose, mask_id, special_ids, window=MLM_WINDOW,
                       mask_p=0.15, frozen=(), weight_decay=0.01, betas=(0.9, 0.999), clip=1.0):
    """Stage 2 for a BERT: masked-LM fine-tuning of ``model``
    (:class:`~ulmfit_sklearn.models.bert.BertMaskedLM`) on ``docs`` (token ids,
    ``[CLS] ... [SEP]``), read in windows of ``window`` word pieces (at most the
    model's positions) with BERT's
    masking (:class:`~ulmfit_sklearn.training.batching.MaskedWindowBatches`), one
    STLR cycle, discriminative lrs over ``model.layer_groups()`` (the embeddings and
    head on top at ``lr``).  Parameters whose names start with one of ``frozen``
    are not trained (e.g. ``("encoder.",)`` trains the head alone).
    ``batch_size="auto"``: :func:`auto_batch_size` of the windows.  Returns the
    fitted :class:`DocumentNet`.
    """
    window = min(window, model.encoder.max_positions)
    windows = framed_windows(docs, window, model.encoder.cls_idx, model.encoder.sep_idx)
    if batch_size == AUTO:
        batch_size = auto_batch_size(len(windows))
    for name, param in model.named_parameters():
        param.requires_grad_(not name.startswith(tuple(frozen)))
    steps = epochs * training_batch_count(len(windows), batch_size)
    cbs = [("stlr", stlr_callback([steps], cut_frac, ratio))]
    if clip:
        cbs.append(("clip", GradientNormClipping(clip)))
    if verbose:
        cbs.append(("progress", ProgressBar()))
    net = DocumentNet(
        model,
        criterion=torch.nn.CrossEntropyLoss,
        **_optimizer(layer_patterns(model), lr, lr_decay, betas, weight_decay),
        max_epochs=epochs,
        batch_size=batch_size,
        iterator_train=MaskedWindowBatches,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_train__pad_idx=model.encoder.pad_idx,
        iterator_train__mask_id=mask_id,
        iterator_train__special_ids=special_ids,
        iterator_train__vocab_size=model.encoder.embeddings.word.num_embeddings,
        iterator_train__p=mask_p,
        train_split=None,
        callbacks=cbs,
        device=device,
        autocast=autocast,
        verbose=verbose,
    )
    return net.fit(DocumentDataset(windows), None)


def train_classifier(module, docs, y, **net_params):
    """Stage 3: train ``module`` on documents ``docs`` (token-id arrays) and
    targets ``y``, through :func:`make_classifier_net` with ``net_params``.
    Returns the fitted :class:`DocumentNet`."""
    net = make_classifier_net(module, n_train=len(docs), **net_params)
    return net.fit(DocumentDataset(docs, y), y)


def make_inference_net(module, *, batch_size=PREDICT_DOCS, pad_idx=1, device="cpu",
                       autocast=False, max_tokens=PREDICT_TOKENS):
    """An initialised :class:`DocumentNet` that only runs ``module`` forward
    (e.g. a :class:`~ulmfit_sklearn.models.heads.ConcatPoolEncoder` for features), in
    batches of at most ``batch_size`` documents and ``max_tokens`` padded tokens."""
    net = DocumentNet(module, criterion=torch.nn.MSELoss, batch_size=batch_size,
                        iterator_valid=DocumentBatches, iterator_valid__pad_idx=pad_idx,
                        iterator_valid__max_tokens=max_tokens,
                        train_split=None, device=device, autocast=autocast)
    net.initialize()
    net.module_.eval()
    net.module = type(net.module_)  # skorch pickles module_ on its own: keep one copy
    return net
