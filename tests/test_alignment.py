"""Span <-> token alignment: the corpus round trip and property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontlines.inference.alignment import (
    Words,
    align_window,
    decode_text,
    encode_examples,
    encode_texts,
    read_tokens,
    round_trip,
)
from frontlines.inference.labels import IGNORE_INDEX, LABELS, TAG2ID
from frontlines.inference.spans import Example, Span, word_offsets
from frontlines.training.corpus import load_corpus


def test_whole_corpus_survives_tokenization(tokenizer):
    lost = {ex.id: round_trip(tokenizer, ex, max_length=128, stride=32) for ex in load_corpus()}
    assert {k: v for k, v in lost.items() if v} == {}


def test_first_subtoken_gets_the_label_and_the_rest_are_ignored(tokenizer):
    ex = Example("x", "Hezbollah recaptured Qusayr", [Span(0, 9, "ACTOR"), Span(21, 27, "LOCATION")])
    (feature,) = encode_examples(tokenizer, [ex], max_length=64, stride=8)
    tokens = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    labelled = [(t, lab) for t, lab in zip(tokens, feature["labels"], strict=False) if lab != IGNORE_INDEX]
    assert labelled[0] == (tokens[1], TAG2ID["B-ACTOR"])
    assert [lab for _, lab in labelled] == [TAG2ID["B-ACTOR"], TAG2ID["O"], TAG2ID["B-LOCATION"]]
    assert feature["labels"][0] == IGNORE_INDEX and feature["labels"][-1] == IGNORE_INDEX
    (all_tokens,) = encode_examples(tokenizer, [ex], max_length=64, stride=8, label_all_tokens=True)
    pieces = [lab for t, lab in zip(tokens, all_tokens["labels"], strict=False) if t.startswith("##")]
    assert pieces and set(pieces) <= {TAG2ID["I-ACTOR"], TAG2ID["I-LOCATION"], TAG2ID["O"]}


def test_long_article_is_windowed_without_dropping_tokens(tokenizer):
    text = " ".join(f"Village{i} fell to rebels." for i in range(400)) + " Finally Daesh retook Albu Kamal."
    start = text.index("Albu Kamal")
    ex = Example("long", text, [Span(start, start + 10, "LOCATION")])
    features = encode_examples(tokenizer, [ex], max_length=128, stride=32)
    assert len(features) > 10 and all(len(f["input_ids"]) <= 128 for f in features)
    assert round_trip(tokenizer, ex, max_length=128, stride=32) == []


def test_stride_must_leave_room(tokenizer):
    with pytest.raises(ValueError, match="stride"):
        encode_texts(tokenizer, ["x"], max_length=16, stride=14)


def test_unknown_multiword_token_continues_the_entity():
    # One token swallowing several words (as [UNK] does) labels them all.
    words = Words.of("ab€d")
    assert words.pairs() == [(0, 2), (2, 3), (3, 4)]  # "ab", "€", "d": the token [0, 4) covers words 0-2
    al = align_window(np.array([[0, 0], [0, 4], [0, 0]]), [None, 0, None], words)
    assert al.word.tolist() == [-1, 0, -1] and al.last_word.tolist() == [-1, 2, -1]
    probs = np.zeros((3, len(TAG2ID)))
    probs[:, TAG2ID["O"]] = 1
    probs[1] = 0
    probs[1, TAG2ID["B-LOCATION"]] = 1
    assert decode_text("ab€d", [(np.array([[0, 0], [0, 4], [0, 0]]), [None, 0, None], probs)]) == [
        (Span(0, 4, "LOCATION"), 1.0)
    ]


# ---- property tests -------------------------------------------------------

PIECES = list("abcdefXYZ019 ,.-'\"()%") + ["\r\n", "\n", "  ", "ال", "قَ", "é", "e\u0301", "ñ", "“", "”", "’", "😀", "🇸🇾", "ß", "中", "\t"]
ALPHABET = st.sampled_from(PIECES)
#: With a zero-width space, a character the tokenizer deletes: words can then vanish.
ALPHABET_DROPPED = st.sampled_from(PIECES + ["\u200b"])


@st.composite
def texts_with_spans(draw, max_pieces=60, alphabet=ALPHABET):
    text = "".join(draw(st.lists(alphabet, max_size=max_pieces)))
    words = word_offsets(text)
    spans, i = [], 0
    while i < len(words):
        if draw(st.booleans()):
            length = draw(st.integers(1, 3))
            j = min(i + length, len(words)) - 1
            spans.append(Span(words[i][0], words[j][1], draw(st.sampled_from(LABELS))))
            i = j + 2  # leave a gap so spans stay flat
        else:
            i += 1
    return Example("h", text, spans)


def _survives(span, tokens, words):
    """A span survives tokenization iff a token starts exactly at its start, no
    token straddles its start, its last word is opened by a token (or lies
    under a token that opens an earlier word of the span), and no token that
    opens one of its words runs past its end (an [UNK] over several words
    carries the entity into every word it covers)."""
    inside = [(a, b) for a, b in words if span.start <= a and b <= span.end]
    starts = {a for a, _ in inside}
    last = inside[-1][0]
    return (
        any(a == span.start for a, _ in tokens)
        and not any(a < span.start < b for a, b in tokens)
        and any(a == last or (a in starts and a < last < b) for a, b in tokens)
        and not any(a in starts and b > span.end for a, b in tokens)
    )


def _tokens(tokenizer, text):
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    return [(a, b) for a, b in enc["offset_mapping"] if b > a]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(example=texts_with_spans())
def test_round_trip_property(tokenizer, example):
    """Every span comes back exactly, except those round_trip reports; and it
    reports exactly the spans that the tokenizer makes impossible to recover."""
    lost = round_trip(tokenizer, example, max_length=24, stride=6)
    tokens = _tokens(tokenizer, example.text)
    words = word_offsets(example.text)
    assert set(lost) == {s for s in example.spans if not _survives(s, tokens, words)}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(example=texts_with_spans(alphabet=ALPHABET_DROPPED))
def test_round_trip_with_deleted_characters(tokenizer, example):
    """Characters the tokenizer deletes never break a span whose every word
    is opened by a token of its own; lost spans are always reported."""
    lost = round_trip(tokenizer, example, max_length=24, stride=6)
    assert set(lost) <= set(example.spans)
    tokens = _tokens(tokenizer, example.text)
    token_starts = {a for a, _ in tokens}
    for span in example.spans:
        inside = [(a, b) for a, b in word_offsets(example.text) if span.start <= a and b <= span.end]
        clean = all(a in token_starts for a, _ in inside) and not any(
            a < span.start < b or a < span.end < b for a, b in tokens
        )
        if clean:
            assert span not in lost


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(example=texts_with_spans(max_pieces=400))
def test_windows_cover_long_texts_and_crlf(tokenizer, example):
    text = example.text.replace("\n", "\r\n")
    shifted = Example("h", text, [])
    features = encode_examples(tokenizer, [shifted], max_length=16, stride=4)
    assert all(len(f["input_ids"]) <= 16 for f in features)
    n_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    covered = sum(len(f["input_ids"]) - 2 for f in features) - 4 * (len(features) - 1)
    assert covered == n_tokens


def test_read_tokens_marks_each_words_first_sub_token_in_its_most_central_window():
    # "aa bb cc dd"; window A is [CLS] aa b ##b cc [SEP], window B [CLS] bb cc dd [SEP]
    words = Words.of("aa bb cc dd")
    a = (np.array([[0, 0], [0, 2], [3, 4], [4, 5], [6, 8], [0, 0]]), [None, 0, 0, 0, 0, None])
    b = (np.array([[0, 0], [3, 5], [6, 8], [9, 11], [0, 0]]), [None, 0, 0, 0, None])
    # centrality A: aa 0, b 1, ##b 1, cc 0; B: bb 0, cc 1, dd 0. aa and bb are read in A (bb: 1 > 0),
    # cc and dd in B (cc: 1 > 0); ##b opens no word, the special tokens none
    read = read_tokens([a, b], words)
    assert [m.tolist() for m in read] == [[False, True, True, False, False, False], [False, False, True, True, False]]
    assert read_tokens([], words) == []
