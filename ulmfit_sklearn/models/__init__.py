"""The networks, as plain torch modules: no scikit-learn or skorch here.

* :mod:`~ulmfit_sklearn.models.awd_lstm`: the AWD-LSTM (Merity et al. 2017) and its
  language model with the decoder tied to the embedding (stages 1 and 2 of ULMFiT);
* :mod:`~ulmfit_sklearn.models.bert`: a BERT (Devlin et al. 2019) and its masked-LM
  head (stage 2 for a BERT);
* :mod:`~ulmfit_sklearn.models.heads`: what stage 3 puts on top of either, shared by
  both families: the pooling of a whole document (BPT3C for the AWD-LSTM, windows
  for a BERT), fastai's classifier head, and the classifier and feature modules.

Which module an encoder family builds is the family's business
(:mod:`ulmfit_sklearn.families`).
"""


def scaled_dropout(base, mult):
    """The dropout dict ``base`` with every probability multiplied by ``mult``."""
    return {k: min(v * mult, 0.99) for k, v in base.items()}
