"""Long pretraining runs: checkpoints that a kill at any moment leaves whole, resuming
from them, checkpoints on a timer, a time limit, and a line per epoch; an encoder
folder written whole.
"""

import json
import math
import os
import shutil
import time
from pathlib import Path

from skorch.callbacks import Callback, Checkpoint, LoadInitState

from ..encoders import save_encoder


class TimeLimit(Callback):
    """Stop training (as skorch does on Ctrl-C) once ``seconds`` have passed."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_begin(self, net, **kwargs):
        self.deadline_ = time.time() + self.seconds

    def on_batch_end(self, net, **kwargs):
        if time.time() > self.deadline_:
            raise KeyboardInterrupt


class AtomicCheckpoint(Checkpoint):
    """skorch's :class:`~skorch.callbacks.Checkpoint`, each file replaced whole.

    skorch writes each file in place, so a run killed while writing leaves a
    truncated file.  This one writes all the files to temporary names in the
    checkpoint folder first, then renames each over the old one (``os.replace``,
    atomic), the history last: a run killed at any moment leaves every file
    whole, each either the previous epoch's or the new one's.  As the history
    says how many epochs are done (which sets where a resumed run reads the
    corpus and where its learning-rate schedule goes on), it never runs ahead of
    the weights; at worst (killed between the renames) the weights are one epoch
    ahead of it, and the resumed run trains that epoch again from them.

    Unlike skorch's, a failed write raises (a run should not go on for hours
    without checkpoints).  Only ``f_params``, ``f_optimizer``, ``f_criterion``
    and ``f_history`` are written.
    """

    def save_model(self, net, history=None):
        files = self.get_formatted_files(net)
        if files.get("f_pickle"):
            raise ValueError("AtomicCheckpoint does not write f_pickle")
        order = [k for k in ("f_params", "f_optimizer", "f_criterion") if files.get(k)]
        if files.get("f_history"):
            order.append("f_history")  # last: it says which epoch the checkpoint is
        temps = {k: files[k] + ".tmp" for k in order}
        for key, tmp in temps.items():
            if key == "f_history":
                (net.history if history is None else history).to_file(tmp)
            else:
                net.save_params(**{key: tmp, "use_safetensors": self.use_safetensors})
            _fsync(tmp)
        for key, tmp in temps.items():
            os.replace(tmp, files[key])
        _fsync(self.dirname or ".")


def _fsync(path):
    """Flush a file (or a folder's entries) to disk, where the system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. a folder on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


CHECKPOINT_FILES = {"f_params": "params.pt", "f_optimizer": "optimizer.pt",
                    "f_history": "history.json"}


def make_checkpoint(folder):
    """The checkpoint of a pretraining run: weights, optimizer and history, every epoch."""
    return AtomicCheckpoint(monitor=None, dirname=str(folder), f_criterion=None,
                            event_name=None, **CHECKPOINT_FILES)


def checkpoint_epochs(folder):
    """Number of epochs done in the checkpoint in ``folder`` (0 if it has none).

    A checkpoint is its history file; without one (a run killed in its first
    checkpoint write), training starts afresh.  A history without the weights or
    the optimizer state (files removed by hand) is an error, not a fresh start.
    """
    folder = Path(folder)
    history = folder / CHECKPOINT_FILES["f_history"]
    if not history.exists():
        return 0
    missing = [f for f in (CHECKPOINT_FILES["f_params"], CHECKPOINT_FILES["f_optimizer"])
               if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(f"{folder} has a history but no {' or '.join(missing)}; "
                                "remove the folder to start afresh")
    return len(json.loads(history.read_text()))


class ResumeFromCheckpoint(LoadInitState):
    """skorch's :class:`~skorch.callbacks.LoadInitState`, then the lrs back on schedule.

    It loads the checkpoint (weights, optimizer, history) at train begin, after the
    ``scheduler`` callback has set the learning rates where the (shifted) schedule
    resumes; the loaded optimizer state brings the lrs of the step it was saved
    at, one epoch ahead after a checkpoint write killed before its history, so
    they are set back to the schedule's.
    """

    def __init__(self, checkpoint, scheduler="stlr"):
        super().__init__(checkpoint)
        self.scheduler = scheduler

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        sched = dict(net.callbacks_)[self.scheduler].lr_scheduler_
        for group, lr in zip(net.optimizer_.param_groups, sched.get_last_lr()):
            group["lr"] = lr


class EpochLine(Callback):
    """Print one line per epoch: losses, validation perplexity, seconds and tokens/s."""

    def on_epoch_end(self, net, **kwargs):
        h = net.history[-1]
        tokens = sum(b.get("train_tokens", 0) for b in h["batches"])
        print(f"epoch {h['epoch']}: train_loss {h['train_loss']:.4f}"
              + (f" valid_loss {h['valid_loss']:.4f} (ppl {math.exp(h['valid_loss']):.1f})"
                 if "valid_loss" in h else "")
              + f" {h['dur']:.0f}s {tokens / max(h['dur'], 1e-9):,.0f} tokens/s", flush=True)


class TimedCheckpoint(Callback):
    """Write ``checkpoint`` every ``seconds`` of training (mid-epoch) and at the end,
    calling ``export`` after each timed one.

    The history written holds the finished epochs only, so a resumed run trains
    the current epoch again, from the newer weights (as after a checkpoint write
    killed before its history, see :class:`AtomicCheckpoint`).
    """

    def __init__(self, checkpoint, seconds, export=None):
        self.checkpoint, self.seconds, self.export = checkpoint, seconds, export

    def on_train_begin(self, net, **kwargs):
        Path(self.checkpoint.dirname).mkdir(parents=True, exist_ok=True)
        self.last_ = time.time()

    def _save(self, net):
        rows = list(net.history)
        if rows and "dur" not in rows[-1]:  # an epoch under way
            rows = rows[:-1]
        self.checkpoint.save_model(net, history=type(net.history)(rows))

    def on_train_end(self, net, **kwargs):
        self._save(net)

    def on_batch_end(self, net, training=False, **kwargs):
        if training and time.time() - self.last_ >= self.seconds:
            self._save(net)
            if self.export is not None:
                self.export(net)
            print(f"checkpoint written after {len(net.history) - 1} epochs and "
                  f"{len(net.history[-1]['batches'])} batches", flush=True)
            self.last_ = time.time()


def write_encoder(folder, *args, **kwargs):
    """:func:`~ulmfit_sklearn.encoders.save_encoder` into ``folder`` through a
    temporary folder swapped in whole, so a run killed while writing leaves the
    previous encoder (or, killed mid-swap, ``folder`` + ``.tmp``) complete."""
    folder = Path(folder)
    tmp, old = (folder.with_name(folder.name + suffix) for suffix in (".tmp", ".old"))
    for stale in (tmp, old):
        shutil.rmtree(stale, ignore_errors=True)
    save_encoder(tmp, *args, **kwargs)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder
