"""The encoder folder: what it holds, how it is written and read, and the loaded
:class:`Encoder`.

An encoder folder holds:

``config.json``
    ``format_version`` (1), ``architecture`` (the encoder family's name:
    ``"awd_lstm"``, ``"bert"``), the family's sizes and ids
    (:attr:`~ulmfit_sklearn.families.base.EncoderFamily.config_keys`: an AWD-LSTM's
    ``vocab_size``, ``emb_size``, ``hidden_size``, ``n_layers``, ``pad_idx``; a
    BERT's, see :mod:`ulmfit_sklearn.encoders.bert`), ``special_tokens``,
    ``tokenizer`` (``{"type": "sentencepiece" | "word" | "wordpiece", "file": ...}``),
    ``weights`` (the weights' file name, or a list of shards), and optionally
    ``vectors``, ``license_file`` and, for a language model that reads right to
    left, ``"direction": "backward"``.
``weights.safetensors``
    The tensors that the family stores
    (:meth:`~ulmfit_sklearn.families.base.EncoderFamily.language_model_state`), in
    fp16, fp32, or int8 rows with a scale each
    (:func:`~ulmfit_sklearn.training.numerics.stored_weights`); they load as fp32.
    Or shards (``weights-00001-of-00004.safetensors``, ...), each holding some of the
    tensors; a tensor cut between shards is stored as pieces ``name#0``, ``name#1``,
    ... along its first dimension (see :func:`shard_tensors`).
the tokenizer file
    ``tokenizer.model`` (SentencePiece), ``vocab.txt`` (one word per line) or
    ``tokenizer.json`` (WordPiece).
``vectors.safetensors`` and ``vectors.txt`` (optional)
    Word vectors (``vectors``: a matrix, one row per line of ``vectors.txt``) of a
    vocabulary larger than the encoder's, e.g. the GloVe vectors its embedding
    started from; named in ``config["vectors"]`` (see
    :mod:`ulmfit_sklearn.encoders.vocabulary`).
the license (optional)
    Named in ``config["license_file"]``.
``metadata.json``
    What the encoder is: corpus, tokens seen, held-out perplexity, command, ...,
    and ``files``: the sha256 of each of the other files, which loading verifies.

A folder may also hold the language model that reads the other way in a subfolder
named after its direction (``backward/``): the paper's bidirectional pair.

:func:`read_encoder_folder` checks that the files ``config.json`` names lie inside
the folder, their checksums, and that the weights' tensors have the shapes the
config's sizes imply (the family's
:meth:`~ulmfit_sklearn.families.base.EncoderFamily.check_weights`).
"""

import hashlib
import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import torch

from ..exceptions import EncoderError
from ..families import family_of
from ..text import TOKENIZERS
from ..training.numerics import stored_weights, unstored_weights

FORMAT_VERSION = 1
#: The directions a language model reads in: the paper's forward and backward pair.
DIRECTIONS = ("forward", "backward")


