"""What the project's HTML pages share: span colours, the span mark, the low-confidence mark and text direction.

Used by the evaluation report (:mod:`training.report_html`, with the event
records of :mod:`training.report_events`) and the pre-annotation preview
(:mod:`training.preview`), so a span looks the same on both, and a span (or
event record) scored below the low-confidence threshold is drawn the same way
on both: a dashed red border and a "?" after its label, which shows without
colour. The pages are offline (no script, no link, no font): the label after
a span sits in a ``<bdi>`` so it never reorders the text around it, and each
article block gets the direction of its own text (:func:`text_direction`).
"""

from __future__ import annotations

import argparse
import html
import math
import unicodedata

from frontlines.inference.labels import LABELS
from frontlines.inference.spans import Span

#: displaCy's palette where it has the type (GPE for LOCATION, ORG for ACTOR, PERCENT), one more for CONTROL_CHANGE.
COLORS = {"ACTOR": "#7aecec", "LOCATION": "#feca74", "CONTROL_CHANGE": "#c887fb", "PERCENT": "#e4e7d2"}

#: Default threshold: a span (or record) scored below this is marked low-confidence.
LOW_CONFIDENCE = 0.6


def threshold_arg(text: str) -> float:
    """argparse type of a ``--low`` threshold: a finite number (one parser for every command that takes one)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value

#: The mark's rules. ``mark.entity`` keeps a transparent border so a marked span takes no more room than another;
#: the label keeps its gap on the text's side (left of it in right-to-left text) and never wraps away from it.
MARK_CSS = """
mark.entity { border: 2px solid transparent; }
mark.entity .label { margin-left: 0.4rem; white-space: nowrap; }
[dir="rtl"] mark.entity .label { margin-left: 0; margin-right: 0.4rem; }
mark.entity.low, .record.low { border: 2px dashed #d00; }
mark.entity.low .label::after, .record.low .status::after { content: " ?"; color: #d00; font-weight: bold; }
"""


def is_low(score: float | None, low: float) -> bool:
    """Whether ``score`` (None: no score) is below the low-confidence threshold ``low``."""
    return score is not None and score < low


def score_note(score: float | None, low: float) -> str:
    """``"score 0.412"``, plus ``" (low confidence)"`` below ``low``; empty without a score."""
    if score is None:
        return ""
    return f"score {score:.3f}" + (" (low confidence)" if is_low(score, low) else "")


def entity_mark(text: str, span: Span, title: str, *, classes: str = "", label: str | None = None,
                score: float | None = None, low: float = LOW_CONFIDENCE) -> str:
    """``span`` of ``text`` as a coloured ``<mark class="entity">`` with its label (``label``: shown instead).

    Extra ``classes`` are added as given; a ``score`` below ``low`` adds ``low``
    and the score is kept in ``data-score``. ``title`` is the tooltip, as given.
    """
    cls = " ".join(["entity", *classes.split(), *(["low"] if is_low(score, low) else [])])
    data_score = "" if score is None else f' data-score="{score:.4f}"'
    return (f'<mark class="{cls}" style="background: {COLORS.get(span.label, "#ddd")}" '
            f'data-label="{html.escape(span.label)}" data-start="{span.start}" data-end="{span.end}"{data_score} '
            f'title="{html.escape(title)}">{html.escape(text[span.start:span.end])}'
            f'<bdi class="label">{html.escape(label if label is not None else span.label)}</bdi></mark>')


def label_legend() -> str:
    """The legend's sample of each label's colour."""
    return "".join(f'<mark class="entity" style="background: {COLORS[label]}">{label}</mark>' for label in LABELS)


def legend_mark(low: float) -> str:
    """The legend's sample of the low-confidence mark."""
    return f'<mark class="entity low" style="background: #eee">score &lt; {low:g}</mark>'


def text_direction(text: str) -> str:
    """``"rtl"`` when most of ``text``'s strong letters are right to left (Arabic, Hebrew), else ``"ltr"``.

    Counted over the whole text rather than taken from its first letter (what
    ``dir="auto"`` does), so an Arabic article that opens with a Latin name or
    acronym still reads right to left.
    """
    rtl = ltr = 0
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            rtl += 1
        elif kind == "L":
            ltr += 1
    return "rtl" if rtl > ltr else "ltr"
