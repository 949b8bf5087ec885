"""An HTML page in the manner of displaCy's entity view: each article twice, gold then predicted.

Spans are ``<mark class="entity">`` elements coloured by label with the label
after the text, as displaCy draws them; every mark carries ``data-label``,
``data-start`` and ``data-end``. Errors are marked: a predicted span that is
not an exact match of a gold span has class ``fp``, a gold span that was not
found exactly has class ``fn``, both drawn with a red dashed outline and a
tooltip giving the reason (spurious, missed, wrong type, too long, ...).
A predicted span's tooltip also gives its score where the system gave one,
and a span scored below the report's low-confidence threshold gets the mark
the pre-annotation preview uses (:mod:`training.html_marks`: a dashed red
border and a "?"). Each article block has its text's direction, so Arabic or
Hebrew reads right to left; the page has no script and no link (offline).
Written here rather than with spaCy's displacy, which is not a dependency and
cannot draw two layers or error states.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from frontlines.inference.spans import Example, Span
from frontlines.training.html_marks import (
    LOW_CONFIDENCE,
    MARK_CSS,
    entity_mark,
    is_low,
    label_legend,
    legend_mark,
    score_note,
    text_direction,
)
from frontlines.training.report_events import EVENT_CSS, events_html

CSS = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
  margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.entities { line-height: 2.5; white-space: pre-wrap; border: 1px solid #eee; padding: 0.5em 1em; }
mark.entity { padding: 0.45em 0.6em; margin: 0 0.25em; line-height: 1; border-radius: 0.35em; }
mark.entity .label { font-size: 0.8em; font-weight: bold; line-height: 1; border-radius: 0.35em;
  vertical-align: middle; }
mark.entity.fp, mark.entity.fn { outline: 2px solid #d00; outline-offset: 1px; }
mark.entity.fp .label::before, mark.entity.fn .label::before { content: "✗ "; color: #d00; }
.layer { font-size: 0.8em; text-transform: uppercase; color: #777; margin-top: 0.8em; }
.legend mark { margin-right: 0.8em; }
"""


def render_entities(text: str, spans: Sequence[Span], status: Mapping[Span, tuple[str, str]] | None = None,
                    scores: Mapping[Span, float] | None = None, low: float = LOW_CONFIDENCE) -> str:
    """``text`` with non-overlapping ``spans`` as displaCy marks, in a block with the text's direction.

    ``status`` maps a span to (class, tooltip); a span's score in ``scores``
    is added to its tooltip, and one below ``low`` gets the low-confidence mark.
    """
    status = status or {}
    scores = scores or {}
    parts: list[str] = []
    at = 0
    for span in sorted(spans):
        parts.append(html.escape(text[at : span.start]))
        cls, title = status.get(span, ("", f"{span.label}: correct"))
        value = scores.get(span)
        note = score_note(value, low)
        parts.append(entity_mark(text, span, f"{title}; {note}" if note else title, classes=cls, score=value, low=low))
        at = span.end
    parts.append(html.escape(text[at:]))
    return f'<div class="entities" dir="{text_direction(text)}">{"".join(parts)}</div>'


def _status(errors: Mapping[str, Any], key: str, cls: str, art_id: str) -> dict[Span, tuple[str, str]]:
    out = {}
    what = "false positive" if cls == "fp" else "false negative"
    for items in errors[key].values():
        for item in items:
            if item["id"] != art_id:
                continue
            other = item["other"]
            side = "gold" if cls == "fp" else "predicted"
            note = f" ({side} {other['label']} “{other['text']}”)" if other else ""
            out[Span(item["start"], item["end"], item["label"])] = (cls, f"{what}: {item['error']}{note}")
    return out


def _scores_table(report: Mapping[str, Any]) -> str:
    rows = [
        "<tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>",
        *(
            f"<tr><td>{html.escape(label)}</td><td>{r['precision']:.4f}</td><td>{r['recall']:.4f}</td>"
            f"<td>{r['f1']:.4f}</td><td>{r['support']}</td></tr>"
            for label, r in report["per_label"].items()
        ),
        f"<tr><th>micro avg</th><th>{report['precision']:.4f}</th><th>{report['recall']:.4f}</th>"
        f"<th>{report['micro_f1']:.4f}</th><th>{report['counts']['gold']}</th></tr>",
    ]
    return "<table>" + "".join(rows) + "</table>"


def _low_legend(report: Mapping[str, Any], low: float) -> str:
    """The legend's sentence on the low-confidence mark, with how many predicted spans it """
    counts = report.get("low_confidence") or {}
    n, below = counts.get("scored_spans", 0), counts.get("below", 0)
    if not n:
        return f"<p>The predictions carry no scores, so no span is marked as below the threshold {low:g}.</p>"
    return (f"<p>Dashed red border and “?”: a predicted span the system scored below {low:g} (low confidence; "
            f"{below} of {n} scored spans), or an event record scored below it; hover a predicted span for its "
            "score.</p>")


def render_html(report: Mapping[str, Any], gold: Sequence[Example], predicted: Mapping[str, Sequence[Span]],
                scores: Mapping[str, Mapping[Span, float]] | None = None) -> str:
    """The whole page: scores, legend, then every article with gold and predicted layers.

    ``scores`` (per article id, predicted span -> score) go into the predicted
    spans' tooltips; those below the report's ``low_confidence`` threshold are marked.
    """
    title = html.escape(report.get("title", "Evaluation report"))
    ci = report.get("ci95")
    ci_text = f" (95% CI {ci[0]:.4f} – {ci[1]:.4f})" if ci else ""
    errors = report["errors"]
    low = (report.get("low_confidence") or {}).get("threshold", LOW_CONFIDENCE)
    scores = scores or {}
    legend = label_legend() + '<mark class="entity fp" style="background: #eee">error</mark>' + legend_mark(low)
    body = [
        f"<h1>{title}</h1>",
        f"<p>micro-F1 (seqeval strict, words) <b>{report['micro_f1']:.4f}</b>{ci_text}; "
        f"macro-F1 {report['macro_f1']:.4f}; token accuracy {report['token_accuracy']:.4f}; "
        f"{report['n_articles']} articles.</p>",
        _scores_table(report),
        f'<p class="legend">{legend}</p>',
        "<p>Solid red outline and “✗”: a predicted span that is not an exact gold match (false positive) or a gold "
        "span not predicted exactly (false negative); hover for the reason.</p>",
        _low_legend(report, low),
    ]
    body.append(events_html(report, gold, low))
    for i, ex in enumerate(gold):
        preds = predicted.get(ex.id, ())
        known = scores.get(ex.id, {})
        fn = _status(errors, "false_negatives", "fn", ex.id)
        fp = _status(errors, "false_positives", "fp", ex.id)
        n_low = sum(is_low(known.get(s), low) for s in preds)
        body.append(
            f'<section class="article" id="article-{i}"><h2><bdi>{html.escape(ex.id)}</bdi></h2>'
            f"<p>{len(ex.spans)} gold, {len(preds)} predicted ({n_low} below {low:g}), {len(fn)} missed or wrong, "
            f"{len(fp)} false.</p>"
            f'<div class="layer">gold</div>{render_entities(ex.text, ex.spans, fn)}'
            f'<div class="layer">predicted</div>{render_entities(ex.text, preds, fp, known, low)}</section>'
        )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
        f"<style>{CSS}{MARK_CSS}{EVENT_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
