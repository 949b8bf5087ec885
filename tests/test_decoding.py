"""BIO-constrained Viterbi and the fragment rule, with hand-worked distributions."""

import numpy as np
import pytest

from frontlines.inference.alignment import decode_text
from frontlines.inference.decoding import decode_tags, fragments, glued, viterbi
from frontlines.inference.labels import TAG2ID, TAGS
from frontlines.inference.spans import Span, word_offsets, word_tags_to_spans


def dist(*rows):
    """Rows of {tag: prob}; the rest of each row's mass is spread evenly."""
    out = np.zeros((len(rows), len(TAGS)))
    for i, row in enumerate(rows):
        rest = (1 - sum(row.values())) / (len(TAGS) - len(row))
        out[i] = rest
        for tag, p in row.items():
            out[i, TAG2ID[tag]] = p
    return out


def tags(ids):
    return [TAGS[i] for i in ids]


def test_viterbi_repairs_a_dip_inside_a_name():
    # "Government of National Accord": argmax gives B O I I (two spans after lenient repair);
    # O -> I-ACTOR is forbidden, and B I I I (0.6*0.4*0.7*0.7=0.118) beats B O B I (0.6*0.5*0.2*0.7=0.042).
    p = dist({"B-ACTOR": 0.6}, {"O": 0.5, "I-ACTOR": 0.4}, {"I-ACTOR": 0.7, "B-ACTOR": 0.2}, {"I-ACTOR": 0.7})
    assert tags(decode_tags(p, "", [], method="argmax")) == ["B-ACTOR", "O", "I-ACTOR", "I-ACTOR"]
    assert tags(viterbi(p)) == ["B-ACTOR", "I-ACTOR", "I-ACTOR", "I-ACTOR"]


def test_viterbi_never_starts_with_i_or_switches_type_inside():
    # Row 0 cannot be I-: every other tag has 0.0125; I-ACTOR (0.9) in row 1 then needs B-ACTOR before it.
    p = dist({"I-LOCATION": 0.9}, {"I-ACTOR": 0.9})
    assert tags(decode_tags(p, "", [], method="argmax")) == ["I-LOCATION", "I-ACTOR"]
    assert tags(viterbi(p)) == ["B-ACTOR", "I-ACTOR"]


@pytest.mark.parametrize("text,expected", [
    ("U.S. troops", [True, True, False, False]),      # U . S . | troops: no cut inside "U.S", the last "." is free
    ("Sa’dah fell", [True, True, False]),             # a curly apostrophe inside a name is glued
    ("Iraq’s army", [False, True, False]),            # possessive: a cut before ’s, none between ’ and s
    ("Shabaab-held town", [False, False, False]),      # a hyphen joins words: cuts on both sides
    ("(SDF) said", [False, False, False]),             # edge punctuation is free
])
def test_glued_boundaries(text, expected):
    assert glued(text, word_offsets(text)).tolist() == expected


def test_glue_forces_whole_abbreviation():
    text = "U.S. troops"
    words = word_offsets(text)
    # The model likes "U" alone as ACTOR and the rest outside; the constraint keeps "U.S" together.
    p = dist({"B-ACTOR": 0.9}, {"O": 0.5, "I-ACTOR": 0.4}, {"O": 0.5, "I-ACTOR": 0.4}, {"O": 0.6}, {"O": 0.9})
    argmax_spans = word_tags_to_spans(words, tags(decode_tags(p, "", [], method="argmax")))
    assert argmax_spans == [Span(0, 1, "ACTOR")]
    assert fragments(text, argmax_spans) == argmax_spans
    spans = word_tags_to_spans(words, tags(viterbi(p, glued(text, words))))
    assert fragments(text, spans) == []
    # Glued, "U . S" is B I I (0.9*0.4*0.4 = 0.144) or O O O (0.0125*0.5*0.5); the last "." stays out (0.6 vs 0.05).
    assert spans == [Span(0, 3, "ACTOR")]


def test_decode_text_passes_decoding_through():
    text = "Government of National Accord"
    offsets = np.array([[0, 0], [0, 10], [11, 13], [14, 22], [23, 29], [0, 0]])
    seq = [None, 0, 0, 0, 0, None]
    p = np.vstack([dist({"O": 0.9}), dist({"B-ACTOR": 0.6}, {"O": 0.5, "I-ACTOR": 0.4},
                                           {"I-ACTOR": 0.7, "B-ACTOR": 0.2}, {"I-ACTOR": 0.7}), dist({"O": 0.9})])
    assert [s for s, _ in decode_text(text, [(offsets, seq, p)])] == [Span(0, 29, "ACTOR")]
    assert [s for s, _ in decode_text(text, [(offsets, seq, p)], decoding="argmax")] == [
        Span(0, 10, "ACTOR"), Span(14, 29, "ACTOR")]
    with pytest.raises(ValueError, match="unknown decoding"):
        decode_text(text, [(offsets, seq, p)], decoding="beam")


def test_spans_start_on_a_letter_and_end_on_a_letter_period_or_percent():
    text = "kamal-pasha fell, U.S. 40%"
    words = word_offsets(text)  # kamal - pasha fell , U . S . 40 %
    can_start, can_end = __import__("frontlines.inference.decoding", fromlist=["edges"]).edges(text, words)
    assert can_start.tolist() == [True, False, True, True, False, True, False, True, False, True, False]
    assert can_end.tolist() == [True, False, True, True, False, True, True, True, True, True, True]
    # "-" is as likely B as I: argmax-style ties must not open a span on the hyphen ("-pasha").
    p = dist({"B-LOCATION": 0.9}, {"B-LOCATION": 0.3, "I-LOCATION": 0.3, "O": 0.3}, {"I-LOCATION": 0.9},
             {"O": 0.9}, {"B-LOCATION": 0.45, "O": 0.5}, *[{"O": 0.9}] * 6)
    spans = word_tags_to_spans(words, tags(viterbi(p, glued(text, words), can_start, can_end)))
    assert spans == [Span(0, 11, "LOCATION")]  # and "," (0.45 B) cannot open a span either
