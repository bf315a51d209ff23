"""A masked-LM head for a BERT encoder that has none, so that stage 2 can fine-tune it."""

import time
from pathlib import Path

import torch

from ..encoders.bert import save_bert_encoder
from ..exceptions import EncoderError
from ..families.bert import BERT
from ..text import encode_texts
from ..training.stages import finetune_masked_lm, seeded


def train_mlm_head(encoder, texts, out_dir, *, head_epochs=1, all_epochs=1, head_lr=1e-3,
                   all_lr=5e-5, batch_size=32, seed=0, device="cpu", autocast=False, verbose=0,
                   dtype=torch.float16, record=None):
    """Give a BERT encoder a masked-LM head, so that stage 2 can fine-tune it.

    The head (a fresh one, or the folder's) trains on ``texts`` with the encoder
    frozen for ``head_epochs`` at ``head_lr``, then everything for ``all_epochs``
    at ``all_lr`` (both one STLR cycle, BERT's masking, windows of
    :data:`~ulmfit_sklearn.training.stages.MLM_WINDOW` word pieces).  Writes the
    encoder with its head to ``out_dir`` (its license kept, the run in
    ``metadata["mlm_head"]``) and returns the folder's path.
    """
    if encoder.family is not BERT:
        raise EncoderError(f"{encoder.path or 'the encoder'} is not a BERT encoder: a masked-LM "
                           "head is for a BERT")
    tok, t0 = encoder.tokenizer, time.time()
    docs = encode_texts(tok, list(texts))
    common = dict(lr_decay=1.0, batch_size=batch_size, cut_frac=0.1, ratio=32, seed=seed,
                  device=device, autocast=autocast, verbose=verbose, mask_id=tok.mask_id,
                  special_ids=tok.special_ids)
    curve = []
    with seeded(seed, device):  # a fresh head's initialisation depends on the seed alone
        model = BERT.build_language_model(encoder, **encoder.config["dropout"])
        for epochs, lr, frozen in ((head_epochs, head_lr, ("encoder.",)), (all_epochs, all_lr, ())):
            if epochs:
                net = finetune_masked_lm(model, docs, epochs=epochs, lr=lr, frozen=frozen, **common)
                model = net.module_
                curve += [{"lr": lr, "frozen": list(frozen), "train_loss": h["train_loss"]}
                          for h in net.history]
    meta = {k: v for k, v in encoder.metadata.items() if k != "files"}
    meta["mlm_head"] = {"documents": len(docs), "tokens": int(sum(len(d) for d in docs)),
                        "head_epochs": head_epochs, "all_epochs": all_epochs, "head_lr": head_lr,
                        "all_lr": all_lr, "seed": seed, "seconds": round(time.time() - t0, 1),
                        "curve": curve, **(record or {})}
    licence = encoder.config.get("license_file")
    return save_bert_encoder(out_dir, encoder.config, BERT.language_model_state(model.cpu()), tok, meta,
                             license_file=Path(encoder.path) / licence if licence else None,
                             dtype=dtype)
