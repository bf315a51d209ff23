"""Import fastai's pretrained AWD-LSTM (e.g. WT103's ``lstm_fwd.pth`` + ``itos_wt103.pkl``).

fastai's files are pickles, which can run code when loaded.  The weights are read
with ``torch.load(weights_only=True)`` and the vocabulary with an unpickler that
accepts nothing but plain containers of strings.  Weights are converted by
parameter *name* (fastai versions differ in key names and in the order of the
special tokens), into this package's layout.
"""

import io
import pickle
import re
from pathlib import Path

import torch

from ..text import SPECIAL_TOKENS, WordTokenizer
from .awd_lstm import make_config
from .format import Encoder, _sha256


class _NoClassesUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a vocabulary file may hold only a list of strings")


def load_itos(path):
    """A fastai vocabulary pickle, loaded safely: a list of str or an error."""
    data = Path(path).read_bytes()
    try:
        itos = _NoClassesUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ValueError(f"{path}: not a plain pickled list of strings ({exc})") from None
    if not isinstance(itos, (list, tuple)) or not all(isinstance(w, str) for w in itos):
        raise ValueError(f"{path}: expected a list of strings, got {type(itos).__name__}")
    return list(itos)


# fastai key (without the leading "0." / "1.") -> this package's key
_RULES = [
    (re.compile(r"^encoder\.weight$"), "encoder.encoder.weight"),
    (re.compile(r"^rnns\.(\d+)\.(?:module\.)?weight_hh_l0_raw$"), r"encoder.rnns.\1.lstm.weight_hh_l0"),
    (re.compile(r"^rnns\.(\d+)\.module\.weight_ih_l0$"), r"encoder.rnns.\1.lstm.weight_ih_l0"),
    (re.compile(r"^rnns\.(\d+)\.module\.bias_ih_l0$"), r"encoder.rnns.\1.lstm.bias_ih_l0"),
    (re.compile(r"^rnns\.(\d+)\.module\.bias_hh_l0$"), r"encoder.rnns.\1.lstm.bias_hh_l0"),
    (re.compile(r"^decoder\.bias$"), "decoder.bias"),
]
# keys that duplicate others (the embedding seen through its dropout wrapper, the
# dropped hidden matrix, the tied decoder matrix)
_SKIP = re.compile(r"^(encoder_dp\.emb\.weight|encoder_with_dropout\.embed\.weight|"
                   r"rnns\.\d+\.module\.weight_hh_l0|decoder\.weight)$")


def convert_state_dict(sd):
    """fastai AWD-LSTM LM state dict -> (this package's state dict, config sizes)."""
    if "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    out = {}
    for key, value in sd.items():
        short = re.sub(r"^\d+\.", "", key)
        if _SKIP.match(short):
            continue
        for pattern, target in _RULES:
            if pattern.match(short):
                out[pattern.sub(target, short)] = value.detach().float()
                break
        else:
            raise ValueError(f"unexpected key in the fastai weights: {key!r}")
    if "encoder.encoder.weight" not in out:
        raise ValueError("the fastai weights have no embedding (encoder.weight)")
    n_layers = len({k.split(".")[2] for k in out if k.startswith("encoder.rnns.")})
    vocab, emb = out["encoder.encoder.weight"].shape
    hidden = out["encoder.rnns.0.lstm.weight_hh_l0"].shape[1] if n_layers > 1 else emb
    if "decoder.bias" not in out:
        out["decoder.bias"] = torch.zeros(vocab)
    return out, {"vocab_size": vocab, "emb_size": emb, "hidden_size": hidden, "n_layers": n_layers}


def find_fastai_files(folder):
    """(weights, vocabulary) paths in a folder, or None if it holds no fastai model."""
    folder = Path(folder)
    weights = sorted(folder.glob("*.pth"))
    vocab = sorted(folder.glob("itos*.pkl")) or sorted(folder.glob("*.pkl"))
    if len(weights) == 1 and len(vocab) == 1:
        return weights[0], vocab[0]
    return None


def load_fastai_encoder(folder):
    """An :class:`~ulmfit_sklearn.encoders.Encoder` from fastai's files in ``folder``.

    Special tokens missing from fastai's vocabulary are added with the mean
    embedding (and mean decoder bias).
    """
    files = find_fastai_files(folder)
    if files is None:
        raise ValueError(f"{folder}: expected one *.pth weights file and one itos*.pkl vocabulary")
    weights_path, itos_path = files
    itos = load_itos(itos_path)
    try:
        sd = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad or unsafe files
        raise ValueError(f"{weights_path}: cannot load as plain weights ({exc})") from None
    state, sizes = convert_state_dict(sd)
    if sizes["vocab_size"] != len(itos):
        raise ValueError(f"{itos_path} has {len(itos)} words but the weights have "
                         f"{sizes['vocab_size']} embedding rows")
    missing = [t for t in SPECIAL_TOKENS if t not in itos]
    if missing:
        emb, bias = state["encoder.encoder.weight"], state["decoder.bias"]
        state["encoder.encoder.weight"] = torch.cat([emb, emb.mean(0, keepdim=True).repeat(len(missing), 1)])
        state["decoder.bias"] = torch.cat([bias, bias.mean().repeat(len(missing))])
        itos = itos + missing
    tokenizer = WordTokenizer(itos)
    config = make_config(tokenizer, sizes["emb_size"], sizes["hidden_size"], sizes["n_layers"])
    meta = {"source": "fastai", "files": {weights_path.name: _sha256(weights_path),
                                          itos_path.name: _sha256(itos_path)}}
    return Encoder(config, state, tokenizer, meta, str(folder))
