"""Pretrained encoders: the folder format, saving, loading and the bundled ones.

An encoder is a folder with four files:

``config.json``
    ``format_version`` (1), ``architecture`` (``"awd_lstm"``), the sizes
    (``vocab_size``, ``emb_size``, ``hidden_size``, ``n_layers``), ``pad_idx``,
    ``special_tokens``, ``tokenizer`` (``{"type": "sentencepiece" | "word",
    "file": ...}``) and ``weights`` (the weights' file name).
``weights.safetensors``
    The language model's weights (fp16 or fp32): the AWD-LSTM's parameters under
    ``encoder.`` and the decoder bias ``decoder.bias`` (the decoder matrix is tied
    to the embedding, so it is not stored).  The compute dtype is the estimator's
    business: weights load as fp32.
the tokenizer file
    ``tokenizer.model`` (SentencePiece) or ``vocab.txt`` (one word per line).
``metadata.json``
    What the encoder is: corpus, tokens seen, held-out perplexity, command, ...,
    and ``files``: the sha256 of each of the other files, which loading verifies.

``load_encoder(spec)`` takes the name of a bundled encoder (a folder beside this
file), a path to an encoder folder, or an :class:`Encoder`.  Nothing here touches
the network.
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..text import SPECIAL_TOKENS, TOKENIZERS

FORMAT_VERSION = 1
BUNDLED_DIR = Path(__file__).parent
#: Name of the encoder that ``pretrained="default"`` (the estimators' default) loads.
DEFAULT_ENCODER = "gutenberg-small"
#: Shape of a freshly initialised encoder when no pretrained one is given.
DEFAULT_SHAPE = {"emb_size": 200, "hidden_size": 600, "n_layers": 3}


class EncoderError(ValueError):
    """An encoder folder is missing, incomplete, corrupt or of an unknown format."""


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Encoder:
    """A loaded encoder: config, fp32 weights, tokenizer and metadata."""

    config: dict
    state_dict: dict
    tokenizer: object
    metadata: dict = field(default_factory=dict)
    path: str = None

    @property
    def sha256(self):
        """Checksum of the encoder (of its files' checksums); None if unsaved."""
        files = self.metadata.get("files")
        if not files:
            return None
        text = json.dumps(files, sort_keys=True).encode()
        return hashlib.sha256(text).hexdigest()

    def build_module(self, **dropout):
        """The :class:`~ulmfit_sklearn.modules.LanguageModel` with these weights."""
        from ..modules import AWDLSTM, LanguageModel

        c = self.config
        enc = AWDLSTM(c["vocab_size"], c["emb_size"], c["hidden_size"], c["n_layers"],
                      c["pad_idx"])
        lm = LanguageModel(enc)
        if self.state_dict is not None:
            state = dict(self.state_dict)
            state["decoder.weight"] = state["encoder.encoder.weight"]
            lm.load_state_dict(state)
        enc.set_dropout(**dropout)
        return lm


def bundled_encoders():
    """Names of the encoders shipped in the package."""
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "config.json").is_file())


def make_config(tokenizer, emb_size, hidden_size, n_layers):
    """The config of an AWD-LSTM encoder of these sizes over ``tokenizer``."""
    return {
        "format_version": FORMAT_VERSION,
        "architecture": "awd_lstm",
        "vocab_size": tokenizer.vocab_size,
        "emb_size": emb_size,
        "hidden_size": hidden_size,
        "n_layers": n_layers,
        "pad_idx": tokenizer.pad_id,
        "special_tokens": list(SPECIAL_TOKENS),
        "tokenizer": {"type": tokenizer.kind, "file": tokenizer.filename},
        "weights": "weights.safetensors",
    }


def random_encoder(tokenizer, emb_size=None, hidden_size=None, n_layers=None, seed=0):
    """A randomly initialised encoder (the "no pretraining" ablation)."""
    shape = dict(DEFAULT_SHAPE)
    shape.update({k: v for k, v in dict(emb_size=emb_size, hidden_size=hidden_size,
                                         n_layers=n_layers).items() if v is not None})
    config = make_config(tokenizer, **shape)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lm = Encoder(config, None, tokenizer).build_module()
    return Encoder(config, lm_state_dict(lm), tokenizer, {"pretraining": "none (random)"})


def lm_state_dict(lm):
    """The state dict of a LanguageModel as stored (without the tied decoder matrix)."""
    return {k: v.detach().float().cpu().clone() for k, v in lm.state_dict().items()
            if k != "decoder.weight"}


