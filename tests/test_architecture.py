"""The package's shape (issue 33): imports form no circle and go down the layers, no
module outside an encoder family's own files branches on the architecture, and every
public import path of before the reorganisation still works."""

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ulmfit_sklearn"

#: The layers, bottom up: a module imports modules of its own layer or below (a name
#: ending in "." stands for a package's modules).
LAYERS = [
    ("exceptions", "_version"),
    ("_compat", "_docs", "text", "datasets"),
    ("models", "models."),
    ("training", "training."),
    ("families", "families."),
    ("encoders", "encoders."),
    ("persistence", "pretraining", "pretraining."),
    ("_base",),
    ("classifier", "regressor", "vectorizer"),
    ("diagnostics", "baselines"),
    # entry points, and the old homes kept so that old imports work
    ("", "__main__", "cli", "modules", "transformer", "pretrain"),
]
#: The files of an encoder family: the only ones that may name an architecture.
FAMILY_FILES = ("families/", "models/awd_lstm.py", "models/bert.py", "encoders/awd_lstm.py",
                "encoders/bert.py", "encoders/fastai.py", "pretraining/awd_lstm.py",
                "pretraining/mlm_head.py")
ARCHITECTURES = {"awd_lstm", "bert"}


def _modules():
    """Dotted name (within the package; "" for the package itself) -> source file."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph():
    """Module -> the package's modules it imports, anywhere in it (inside functions
    too); ``from package import name`` counts as an import of the submodule where
    ``name`` is one, else of the package."""
    modules, graph = _modules(), {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = [p for p in package if p]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {a.name.removeprefix("ulmfit_sklearn").lstrip(".") for a in node.names
                         if a.name.split(".")[0] == "ulmfit_sklearn"}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                    target = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").split(".")[0] == "ulmfit_sklearn":
                    target = node.module.removeprefix("ulmfit_sklearn").lstrip(".")
                else:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}".lstrip(".")
                    deps.add(sub if sub in modules else target)
        graph[name] = deps - {name}
    return graph


def _layer(module):
    for i, names in enumerate(LAYERS):
        for name in names:
            if module == name or (name.endswith(".") and module.startswith(name)):
                return i
    raise AssertionError(f"module {module!r} is in no layer of test_architecture.LAYERS")


def test_the_import_graph_is_read_from_every_module():
    graph = import_graph()
    assert {"", "_base", "families.bert", "encoders.format", "models.heads"} <= set(graph)
    assert "encoders.format" in graph["_base"] and "families" in graph["encoders.format"]
    assert graph["exceptions"] == set()


def test_no_import_circle():
    """Tarjan's strongly connected components of the import graph: all single."""
    graph = import_graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_imports_go_down_the_layers():
    graph = import_graph()
    upward = sorted((m, d) for m, deps in graph.items() for d in deps if _layer(d) > _layer(m))
    assert upward == []
    assert graph["exceptions"] == set()  # a leaf
    for module, deps in graph.items():  # the networks train nowhere, the stages fit nothing
        if module.startswith("models"):
            assert not {d for d in deps if not d.startswith("models")}, module
        if module.startswith("training"):
            assert not {d for d in deps if _layer(d) >= _layer("_base")}, module


def _branches_on_architecture(path):
    """Where ``path`` names an architecture in code: a string constant that is an
    architecture's name, a comparison with an ``architecture``, an isinstance check
    against a class of a family's networks."""
    family_classes = set()
    for file in ("models/awd_lstm.py", "models/bert.py", "models/heads.py"):
        for node in ast.parse((PACKAGE / file).read_text()).body:
            if isinstance(node, ast.ClassDef):
                family_classes.add(node.name)
            elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Name)
                  and node.value.id in family_classes):  # an old name of a class
                family_classes |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    family_classes -= {"PoolingHead"}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and node.value in ARCHITECTURES:
            found.append((node.lineno, repr(node.value)))
        elif isinstance(node, ast.Compare) and "architecture" in ast.dump(node):
            found.append((node.lineno, "compares an architecture"))
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance"
              and len(node.args) == 2):
            names = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", None)
                     for n in ast.walk(node.args[1])}
            if names & family_classes:
                found.append((node.lineno, f"isinstance against {sorted(names & family_classes)}"))
    return found


def test_no_module_outside_a_family_branches_on_the_architecture():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if not rel.startswith(FAMILY_FILES) and _branches_on_architecture(path):
            found[rel] = _branches_on_architecture(path)
    assert found == {}


