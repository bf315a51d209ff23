"""Growing an encoder's word vocabulary to the target texts.

An encoder with a word vocabulary (fastai's rules, then whole words: the AWD-LSTM's
``modern-glove``) learns an embedding row for each word of the training texts that
it lacks (:func:`new_words`, :func:`extend_vocabulary`): the mean embedding, as
fastai's ``match_embeds`` gives, or, for a word that the folder's word vectors
cover, its vector mapped into the embedding space (:func:`vector_map`).  A word
that only later texts have reads as its nearest vocabulary word by those vectors
(:func:`nearest_vocabulary_words`, :func:`alias_vector_words`).

Which tensors grow is the family's
(:attr:`~ulmfit_sklearn.families.base.EncoderFamily.word_embedding` and
``output_bias``); an encoder without a word vocabulary (SentencePiece, WordPiece)
is left as it is.
"""

from collections import Counter, OrderedDict
from dataclasses import replace

import torch

from ..text import WordTokenizer, apply_rules


def _grows(encoder):
    """Whether ``encoder`` has a word vocabulary that grows."""
    return encoder.tokenizer.kind == "word" and encoder.family.word_embedding is not None


def new_words(encoder, texts, min_freq=2, max_vocab=60000):
    """Words of ``texts`` (after the rules) to add to a word-vocabulary encoder.

    Those seen at least ``min_freq`` times, and those seen at all that have a
    vector in ``encoder.vectors``, most frequent first, while the vocabulary stays
    within ``max_vocab`` entries.  SentencePiece encoders need none: [].
    """
    tok = encoder.tokenizer
    if not _grows(encoder):
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
    y = encoder.state_dict[encoder.family.word_embedding][ids].double()
    w = torch.linalg.lstsq(x, y).solution
    return lambda v: (torch.cat([v.double(), torch.ones(len(v), 1, dtype=torch.float64)], 1) @ w).float()


def extend_vocabulary(encoder, words):
    """The encoder with ``words`` appended to its word vocabulary.

    A new word with a vector in ``encoder.vectors`` gets that vector mapped into
    the embedding space (:func:`vector_map`); the others get the mean embedding,
    as fastai's ``match_embeds`` does.  All get the mean decoder bias.
    SentencePiece encoders, or no words, return the encoder unchanged.
    """
    tok, family = encoder.tokenizer, encoder.family
    words = [w for w in dict.fromkeys(words) if _grows(encoder) and w not in tok.stoi]
    if not words:
        return encoder
    state = dict(encoder.state_dict)
    emb, bias = state[family.word_embedding], state[family.output_bias]
    rows = emb.mean(0, keepdim=True).repeat(len(words), 1)
    mapping = vector_map(encoder)
    if mapping is not None:
        index = {w: i for i, w in enumerate(encoder.vectors[0])}
        known = [(j, index[w]) for j, w in enumerate(words) if w in index]
        if known:
            dst, src = (list(t) for t in zip(*known))
            rows[dst] = mapping(encoder.vectors[1][src])
    state[family.word_embedding] = torch.cat([emb, rows])
    state[family.output_bias] = torch.cat([bias, bias.mean().repeat(len(words))])
    tokenizer = WordTokenizer(tok.itos + words)
    return replace(encoder, config=dict(encoder.config, vocab_size=tokenizer.vocab_size),
                   state_dict=state, tokenizer=tokenizer)


def nearest_vocabulary_words(encoder, batch_size=2048):
    """For each word of ``encoder.vectors`` outside its vocabulary, the id of the
    vocabulary word with the most similar vector (cosine), as ``{word: id}``.

    Empty without vectors or without a word vocabulary.  Kept for the last few
    saved encoders (by checksum and vocabulary size), since every fit from the
    same encoder asks again.
    """
    tok = encoder.tokenizer
    if encoder.vectors is None or not _grows(encoder):
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
    tok = encoder.tokenizer
    if encoder.vectors is None or not _grows(encoder):
        return encoder
    nearest = nearest_vocabulary_words(encoder) if nearest is None else nearest
    aliases = {w: i for w, i in nearest.items() if w not in tok.stoi}
    return replace(encoder, tokenizer=WordTokenizer(tok.itos, aliases))
