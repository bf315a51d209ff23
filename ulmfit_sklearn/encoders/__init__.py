"""Pretrained encoders: the folder format, saving, loading and the bundled ones.

An encoder is a folder with four files:

``config.json``
    ``format_version`` (1), ``architecture`` (``"awd_lstm"``), the sizes
    (``vocab_size``, ``emb_size``, ``hidden_size``, ``n_layers``), ``pad_idx``,
    ``special_tokens``, ``tokenizer`` (``{"type": "sentencepiece" | "word",
    "file": ...}``), ``weights`` (the weights' file name, or a list of shards) and,
    for a language model that reads right to left, ``"direction": "backward"``.
``weights.safetensors``
    The language model's weights (fp16 or fp32): the AWD-LSTM's parameters under
    ``encoder.`` and the decoder bias ``decoder.bias`` (the decoder matrix is tied
    to the embedding, so it is not stored).  The compute dtype is the estimator's
    business: weights load as fp32.  Or shards (``weights-00001-of-00004.safetensors``,
    ...), each holding some of the tensors; a tensor cut between shards is stored
    as pieces ``name#0``, ``name#1``, ... along its first dimension (see
    :func:`shard_tensors`).
the tokenizer file
    ``tokenizer.model`` (SentencePiece) or ``vocab.txt`` (one word per line).
``vectors.safetensors`` and ``vectors.txt`` (optional)
    Word vectors (``vectors``: a matrix, one row per line of ``vectors.txt``) of a
    vocabulary larger than the encoder's, e.g. the GloVe vectors its embedding
    started from; named in ``config["vectors"]``.  Training-text words that the
    vocabulary lacks get an embedding from their vector (see
    :func:`extend_vocabulary`); words that only later texts have read as their
    nearest vocabulary word (see :func:`alias_vector_words`).
``metadata.json``
    What the encoder is: corpus, tokens seen, held-out perplexity, command, ...,
    and ``files``: the sha256 of each of the other files, which loading verifies.

A folder may also hold the language model that reads the other way in a subfolder
named after its direction (``backward/``): the paper's bidirectional pair, which
``load_encoder(folder, "backward")`` reads.

A BERT (``"architecture": "bert"``) has other sizes and files, and a folder in
the Hugging Face layout loads too: see :mod:`ulmfit_sklearn.encoders.bert`.

``load_encoder(spec)`` takes the name of a bundled encoder (a folder beside this
file; a bare bundled name never means a folder of the working directory), a path
to an encoder folder, or an :class:`Encoder`.  Loading checks that the
files ``config.json`` names lie inside the folder, their checksums, and that the
weights' tensors have the shapes the config's sizes imply (:func:`check_weights`).
Nothing here touches the network.
"""

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import torch

from ..exceptions import EncoderError  # noqa: F401  (re-exported: its public home was here)
from ..text import SPECIAL_TOKENS, TOKENIZERS

