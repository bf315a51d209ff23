"""The old home of the AWD-LSTM and of the ULMFiT heads, kept so that old imports
work: the AWD-LSTM is in :mod:`ulmfit_sklearn.models.awd_lstm`, the heads and the
pooling in :mod:`ulmfit_sklearn.models.heads`."""

from .models import scaled_dropout
from .models.awd_lstm import (CLAS_DROPOUT, LM_DROPOUT, AWDLSTM, LanguageModel, LockedDropout,
                              WeightDropLSTM, detach_state, embedding_dropout)
from .models.heads import (ConcatPoolEncoder, PoolingHead, SequenceClassifier, bpt3c_pool,
                           masked_concat_pool)

__all__ = ["AWDLSTM", "CLAS_DROPOUT", "ConcatPoolEncoder", "LM_DROPOUT", "LanguageModel",
           "LockedDropout", "PoolingHead", "SequenceClassifier", "WeightDropLSTM", "bpt3c_pool",
           "detach_state", "embedding_dropout", "masked_concat_pool", "scaled_dropout"]
