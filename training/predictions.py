"""Predicted spans to score: read from a file or a model, checked and widened to whole words.

A predictions file holds one JSON object per line, ``{"id", "spans": [{"start",
"end", "label"}]}`` (other keys are ignored); a span may carry the system's
``"score"`` (its confidence, a number), which the report shows and uses to
mark low-confidence spans, and nothing scores. A predicted span whose ends fall
inside words is widened to the whole words it touches, the unit everything is
scored on, and keeps its score; an unknown id, a bad label, offsets out of
range, overlapping spans, a score that is not a finite number or invalid JSON
are errors naming file and line.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from frontlines.inference.fileio import format_problems, iter_jsonl
from frontlines.inference.labels import LABELS
from frontlines.inference.spans import Example, Span, word_offsets
from frontlines.training.corpus import Problem, parse_span

#: Predicted spans' scores per article id (a span absent: no score given), keyed by the checked spans.
SpanScores = dict[str, dict[Span, float]]


class PredictionError(ValueError):
    """Predictions that cannot be scored; lists every problem with file and line."""

    def __init__(self, problems: Sequence[Problem | str]) -> None:
        self.problems = [str(p) for p in problems]
        super().__init__(format_problems(self.problems, "prediction problem"))


def _widen(starts: list[int], ends: list[int], span: Span) -> Span | None:
    """``span`` widened to the whole words it touches; None if it touches no word."""
    first = bisect.bisect_right(ends, span.start)  # first word ending after span.start
    last = bisect.bisect_left(starts, span.end) - 1  # last word starting before span.end
    if first >= len(starts) or last < first:
        return None
    return Span(starts[first], ends[last], span.label)


def _carry(pairs: Sequence[tuple[Span, Span]], scores: Mapping[Span, float]) -> dict[Span, float]:
    """The scores of the spans as given, keyed by the spans as kept."""
    return {wide: scores[given] for wide, given in pairs if given in scores}


def normalise_spans(text: str, spans: Iterable[Span], where: str) -> tuple[list[tuple[Span, Span]], list[str], int]:
    """Check and widen one article's predicted spans: ((kept, as given) pairs, problems, how many were widened).

    ``where`` starts every problem message (file, line and article id).
    """
    words = word_offsets(text)
    starts, ends = [s for s, _ in words], [e for _, e in words]
    problems: list[str] = []
    out: list[tuple[Span, Span]] = []  # (widened, as given)
    widened = 0
    for span in spans:
        tag = f"span [{span.start}, {span.end}) {span.label}"
        if span.label not in LABELS:
            problems.append(f"{where} {tag}: unknown label {span.label!r} (expected one of {', '.join(LABELS)})")
        elif not (0 <= span.start < span.end <= len(text)):
            problems.append(f"{where} {tag}: offsets out of range or empty (text has {len(text)} characters)")
        else:
            wide = _widen(starts, ends, span)
            if wide is None:
                problems.append(f"{where} {tag}: covers no word (only white space)")
                continue
            widened += wide != span
            out.append((wide, span))
    out.sort()

    def show(wide: Span, given: Span) -> str:
        note = f" (widened to [{wide.start}, {wide.end}))" if wide != given else ""
        return f"[{given.start}, {given.end}) {given.label}{note}"

    kept: list[tuple[Span, Span]] = []
    for wide, given in out:
        if kept and wide.start < kept[-1][0].end:
            problems.append(f"{where} span {show(wide, given)}: overlaps span {show(*kept[-1])}")
        else:
            kept.append((wide, given))
    return kept, problems, widened


def normalise_predictions(
    gold: Sequence[Example], predicted: Mapping[str, Sequence[Span]]
) -> dict[str, list[Span]]:
    """Predicted spans per gold article, widened to whole words and checked.

    Raises :class:`PredictionError` for an id not in ``gold``, a bad label,
    offsets out of range or overlapping spans. Missing ids get no spans.
    """
    return normalise_scored(gold, predicted)[0]


def normalise_scored(
    gold: Sequence[Example], predicted: Mapping[str, Sequence[Span]],
    scores: Mapping[str, Mapping[Span, float]] | None = None,
) -> tuple[dict[str, list[Span]], SpanScores]:
    """:func:`normalise_predictions`, and the spans' ``scores`` carried over to the checked (widened) spans."""
    by_id = {ex.id: ex for ex in gold}
    problems = [f"unknown article id {art_id!r}" for art_id in predicted if art_id not in by_id]
    out: dict[str, list[Span]] = {}
    out_scores: SpanScores = {}
    for ex in gold:
        pairs, found, _ = normalise_spans(ex.text, predicted.get(ex.id, ()), f"[{ex.id}]")
        problems.extend(found)
        out[ex.id] = [wide for wide, _ in pairs]
        out_scores[ex.id] = _carry(pairs, (scores or {}).get(ex.id, {}))
    if problems:
        raise PredictionError(problems)
    return out, out_scores


