"""The old home of pretraining, kept so that old imports and
``python -m ulmfit_sklearn.pretrain`` (and ``torchrun ... -m ulmfit_sklearn.pretrain``)
work: see :mod:`ulmfit_sklearn.pretraining`; the command line's arguments are parsed
in :mod:`ulmfit_sklearn.cli`."""

from .cli import mlm_head_main
from .cli import pretrain_main as main
from .pretraining.awd_lstm import evaluate_perplexity, init_embedding, pretrain, pretrain_on_files
from .pretraining.checkpoints import (CHECKPOINT_FILES, AtomicCheckpoint, EpochLine,
                                      ResumeFromCheckpoint, TimedCheckpoint, TimeLimit,
                                      checkpoint_epochs, make_checkpoint, write_encoder)
from .pretraining.corpus import (corpus_vocabulary, prepare_corpus, read_paragraphs, read_vectors,
                                 tokenize_corpus, train_tokenizer, vector_vocabulary)
from .pretraining.distributed import AllReduceGradients, distributed_context
from .pretraining.mlm_head import train_mlm_head

__all__ = ["AllReduceGradients", "AtomicCheckpoint", "CHECKPOINT_FILES", "EpochLine",
           "ResumeFromCheckpoint", "TimeLimit", "TimedCheckpoint", "checkpoint_epochs",
           "corpus_vocabulary", "distributed_context", "evaluate_perplexity", "init_embedding",
           "main", "make_checkpoint", "mlm_head_main", "prepare_corpus", "pretrain",
           "pretrain_on_files", "read_paragraphs", "read_vectors", "tokenize_corpus",
           "train_mlm_head", "train_tokenizer", "vector_vocabulary", "write_encoder"]

if __name__ == "__main__":
    main()
