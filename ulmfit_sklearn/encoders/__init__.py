"""Pretrained encoders: the bundled ones, loading, and the encoder folder.

``load_encoder(spec)`` takes the name of a bundled encoder (a folder beside this
file; a bare bundled name never means a folder of the working directory), a path
to an encoder folder, or an :class:`Encoder`; ``load_encoder(spec, "backward")``
the language model that reads right to left (a ``backward/`` subfolder).  A folder
is read as:

* an encoder folder (:mod:`~ulmfit_sklearn.encoders.format`, which documents its
  files and checks), of any encoder family (:mod:`ulmfit_sklearn.families`);
* fastai's AWD-LSTM files (``*.pth`` and ``itos*.pkl``,
  :mod:`~ulmfit_sklearn.encoders.fastai`), converted in memory;
* a Hugging Face BERT (``config.json`` with a ``model_type``,
  :mod:`~ulmfit_sklearn.encoders.bert`), converted in memory.

One module per family writes and converts its folders
(:mod:`~ulmfit_sklearn.encoders.awd_lstm`, :mod:`~ulmfit_sklearn.encoders.bert`);
:mod:`~ulmfit_sklearn.encoders.vocabulary` grows a word vocabulary to the target
texts.  Nothing here touches the network: that is the family's business.
"""

from pathlib import Path

from ..exceptions import EncoderError
from .awd_lstm import DEFAULT_SHAPE, check_weights, lm_state_dict, make_config, random_encoder
from .bert import is_hugging_face_folder, load_hugging_face_folder
from .fastai import find_fastai_files, load_fastai_encoder
from .format import _sha256  # noqa: F401  (where old code found it)
from .format import (DIRECTIONS, FORMAT_VERSION, Encoder, join_pieces, read_encoder_folder,
                     save_encoder, shard_tensors)
from .vocabulary import _NEAREST  # noqa: F401  (the cache, which tests clear)
from .vocabulary import (alias_vector_words, extend_vocabulary, nearest_vocabulary_words,
                         new_words, vector_map)

BUNDLED_DIR = Path(__file__).parent
#: The bundled AWD-LSTM (the paper's encoder family), whose shape and tokenizer
#: ``pretrained=None`` (the "no pretraining" ablation) initialises at random.
AWD_LSTM_ENCODER = "modern-glove"
#: Name of the encoder that ``pretrained="default"`` (the estimators' default) loads:
#: all-MiniLM-L6-v2, more accurate than the AWD-LSTM on every benchmark set and
#: within the 10 minutes on 2 cores that a default may take for 1,000 IMDb reviews
#: (docs/encoders.md, "Which encoder is the default").
DEFAULT_ENCODER = "minilm-l6"
#: Names that stand for a bundled encoder: ``"default"`` and ``"awd-lstm"`` (the
#: paper's family, the default until MiniLM became it).
ALIASES = {"default": DEFAULT_ENCODER, "awd-lstm": AWD_LSTM_ENCODER}

__all__ = ["ALIASES", "AWD_LSTM_ENCODER", "BUNDLED_DIR", "DEFAULT_ENCODER", "DEFAULT_SHAPE", "DIRECTIONS",
           "Encoder", "EncoderError", "FORMAT_VERSION", "alias_vector_words", "bundled_encoders",
           "check_weights", "direction_of", "extend_vocabulary", "join_pieces", "lm_state_dict",
           "load_encoder", "load_encoder_folder", "make_config", "nearest_vocabulary_words",
           "new_words", "random_encoder", "save_encoder", "shard_tensors", "vector_map"]


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


def load_encoder_folder(folder):
    """Load and verify an encoder folder, or convert fastai's or Hugging Face's files
    found in it (see the module's docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EncoderError(f"encoder folder not found: {folder}")
    if not (folder / "config.json").exists() and find_fastai_files(folder):
        try:
            return load_fastai_encoder(folder)
        except ValueError as exc:
            raise EncoderError(str(exc)) from None
    if is_hugging_face_folder(folder):
        return load_hugging_face_folder(folder)
    return read_encoder_folder(folder)


def direction_of(encoder):
    """Which way ``encoder``'s language model reads (its
    :attr:`~Encoder.direction`): "forward" or "backward"."""
    return encoder.direction


def load_encoder(spec, direction=None):
    """Load an encoder from a bundled name, a folder path, or pass an Encoder through.

    A bare bundled name (a str without a path separator, such as
    ``"minilm-l6"``) always means the bundled encoder, even where the working
    directory holds a folder of that name: to load that folder, write a path
    (``"./minilm-l6"``, an absolute path, or a :class:`~pathlib.Path`).  Any
    other str is a folder path (a bare name that is not bundled: the folder of
    that name, if there is one).  ``"default"`` is :data:`DEFAULT_ENCODER`
    (``"minilm-l6"``) and ``"awd-lstm"`` the bundled AWD-LSTM (``"modern-glove"``).

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
        if isinstance(spec, str) and spec in ALIASES:
            spec = ALIASES[spec]
        folder = Path(spec)
        if _is_bare_name(spec) and (spec in bundled_encoders() or not folder.exists()):
            folder = _named_folder(spec)  # Path("./x") is Path("x"): decided on the str
        if direction is not None and (folder / direction / "config.json").is_file():
            folder = folder / direction
        encoder = load_encoder_folder(folder)
    if direction is not None and encoder.direction != direction:
        raise EncoderError(
            f"encoder {spec if not isinstance(spec, Encoder) else encoder.path!r} holds a "
            f"{encoder.direction} language model and no {direction} one: put a "
            f"{direction} encoder folder in its subfolder {direction}/ ('ulmfit-sklearn "
            "pretrain --backward' trains a backward one)")
    return encoder
