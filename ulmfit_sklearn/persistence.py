"""A safe file format for fitted estimators: a folder of safetensors and JSON.

A pickle (``joblib.dump`` / ``pickle``) runs code when it is loaded, so a planted
model file or ``memory`` cache entry can do anything: load pickles only from a
source you trust.  :func:`save` writes what prediction needs without pickling:

``model.json``
    The format version, the package version, the estimator's class and
    parameters, the fitted attributes (``classes_``, ``history_``, ...), and the
    shape of the network.
``weights.safetensors``
    The fine-tuned network's tensors.
``vocab.txt``, ``tokenizer.model`` or ``tokenizer.json``
    The tokenizer (a word list, a SentencePiece model or a WordPiece
    ``tokenizer.json``: data).
``backward/``
    The backward classifier's weights and tokenizer, for a ``bidirectional`` one.

:func:`load` reads it back without unpickling anything: the same predictions,
bit for bit, on the same device.  Like an encoder folder, the file names are
fixed, so nothing in ``model.json`` can point outside the folder.
"""

import json
import math
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .modules import AWDLSTM, ConcatPoolEncoder, SequenceClassifier
from .transformer import BertClassifier, BertEncoder, WindowPoolEncoder
from .text import TOKENIZERS

FORMAT_VERSION = 1
MODEL_FILE, WEIGHTS_FILE = "model.json", "weights.safetensors"


class ModelFileError(ValueError):
    """A model folder is missing, incomplete, or not of this format."""


def _to_json(value, where):
    """``value`` as JSON data; numpy arrays keep their dtype, dicts with keys
    that are not strings keep their keys."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUSO":
            raise ValueError(f"{where}: arrays of dtype {value.dtype} cannot be saved")
        return {"__ndarray__": _to_json(value.tolist(), where), "dtype": value.dtype.str,
                "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return _to_json(value.item(), where)
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v, where) for v in value]}
    if isinstance(value, list):
        return [_to_json(v, where) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _to_json(v, where) for k, v in value.items()}
        return {"__items__": [[_to_json(k, where), _to_json(v, where)] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"{where}: a {type(value).__name__} cannot be saved in the safe format "
                     "(use joblib for it)")


def _from_json(value):
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        dtype = np.dtype(value["dtype"])
        data = _from_json(value["__ndarray__"])
        return np.asarray(data, dtype=dtype).reshape(value["shape"]) if dtype.kind != "O" \
            else np.array(data, dtype=object)
    if "__tuple__" in value:
        return tuple(_from_json(value["__tuple__"]))
    if "__float__" in value:
        return float(value["__float__"])
    if "__items__" in value:
        return {_from_json(k): _from_json(v) for k, v in value["__items__"]}
    return {k: _from_json(v) for k, v in value.items()}


def _params(est):
    params = est.get_params(deep=False)
    pretrained = params.get("pretrained")
    if pretrained is not None and not isinstance(pretrained, str):
        params["pretrained"] = getattr(pretrained, "path", None) and str(pretrained.path)
    memory = params.get("memory")
    if memory is not None and not isinstance(memory, str):  # a path or joblib.Memory
        params["memory"] = str(getattr(memory, "location", memory) or "") or None
    if not (params.get("random_state") is None or isinstance(params["random_state"], int)):
        params["random_state"] = None  # a RandomState instance: its state is not kept
    return params


def _network(module):
    """The shape of a fitted network, as JSON data (:func:`_build_network` reads it)."""
    if isinstance(module, WindowPoolEncoder):
        net = {"kind": type(module).__name__, **_bert_sizes(module.encoder),
               "pooling": module.pooling, "max_len": module.max_len, "window": module.window}
        if isinstance(module, BertClassifier):
            net.update(n_groups=module.n_groups)
    else:
        awd = module.encoder
        net = {"kind": type(module).__name__, "vocab_size": awd.encoder.num_embeddings,
               "emb_size": awd.emb_size, "hidden_size": awd.hidden_size, "n_layers": awd.n_layers,
               "pad_idx": awd.encoder.padding_idx, "bptt": module.bptt, "max_len": module.max_len}
    if hasattr(module, "head"):
        net.update(n_out=module.n_out, head_hidden=module.head.lin1.out_features)
    return net


def _bert_sizes(bert):
    layer, emb = bert.layers[0], bert.embeddings
    return {"vocab_size": emb.word.num_embeddings, "hidden_size": bert.hidden_size,
            "n_layers": bert.n_layers, "n_heads": layer.n_heads,
            "intermediate_size": layer.ff_in.out_features, "max_positions": bert.max_positions,
            "type_vocab_size": emb.token_type.num_embeddings, "layer_norm_eps": emb.norm.eps,
            "pad_idx": bert.pad_idx, "cls_idx": bert.cls_idx, "sep_idx": bert.sep_idx}


def _build_network(spec):
    kind = spec["kind"]
    if kind in ("BertClassifier", "WindowPoolEncoder"):
        bert = BertEncoder(spec["vocab_size"], spec["hidden_size"], spec["n_layers"],
                           spec["n_heads"], spec["intermediate_size"], spec["max_positions"],
                           spec["type_vocab_size"], spec["pad_idx"], spec["cls_idx"],
                           spec["sep_idx"], spec["layer_norm_eps"])
        window = dict(pooling=spec["pooling"], max_len=spec["max_len"], window=spec["window"])
        if kind == "WindowPoolEncoder":
            return WindowPoolEncoder(bert, **window)
        return BertClassifier(bert, spec["n_out"], n_groups=spec["n_groups"],
                              hidden=spec["head_hidden"], **window)
    awd = AWDLSTM(spec["vocab_size"], spec["emb_size"], spec["hidden_size"], spec["n_layers"],
                  spec["pad_idx"])
    if kind == "SequenceClassifier":
        return SequenceClassifier(awd, spec["n_out"], bptt=spec["bptt"], max_len=spec["max_len"],
                                  hidden=spec["head_hidden"])
    if kind == "ConcatPoolEncoder":
        return ConcatPoolEncoder(awd, bptt=spec["bptt"], max_len=spec["max_len"])
    raise ModelFileError(f"unknown network kind {kind!r}")


def save(est, folder):
    """Write the fitted ULMFiT estimator ``est`` to ``folder`` (created if needed)
    in the safe format; returns the folder's path."""
    from safetensors.torch import save_file
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est, "net_")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nets = {d: (getattr(est, f"net{_suffix(d)}_"), getattr(est, f"tokenizer{_suffix(d)}_"))
            for d in est._fitted_directions()}
    attrs = {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")
             and k not in {f"{what}{_suffix(d)}_" for d in nets for what in ("net", "tokenizer")}}
    model = {
        "format_version": FORMAT_VERSION,
        "ulmfit_sklearn_version": __version__,
        "estimator": type(est).__name__,
        "params": _to_json(_params(est), "parameters"),
        "fitted": _to_json(attrs, "fitted attributes"),
        "networks": {d: _network(net.module_) for d, (net, _) in nets.items()},
        "predict_batch_size": int(est.net_.get_params().get("iterator_valid__batch_size")
                                  or est.net_.batch_size),
        "tokenizer": {"type": est.tokenizer_.kind, "file": est.tokenizer_.filename},
    }
    for direction, (net, tokenizer) in nets.items():
        where = _direction_folder(folder, direction)
        where.mkdir(exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in net.module_.state_dict().items()}
        save_file(state, str(where / WEIGHTS_FILE))
        tokenizer.save(where)
    (folder / MODEL_FILE).write_text(json.dumps(model, indent=1, allow_nan=False) + "\n",
                                     encoding="utf-8")
    return folder


