"""Stage 1 of ULMFiT, and a masked-LM head for a BERT: training encoders before the
estimators fine-tune them.

* :mod:`~ulmfit_sklearn.pretraining.corpus`: a plain-text corpus made into a
  tokenizer and a flat array of token ids;
* :mod:`~ulmfit_sklearn.pretraining.awd_lstm`: pretraining an AWD-LSTM language model
  into an encoder folder (:func:`~ulmfit_sklearn.pretraining.awd_lstm.pretrain`);
* :mod:`~ulmfit_sklearn.pretraining.checkpoints`: what keeps a long run safe
  (checkpoints a kill leaves whole, resuming, a time limit);
* :mod:`~ulmfit_sklearn.pretraining.distributed`: data-parallel runs under
  ``torchrun``;
* :mod:`~ulmfit_sklearn.pretraining.mlm_head`: a masked-LM head for a BERT that has
  none (:func:`~ulmfit_sklearn.pretraining.mlm_head.train_mlm_head`).

The command line (``ulmfit-sklearn pretrain``, ``ulmfit-sklearn mlm-head``) parses
its arguments in :mod:`ulmfit_sklearn.cli`.
"""