def _span_score(item: Any) -> float | None | str:
    """A predicted span object's ``"score"``: None if absent, else the number or what is wrong with it."""
    value = item.get("score") if isinstance(item, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"score must be a finite number, got {value!r}"
    return float(value)


def read_predictions(path: str | Path, gold: Sequence[Example]) -> tuple[dict[str, list[Span]], int]:
    """Read a predictions file; return spans per article id and how many were widened.

    Every problem is collected and raised at once as :class:`PredictionError`,
    each naming the file, the line, the article id and the span.
    """
    preds, _, widened = read_scored_predictions(path, gold)
    return preds, widened


def read_scored_predictions(path: str | Path, gold: Sequence[Example]) -> tuple[dict[str, list[Span]], SpanScores, int]:
    """:func:`read_predictions` with the spans' scores (where a span has a ``"score"``) per article id."""
    name = str(path)
    by_id = {ex.id: ex for ex in gold}
    problems: list[Problem | str] = []
    out: dict[str, list[Span]] = {}
    out_scores: SpanScores = {}
    seen: dict[str, int] = {}
    widened = 0
    try:
        lines = list(iter_jsonl(path))
    except OSError as exc:
        raise PredictionError([Problem(name, 0, f"cannot read file: {exc}")]) from None
    for lineno, record, error in lines:
        if error is not None:
            problems.append(Problem(name, lineno, error))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(name, lineno, "a line must be a JSON object with 'id' and 'spans'"))
            continue
        art_id, raw_spans = record.get("id"), record.get("spans")
        if not isinstance(art_id, str) or art_id not in by_id:
            problems.append(Problem(name, lineno, f"unknown article id {art_id!r} (not in the gold file)"))
            continue
        if art_id in seen:
            problems.append(Problem(name, lineno, f"duplicate id (first seen at line {seen[art_id]})", art_id))
            continue
        seen[art_id] = lineno
        if not isinstance(raw_spans, list):
            problems.append(Problem(name, lineno, "'spans' must be a list", art_id))
            continue
        spans: list[Span] = []
        given_scores: dict[Span, float] = {}
        for i, item in enumerate(raw_spans):
            span = parse_span(item, i, name, lineno, art_id)
            value = _span_score(item)
            if isinstance(span, Problem):
                problems.append(span)
            elif isinstance(value, str):
                problems.append(Problem(name, lineno, f"span [{span.start}, {span.end}) {span.label}: {value}", art_id))
            else:
                spans.append(span)
                if value is not None:
                    given_scores[span] = value
        pairs, found, n = normalise_spans(by_id[art_id].text, spans, f"{name}:{lineno} [{art_id}]")
        problems.extend(found)
        widened += n
        out[art_id] = [wide for wide, _ in pairs]
        out_scores[art_id] = _carry(pairs, given_scores)
    if problems:
        raise PredictionError(problems)
    return out, out_scores, widened


def prediction_records(gold: Sequence[Example], predicted: Mapping[str, Sequence[Span]],
                       scores: Mapping[str, Mapping[Span, float]] | None = None) -> Iterator[dict[str, Any]]:
    """The predictions-file lines for ``gold``'s articles, in corpus order (what :func:`read_predictions` reads).

    A span with a score in ``scores`` is written with its ``"score"``.
    """
    for ex in gold:
        known = (scores or {}).get(ex.id, {})
        yield {"id": ex.id, "spans": [{**s.to_dict(), **({"score": known[s]} if s in known else {})}
                                      for s in predicted.get(ex.id, ())]}
