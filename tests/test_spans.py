import pytest

from frontlines.inference.spans import Span, SpanAlignmentError, spans_to_word_tags, word_offsets, word_tags_to_spans


def words_of(text):
    return [text[a:b] for a, b in word_offsets(text)]


def test_word_split_keeps_marks_and_splits_punctuation():
    assert words_of("Daesh’s 40% al-Qaim") == ["Daesh", "’", "s", "40", "%", "al", "-", "Qaim"]
    assert words_of("القَائم e\u0301te 😀") == ["القَائم", "e\u0301te", "😀"]
    assert words_of("a\r\nb") == ["a", "b"]


def test_tags_round_trip():
    text = "The Syrian Democratic Forces (SDF) retook Raqqa."
    words = word_offsets(text)
    spans = [Span(4, 28, "ACTOR"), Span(30, 33, "ACTOR"), Span(35, 41, "CONTROL_CHANGE"), Span(42, 47, "LOCATION")]
    tags = spans_to_word_tags(words, spans)
    assert tags[:5] == ["O", "B-ACTOR", "I-ACTOR", "I-ACTOR", "O"]
    assert word_tags_to_spans(words, tags) == spans


@pytest.mark.parametrize(
    "tags,expected",
    [  # words of "a b c d" start at 0, 2, 4, 6
        (["I-ACTOR", "I-ACTOR", "O", "O"], [Span(0, 3, "ACTOR")]),  # stray I- opens a span
        (["B-ACTOR", "I-LOCATION", "O", "O"], [Span(0, 1, "ACTOR"), Span(2, 3, "LOCATION")]),
        (["B-ACTOR", "B-ACTOR", "I-ACTOR", "O"], [Span(0, 1, "ACTOR"), Span(2, 5, "ACTOR")]),
        (["O", "O", "B-LOCATION", "I-LOCATION"], [Span(4, 7, "LOCATION")]),  # a span that runs to the last word
        (["B-PER", "I-PER", "O", "B-ACTOR"], [Span(6, 7, "ACTOR")]),  # tags outside the label set read as O
        (["O", "O", "O", "O"], []),
    ],
)
def test_decoder_repairs_like_conlleval(tags, expected):
    assert word_tags_to_spans(word_offsets("a b c d"), tags) == expected


def test_misaligned_and_overlapping_spans_raise():
    words = word_offsets("Albu Kamal fell")
    with pytest.raises(SpanAlignmentError, match="start at a word boundary"):
        spans_to_word_tags(words, [Span(1, 4, "LOCATION")])
    with pytest.raises(SpanAlignmentError, match="end at a word boundary"):
        spans_to_word_tags(words, [Span(0, 3, "LOCATION")])
    with pytest.raises(SpanAlignmentError, match="overlaps"):
        spans_to_word_tags(words, [Span(0, 10, "LOCATION"), Span(5, 10, "ACTOR")])
