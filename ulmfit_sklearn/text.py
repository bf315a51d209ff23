"""Text rules and tokenizers.

The rules are small pure functions in the spirit of fastai's ``fastai/text/core.py``:
they clean raw text and mark case and repetition with special tokens, so that the
vocabulary can stay lower-case.  A tokenizer turns the ruled text into token ids;
three kinds share one interface:

* :class:`SentencePieceTokenizer`: subword units (a unigram SentencePiece model);
* :class:`WordTokenizer`: a word vocabulary (as fastai's WT103 model uses);
* :class:`WordPieceTokenizer`: BERT's WordPiece, on the raw text (no rules).

Before the rules and any tokenizer, :func:`fix_surrogates` makes every text a valid
string (the estimators apply it to each text they read, whichever the tokenizer).

Tokenizers belong to an encoder (see :mod:`ulmfit_sklearn.encoders`): they are
saved into and loaded from the encoder's folder.  This module imports neither torch
nor scikit-learn.
"""

import html
import re
from collections import Counter
from pathlib import Path

import numpy as np

UNK, PAD, BOS, EOS, FLD = "xxunk", "xxpad", "xxbos", "xxeos", "xxfld"
TK_REP, TK_WREP, TK_UP, TK_MAJ = "xxrep", "xxwrep", "xxup", "xxmaj"
#: The special tokens, in the order that gives their ids in a word vocabulary.
SPECIAL_TOKENS = (UNK, PAD, BOS, EOS, FLD, TK_REP, TK_WREP, TK_UP, TK_MAJ)

# ---------------------------------------------------------------------------
# Code points: every text, before any tokenizer
# ---------------------------------------------------------------------------
_re_surrogate = re.compile("[\ud800-\udfff]")


def fix_surrogates(text):
    """Replace each lone surrogate by U+FFFD (the replacement character).

    Surrogates (U+D800 to U+DFFF) are the only code points that are not
    characters: no UTF-8 text holds one, but a Python string may (decoded with
    ``errors="surrogateescape"``, or cut out of UTF-16).  A high surrogate
    followed by a low one becomes the character the pair encodes in UTF-16;
    every other surrogate becomes ``"\ufffd"``.  Noncharacters (U+FFFE,
    U+FFFF, U+FDD0 to U+FDEF, ...) are valid code points and stay as they are.
    The estimators apply this to every text (see
    :func:`ulmfit_sklearn._base.validate_texts`), so both encoder families read
    the same string.
    """
    if text.isascii() or not _re_surrogate.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


# ---------------------------------------------------------------------------
# Pre-rules: on the raw string
# ---------------------------------------------------------------------------
_re_br = re.compile(r"<\s*br\s*/?>", re.IGNORECASE)
_re_tag = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
_re_spec = re.compile(r"([/#\\])")
_re_space = re.compile(r"\s{2,}")
_re_char_rep = re.compile(r"(\S)(\1{3,})")
_re_word_rep = re.compile(r"(?:\s|^)(\S+)((?:\s+\1){3,})(?=\s|$)")


def fix_html(text):
    """Undo HTML escapes and line-break tags, drop other tags, normalise quirks."""
    text = _re_br.sub("\n", text)
    text = html.unescape(text)
    text = _re_tag.sub(" ", text)
    return (
        text.replace("\xa0", " ")
        .replace("\u200b", "")
        .replace(" @.@ ", ".")
        .replace(" @,@ ", ",")
        .replace(" @-@ ", "-")
    )


def spec_add_spaces(text):
    """Put spaces around ``/``, ``#`` and ``\\``."""
    return _re_spec.sub(r" \1 ", text)


def replace_rep(text):
    """Replace four or more repeated characters: ``cccc`` -> ``xxrep 4 c``."""

    def _sub(m):
        char, rep = m.groups()
        return f" {TK_REP} {len(rep) + 1} {char} "

    return _re_char_rep.sub(_sub, text)


def replace_wrep(text):
    """Replace a word repeated four or more times: ``w w w w`` -> ``xxwrep 4 w``."""

    def _sub(m):
        word, rep = m.groups()
        return f" {TK_WREP} {len(rep.split()) + 1} {word} "

    return _re_word_rep.sub(_sub, text)


