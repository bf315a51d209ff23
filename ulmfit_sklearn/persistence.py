"""A safe file format for fitted estimators: a folder of safetensors and JSON.

A pickle (``joblib.dump`` / ``pickle``) runs code when it is loaded, so a planted
model file or ``memory`` cache entry can do anything: load pickles only from a
source you trust.  :func:`save` writes what prediction needs without pickling:

``model.json``
    The format version, the package version, the estimator's class and
    parameters, the fitted attributes (``classes_``, ``history_``, ...), the
    shape of the network and how its weights are stored.
``weights.safetensors``
    The fine-tuned network's tensors: by default every matrix in int8 with one
    scale per row and the other tensors in fp16 (about a quarter of fp32;
    ``weights="float32"`` keeps them exact).
``vocab.txt``, ``tokenizer.model`` or ``tokenizer.json``
    The tokenizer (a word list, a SentencePiece model or a WordPiece
    ``tokenizer.json``: data).
``backward/``
    The backward classifier's weights and tokenizer, for a ``bidirectional`` one.

A folder handed to :func:`load` is untrusted input: it is checked before anything
is built from it (see docs/persistence.md): ``model.json`` against a schema (known
keys and types, the estimator's parameter constraints, only the estimator's known
fitted attributes), every tensor's name, dtype and shape in the safetensors header
against the network the file describes before any weight is allocated, and the
fitted attributes against the network (``classes_`` against the head).  Every
problem is a :class:`ModelFileError` naming the file.  Nothing is unpickled, no
code runs, and ``memory`` is never restored (a cache holds pickles).  Like an
encoder folder, the file names are fixed, so nothing in ``model.json`` can point
outside the folder.

:func:`save` writes into a new folder beside the target and swaps it in only once
everything is written, so a failing save leaves an earlier model in place.
"""

import json
import math
import numbers
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from ._version import __version__
from .exceptions import ModelFileError, check_version
from .encoders.format import DIRECTIONS, direction_suffix
from .families import FAMILIES, network_family
from .families.base import COUNT, INDEX, OPTIONAL_COUNT, POSITIVE
from .text import TOKENIZERS
from .training.numerics import STORAGE_DTYPES, stored_weights, unstored_weights
from .training.stages import make_inference_net

FORMAT_VERSION = 1
MODEL_FILE, WEIGHTS_FILE = "model.json", "weights.safetensors"
#: The largest ``model.json`` and safetensors header read (bytes).
MAX_JSON_BYTES = 64 * 2**20


# --------------------------------------------------------------------------- JSON
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
    """Undo :func:`_to_json`; a malformed tagged value raises ValueError, TypeError
    or KeyError (the caller makes it a :class:`ModelFileError`)."""
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        dtype = np.dtype(value["dtype"])
        if dtype.kind not in "biufUSO":
            raise ValueError(f"arrays of dtype {dtype} are not saved")
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


# --------------------------------------------------------------------------- networks
def _params(est):
    params = est.get_params(deep=False)
    pretrained = params.get("pretrained")
    if pretrained is not None and not isinstance(pretrained, str):
        params["pretrained"] = getattr(pretrained, "path", None) and str(pretrained.path)
    params["memory"] = None  # never saved: a cache folder holds pickles
    if not (params.get("random_state") is None or isinstance(params["random_state"], int)):
        params["random_state"] = None  # a RandomState instance: its state is not kept
    return params


def _network(module):
    """The shape of a fitted network, as JSON data (:func:`_build_network` reads it):
    its kind (class name) and its family's description of it."""
    kind, family = type(module).__name__, network_family(type(module).__name__)
    if family is None:
        raise ValueError(f"a {kind} network cannot be saved in the safe format (use joblib)")
    return {"kind": kind, **family.describe(module)}


#: The description of each kind of fitted network: its keys and what each must be
#: (:data:`~ulmfit_sklearn.families.base.COUNT`, ...), as the families give them.
NETWORK_SPECS = {kind: network.spec for family in FAMILIES.values()
                 for kind, network in family.networks.items()}


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_value(v, kind):
    if kind == COUNT:
        return _is_int(v) and v >= 1
    if kind == INDEX:
        return _is_int(v) and v >= 0
    if kind == OPTIONAL_COUNT:
        return v is None or (_is_int(v) and v >= 1)
    if kind == POSITIVE:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf
    return isinstance(v, str) and v in kind