def load(folder):
    """Read an estimator that :func:`save` wrote; nothing is unpickled."""
    from safetensors.torch import load_file

    from . import ULMFiTClassifier, ULMFiTRegressor, ULMFiTVectorizer
    from ._base import InconsistentVersionWarning
    from .training.stages import make_inference_net

    folder = Path(folder)
    if not (folder / MODEL_FILE).is_file():
        raise ModelFileError(f"{folder} is not a saved ulmfit-sklearn model (no {MODEL_FILE})")
    try:
        model = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{folder / MODEL_FILE}: not JSON ({exc})") from None
    if model.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{folder}: model format {model.get('format_version')!r}, this "
                             f"version of ulmfit-sklearn reads format {FORMAT_VERSION}")
    if model["ulmfit_sklearn_version"] != __version__:
        warnings.warn(InconsistentVersionWarning(model["ulmfit_sklearn_version"], __version__),
                      stacklevel=2)
    classes = {c.__name__: c for c in (ULMFiTClassifier, ULMFiTRegressor, ULMFiTVectorizer)}
    if model.get("estimator") not in classes:
        raise ModelFileError(f"{folder}: unknown estimator {model.get('estimator')!r}")
    est = classes[model["estimator"]](**_from_json(model["params"]))
    tok = TOKENIZERS.get(model["tokenizer"]["type"])
    if tok is None or model["tokenizer"]["file"] != tok.filename:
        raise ModelFileError(f"{folder}: unknown tokenizer {model['tokenizer']!r}")
    fitted = _from_json(model["fitted"])
    for direction, spec in model["networks"].items():
        if direction not in ("forward", "backward"):
            raise ModelFileError(f"{folder}: unknown direction {direction!r}")
        where = _direction_folder(folder, direction)
        tokenizer = tok.load(where / tok.filename)
        module = _build_network(spec)
        try:
            module.load_state_dict(load_file(str(where / WEIGHTS_FILE)))
        except (RuntimeError, OSError) as exc:
            raise ModelFileError(f"{where / WEIGHTS_FILE}: does not fit the network "
                                 f"({exc})") from None
        fitted[f"net{_suffix(direction)}_"] = make_inference_net(
            module, batch_size=model["predict_batch_size"], pad_idx=tokenizer.pad_id,
            device=est._device(),
            autocast=est._autocast("bert" if isinstance(module, WindowPoolEncoder) else "awd_lstm"))
        fitted[f"tokenizer{_suffix(direction)}_"] = tokenizer
    est._set_fitted(fitted)
    return est


def _suffix(direction):
    return "" if direction == "forward" else "_backward"


def _direction_folder(folder, direction):
    return folder if direction == "forward" else folder / direction
