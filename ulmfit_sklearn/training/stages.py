"""ULMFiT's training stages on top of the skorch nets.

* :func:`make_lm_net` builds the net that trains a language model: stage 1
  (pretraining, see :mod:`ulmfit_sklearn.pretrain`) and stage 2 (target-task LM
  fine-tuning) are the same code with other data and settings.
* :func:`make_classifier_net` builds the net of stage 3: discriminative lrs,
  a fresh STLR cycle per gradual-unfreezing stage, optional early stopping.
"""

import numpy as np
import torch
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit

from .batching import DocumentBatches, LMStreamBatches
from .callbacks import gradual_unfreezing_callbacks, lr_range_callbacks, stlr_callback
from .nets import ClassifierNet, LanguageModelNet, discriminative_param_groups


def _adam():
    # decoupled weight decay, as fastai's Adam
    return torch.optim.AdamW


def lm_layer_patterns(lm):
    """Parameter patterns of a LanguageModel's layer groups, bottom up.

    The decoder bias goes with the top layer (the decoder matrix is the embedding).
    """
    groups = [[f"encoder.{p}*" for p in g] for g in lm.encoder.layer_groups()]
    groups[-1].append("decoder.*")
    return groups


def classifier_layer_patterns(clf):
    """Parameter patterns of a SequenceClassifier's encoder layer groups, bottom up."""
    return [[f"encoder.{p}*" for p in g] for g in clf.encoder.layer_groups()]


def steps_per_epoch(iterator_len, max_batches=None):
    return max(1, min(iterator_len, max_batches) if max_batches else iterator_len)


def make_lm_net(lm, stream, *, epochs, lr, lr_decay=2.6, batch_size=32, bptt=70,
                cut_frac=0.1, ratio=32, seed=0, device="cpu", autocast=False,
                max_batches=None, valid_stream=None, callbacks=(), verbose=0, start=0,
                weight_decay=0.01, betas=(0.7, 0.99), lr_range=None):
    """A :class:`LanguageModelNet` set up to train ``lm`` on ``stream`` with STLR.

    The STLR cycle spans ``epochs`` passes of ``max_batches`` windows (or the
    whole stream).  Validation on ``valid_stream`` (fixed windows) if given.
    ``start`` is the stream position (tokens per row) where reading begins.
    ``lr_range=(start_lr, end_lr, steps)`` makes it a learning-rate range test
    instead (the top group's lr ramps exponentially; as many epochs as needed).
    """
    probe = LMStreamBatches(stream, batch_size=batch_size, bptt=bptt, max_batches=max_batches)
    per_epoch = steps_per_epoch(len(probe), max_batches)
    if lr_range:
        epochs = int(np.ceil(lr_range[2] / per_epoch))
        cbs = lr_range_callbacks(*lr_range, lr) + list(callbacks)
    else:
        cbs = [("stlr", stlr_callback([per_epoch * epochs], cut_frac, ratio))] + list(callbacks)
    if verbose:
        cbs.append(("progress", ProgressBar()))
    train_split = None
    if valid_stream is not None:
        from skorch.helper import predefined_split
        train_split = predefined_split(valid_stream)
    return LanguageModelNet(
        lm,
        criterion=torch.nn.CrossEntropyLoss,  # the loss is computed in get_loss
        optimizer=_adam(),
        optimizer__param_groups=discriminative_param_groups(lm_layer_patterns(lm), lr, lr_decay),
        optimizer__betas=betas,
        optimizer__weight_decay=weight_decay,
        lr=lr,
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


def make_classifier_net(module, *, n_train, stage_epochs, lr, lr_decay=2.6, batch_size=32,
                        cut_frac=0.1, ratio=32, constant_lr=False, criterion=torch.nn.CrossEntropyLoss,
                        criterion_kwargs=None, seed=0, device="cpu", autocast=False,
                        validation_fraction=None, stratify=None, pad_idx=1, verbose=0,
                        weight_decay=0.01, betas=(0.7, 0.99), clip=None, lr_range=None):
    """A :class:`ClassifierNet` for stage 3 of ULMFiT.

    ``stage_epochs`` is the gradual-unfreezing schedule (see
    :func:`~ulmfit_sklearn.training.callbacks.gradual_unfreezing_callbacks`).
    With ``validation_fraction``, that share of the data (stratified by
    ``stratify``) is held out and training stops early once the validation loss
    stops improving (the best epoch's weights are kept).
    ``lr_range=(start_lr, end_lr, steps)`` makes it a learning-rate range test of
    the schedule's first stage (e.g. the head alone) instead.
    """
    layers = classifier_layer_patterns(module)
    n_fit = n_train if not validation_fraction else n_train - int(np.ceil(n_train * validation_fraction))
    batches = int(np.ceil(n_fit / batch_size))
    if batches > 1 and n_fit % batch_size == 1:
        batches -= 1  # a last batch of one is merged into the one before
    stage_steps = [e * batches for e in stage_epochs]
    if lr_range:
        stage_epochs = [int(np.ceil(lr_range[2] / batches))] + [0] * (len(stage_epochs) - 1)
    cbs = gradual_unfreezing_callbacks(layers, list(stage_epochs))
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
    if verbose:
        cbs.append(("progress", ProgressBar()))
    kwargs = {f"criterion__{k}": v for k, v in (criterion_kwargs or {}).items()}
    return ClassifierNet(
        module,
        criterion=criterion,
        optimizer=_adam(),
        optimizer__param_groups=discriminative_param_groups(layers, lr, lr_decay),
        optimizer__betas=betas,
        optimizer__weight_decay=weight_decay,
        lr=lr,
        max_epochs=int(sum(stage_epochs)),
        batch_size=batch_size,
        iterator_train=DocumentBatches,
        iterator_train__shuffle=True,
        iterator_train__seed=seed,
        iterator_train__pad_idx=pad_idx,
        iterator_valid=DocumentBatches,
        iterator_valid__pad_idx=pad_idx,
        iterator_valid__batch_size=2 * batch_size,
        train_split=train_split,
        callbacks=cbs,
        device=device,
        autocast=autocast,
        clip=clip,
        verbose=verbose,
        **kwargs,
    )


def make_inference_net(module, *, batch_size=64, pad_idx=1, device="cpu", autocast=False):
    """An initialised :class:`ClassifierNet` that only runs ``module`` forward
    (e.g. a :class:`~ulmfit_sklearn.modules.ConcatPoolEncoder` for features)."""
    net = ClassifierNet(module, criterion=torch.nn.MSELoss, batch_size=batch_size,
                        iterator_valid=DocumentBatches, iterator_valid__pad_idx=pad_idx,
                        train_split=None, device=device, autocast=autocast)
    net.initialize()
    net.module_.eval()
    return net
