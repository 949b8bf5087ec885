"""Error analysis of predicted spans: type confusions, boundary errors, FP/FN lists.

Gold and predicted spans of an article are paired one to one where they
overlap (same boundaries first, then the largest overlap), so that:

* the confusion table counts, for every pair, gold type versus predicted
  type, with ``O`` for a gold span nothing overlaps (missed) and for a
  predicted span that overlaps no gold span (spurious); a row sums to the
  number of gold spans of that type;
* a pair with different boundaries is a boundary error: ``too long`` (the
  prediction covers the gold span and more), ``too short`` (it lies inside
  it) or ``shifted`` (each sticks out on one side);
* false positives are the predicted spans that are not an exact match
  (boundaries and type) of a gold span, false negatives the gold spans that
  are not, as seqeval's strict mode counts them, each with its sentence and
  the reason, grouped by label.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

import regex

from frontlines.inference.labels import LABELS, OUTSIDE
from frontlines.inference.spans import Example, Span

BOUNDARY_KINDS = ("too long", "too short", "shifted")
#: A sentence ends after ., !, ? or … (and any closing quotes/brackets) followed by white space, or at a line break.
_SENTENCE_END = regex.compile(r"[.!?…]['\"”’)\]]*\s+|\n\s*")
CONTEXT_CHARS = 160


def sentence_bounds(text: str) -> list[int]:
    """Offsets where sentences start (always including 0)."""
    return [0] + [m.end() for m in _SENTENCE_END.finditer(text)]


def sentence_context(text: str, span: Span, bounds: Sequence[int] | None = None) -> dict[str, str]:
    """The sentence(s) around ``span`` split into left / span / right, each side at most CONTEXT_CHARS."""
    bounds = sentence_bounds(text) if bounds is None else bounds
    left_at = bounds[bisect.bisect_right(bounds, span.start) - 1]
    nxt = bisect.bisect_left(bounds, span.end)
    right_at = bounds[nxt] if nxt < len(bounds) else len(text)
    left = text[left_at : span.start]
    right = text[span.end : right_at].rstrip()
    if len(left) > CONTEXT_CHARS:
        left = "…" + left[-CONTEXT_CHARS:]
    if len(right) > CONTEXT_CHARS:
        right = right[:CONTEXT_CHARS] + "…"
    return {"left": left.lstrip(), "span": text[span.start : span.end], "right": right}


def boundary_kind(gold: Span, pred: Span) -> str | None:
    """How ``pred``'s boundaries differ from ``gold``'s (None if they are the same)."""
    if (gold.start, gold.end) == (pred.start, pred.end):
        return None
    if pred.start <= gold.start and pred.end >= gold.end:
        return "too long"
    if pred.start >= gold.start and pred.end <= gold.end:
        return "too short"
    return "shifted"


def match_spans(gold: Sequence[Span], pred: Sequence[Span]) -> list[tuple[Span, Span]]:
    """One-to-one pairs of overlapping gold and predicted spans (exact boundaries first, then largest overlap)."""
    candidates = []
    for g in gold:
        for p in pred:
            overlap = min(g.end, p.end) - max(g.start, p.start)
            if overlap > 0:
                exact = (g.start, g.end) == (p.start, p.end)
                candidates.append((not exact, -overlap, g.start, p.start, g, p))
    candidates.sort(key=lambda c: c[:4])
    used_g: set[Span] = set()
    used_p: set[Span] = set()
    pairs = []
    for *_, g, p in candidates:
        if g not in used_g and p not in used_p:
            used_g.add(g)
            used_p.add(p)
            pairs.append((g, p))
    return sorted(pairs)


def _entry(ex: Example, span: Span, reason: str, other: Span | None, bounds: Sequence[int]) -> dict[str, Any]:
    return {
        "id": ex.id,
        **span.to_dict(),
        "text": ex.text[span.start : span.end],
        "error": reason,
        "other": None if other is None else {**other.to_dict(), "text": ex.text[other.start : other.end]},
        "context": sentence_context(ex.text, span, bounds),
    }


def _reason(gold: Span, pred: Span) -> str:
    parts = []
    if gold.label != pred.label:
        parts.append("wrong type")
    kind = boundary_kind(gold, pred)
    if kind:
        parts.append(kind)
    return ", ".join(parts)


def analyse_errors(gold: Sequence[Example], predicted: Mapping[str, Sequence[Span]]) -> dict[str, Any]:
    """Confusion table, boundary errors and FP/FN lists (see the module docstring); JSON-ready."""
    axis = [*LABELS, OUTSIDE]
    confusion = {g: dict.fromkeys(axis, 0) for g in axis}
    boundary = {label: dict.fromkeys(BOUNDARY_KINDS, 0) for label in LABELS}
    false_pos: dict[str, list] = {label: [] for label in LABELS}
    false_neg: dict[str, list] = {label: [] for label in LABELS}
    for ex in gold:
        preds = sorted(predicted.get(ex.id, ()))
        pairs = match_spans(ex.spans, preds)
        bounds = sentence_bounds(ex.text)
        paired_g = {g: p for g, p in pairs}
        paired_p = {p: g for g, p in pairs}
        for g, p in pairs:
            confusion[g.label][p.label] += 1
            kind = boundary_kind(g, p)
            if kind:
                boundary[g.label][kind] += 1
        for g in ex.spans:
            p = paired_g.get(g)
            if p is None:
                confusion[g.label][OUTSIDE] += 1
                false_neg[g.label].append(_entry(ex, g, "missed", None, bounds))
            elif p != g:
                false_neg[g.label].append(_entry(ex, g, _reason(g, p), p, bounds))
        for p in preds:
            g = paired_p.get(p)
            if g is None:
                confusion[OUTSIDE][p.label] += 1
                false_pos[p.label].append(_entry(ex, p, "spurious", None, bounds))
            elif g != p:
                false_pos[p.label].append(_entry(ex, p, _reason(g, p), g, bounds))
    totals = {kind: sum(b[kind] for b in boundary.values()) for kind in BOUNDARY_KINDS}
    return {
        "confusion": {"axis": axis, "matrix": confusion},
        "boundary": {"total": totals, "per_label": boundary},
        "false_positives": false_pos,
        "false_negatives": false_neg,
    }
