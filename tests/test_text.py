import pickle

import numpy as np
import pytest

from ulmfit_sklearn.text import (BOS, PAD, SPECIAL_TOKENS, TK_MAJ, TK_REP, TK_UP, TK_WREP, UNK,
                                 SentencePieceTokenizer, WordTokenizer, apply_rules, fix_html,
                                 fix_surrogates, replace_rep, replace_wrep)


def test_rules_mark_case_and_start_with_bos():
    words = apply_rules("This is GREAT news")
    assert words == [BOS, TK_MAJ, "this", "is", TK_UP, "great", "news"]


def test_html_fixes():
    assert "\n" in fix_html("one<br />two")
    assert fix_html("a &amp; b") == "a & b"
    assert "<i>" not in fix_html("an <i>italic</i> word")


def test_repetition_rules():
    assert f"{TK_REP} 5 !" in replace_rep("wow!!!!!")
    assert f"{TK_WREP} 4 very" in replace_wrep("it is very very very very good")


def test_contractions_split():
    words = apply_rules("I don't know")
    assert "n't" in words and "do" in words


def test_word_tokenizer_roundtrip(tmp_path):
    tok = WordTokenizer.train(["the cat sat", "the dog sat"], min_freq=1)
    assert list(tok.itos[: len(SPECIAL_TOKENS)]) == list(SPECIAL_TOKENS)
    ids = tok.encode("The zebra sat")
    assert ids[0] == tok.stoi[BOS]
    assert tok.stoi[UNK] in ids  # "zebra" is unknown
    assert tok.pad_id == tok.stoi[PAD]
    tok.save(tmp_path)
    again = WordTokenizer.load(tmp_path / WordTokenizer.filename)
    assert again.itos == tok.itos
    np.testing.assert_array_equal(again.encode("The zebra sat"), ids)


def test_word_tokenizer_aliases_read_as_their_word_and_roundtrip(tmp_path):
    base = WordTokenizer.train(["the cat sat", "the dog sat"], min_freq=1)
    tok = WordTokenizer(base.itos, {"kitten": base.stoi["cat"], "odd\u2028word": 3})
    assert list(tok.encode_words(["kitten", "dog", "zebra"])) == \
        [base.stoi["cat"], base.stoi["dog"], base.stoi[UNK]]
    assert tok.vocab_size == base.vocab_size  # aliases add no ids
    tok.save(tmp_path)
    again = WordTokenizer.load(tmp_path / WordTokenizer.filename)
    assert again.aliases == tok.aliases and again.itos == tok.itos
    (tmp_path / "plain").mkdir()
    base.save(tmp_path / "plain")
    assert not (tmp_path / "plain" / WordTokenizer.aliases_filename).exists()
    with pytest.raises(ValueError, match="vocabulary word"):
        WordTokenizer(base.itos, {"cat": 0})
    with pytest.raises(ValueError, match="outside"):
        WordTokenizer(base.itos, {"kitten": base.vocab_size})


def test_word_tokenizer_needs_special_tokens():
    with pytest.raises(ValueError, match="special tokens"):
        WordTokenizer(["a", "b"])


def test_sentencepiece_tokenizer(tmp_path):
    texts = ["The quick brown fox jumps over the lazy dog."] * 20 + ["Hello World, HELLO!"] * 20
    tok = SentencePieceTokenizer.train(texts, vocab_size=60)
    ids = tok.encode("Hello world")
    assert ids[0] == tok._sp.piece_to_id(BOS)
    assert tok._sp.piece_to_id(TK_MAJ) in ids
    assert tok.pad_id == tok._sp.piece_to_id(PAD)
    again = pickle.loads(pickle.dumps(tok))
    np.testing.assert_array_equal(again.encode("Hello world"), ids)
    tok.save(tmp_path)
    loaded = SentencePieceTokenizer.load(tmp_path / SentencePieceTokenizer.filename)
    assert loaded.vocab_size == tok.vocab_size


def test_sentencepiece_spends_no_piece_on_special_tokens():
    texts = ["Hello world. This is it, friends."] * 30
    tok = SentencePieceTokenizer.train(texts, vocab_size=50)
    ids = list(tok.encode("Hello world."))
    sp = tok._sp
    # special tokens are single ids, and the words between go through SentencePiece alone
    assert ids == [sp.piece_to_id(BOS), sp.piece_to_id(TK_MAJ)] + sp.encode("hello world.")


def test_fix_surrogates_replaces_lone_ones_and_joins_pairs():
    assert fix_surrogates("a\ud800b") == "a\ufffdb"
    assert fix_surrogates("\udcff x \udfff") == "\ufffd x \ufffd"  # surrogateescape's bytes
    assert fix_surrogates("\ud83d\ude00") == "\U0001f600"  # a UTF-16 pair: its character
    assert fix_surrogates("\ude00\ud83d") == "\ufffd\ufffd"  # the wrong order: two lone ones
    for text in ["plain", "", "caf\xe9 \U0001f600 \ufffd", "\ufffe\uffff\ufdd0\U0010ffff"]:
        assert fix_surrogates(text) == text  # noncharacters are valid code points: kept
