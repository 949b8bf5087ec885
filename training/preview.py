"""A self-contained HTML page of pre-annotated articles, to look at before labelling them.

One file, no script, no link to anything (no CDN, no font): it opens from disk
in any browser, offline. Each article's text block has the direction of its
text (:func:`training.html_marks.text_direction`), so Arabic or Hebrew reads
right to left, and the label and score after each span sit in a ``<bdi>`` so
that they never reorder the text around them. Every span shows its label and
score; a span below the low-confidence threshold gets the shared
low-confidence mark (:mod:`training.html_marks`: a dashed red border and a
"?") so that it stands out without colour.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from frontlines.inference.spans import Example, Span
from frontlines.training.html_marks import (
    MARK_CSS,
    entity_mark,
    is_low,
    label_legend,
    legend_mark,
    score_note,
    text_direction,
)

CSS = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
  margin: 2em; color: #222; max-width: 60em; }
.entities { line-height: 2.5; white-space: pre-wrap; border: 1px solid #eee; padding: 0.5em 1em; }
mark.entity { padding: 0.3em 0.5em; margin: 0 0.2em; line-height: 1; border-radius: 0.35em; }
mark.entity .label { font-size: 0.75em; font-weight: bold; vertical-align: middle; }
.why { color: #555; font-size: 0.9em; }
"""


def _mark(text: str, span: Span, score: float | None, low: float) -> str:
    shown = span.label if score is None else f"{span.label} {score:.2f}"
    title = span.label if score is None else f"{span.label}, {score_note(score, low)}"
    return entity_mark(text, span, title, label=shown, score=score, low=low)


def render_text(text: str, spans: Sequence[Span], scores: Mapping[Span, float], low: float) -> str:
    """``text`` with its (non-overlapping) spans marked, in a block with the text's direction."""
    parts: list[str] = []
    at = 0
    for span in sorted(spans):
        parts.append(html.escape(text[at : span.start]))
        parts.append(_mark(text, span, scores.get(span), low))
        at = span.end
    parts.append(html.escape(text[at:]))
    return f'<div class="entities" dir="{text_direction(text)}">{"".join(parts)}</div>'


def render_preview(rows: Sequence[tuple[Example, Mapping[Span, float], Mapping[str, Any]]], low: float,
                   title: str = "Articles to label", note: str = "") -> str:
    """The page: a legend, then each ``(example, span scores, selection facts)`` in the order given."""
    legend = label_legend() + legend_mark(low)
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(note)}</p>" if note else "",
            f'<p class="legend">{legend}</p>']
    for n, (example, scores, facts) in enumerate(rows, start=1):
        why = html.escape(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in facts.items()))
        n_low = sum(1 for s in example.spans if is_low(scores.get(s), low))
        body.append(f'<section class="article" id="article-{n}"><h2>{n}. <bdi>{html.escape(example.id)}</bdi></h2>'
                    f'<p class="why">{len(example.spans)} predicted spans, {n_low} low-confidence; {why}</p>'
                    f"{render_text(example.text, example.spans, scores, low)}</section>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
            f"<style>{CSS}{MARK_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