def _check_network_spec(spec, where):
    if not isinstance(spec, dict):
        raise ModelFileError(f"{where}: a network description must be an object")
    kind = spec.get("kind")
    if kind not in NETWORK_SPECS:
        raise ModelFileError(f"{where}: unknown network kind {kind!r} (known: "
                             f"{sorted(NETWORK_SPECS)})")
    schema = NETWORK_SPECS[kind]
    keys = set(spec) - {"kind"}
    if keys != set(schema):
        raise ModelFileError(f"{where}: network {kind} has keys {sorted(keys)}, expected "
                             f"{sorted(schema)}")
    for key, kind_of in schema.items():
        if not _check_value(spec[key], kind_of):
            raise ModelFileError(f"{where}: network {kind}: {key} = {spec[key]!r} is not valid")


def _build_network(spec):
    """The network that ``spec`` (checked by :func:`_check_network_spec`) describes,
    rebuilt by its family, initialised at random."""
    return network_family(spec["kind"]).rebuild(spec)


def _expected_tensors(spec, where):
    """Names, dtypes and shapes of the tensors of the network ``spec`` describes,
    from a copy built on the meta device (nothing allocated)."""
    try:
        with torch.device("meta"):
            module = _build_network(spec)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"{where}: the network it describes cannot be built ({exc})") from None
    return {k: (v.dtype, tuple(v.shape)) for k, v in module.state_dict().items()}


# --------------------------------------------------------------------------- weights
_SAFETENSORS_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2),
                       "BF16": (torch.bfloat16, 2), "I8": (torch.int8, 1),
                       "I64": (torch.int64, 8), "I32": (torch.int32, 4), "U8": (torch.uint8, 1),
                       "BOOL": (torch.bool, 1), "F64": (torch.float64, 8)}


def safetensors_header(path):
    """Name -> (dtype, shape) of a safetensors file, read from its header alone and
    checked against the file's size (a truncated or padded file is an error)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(8)
            n = int.from_bytes(raw, "little") if len(raw) == 8 else -1
            if not 2 <= n <= min(size - 8, MAX_JSON_BYTES):
                raise ModelFileError(f"{path}: not a safetensors file (truncated or empty)")
            header = json.loads(f.read(n).decode("utf-8"))
    except (OSError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{path}: cannot be read as safetensors ({exc})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the safetensors header is not an object")
    header.pop("__metadata__", None)
    tensors, end = {}, 0
    for name, info in header.items():
        ok = (isinstance(info, dict) and info.get("dtype") in _SAFETENSORS_DTYPES
              and isinstance(info.get("shape"), list) and all(_is_int(d) and d >= 0 for d in info["shape"])
              and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2
              and all(_is_int(o) for o in info["data_offsets"]))
        if not ok:
            raise ModelFileError(f"{path}: malformed entry for tensor {name!r}")
        dtype, itemsize = _SAFETENSORS_DTYPES[info["dtype"]]
        start, stop = info["data_offsets"]
        if not 0 <= start <= stop or stop - start != itemsize * math.prod(info["shape"]):
            raise ModelFileError(f"{path}: tensor {name!r} has inconsistent offsets")
        tensors[name] = (dtype, tuple(info["shape"]))
        end = max(end, stop)
    if 8 + n + end != size:
        raise ModelFileError(f"{path}: {size} bytes, but its header describes {8 + n + end} "
                             "(truncated or padded)")
    return tensors


def _read_weights(path, spec, weights):
    """The network's fp32 state dict from ``path``, after its header was checked
    against the tensors ``spec`` implies, stored as ``weights``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    expected = stored_weights(_expected_tensors(spec, path), weights, shapes_only=True)
    found = safetensors_header(path)
    if set(found) != set(expected):
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        raise ModelFileError(f"{path}: does not fit the network (missing tensors {missing[:5]}, "
                             f"unexpected {extra[:5]})")
    for name, (dtype, shape) in expected.items():
        if found[name] != (dtype, shape):
            raise ModelFileError(f"{path}: tensor {name!r} is {found[name][0]} {found[name][1]}, "
                                 f"the network needs {dtype} {shape}")
    try:
        return unstored_weights(load_file(str(path)))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc})") from None


