"""The old home of the BERT modules, kept so that old imports work: the BERT is in
:mod:`ulmfit_sklearn.models.bert`, its window pooling and classifier in
:mod:`ulmfit_sklearn.models.heads`."""

from .models.bert import (CHECKPOINT_TOKENS, IGNORE_INDEX, BertEmbeddings, BertEncoder,
                          BertLayer, BertMaskedLM, BertModel, MaskedLMHead)
from .models.heads import (POOLINGS, BertClassifier, WindowPoolEncoder, document_windows,
                           window_pool)

__all__ = ["BertClassifier", "BertEmbeddings", "BertEncoder", "BertLayer", "BertMaskedLM", "BertModel",
           "CHECKPOINT_TOKENS", "IGNORE_INDEX", "MaskedLMHead", "POOLINGS", "WindowPoolEncoder",
           "document_windows", "window_pool"]
