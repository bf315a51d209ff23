"""Reference outputs of all-MiniLM-L6-v2, run by Hugging Face transformers.

Runs the original checkpoint (a folder in the Hugging Face layout: ``config.json``,
``model.safetensors``, ``tokenizer.json``) on a few sentences, in one padded batch,
and writes tests/data/minilm_reference.json: per sentence the token ids, the first
8 values of the last hidden states at 3 positions (first, middle, last token) and
the first 16 values of the sentence embedding as sentence-transformers computes it
(mean over the tokens, L2-normalised).  Everything twice: with the checkpoint's
fp32 weights (``fp32``) and with the weights rounded to fp16 (``fp16_weights``), as
the converted encoder folder stores them.  tests/test_bert.py checks
:class:`ulmfit_sklearn.transformer.BertEncoder` against it.

transformers is not a dependency of the package; install it apart and put it on
the path (it uses the installed torch, tokenizers and safetensors):

    pip install --no-deps --target /tmp/hf transformers==5.24.0 regex typer ...
    PYTHONPATH=/tmp/hf python benchmarks/minilm_reference.py /work/runs/minilm-src
"""

import argparse
import hashlib
import json
import platform
import re
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "minilm_reference.json"
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "ULMFiT fine-tunes a pretrained language model, then a classifier: it works with 100 labels!",
    "Café déjà vu: a naïve résumé of the STRANGE things in Zürich.",
    "Short.",
    "Universal language model fine-tuning reads a document with a recurrent network and pools "
    "its states; a transformer reads it in windows of at most five hundred and twelve word "
    "pieces, each framed by the classification and separator tokens, and the pooled states of "
    "all windows describe the whole review, however long it is.",
]


def reference(model, batch):
    """Per sentence: hidden-state slices at 3 positions and the sentence embedding's head."""
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    embedding = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)
    rows = []
    for i, n in enumerate(batch["attention_mask"].sum(1).tolist()):
        positions = [0, n // 2, n - 1]
        rows.append({"positions": positions,
                     "hidden": [hidden[i, p, :8].tolist() for p in positions],
                     "embedding": embedding[i, :16].tolist()})
    return rows


def main():
    import tokenizers
    import transformers
    from transformers import AutoTokenizer, BertModel

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="the checkpoint's folder (Hugging Face layout)")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(a.source)
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=512,
                      return_tensors="pt")
    model = BertModel.from_pretrained(a.source, attn_implementation="eager").eval()
    fp32 = reference(model, batch)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.half().float())
    fp16 = reference(model, batch)
    weights = (a.source / "model.safetensors").read_bytes()
    result = {
        "what": "all-MiniLM-L6-v2 (sentence-transformers/all-MiniLM-L6-v2) run by Hugging Face "
                "BertModel (eager attention, fp32, CPU) on SENTENCES in one padded batch",
        "made_by": "benchmarks/minilm_reference.py",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "tokenizers": tokenizers.__version__, "python": platform.python_version()},
        "source_sha256": {"model.safetensors": hashlib.sha256(weights).hexdigest()},
        "sentences": [
            {"text": text, "ids": ids[:n], "fp32": r32, "fp16_weights": r16}
            for text, ids, n, r32, r16 in zip(SENTENCES, batch["input_ids"].tolist(),
                                              batch["attention_mask"].sum(1).tolist(), fp32, fp16)
        ],
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    one_line = lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]"  # noqa: E731
    text = re.sub(r"\[\s+([-+\d.e,\s]+?)\s+\]", one_line, json.dumps(result, indent=1))
    a.out.write_text(text + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