FORMAT_VERSION = 1
BUNDLED_DIR = Path(__file__).parent
#: The bundled AWD-LSTM (the paper's encoder family), whose shape and tokenizer
#: ``pretrained=None`` (the "no pretraining" ablation) initialises at random.
AWD_LSTM_ENCODER = "modern-glove"
#: Name of the encoder that ``pretrained="default"`` (the estimators' default) loads:
#: the AWD-LSTM.  ``"minilm-l6"`` is more accurate on every benchmark set but fits
#: 1,000 IMDb reviews in far more than the 10 minutes on 2 cores that a default may
#: take (docs/encoders.md, "Which encoder is the default").
DEFAULT_ENCODER = AWD_LSTM_ENCODER
#: Shape of a freshly initialised encoder when no pretrained one is given.
DEFAULT_SHAPE = {"emb_size": 200, "hidden_size": 600, "n_layers": 3}


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
    #: (words, float tensor of shape (len(words), d)), or None
    vectors: tuple = None

    @property
    def architecture(self):
        """``"awd_lstm"`` or ``"bert"``."""
        return self.config.get("architecture", "awd_lstm")

    @property
    def has_language_model(self):
        """Whether stage 2 can fine-tune it: an AWD-LSTM's decoder is its tied
        embedding; a BERT needs a masked-LM head (``config["mlm_head"]``)."""
        return self.architecture == "awd_lstm" or bool(self.config.get("mlm_head"))

    @property
    def sha256(self):
        """Checksum of the encoder (of its files' checksums); None if unsaved."""
        files = self.metadata.get("files")
        if not files:
            return None
        text = json.dumps(files, sort_keys=True).encode()
        return hashlib.sha256(text).hexdigest()

    def build_module(self, **dropout):
        """The :class:`~ulmfit_sklearn.models.awd_lstm.LanguageModel` with these weights (a
        :class:`~ulmfit_sklearn.models.bert.BertEncoder` for a BERT)."""
        from ..models.awd_lstm import AWDLSTM, LanguageModel

        if self.config.get("architecture") == "bert":  # a BertEncoder (dropout: hidden, attention)
            from .bert import build_bert
            return build_bert(self, **dropout)
        c = self.config
        enc = AWDLSTM(c["vocab_size"], c["emb_size"], c["hidden_size"], c["n_layers"],
                      c["pad_idx"])
        lm = LanguageModel(enc)
        if self.state_dict is not None:
            state = dict(self.state_dict)
            state["decoder.weight"] = state["encoder.encoder.weight"]
            lm.load_state_dict(state)
        lm.set_dropout(**dropout)
        return lm


def bundled_encoders():
    """Names of the encoders shipped in the package."""
    return sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "config.json").is_file())


def _is_bare_name(spec):
    """Whether ``spec`` is a str without a path separator, which names a bundled
    encoder before a folder (``"./name"``, an absolute path and a
    :class:`~pathlib.Path` are paths)."""
    return isinstance(spec, str) and "/" not in spec and "\\" not in spec


def _named_folder(name):
    """The folder of a bundled encoder."""
    if name in bundled_encoders():
        return BUNDLED_DIR / name
    raise EncoderError(f"unknown encoder {name!r}: not a folder, and not one of the bundled "
                       f"encoders {bundled_encoders()}")


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


def save_encoder(folder, config, state_dict, tokenizer, metadata=None, dtype=torch.float16,
                 vectors=None, max_shard_bytes=None):
    """Write an encoder folder; returns its path.

    ``state_dict`` is a LanguageModel's (see :func:`lm_state_dict`); it is stored
    as ``dtype``, and so are the optional ``vectors`` (words, matrix).  The
    metadata gets the sha256 of every file.  With ``max_shard_bytes``, weights
    larger than that are written as shards (``weights-00001-of-0000N.safetensors``,
    each at most that size; ``config["weights"]`` lists them, see
    :func:`shard_tensors`).
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
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in state_dict.items()
               if k != "decoder.weight"}
    shards = [tensors]
    if max_shard_bytes and sum(t.nbytes for t in tensors.values()) > max_shard_bytes - 4096:
        shards = shard_tensors(tensors, max_shard_bytes)
        config["weights"] = [f"weights-{i:05d}-of-{len(shards):05d}.safetensors"
                             for i in range(1, len(shards) + 1)]
    elif isinstance(config["weights"], list):
        config["weights"] = "weights.safetensors"
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name, shard in zip(_weight_names(config), shards):
        save_file(shard, str(folder / name))
    metadata = dict(metadata or {})
    metadata["files"] = {name: _sha256(folder / name) for name in _file_names(config)}
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return folder


def _weight_names(config):
    """The weights' file names: one, or the list of shards."""
    w = config["weights"]
    return list(w) if isinstance(w, list) else [w]


def _file_names(config):
    names = ["config.json", *_weight_names(config), config["tokenizer"]["file"]]
    if config.get("vectors"):
        names += [config["vectors"]["file"], config["vectors"]["words"]]
    return names


def _config_files(folder, config):
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