# --------------------------------------------------------------------------- estimators
#: The estimator classes that :func:`load` builds, by name: each subclass of
#: :class:`~ulmfit_sklearn._base.ULMFiTBase` registers itself when it is defined
#: (:func:`register_estimator`), so this module needs no import of them.
ESTIMATORS = {}


def register_estimator(cls):
    """Make ``cls`` (an estimator class) one that :func:`load` can build, by its name."""
    ESTIMATORS[cls.__name__] = cls
    return cls


# --------------------------------------------------------------------------- fitted attributes
def _array_1d(kind):
    def check(v):
        return isinstance(v, np.ndarray) and v.ndim == 1 and len(v) > 0 and v.dtype.kind in kind
    return check


def _count(v):
    return _is_int(v) and v >= 1


def _is_bool(v):
    return isinstance(v, bool)


def _is_dict(v):
    return isinstance(v, dict)


def _sha(v):
    return v is None or isinstance(v, str)


#: The fitted attributes each estimator saves, with a check of each value; nothing
#: else in ``model.json``'s ``fitted`` is restored.
FITTED_ATTRIBUTES = {
    "ULMFiTClassifier": {"classes_": _array_1d("biufUSO"), "n_outputs_": _count,
                         "multilabel_": _is_bool},
    "ULMFiTRegressor": {"y_mean_": _array_1d("f"), "y_scale_": _array_1d("f"),
                        "n_outputs_": _count, "y_ndim_": lambda v: v in (1, 2) and _is_int(v)},
    "ULMFiTVectorizer": {"n_features_out_": _count},
}
_COMMON_FITTED = {"history_": _is_dict, "encoder_sha256_": _sha}
#: What the network each estimator predicts with computes (a family's
#: :attr:`~ulmfit_sklearn.families.base.Network.role`).
ESTIMATOR_NETWORKS = {"ULMFiTClassifier": "classifier", "ULMFiTRegressor": "classifier",
                      "ULMFiTVectorizer": "features"}


def _check_fitted(name, fitted, networks, where):
    """The fitted attributes of an estimator ``name``: only known ones, each of the
    right type, consistent with the networks' outputs."""
    schema = {**FITTED_ATTRIBUTES[name], **_COMMON_FITTED}
    schema.update({f"encoder_sha256{direction_suffix(d)}_": _sha for d in networks})
    if not isinstance(fitted, dict):
        raise ModelFileError(f"{where}: 'fitted' must be an object")
    unknown = sorted(set(fitted) - set(schema))
    if unknown:
        raise ModelFileError(f"{where}: unknown fitted attributes {unknown} (a {name} saves "
                             f"{sorted(schema)})")
    missing = sorted(set(FITTED_ATTRIBUTES[name]) - set(fitted))
    if missing:
        raise ModelFileError(f"{where}: fitted attributes {missing} are missing")
    for attr, check in schema.items():
        if attr in fitted and not check(fitted[attr]):
            raise ModelFileError(f"{where}: fitted attribute {attr} = {fitted[attr]!r:.80} is "
                                 "not valid")
    for direction, spec in networks.items():
        if network_family(spec["kind"]).networks[spec["kind"]].role != ESTIMATOR_NETWORKS[name]:
            raise ModelFileError(f"{where}: a {name} does not predict with a {spec['kind']}")
        n_out = spec.get("n_out")
        sizes = {"ULMFiTClassifier": ("classes_", "n_outputs_"),
                 "ULMFiTRegressor": ("y_mean_", "y_scale_", "n_outputs_")}.get(name, ())
        for attr in sizes:
            size = fitted[attr] if _is_int(fitted[attr]) else len(fitted[attr])
            if size != n_out:
                raise ModelFileError(f"{where}: {attr} has {size} entries, but the {direction} "
                                     f"network has {n_out} outputs")
        if name == "ULMFiTClassifier" and len(np.unique(fitted["classes_"])) != len(fitted["classes_"]):
            raise ModelFileError(f"{where}: classes_ has repeated labels")