def direction_suffix(direction):
    """The suffix of what belongs to ``direction``: a fitted estimator's attributes
    (``net_``, ``net_backward_``) and history entries (``"lm"``, ``"lm_backward"``)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return "" if direction == DIRECTIONS[0] else f"_{direction}"


def read_in_direction(docs, direction):
    """Token ids of ``docs`` in the order a language model of ``direction`` reads
    them: a backward one reads each document right to left."""
    if direction_suffix(direction):
        return [np.ascontiguousarray(d[::-1]) for d in docs]
    return docs


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path):
    """A JSON file of an encoder folder, or an :class:`EncoderError`."""
    if not path.is_file():
        raise EncoderError(f"encoder file missing: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EncoderError(f"encoder file is not valid JSON: {path} ({exc})") from None


@dataclass
class Encoder:
    """A loaded encoder: config, fp32 weights, tokenizer and metadata.

    What it is and how it trains is its :attr:`family`'s business
    (:mod:`ulmfit_sklearn.families`).
    """

    config: dict
    state_dict: dict
    tokenizer: object
    metadata: dict = field(default_factory=dict)
    path: str = None
    #: (words, float tensor of shape (len(words), d)), or None
    vectors: tuple = None

    @property
    def family(self):
        """The :class:`~ulmfit_sklearn.families.base.EncoderFamily` of its
        ``config["architecture"]``."""
        return family_of(self.config)

    @property
    def architecture(self):
        """The family's name: ``"awd_lstm"`` or ``"bert"``."""
        return self.family.name

    @property
    def direction(self):
        """Which way its language model reads: ``"forward"`` or ``"backward"``."""
        return self.config.get("direction", DIRECTIONS[0])

    @property
    def has_language_model(self):
        """Whether stage 2 can fine-tune it (an AWD-LSTM's decoder is its tied
        embedding; a BERT needs a masked-LM head, ``config["mlm_head"]``)."""
        return self.family.has_language_model(self.config)

    @property
    def sha256(self):
        """Checksum of the encoder (of its files' checksums); None if unsaved."""
        files = self.metadata.get("files")
        if not files:
            return None
        text = json.dumps(files, sort_keys=True).encode()
        return hashlib.sha256(text).hexdigest()

    def build_encoder(self, **dropout):
        """The encoder network with these weights, without a head (an
        :class:`~ulmfit_sklearn.models.awd_lstm.AWDLSTM`, a
        :class:`~ulmfit_sklearn.models.bert.BertModel`); ``dropout``: the family's
        dropout probabilities."""
        return self.family.build_encoder(self, **dropout)

    def build_language_model(self, **dropout):
        """The language model with these weights that stage 2 fine-tunes (a
        :class:`~ulmfit_sklearn.models.awd_lstm.LanguageModel`, a
        :class:`~ulmfit_sklearn.models.bert.BertMaskedLM`)."""
        return self.family.build_language_model(self, **dropout)

    def build_module(self, **dropout):
        """Deprecated: an AWD-LSTM's language model, a BERT's encoder network (what
        this returned before the families); use :meth:`build_language_model` or
        :meth:`build_encoder`."""
        warnings.warn("Encoder.build_module() is deprecated: use build_language_model() or "
                      "build_encoder()", DeprecationWarning, stacklevel=2)
        return self.family.build_module(self, **dropout)


# --------------------------------------------------------------------------- the files
def weight_names(config):
    """The weights' file names: one, or the list of shards."""
    w = config["weights"]
    return list(w) if isinstance(w, list) else [w]


def file_names(config):
    """The files of a folder of ``config`` that ``metadata.json`` has checksums of."""
    names = ["config.json", *weight_names(config), config["tokenizer"]["file"]]
    if config.get("vectors"):
        names += [config["vectors"]["file"], config["vectors"]["words"]]
    if config.get("license_file"):
        names.append(config["license_file"])
    return names


def config_files(folder, config):
    """The paths of the files that ``config`` names, each checked to lie in ``folder``.

    A name must be a relative path inside the folder: absolute paths, drive
    letters, ``..`` components and links that resolve outside are refused.
    """
    where = folder / "config.json"
    tokenizer, vectors = config["tokenizer"], config.get("vectors")
    if not isinstance(tokenizer, dict) or not {"type", "file"} <= tokenizer.keys():
        raise EncoderError(f'{where}: "tokenizer" must be {{"type": ..., "file": ...}}, '
                           f"got {tokenizer!r}")
    weights = config["weights"]
    if isinstance(weights, list) and weights:  # shards: keys weights.0, weights.1, ...
        names = {f"weights.{i}": name for i, name in enumerate(weights)}
    else:
        names = {"weights": weights}
    names["tokenizer.file"] = tokenizer["file"]
    if vectors:
        if not isinstance(vectors, dict) or not {"file", "words"} <= vectors.keys():
            raise EncoderError(f'{where}: "vectors" must be {{"file": ..., "words": ...}}, '
                               f"got {vectors!r}")
        names.update({"vectors.file": vectors["file"], "vectors.words": vectors["words"]})
    if config.get("license_file"):
        names["license_file"] = config["license_file"]
    root = folder.resolve()
    paths = {}
    for key, name in names.items():
        if not isinstance(name, str) or not name.strip():
            raise EncoderError(f"{where}: {key} must be a file name, got {name!r}")
        if (PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor
                or ".." in PureWindowsPath(name).parts):
            raise EncoderError(f"{where}: {key} {name!r} must be a file name inside the encoder "
                               "folder (no absolute path, drive or '..')")
        path = folder / name
        if not path.resolve().is_relative_to(root):
            raise EncoderError(f"{where}: {key} {name!r} resolves to {path.resolve()}, outside "
                               f"the encoder folder {root}")
        paths[key] = path
    return paths