def _expected_shapes(config):
    """The shape of each stored tensor (see :func:`lm_state_dict`) of an encoder of
    ``config``'s sizes, as :class:`~ulmfit_sklearn.models.awd_lstm.AWDLSTM` builds it."""
    vocab, emb, hidden, n_layers = (config[k] for k in ("vocab_size", "emb_size", "hidden_size",
                                                         "n_layers"))
    shapes = {"encoder.encoder.weight": (vocab, emb), "decoder.bias": (vocab,)}
    sizes = [emb] + [hidden] * (n_layers - 1) + [emb]
    for i in range(n_layers):
        n_in, n_out = sizes[i], sizes[i + 1]
        prefix = f"encoder.rnns.{i}.lstm."
        shapes.update({prefix + "weight_ih_l0": (4 * n_out, n_in),
                       prefix + "weight_hh_l0": (4 * n_out, n_out),
                       prefix + "bias_ih_l0": (4 * n_out,), prefix + "bias_hh_l0": (4 * n_out,)})
    return shapes


def check_weights(config, state_dict, where="encoder"):
    """Check that ``state_dict`` has exactly the tensors, of the shapes, that
    ``config``'s sizes imply; raise :class:`EncoderError` naming the first
    mismatch (so that it does not surface later inside ``load_state_dict``)."""
    for key in ("vocab_size", "emb_size", "hidden_size", "n_layers"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise EncoderError(f"{where}: {key} must be a positive int, got {value!r}")
    pad = config["pad_idx"]
    if isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad < config["vocab_size"]:
        raise EncoderError(f"{where}: pad_idx must be an int in [0, vocab_size="
                           f"{config['vocab_size']}), got {pad!r}")
    sizes = ", ".join(f"{k}={config[k]}" for k in ("vocab_size", "emb_size", "hidden_size",
                                                   "n_layers"))
    expected = _expected_shapes(config)
    missing = sorted(expected.keys() - state_dict.keys())
    if missing:
        raise EncoderError(f"{where}: the weights lack tensors {missing} that the config "
                           f"({sizes}) needs")
    extra = sorted(state_dict.keys() - expected.keys())
    if extra:
        raise EncoderError(f"{where}: the weights have tensors {extra} that the config "
                           f"({sizes}) does not describe")
    for name, shape in expected.items():
        actual = tuple(state_dict[name].shape)
        if actual != shape:
            raise EncoderError(f"{where}: tensor {name!r} has shape {actual}, but the config "
                               f"({sizes}) implies {shape}")


def _read_json(path):
    if not path.is_file():
        raise EncoderError(f"encoder file missing: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EncoderError(f"encoder file is not valid JSON: {path} ({exc})") from None


def new_words(encoder, texts, min_freq=2, max_vocab=60000):
    """Words of ``texts`` (after the rules) to add to a word-vocabulary encoder.

    Those seen at least ``min_freq`` times, and those seen at all that have a
    vector in ``encoder.vectors``, most frequent first, while the vocabulary stays
    within ``max_vocab`` entries.  SentencePiece encoders need none: [].
    """
    from collections import Counter

    from ..text import apply_rules

    tok = encoder.tokenizer
    if tok.kind != "word":
        return []
    has_vector = set(encoder.vectors[0]) if encoder.vectors is not None else set()
    counts = Counter(w for t in texts for w in apply_rules(t))
    room = max(0, max_vocab - tok.vocab_size)
    return [w for w, c in counts.most_common()
            if (c >= min_freq or w in has_vector) and w not in tok.stoi][:room]


def vector_map(encoder):
    """The least-squares affine map from word vectors to the encoder's embedding,
    fitted on the words that have both; None without vectors."""
    if encoder.vectors is None:
        return None
    words, matrix = encoder.vectors
    stoi = encoder.tokenizer.stoi
    pairs = [(stoi[w], i) for i, w in enumerate(words) if w in stoi]
    if len(pairs) <= matrix.shape[1]:
        return None  # too few shared words to fit the map
    ids, src = (list(t) for t in zip(*pairs))
    x = torch.cat([matrix[src].double(), torch.ones(len(src), 1, dtype=torch.float64)], 1)
    y = encoder.state_dict["encoder.encoder.weight"][ids].double()
    w = torch.linalg.lstsq(x, y).solution
    return lambda v: (torch.cat([v.double(), torch.ones(len(v), 1, dtype=torch.float64)], 1) @ w).float()


def extend_vocabulary(encoder, words):
    """The encoder with ``words`` appended to its word vocabulary.

    A new word with a vector in ``encoder.vectors`` gets that vector mapped into
    the embedding space (:func:`vector_map`); the others get the mean embedding,
    as fastai's ``match_embeds`` does.  All get the mean decoder bias.
    SentencePiece encoders, or no words, return the encoder unchanged.
    """
    from ..text import WordTokenizer

    tok = encoder.tokenizer
    words = [w for w in dict.fromkeys(words) if tok.kind == "word" and w not in tok.stoi]
    if not words:
        return encoder
    state = dict(encoder.state_dict)
    emb, bias = state["encoder.encoder.weight"], state["decoder.bias"]
    rows = emb.mean(0, keepdim=True).repeat(len(words), 1)
    mapping = vector_map(encoder)
    if mapping is not None:
        index = {w: i for i, w in enumerate(encoder.vectors[0])}
        known = [(j, index[w]) for j, w in enumerate(words) if w in index]
        if known:
            dst, src = (list(t) for t in zip(*known))
            rows[dst] = mapping(encoder.vectors[1][src])
    state["encoder.encoder.weight"] = torch.cat([emb, rows])
    state["decoder.bias"] = torch.cat([bias, bias.mean().repeat(len(words))])
    tokenizer = WordTokenizer(tok.itos + words)
    config = dict(encoder.config, vocab_size=tokenizer.vocab_size)
    return Encoder(config, state, tokenizer, encoder.metadata, encoder.path, encoder.vectors)


def nearest_vocabulary_words(encoder, batch_size=2048):
    """For each word of ``encoder.vectors`` outside its vocabulary, the id of the
    vocabulary word with the most similar vector (cosine), as ``{word: id}``.

    Empty without vectors or without a word vocabulary.  Kept for the last few
    saved encoders (by checksum and vocabulary size), since every fit from the
    same encoder asks again.
    """
    tok = encoder.tokenizer
    if encoder.vectors is None or tok.kind != "word":
        return {}
    key = encoder.sha256 and (encoder.sha256, tok.vocab_size)
    if key in _NEAREST:
        _NEAREST.move_to_end(key)
        return _NEAREST[key]
    words, matrix = encoder.vectors
    inside = [(i, tok.stoi[w]) for i, w in enumerate(words) if w in tok.stoi]
    outside = [i for i, w in enumerate(words) if w not in tok.stoi]
    nearest = {}
    if inside and outside:
        unit = torch.nn.functional.normalize(matrix.float(), dim=1)
        rows, ids = (list(t) for t in zip(*inside))
        known, ids = unit[rows].T.contiguous(), torch.tensor(ids)
        for start in range(0, len(outside), batch_size):
            chunk = outside[start:start + batch_size]
            best = ids[(unit[chunk] @ known).argmax(1)].tolist()
            nearest.update(zip((words[i] for i in chunk), best))
    if key:
        _NEAREST[key] = nearest
        while len(_NEAREST) > 4:
            _NEAREST.popitem(last=False)
    return nearest


_NEAREST = OrderedDict()


def alias_vector_words(encoder, nearest=None):
    """The encoder whose tokenizer reads the words of ``nearest`` (``{word: id}``;
    default :func:`nearest_vocabulary_words` of ``encoder``) that its vocabulary
    lacks as those ids.

    A classifier trains only its vocabulary's embedding rows; a word that only
    later texts have then reads as its nearest trained word, at the cost of a
    word-to-id table instead of an embedding row per vector word.  ``nearest``
    may come from the encoder before :func:`extend_vocabulary` (whose ids stay
    valid).  Encoders without vectors, or without a word vocabulary, return
    unchanged.
    """
    from ..text import WordTokenizer

    tok = encoder.tokenizer
    if encoder.vectors is None or tok.kind != "word":
        return encoder
    nearest = nearest_vocabulary_words(encoder) if nearest is None else nearest
    aliases = {w: i for w, i in nearest.items() if w not in tok.stoi}
    return Encoder(encoder.config, encoder.state_dict, WordTokenizer(tok.itos, aliases),
                   encoder.metadata, encoder.path, encoder.vectors)


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
    if config.get("architecture") == "bert" or config.get("model_type") == "bert":
        from .bert import load_bert_folder  # also reads the Hugging Face layout
        return load_bert_folder(folder, config)
    metadata = _read_json(folder / "metadata.json")
    if config.get("format_version") != FORMAT_VERSION:
        raise EncoderError(
            f"{folder / 'config.json'}: unsupported format_version "
            f"{config.get('format_version')!r} (this version reads {FORMAT_VERSION})")
    required = ("vocab_size", "emb_size", "hidden_size", "n_layers", "pad_idx", "tokenizer", "weights")
    missing = [k for k in required if k not in config]
    if missing:
        raise EncoderError(f"{folder / 'config.json'}: missing keys {missing}")
    paths = _config_files(folder, config)
    files = metadata.get("files", {})
    for name in _file_names(config):
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
        state = {k: v.float() for k, v in join_pieces({k: v for shard in shards
                                                        for k, v in shard.items()}).items()}
        vectors = None
        if config.get("vectors"):
            words = paths["vectors.words"].read_text(encoding="utf-8").split("\n")[:-1]
            matrix = load_file(str(paths["vectors.file"]))["vectors"].float()
            if len(words) != len(matrix):
                raise ValueError(f"{len(words)} words but {len(matrix)} vectors")
            vectors = (words, matrix)
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise EncoderError(f"cannot read encoder {folder}: {exc}") from None
    if tokenizer.vocab_size != config["vocab_size"]:
        raise EncoderError(f"{folder}: tokenizer has {tokenizer.vocab_size} entries, "
                           f"config says vocab_size={config['vocab_size']}")
    check_weights(config, state, where=str(folder / config["weights"]) if isinstance(
        config["weights"], str) else str(folder))
    return Encoder(config, state, tokenizer, metadata, str(folder), vectors)


DIRECTIONS = ("forward", "backward")


def direction_of(encoder):
    """Which way ``encoder``'s language model reads: "forward" or "backward"."""
    return encoder.config.get("direction", "forward")


def load_encoder(spec, direction=None):
    """Load an encoder from a bundled name, a folder path, or pass an Encoder through.

    A bare bundled name (a str without a path separator, such as
    ``"minilm-l6"``) always means the bundled encoder, even where the working
    directory holds a folder of that name: to load that folder, write a path
    (``"./minilm-l6"``, an absolute path, or a :class:`~pathlib.Path`).  Any
    other str is a folder path (a bare name that is not bundled: the folder of
    that name, if there is one).

    ``direction`` ("forward" or "backward"; None: whichever the folder holds) picks
    the language model that reads that way: the folder's own, or the one in its
    subfolder named after the direction (``backward/`` beside a forward model, as
    the paper's bidirectional pair).  A folder without it is an error.
    """
    if direction not in (None,) + DIRECTIONS:
        raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
    if isinstance(spec, Encoder):
        encoder = spec
    else:
        if spec == "default":
            spec = DEFAULT_ENCODER
        folder = Path(spec)
        if _is_bare_name(spec) and (spec in bundled_encoders() or not folder.exists()):
            folder = _named_folder(spec)  # Path("./x") is Path("x"): decided on the str
        if direction is not None and (folder / direction / "config.json").is_file():
            folder = folder / direction
        encoder = load_encoder_folder(folder)
    if direction is not None and direction_of(encoder) != direction:
        raise EncoderError(
            f"encoder {spec if not isinstance(spec, Encoder) else encoder.path!r} holds a "
            f"{direction_of(encoder)} language model and no {direction} one: put a "
            f"{direction} encoder folder in its subfolder {direction}/ ('ulmfit-sklearn "
            "pretrain --backward' trains a backward one)")
    return encoder
