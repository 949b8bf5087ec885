"""The data model: an article's text plus character-offset spans, and words.

A span is ``[start, end)`` into the text, as in spaCy's ``Doc.char_span``.
Words are the corpus's own split of the text (runs of letters, digits and
combining marks, or single punctuation/symbol characters), the unit that BIO
tags and seqeval scores are counted on, so that a tokenizer never changes the
numbers. The BIO decoder lives here too: it is the one way tags become spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from frontlines.inference.labels import LABELS, OUTSIDE

# \p{M}: combining marks stay inside their word (Arabic harakat, decomposed
# accents); every other non-space character outside \w is a word of its own.
_WORD_RE = regex.compile(r"[\w\p{M}]+|[^\w\p{M}\s]", regex.UNICODE)


@dataclass(frozen=True, order=True)
class Span:
    """A labelled character range ``[start, end)``."""

    start: int
    end: int
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "label": self.label}


@dataclass(frozen=True)
class Event:
    """A change of control: its CONTROL_CHANGE trigger and the spans that fill its roles.

    Roles point at spans of the same article (``taker``/``loser`` ACTOR,
    ``places`` LOCATION, ``extent`` PERCENT); ``status`` is one of
    :data:`inference.labels.STATUSES`. In JSON a span reference is
    ``[start, end]``, so a record stays readable without its span list.
    """

    trigger: Span
    status: str
    taker: Span | None = None
    loser: Span | None = None
    places: tuple[Span, ...] = ()
    extent: Span | None = None

    def to_dict(self) -> dict[str, Any]:
        def ref(span: Span | None) -> list[int] | None:
            return None if span is None else [span.start, span.end]

        return {
            "trigger": ref(self.trigger),
            "taker": ref(self.taker),
            "loser": ref(self.loser),
            "places": [ref(p) for p in self.places],
            "extent": ref(self.extent),
            "status": self.status,
        }


@dataclass
class Example:
    """One article: id, text, gold spans (sorted), event links and free-form metadata.

    ``events`` is ``None`` when the article's events were not annotated (a
    span-only corpus), and a list (maybe empty) when they were.
    """

    id: str
    text: str
    spans: list[Span] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    events: list[Event] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "spans": [s.to_dict() for s in self.spans],
        }
        if self.events is not None:
            out["events"] = [e.to_dict() for e in self.events]
        out["meta"] = self.meta
        return out


def word_offsets(text: str) -> list[tuple[int, int]]:
    """The corpus's word split: ``(start, end)`` of every word in ``text``."""
    return [m.span() for m in _WORD_RE.finditer(text)]


class SpanAlignmentError(ValueError):
    """A span whose boundaries do not fall on word boundaries."""

    def __init__(self, span: Span, reason: str) -> None:
        super().__init__(f"span [{span.start}, {span.end}) {span.label}: {reason}")
        self.span = span
        self.reason = reason


def spans_to_word_tags(
    words: Sequence[tuple[int, int]], spans: Iterable[Span]
) -> list[str]:
    """IOB2 tags, one per word, for ``spans``.

    Raises :class:`SpanAlignmentError` for a span that does not start and end
    on word boundaries, or that overlaps another span.
    """
    tags = [OUTSIDE] * len(words)
    starts = {s: i for i, (s, _) in enumerate(words)}
    ends = {e: i for i, (_, e) in enumerate(words)}
    for span in sorted(spans):
        first, last = starts.get(span.start), ends.get(span.end)
        if first is None:
            raise SpanAlignmentError(span, "does not start at a word boundary")
        if last is None or last < first:
            raise SpanAlignmentError(span, "does not end at a word boundary")
        if any(t != OUTSIDE for t in tags[first : last + 1]):
            raise SpanAlignmentError(span, "overlaps another span")
        tags[first] = f"B-{span.label}"
        for i in range(first + 1, last + 1):
            tags[i] = f"I-{span.label}"
    return tags


def word_tags_to_spans(
    words: Sequence[tuple[int, int]], tags: Sequence[str]
) -> list[Span]:
    """Decode IOB2 word tags into spans (the project's one BIO decoder).

    Lenient like conlleval: an ``I-X`` after ``O`` or after another type opens
    a new span, so a model's stray ``I-`` is repaired rather than dropped.
    """
    spans: list[Span] = []
    label: str | None = None
    start = end = 0
    for (w_start, w_end), tag in zip(words, tags, strict=False):
        prefix, _, tag_label = tag.partition("-")
        if tag == OUTSIDE or tag_label not in LABELS:
            prefix, tag_label = OUTSIDE, ""
        if label is not None and (prefix != "I" or tag_label != label):
            spans.append(Span(start, end, label))
            label = None
        if prefix in ("B", "I") and label is None:
            label, start = tag_label, w_start
        if label is not None:
            end = w_end
    if label is not None:
        spans.append(Span(start, end, label))
    return spans