def shard_tensors(tensors, max_bytes):
    """Split ``tensors`` (name -> tensor) into shards of safetensors files of at most
    ``max_bytes`` each: a list of dicts, filled in order; a tensor that overflows a
    shard is cut along its first dimension into pieces ``name#0``, ``name#1``, ...
    (joined again by :func:`join_pieces`)."""
    shards, cur, used = [], {}, 16  # 8 bytes of header length, 8 of padding
    for name, t in tensors.items():
        part = 0
        while True:
            cost = len(name) + 96  # a header entry: name, dtype, shape and offsets
            room = max_bytes - used - cost
            if t.nbytes <= room and not part:
                cur[name], used = t, used + t.nbytes + cost
                break
            rows = room // max(1, t[0].nbytes) if t.dim() else 0
            if rows >= len(t):
                cur[f"{name}#{part}"], used = t, used + t.nbytes + cost
                break
            if rows > 0:
                cur[f"{name}#{part}"], t, part = t[:rows].contiguous(), t[rows:], part + 1
            elif not cur:
                raise ValueError(f"max_shard_bytes={max_bytes} cannot hold one row of {name}")
            shards.append(cur)
            cur, used = {}, 16
    return shards + [cur] if cur else shards


def join_pieces(state):
    """The state dict of shards' tensors, with the pieces ``name#i`` of a cut
    tensor concatenated back into ``name``."""
    out, pieces = {}, {}
    for key, t in state.items():
        name, sep, i = key.rpartition("#")
        if sep:
            pieces.setdefault(name, {})[int(i)] = t
        else:
            out[key] = t
    for name, parts in pieces.items():
        if sorted(parts) != list(range(len(parts))) or name in out:
            raise ValueError(f"tensor {name}: pieces {sorted(parts)} are not 0..{len(parts) - 1}")
        out[name] = torch.cat([parts[i] for i in range(len(parts))])
    return out