def save_encoder(folder, config, state_dict, tokenizer, metadata=None, dtype=torch.float16):
    """Write an encoder folder; returns its path.

    ``state_dict`` is a LanguageModel's (see :func:`lm_state_dict`); it is stored
    as ``dtype``.  The metadata gets the sha256 of every file.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok_file = tokenizer.save(folder)
    config = dict(config, tokenizer={"type": tokenizer.kind, "file": tok_file})
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in state_dict.items()
               if k != "decoder.weight"}
    save_file(tensors, str(folder / config["weights"]))
    metadata = dict(metadata or {})
    metadata["files"] = {name: _sha256(folder / name)
                         for name in ("config.json", config["weights"], tok_file)}
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return folder


def _read_json(path):
    if not path.is_file():
        raise EncoderError(f"encoder file missing: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EncoderError(f"encoder file is not valid JSON: {path} ({exc})") from None


def extend_vocabulary(encoder, texts, min_freq=2, max_vocab=60000):
    """A word-vocabulary encoder whose vocabulary also holds the target texts' words.

    Words seen at least ``min_freq`` times in ``texts`` that the vocabulary lacks are
    added (most frequent first, up to ``max_vocab`` entries in all) with the mean
    embedding and the mean decoder bias, as fastai's ``match_embeds`` does.
    SentencePiece encoders are returned unchanged.
    """
    from collections import Counter

    from ..text import WordTokenizer, apply_rules

    tok = encoder.tokenizer
    if tok.kind != "word":
        return encoder
    counts = Counter(w for t in texts for w in apply_rules(t))
    room = max(0, max_vocab - tok.vocab_size)
    new = [w for w, c in counts.most_common() if c >= min_freq and w not in tok.stoi][:room]
    if not new:
        return encoder
    state = dict(encoder.state_dict)
    emb, bias = state["encoder.encoder.weight"], state["decoder.bias"]
    state["encoder.encoder.weight"] = torch.cat([emb, emb.mean(0, keepdim=True).repeat(len(new), 1)])
    state["decoder.bias"] = torch.cat([bias, bias.mean().repeat(len(new))])
    tokenizer = WordTokenizer(tok.itos + new)
    config = dict(encoder.config, vocab_size=tokenizer.vocab_size)
    return Encoder(config, state, tokenizer, encoder.metadata, encoder.path)


def load_encoder_folder(folder):
    """Load and verify an encoder folder (or convert fastai's files found in it)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    if not folder.is_dir():
        raise EncoderError(f"encoder folder not found: {folder}")
    if not (folder / "config.json").exists():
        from .fastai import find_fastai_files, load_fastai_encoder

        if find_fastai_files(folder):
            try:
                return load_fastai_encoder(folder)
            except ValueError as exc:
                raise EncoderError(str(exc)) from None
    config = _read_json(folder / "config.json")
    metadata = _read_json(folder / "metadata.json")
    if config.get("format_version") != FORMAT_VERSION:
        raise EncoderError(
            f"{folder / 'config.json'}: unsupported format_version "
            f"{config.get('format_version')!r} (this version reads {FORMAT_VERSION})")
    required = ("vocab_size", "emb_size", "hidden_size", "n_layers", "pad_idx", "tokenizer", "weights")
    missing = [k for k in required if k not in config]
    if missing:
        raise EncoderError(f"{folder / 'config.json'}: missing keys {missing}")
    files = metadata.get("files", {})
    for name in ("config.json", config["weights"], config["tokenizer"]["file"]):
        path = folder / name
        if not path.is_file():
            raise EncoderError(f"encoder file missing: {path}")
        if name not in files:
            raise EncoderError(f"{folder / 'metadata.json'} has no checksum for {name}")
        if _sha256(path) != files[name]:
            raise EncoderError(f"encoder file is corrupt (sha256 mismatch): {path}")
    kind = config["tokenizer"]["type"]
    if kind not in TOKENIZERS:
        raise EncoderError(f"{folder / 'config.json'}: unknown tokenizer type {kind!r}")
    try:
        tokenizer = TOKENIZERS[kind].load(folder / config["tokenizer"]["file"])
        state = {k: v.float() for k, v in load_file(str(folder / config["weights"])).items()}
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise EncoderError(f"cannot read encoder {folder}: {exc}") from None
    if tokenizer.vocab_size != config["vocab_size"]:
        raise EncoderError(f"{folder}: tokenizer has {tokenizer.vocab_size} entries, "
                           f"config says vocab_size={config['vocab_size']}")
    return Encoder(config, state, tokenizer, metadata, str(folder))


def load_encoder(spec):
    """Load an encoder from a bundled name, a folder path, or pass an Encoder through."""
    if isinstance(spec, Encoder):
        return spec
    if spec == "default":
        spec = DEFAULT_ENCODER
    if isinstance(spec, str) and "/" not in spec and "\\" not in spec and not Path(spec).exists():
        if spec not in bundled_encoders():
            raise EncoderError(
                f"unknown encoder {spec!r}: not a folder, and not one of the bundled "
                f"encoders {bundled_encoders()}")
        return load_encoder_folder(BUNDLED_DIR / spec)
    return load_encoder_folder(spec)