def rm_useless_spaces(text):
    """Collapse runs of white space into one space."""
    return _re_space.sub(" ", text)


# ---------------------------------------------------------------------------
# Post-rules: on a list of words
# ---------------------------------------------------------------------------
def replace_all_caps(words):
    """Lower-case ALL-CAPS words (longer than one letter) after an ``xxup`` mark."""
    out = []
    for w in words:
        if w.isupper() and sum(c.isalpha() for c in w) > 1:
            out += [TK_UP, w.lower()]
        else:
            out.append(w)
    return out


def replace_maj(words):
    """Lower-case Capitalised words after an ``xxmaj`` mark."""
    out = []
    for w in words:
        if len(w) >= 1 and w[0].isupper() and (len(w) == 1 or w[1:].islower()):
            out.append(TK_MAJ)
        out.append(w.lower())
    return out


_re_words = re.compile(r"xx\w+|n't\b|'\w+|\w+(?=n't\b)|\w+|[^\w\s]", re.UNICODE)


def split_words(text):
    """Split ruled text into words and punctuation (English contractions apart)."""
    return _re_words.findall(text)


PRE_RULES = (fix_html, replace_rep, replace_wrep, spec_add_spaces, rm_useless_spaces)
POST_RULES = (replace_all_caps, replace_maj)


def apply_rules(text, split=split_words):
    """Apply fastai's default rules to one document; return its list of words.

    The list starts with ``xxbos``.  Case is moved into ``xxmaj``/``xxup`` marks, so
    every word is lower-case (special tokens aside).  ``split`` cuts the cleaned
    text into words: punctuation apart (for a word vocabulary) or ``str.split``
    (white space only, for subword models that learn punctuation themselves).
    """
    for rule in PRE_RULES:
        text = rule(text)
    words = split(text.strip())
    for rule in POST_RULES:
        words = rule(words)
    return [BOS] + words


def ruled_text(text, split=split_words):
    """The document after the rules, as one space-joined string."""
    return " ".join(apply_rules(text, split))


# ---------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------
class WordTokenizer:
    """Token ids from a word vocabulary (unknown words map to ``xxunk``).

    Parameters
    ----------
    itos : sequence of str
        The vocabulary; ``itos[i]`` is the word of id ``i``.  It must hold the
        special tokens.
    aliases : dict of str to int, default=None
        Words outside the vocabulary read as the id of a vocabulary word (a
        fitted model maps words that only its vectors know to their nearest
        vocabulary word, see :func:`ulmfit_sklearn.encoders.vector_aliases`).
    """

    kind = "word"
    filename = "vocab.txt"
    aliases_filename = "vocab_aliases.txt"

    def __init__(self, itos, aliases=None):
        self.itos = list(itos)
        missing = [t for t in SPECIAL_TOKENS if t not in self.itos]
        if missing:
            raise ValueError(f"the vocabulary lacks the special tokens {missing}")
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("the vocabulary has duplicate entries")
        if any("\n" in w for w in self.itos) or any("\n" in w for w in (aliases or {})):
            raise ValueError("a vocabulary word contains a line break")
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.aliases = dict(aliases or {})
        if any(w in self.stoi for w in self.aliases):
            raise ValueError("an alias is a vocabulary word")
        if any(not 0 <= i < len(self.itos) for i in self.aliases.values()):
            raise ValueError("an alias points outside the vocabulary")

    @classmethod
    def train(cls, texts, max_vocab=30000, min_freq=2):
        """Build a vocabulary from texts (after the rules), most frequent words first."""
        counts = Counter(w for t in texts for w in apply_rules(t))
        words = [w for w, c in counts.most_common() if c >= min_freq and w not in SPECIAL_TOKENS]
        return cls(list(SPECIAL_TOKENS) + words[: max(0, max_vocab - len(SPECIAL_TOKENS))])

    @property
    def vocab_size(self):
        return len(self.itos)

    @property
    def pad_id(self):
        return self.stoi[PAD]

    def encode_words(self, words):
        unk, stoi, aliases = self.stoi[UNK], self.stoi, self.aliases
        ids = (stoi[w] if w in stoi else aliases.get(w, unk) for w in words)
        return np.fromiter(ids, dtype=np.int32, count=len(words))

    def encode(self, text):
        """Token ids (int32 array) of one raw document."""
        return self.encode_words(apply_rules(text))

    def decode(self, ids):
        return " ".join(self.itos[int(i)] for i in ids)

    def save(self, folder):
        """Write ``vocab.txt`` (a word a line) into ``folder``, and the aliases,
        if any, beside it (``word<TAB>id`` lines); returns the vocabulary's name."""
        path = Path(folder) / self.filename
        path.write_text("\n".join(self.itos) + "\n", encoding="utf-8", errors="surrogatepass")
        if self.aliases:
            (path.parent / self.aliases_filename).write_text(
                "".join(f"{w}\t{i}\n" for w, i in self.aliases.items()), encoding="utf-8",
                errors="surrogatepass")
        return path.name

    @classmethod
    def load(cls, path):
        path = Path(path)
        itos = path.read_text(encoding="utf-8", errors="surrogatepass").split("\n")
        if itos and itos[-1] == "":
            itos.pop()
        aliases = {}
        if (path.parent / cls.aliases_filename).is_file():
            text = (path.parent / cls.aliases_filename).read_text(encoding="utf-8",
                                                                  errors="surrogatepass")
            for line in text.split("\n")[:-1]:
                word, _, i = line.rpartition("\t")
                aliases[word] = int(i)
        return cls(itos, aliases)