# --------------------------------------------------------------------------- writing
def save_encoder(folder, config, state_dict, tokenizer, metadata=None, dtype=torch.float16,
                 vectors=None, max_shard_bytes=None, license_file=None):
    """Write an encoder folder; returns its path.

    Parameters
    ----------
    folder : path
        Where to write it (made if missing).
    config : dict
        The encoder's config (the ``tokenizer`` and ``vectors`` entries are written
        here).
    state_dict : dict
        The tensors as the folder stores them: the family's
        :meth:`~ulmfit_sklearn.families.base.EncoderFamily.language_model_state`
        (e.g. :func:`~ulmfit_sklearn.encoders.awd_lstm.lm_state_dict`).
    tokenizer : tokenizer
        Saved beside the weights.
    metadata : dict, optional
        What the encoder is; the sha256 of every file is added.
    dtype : torch.dtype
        Storage dtype of the weights (and of ``vectors``): a float type, or
        ``torch.int8`` for int8 rows with a scale each.  They load as fp32.
    vectors : (words, matrix), optional
        Word vectors of a larger vocabulary (see
        :mod:`ulmfit_sklearn.encoders.vocabulary`).
    max_shard_bytes : int, optional
        Weights larger than that are written as shards
        (``weights-00001-of-0000N.safetensors``, each at most that size;
        ``config["weights"]`` lists them, see :func:`shard_tensors`).
    license_file : path, optional
        Copied in as ``LICENSE`` (``config["license_file"]``); a license that the
        folder already holds is kept.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok_file = tokenizer.save(folder)
    config = dict(config, tokenizer={"type": tokenizer.kind, "file": tok_file})
    config.pop("vectors", None)
    if vectors is not None:
        words, matrix = vectors
        config["vectors"] = {"file": "vectors.safetensors", "words": "vectors.txt"}
        save_file({"vectors": torch.as_tensor(matrix).to(dtype).contiguous()},
                  str(folder / "vectors.safetensors"))
        (folder / "vectors.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    if license_file is not None:
        if Path(license_file).resolve() != (folder / "LICENSE").resolve():
            shutil.copyfile(license_file, folder / "LICENSE")
        config["license_file"] = "LICENSE"
    state = {k: v.detach().cpu() for k, v in state_dict.items()}
    tensors = {k: v.contiguous() for k, v in (
        stored_weights(state, "int8") if dtype == torch.int8 else
        {k: v.to(dtype) for k, v in state.items()}).items()}
    shards = [tensors]
    if max_shard_bytes and sum(t.nbytes for t in tensors.values()) > max_shard_bytes - 4096:
        shards = shard_tensors(tensors, max_shard_bytes)
        config["weights"] = [f"weights-{i:05d}-of-{len(shards):05d}.safetensors"
                             for i in range(1, len(shards) + 1)]
    elif isinstance(config["weights"], list):
        config["weights"] = "weights.safetensors"
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name, shard in zip(weight_names(config), shards):
        save_file(shard, str(folder / name))
    metadata = dict(metadata or {})
    metadata["files"] = {name: _sha256(folder / name) for name in file_names(config)}
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return folder


# --------------------------------------------------------------------------- reading
def read_encoder_folder(folder):
    """Load and verify an encoder folder of this format (see the module's docstring).

    Returns an :class:`Encoder` with fp32 weights, or raises an
    :class:`~ulmfit_sklearn.exceptions.EncoderError` naming the first problem.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    config = read_json(folder / "config.json")
    metadata = read_json(folder / "metadata.json")
    if config.get("format_version") != FORMAT_VERSION:
        raise EncoderError(
            f"{folder / 'config.json'}: unsupported format_version "
            f"{config.get('format_version')!r} (this version reads {FORMAT_VERSION})")
    family = family_of(config)
    missing = [k for k in (*family.config_keys, "tokenizer", "weights") if k not in config]
    if missing:
        raise EncoderError(f"{folder / 'config.json'}: missing keys {missing}")
    paths = config_files(folder, config)
    files = metadata.get("files", {})
    for name in file_names(config):
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
        tokenizer = TOKENIZERS[kind].load(paths["tokenizer.file"])
        shards = [load_file(str(path)) for key, path in paths.items()
                  if key.partition(".")[0] == "weights"]
        if sum(map(len, shards)) != len(set().union(*shards)):
            raise ValueError("a tensor is in two weight shards")
        state = unstored_weights(join_pieces({k: v for shard in shards for k, v in shard.items()}))
        vectors = None
        if config.get("vectors"):
            words = paths["vectors.words"].read_text(encoding="utf-8").split("\n")[:-1]
            matrix = load_file(str(paths["vectors.file"]))["vectors"].float()
            if len(words) != len(matrix):
                raise ValueError(f"{len(words)} words but {len(matrix)} vectors")
            vectors = (words, matrix)
    except (SafetensorError, ValueError, RuntimeError, KeyError, OSError) as exc:
        raise EncoderError(f"cannot read encoder {folder}: {exc}") from None
    if tokenizer.vocab_size != config["vocab_size"]:
        raise EncoderError(f"{folder}: tokenizer has {tokenizer.vocab_size} entries, "
                           f"config says vocab_size={config['vocab_size']}")
    family.check_weights(config, state, where=str(folder / config["weights"]) if isinstance(
        config["weights"], str) else str(folder))
    return Encoder(config, state, tokenizer, metadata, str(folder), vectors)