# --------------------------------------------------------------------------- save
def save(est, folder, weights="auto"):
    """Write the fitted ULMFiT estimator ``est`` to ``folder`` in the safe format;
    returns the folder's path.

    ``weights`` is how the network's tensors are stored: ``"int8"`` (every matrix
    in int8 with one fp16 scale per row, other tensors in fp16: a quarter of the
    size), ``"float16"`` (half), ``"float32"`` (exact: the same predictions bit for
    bit), or ``"auto"``: the encoder family's ``saved_weights``, the smallest form
    measured to move at most 0.5 % of test predictions (int8 for the AWD-LSTM,
    fp16 for a BERT; docs/persistence.md).  ``folder`` must not exist, be empty, or hold an earlier saved model,
    which is replaced only once the new one is completely written.
    """
    from safetensors.torch import save_file
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est, "net_")
    if weights not in (*STORAGE_DTYPES, "auto"):
        raise ValueError(f"weights must be 'auto' or one of {sorted(STORAGE_DTYPES)}, got "
                         f"{weights!r}")
    if weights == "auto":
        weights = network_family(type(est.net_.module_).__name__).saved_weights
    folder = Path(folder)
    if folder.exists() and not (folder.is_dir() and (not any(folder.iterdir())
                                                     or (folder / MODEL_FILE).is_file())):
        raise FileExistsError(f"{folder} exists and is not a saved model or an empty folder: "
                              "save writes a new folder or replaces a saved model")
    nets = {d: (getattr(est, f"net{direction_suffix(d)}_"), getattr(est, f"tokenizer{direction_suffix(d)}_"))
            for d in est._fitted_directions()}
    attrs = {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")
             and k not in {f"{what}{direction_suffix(d)}_" for d in nets for what in ("net", "tokenizer")}}
    model = {
        "format_version": FORMAT_VERSION,
        "ulmfit_sklearn_version": __version__,
        "estimator": type(est).__name__,
        "params": _to_json(_params(est), "parameters"),
        "fitted": _to_json(attrs, "fitted attributes"),
        "networks": {d: _network(net.module_) for d, (net, _) in nets.items()},
        "weights": weights,
        "predict_batch_size": int(est.net_.get_params().get("iterator_valid__batch_size")
                                  or est.net_.batch_size),
        "tokenizer": {"type": est.tokenizer_.kind, "file": est.tokenizer_.filename},
    }
    text = json.dumps(model, indent=1, allow_nan=False) + "\n"
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".saving", dir=folder.parent))
    try:
        for direction, (net, tokenizer) in nets.items():
            where = _direction_folder(tmp, direction)
            where.mkdir(exist_ok=True)
            state = {k: v.detach().cpu() for k, v in net.module_.state_dict().items()}
            save_file({k: v.contiguous() for k, v in stored_weights(state, weights).items()},
                      str(where / WEIGHTS_FILE))
            tokenizer.save(where)
        (tmp / MODEL_FILE).write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())
        _swap_in(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_in(new, folder):
    """Put the folder ``new`` at ``folder``; an earlier one there is removed only
    once ``new`` is in place (and put back if that fails)."""
    if not folder.exists():
        os.rename(new, folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    old.rmdir()
    os.rename(folder, old)
    try:
        os.rename(new, folder)
    except BaseException:
        os.rename(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- load
_MODEL_KEYS = {"format_version", "ulmfit_sklearn_version", "estimator", "params", "fitted",
               "networks", "weights", "predict_batch_size", "tokenizer"}


def _read_model_json(folder):
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ModelFileError(f"{folder} is not a saved ulmfit-sklearn model (no {MODEL_FILE})")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ModelFileError(f"{path}: larger than {MAX_JSON_BYTES} bytes")
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: not JSON ({exc})") from None
    if not isinstance(model, dict):
        raise ModelFileError(f"{path}: must hold a JSON object, not a {type(model).__name__}")
    if model.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format {model.get('format_version')!r}, this "
                             f"version of ulmfit-sklearn reads format {FORMAT_VERSION}")
    model.setdefault("weights", "float32")  # written before the int8 storage
    missing, unknown = sorted(_MODEL_KEYS - set(model)), sorted(set(model) - _MODEL_KEYS)
    if missing or unknown:
        raise ModelFileError(f"{path}: " + "; ".join(
            ([f"missing keys {missing}"] if missing else [])
            + ([f"unknown keys {unknown}"] if unknown else [])))
    checks = {"ulmfit_sklearn_version": lambda v: isinstance(v, str),
              "estimator": lambda v: v in FITTED_ATTRIBUTES,
              "params": _is_dict, "fitted": _is_dict,
              "networks": lambda v: _is_dict(v) and "forward" in v and set(v) <= set(DIRECTIONS),
              "weights": lambda v: v in STORAGE_DTYPES,
              "predict_batch_size": _count,
              "tokenizer": lambda v: (_is_dict(v) and v.get("type") in TOKENIZERS
                                      and v.get("file") == TOKENIZERS[v["type"]].filename
                                      and set(v) == {"type", "file"})}
    what = {"estimator": "unknown estimator", "tokenizer": "unknown tokenizer"}
    for key, check in checks.items():
        if not check(model[key]):
            raise ModelFileError(f"{path}: {what.get(key, key + ' =')} {model[key]!r:.100} "
                                 + ("" if key in what else "is not valid"))
    return model


def _estimator(cls, params, path):
    """An unfitted ``cls`` with the saved ``params``, checked against its
    constraints; ``memory`` is never restored."""
    try:
        params = _from_json(params)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"{path}: malformed parameters ({exc})") from None
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ModelFileError(f"{path}: unknown parameters {unknown} for a {cls.__name__}")
    params["memory"] = None
    est = cls(**params)
    try:
        est._check_params()
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: invalid parameters ({exc})") from None
    return est


def load(folder):
    """Read an estimator that :func:`save` wrote, after checking everything in the
    folder (see the module's docstring); nothing is unpickled."""
    folder = Path(folder)
    model = _read_model_json(folder)
    path = folder / MODEL_FILE
    check_version(model["ulmfit_sklearn_version"], __version__)
    est = _estimator(ESTIMATORS[model["estimator"]], model["params"], path)
    for direction, spec in model["networks"].items():
        _check_network_spec(spec, f"{path} (networks.{direction})")
    try:
        fitted = _from_json(model["fitted"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelFileError(f"{path}: malformed fitted attributes ({exc})") from None
    _check_fitted(model["estimator"], fitted, model["networks"], path)
    tok = TOKENIZERS[model["tokenizer"]["type"]]
    for direction, spec in model["networks"].items():
        where = _direction_folder(folder, direction)
        tokenizer = _read_tokenizer(tok, where / tok.filename)
        if tokenizer.vocab_size > spec["vocab_size"]:
            raise ModelFileError(f"{where / tok.filename}: {tokenizer.vocab_size} tokens, but the "
                                 f"network's embedding has {spec['vocab_size']} rows")
        state = _read_weights(where / WEIGHTS_FILE, spec, model["weights"])
        module = _build_network(spec)
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelFileError(f"{where / WEIGHTS_FILE}: does not fit the network "
                                 f"({exc})") from None
        fitted[f"net{direction_suffix(direction)}_"] = make_inference_net(
            module, batch_size=model["predict_batch_size"], pad_idx=tokenizer.pad_id,
            device=est._device(),
            autocast=est._autocast(network_family(spec["kind"])))
        fitted[f"tokenizer{direction_suffix(direction)}_"] = tokenizer
    est._set_fitted(fitted)
    return est


def _read_tokenizer(tok, path):
    if not path.is_file():
        raise ModelFileError(f"{path}: the tokenizer file is missing")
    try:
        return tok.load(path)
    except Exception as exc:  # noqa: BLE001  any library's error on a damaged file
        raise ModelFileError(f"{path}: not a valid {tok.kind} tokenizer "
                             f"({type(exc).__name__}: {exc})") from None


def _direction_folder(folder, direction):
    return folder if direction == "forward" else folder / direction