class SentencePieceTokenizer:
    """Token ids from a SentencePiece model applied to the ruled text.

    The special tokens are user-defined symbols of the model, so ``xxmaj`` and
    friends are single ids; ``xxunk`` and ``xxpad`` are its unknown and padding
    pieces.  The instance pickles as the serialized model.

    Parameters
    ----------
    model_proto : bytes
        The serialized SentencePiece model.
    """

    kind = "sentencepiece"
    filename = "tokenizer.model"

    def __init__(self, model_proto):
        import sentencepiece as spm

        self.model_proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        for tok in SPECIAL_TOKENS:
            if self._sp.piece_to_id(tok) == self._sp.unk_id() and tok != UNK:
                raise ValueError(f"the SentencePiece model lacks the special token {tok!r}")
        self._special = {t: self._sp.piece_to_id(t) for t in SPECIAL_TOKENS}

    def __getstate__(self):
        return {"model_proto": self.model_proto}

    def __setstate__(self, state):
        self.__init__(state["model_proto"])

    @classmethod
    def train(cls, texts, vocab_size=8000, max_sentence_length=20000, seed_sentences=None):
        """Train a unigram model on texts (after the rules)."""
        import io

        import sentencepiece as spm

        out = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=(ruled_text(t, str.split) for t in texts),
            model_writer=out,
            model_type="unigram",
            vocab_size=vocab_size,
            character_coverage=0.9999,
            unk_piece=UNK,
            pad_piece=PAD,
            unk_id=0,
            pad_id=1,
            bos_id=-1,
            eos_id=-1,
            user_defined_symbols=[t for t in SPECIAL_TOKENS if t not in (UNK, PAD)],
            max_sentence_length=max_sentence_length,
            input_sentence_size=seed_sentences or 0,
            shuffle_input_sentence=True,
            hard_vocab_limit=False,
            num_threads=2,
            minloglevel=2,
        )
        return cls(out.getvalue())

    @property
    def vocab_size(self):
        return self._sp.get_piece_size()

    @property
    def pad_id(self):
        return self._sp.pad_id()

    @property
    def itos(self):
        return [self._sp.id_to_piece(i) for i in range(self.vocab_size)]

    def encode(self, text):
        """Token ids (int32 array) of one raw document.

        Special tokens map straight to their ids and the words between them go
        through SentencePiece, so no word-boundary piece is spent on a special token.
        """
        special = self._special
        segments, current = [], []
        for w in apply_rules(text, str.split):
            if w in special:
                if current:
                    segments.append(" ".join(current))
                    current = []
                segments.append(w)
            else:
                current.append(w)
        if current:
            segments.append(" ".join(current))
        pieces = iter(self._sp.encode([s for s in segments if s not in special]))
        ids = []
        for s in segments:
            if s in special:
                ids.append(special[s])
            else:
                ids.extend(next(pieces))
        return np.asarray(ids, dtype=np.int32)

    def decode(self, ids):
        return self._sp.decode([int(i) for i in ids])

    def save(self, folder):
        path = Path(folder) / self.filename
        path.write_bytes(self.model_proto)
        return path.name

    @classmethod
    def load(cls, path):
        return cls(Path(path).read_bytes())