def test_the_architecture_check_finds_what_it_looks_for(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('if enc.architecture == "bert":\n    pass\n'
                     'ok = isinstance(m, WindowPoolEncoder)\nname = "awd_lstm"\n')
    assert sorted(line for line, _ in _branches_on_architecture(probe)) == [1, 1, 3, 4]


#: The import paths that tests, docs, examples and benchmarks used before the
#: reorganisation (issue 33), module: names.
PUBLIC = {
    "ulmfit_sklearn": "ULMFiTClassifier ULMFiTRegressor ULMFiTVectorizer load __version__ "
                      "_base _compat baselines encoders persistence",
    "ulmfit_sklearn._base": "InconsistentVersionWarning AUTO_LR AUTO_LM_LR MIN_LAST_STAGE_STEPS "
                            "finetune_encoder train_classifier alias_vector_words ULMFiTBase "
                            "validate_texts",
    "ulmfit_sklearn._compat": "Interval InvalidParameterError StrOptions SKLEARN_MIN_VERSION "
                              "check_score_weight",
    "ulmfit_sklearn.baselines": "FineTuneClassifier embedding_logreg tfidf_logreg",
    "ulmfit_sklearn.classifier": "ULMFiTClassifier",
    "ulmfit_sklearn.regressor": "ULMFiTRegressor",
    "ulmfit_sklearn.vectorizer": "ULMFiTVectorizer",
    "ulmfit_sklearn.cli": "main",
    "ulmfit_sklearn.datasets": "IMDB_URL load_imdb load_texts load_trec6_sample open_text",
    "ulmfit_sklearn.diagnostics": "LRFinderResult lr_find plot_history smooth_losses",
    "ulmfit_sklearn.encoders": "AWD_LSTM_ENCODER BUNDLED_DIR DEFAULT_ENCODER EncoderError Encoder "
                               "_sha256 _NEAREST alias_vector_words bert bundled_encoders "
                               "extend_vocabulary join_pieces load_encoder load_encoder_folder "
                               "make_config nearest_vocabulary_words new_words random_encoder "
                               "save_encoder shard_tensors vector_map lm_state_dict DIRECTIONS "
                               "direction_of check_weights FORMAT_VERSION DEFAULT_SHAPE",
    "ulmfit_sklearn.encoders.bert": "SCALE_SUFFIX MINILM_SOURCE build_minilm check_bert_weights "
                                    "convert_hf_bert rename_hf_state_dict load_bert_folder "
                                    "save_bert_encoder build_bert build_bert_mlm bert_state_dict "
                                    "config_from_hf quantize_rows dequantize_rows MLM_PREFIX",
    "ulmfit_sklearn.encoders.fastai": "load_itos convert_state_dict load_fastai_encoder",
    "ulmfit_sklearn.modules": "AWDLSTM CLAS_DROPOUT LM_DROPOUT LanguageModel LockedDropout "
                              "PoolingHead SequenceClassifier WeightDropLSTM bpt3c_pool "
                              "embedding_dropout scaled_dropout ConcatPoolEncoder detach_state "
                              "masked_concat_pool",
    "ulmfit_sklearn.transformer": "BertClassifier BertEncoder IGNORE_INDEX WindowPoolEncoder "
                                  "window_pool BertMaskedLM MaskedLMHead CHECKPOINT_TOKENS "
                                  "POOLINGS document_windows",
    "ulmfit_sklearn.persistence": "ModelFileError save load safetensors_header _build_network",
    "ulmfit_sklearn.pretrain": "checkpoint_epochs evaluate_perplexity init_embedding main "
                               "pretrain read_paragraphs read_vectors train_mlm_head "
                               "vector_vocabulary mlm_head_main EpochLine",
    "ulmfit_sklearn.text": "BOS PAD SPECIAL_TOKENS SentencePieceTokenizer TK_MAJ TK_REP TK_UP "
                           "TK_WREP TOKENIZERS UNK WordPieceTokenizer WordTokenizer apply_rules "
                           "encode_texts fix_html fix_surrogates replace_rep replace_wrep",
    "ulmfit_sklearn.training": "nets numerics stages",
    "ulmfit_sklearn.training.batching": "DocumentBatches DocumentDataset LMStreamBatches "
                                        "MaskedWindowBatches TokenStream bptt_lengths "
                                        "framed_windows pad_batch token_batches "
                                        "training_batch_count",
    "ulmfit_sklearn.training.callbacks": "StagedSTLR gradual_unfreezing_callbacks stlr_callback "
                                         "stlr_multiplier",
    "ulmfit_sklearn.training.nets": "ClassifierNet LanguageModelNet batch_inclusion_log_q "
                                    "discriminative_param_groups",
    "ulmfit_sklearn.training.numerics": "flush_denormals native_bf16 set_flush_denormal",
    "ulmfit_sklearn.training.stages": "finetune_language_model last_stage_epochs "
                                      "make_classifier_net make_inference_net make_lm_net "
                                      "stage_lr_factors",
}


def _importable(module, name):
    """Whether ``from module import name`` works."""
    mod = importlib.import_module(module)
    if hasattr(mod, name):
        return True
    try:  # a submodule not imported yet
        importlib.import_module(f"{module}.{name}")
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_import_path_of_before_still_works(module):
    assert [name for name in PUBLIC[module].split() if not _importable(module, name)] == []


def test_the_old_homes_hold_the_same_objects():
    from ulmfit_sklearn import _base, exceptions, modules, persistence, pretrain, transformer
    from ulmfit_sklearn.encoders import EncoderError
    from ulmfit_sklearn.models import awd_lstm, bert, heads
    from ulmfit_sklearn.pretraining import awd_lstm as pretraining_awd_lstm

    assert _base.InconsistentVersionWarning is exceptions.InconsistentVersionWarning
    assert persistence.ModelFileError is exceptions.ModelFileError
    assert EncoderError is exceptions.EncoderError
    assert modules.AWDLSTM is awd_lstm.AWDLSTM and modules.SequenceClassifier is heads.SequenceClassifier
    assert transformer.BertEncoder is bert.BertEncoder and transformer.window_pool is heads.window_pool
    assert pretrain.pretrain is pretraining_awd_lstm.pretrain