class WordPieceTokenizer:
    """Token ids from a Hugging Face ``tokenizers`` model: BERT's WordPiece.

    Unlike the other tokenizers, no fastai rule is applied: the raw text goes to
    the tokenizer's own normalizer (BERT's cleans, lower-cases and strips accents)
    and pre-tokenizer, as in pretraining.  A document comes out as
    ``[CLS] ... [SEP]``, neither truncated nor padded (a long one is read in
    windows, see :func:`ulmfit_sklearn.models.heads.window_pool`).  The instance
    pickles as the serialized tokenizer.

    Parameters
    ----------
    json_str : str
        The serialized tokenizer (the contents of a ``tokenizer.json``).
    """

    kind = "wordpiece"
    filename = "tokenizer.json"
    special_tokens = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")

    def __init__(self, json_str):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_str(json_str)
        self._tok.no_truncation()
        self._tok.no_padding()
        self.json_str = self._tok.to_str()
        missing = [t for t in self.special_tokens if self._tok.token_to_id(t) is None]
        if missing:
            raise ValueError(f"the tokenizer lacks the special tokens {missing}")
        ids = self._tok.encode("a").ids
        if ids[0] != self.cls_id or ids[-1] != self.sep_id:
            raise ValueError("the tokenizer does not frame a document as [CLS] ... [SEP]")

    def __getstate__(self):
        return {"json_str": self.json_str}

    def __setstate__(self, state):
        self.__init__(state["json_str"])

    @property
    def vocab_size(self):
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def pad_id(self):
        return self._tok.token_to_id("[PAD]")

    @property
    def cls_id(self):
        return self._tok.token_to_id("[CLS]")

    @property
    def sep_id(self):
        return self._tok.token_to_id("[SEP]")

    @property
    def mask_id(self):
        """Id of ``[MASK]`` (masked-LM fine-tuning needs it)."""
        mask = self._tok.token_to_id("[MASK]")
        if mask is None:
            raise ValueError("the tokenizer has no [MASK] token: no masked-LM fine-tuning")
        return mask

    @property
    def special_ids(self):
        """Ids of the special tokens (never masked, never a random replacement)."""
        ids = (self._tok.token_to_id(t) for t in self.special_tokens + ("[MASK]",))
        return sorted(i for i in ids if i is not None)

    @property
    def itos(self):
        return [self._tok.id_to_token(i) for i in range(self.vocab_size)]

    def encode(self, text):
        """Token ids (int32 array) of one raw document, ``[CLS] ... [SEP]``."""
        return np.asarray(self._tok.encode(text).ids, dtype=np.int32)

    def encode_batch(self, texts):
        """Token ids of each raw document (encoded in parallel threads)."""
        return [np.asarray(e.ids, dtype=np.int32) for e in self._tok.encode_batch(list(texts))]

    def decode(self, ids):
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def save(self, folder):
        path = Path(folder) / self.filename
        path.write_text(self.json_str, encoding="utf-8")
        return path.name

    @classmethod
    def load(cls, path):
        return cls(Path(path).read_text(encoding="utf-8"))


TOKENIZERS = {cls.kind: cls for cls in (WordTokenizer, SentencePieceTokenizer, WordPieceTokenizer)}


def encode_texts(tokenizer, texts):
    """Token ids of each text, as a list of int32 arrays (in one batched call if
    the tokenizer has ``encode_batch``)."""
    if hasattr(tokenizer, "encode_batch"):
        return tokenizer.encode_batch(texts)
    return [tokenizer.encode(t) for t in texts]
