"""An HTML page in the manner of displaCy's entity view: each article twice, gold then predicted.

Spans are ``<mark class="entity">`` elements coloured by label with the label
after the text, as displaCy draws them; every mark carries ``data-label``,
``data-start`` and ``data-end``. Errors are marked: a predicted span that is
not an exact match of a gold span has class ``fp``, a gold span that was not
found exactly has class ``fn``, both drawn with a red dashed outline and a
tooltip giving the reason (spurious, missed, wrong type, too long, ...).
Written here rather than with spaCy's displacy, which is not a dependency and
cannot draw two layers or error states.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from frontlines.inference.labels import LABELS
from frontlines.inference.spans import Example, Span
from frontlines.training.report_events import EVENT_CSS, events_html

#: displaCy's palette where it has the type (GPE for LOCATION, ORG for ACTOR, PERCENT), one more for CONTROL_CHANGE.
COLORS = {"ACTOR": "#7aecec", "LOCATION": "#feca74", "CONTROL_CHANGE": "#c887fb", "PERCENT": "#e4e7d2"}

CSS = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.entities { line-height: 2.5; white-space: pre-wrap; border: 1px solid #eee; padding: 0.5em 1em; }
mark.entity { padding: 0.45em 0.6em; margin: 0 0.25em; line-height: 1; border-radius: 0.35em; }
mark.entity .label { font-size: 0.8em; font-weight: bold; line-height: 1; border-radius: 0.35em;
  vertical-align: middle; margin-left: 0.5rem; }
mark.entity.fp, mark.entity.fn { outline: 2px dashed #d00; outline-offset: 1px; }
mark.entity.fp .label::after, mark.entity.fn .label::after { content: " ✗"; color: #d00; }
.layer { font-size: 0.8em; text-transform: uppercase; color: #777; margin-top: 0.8em; }
.legend mark { margin-right: 0.8em; }
"""


def _mark(text: str, span: Span, status: str, title: str) -> str:
    classes = "entity" if status == "ok" else f"entity {status}"
    return (
        f'<mark class="{classes}" style="background: {COLORS.get(span.label, "#ddd")}" data-label="{span.label}" '
        f'data-start="{span.start}" data-end="{span.end}" title="{html.escape(title)}">'
        f'{html.escape(text[span.start:span.end])}<span class="label">{html.escape(span.label)}</span></mark>'
    )


def render_entities(text: str, spans: Sequence[Span], status: Mapping[Span, tuple[str, str]] | None = None) -> str:
    """``text`` with non-overlapping ``spans`` as displaCy marks; ``status`` maps a span to (class, tooltip)."""
    status = status or {}
    parts: list[str] = []
    at = 0
    for span in sorted(spans):
        parts.append(html.escape(text[at : span.start]))
        cls, title = status.get(span, ("ok", f"{span.label}: correct"))
        parts.append(_mark(text, span, cls, title))
        at = span.end
    parts.append(html.escape(text[at:]))
    return f'<div class="entities" dir="auto">{"".join(parts)}</div>'


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


def render_html(report: Mapping[str, Any], gold: Sequence[Example], predicted: Mapping[str, Sequence[Span]]) -> str:
    """The whole page: scores, legend, then every article with gold and predicted layers."""
    title = html.escape(report.get("title", "Evaluation report"))
    ci = report.get("ci95")
    ci_text = f" (95% CI {ci[0]:.4f} – {ci[1]:.4f})" if ci else ""
    errors = report["errors"]
    legend = "".join(
        f'<mark class="entity" style="background: {COLORS[label]}">{label}</mark>' for label in LABELS
    ) + '<mark class="entity fp" style="background: #eee">error</mark>'
    body = [
        f"<h1>{title}</h1>",
        f"<p>micro-F1 (seqeval strict, words) <b>{report['micro_f1']:.4f}</b>{ci_text}; "
        f"macro-F1 {report['macro_f1']:.4f}; token accuracy {report['token_accuracy']:.4f}; "
        f"{report['n_articles']} articles.</p>",
        _scores_table(report),
        f'<p class="legend">{legend}</p>',
        "<p>Dashed red outline: a predicted span that is not an exact gold match (false positive) or a gold span "
        "not predicted exactly (false negative); hover for the reason.</p>",
    ]
    body.append(events_html(report, gold))
    for i, ex in enumerate(gold):
        preds = predicted.get(ex.id, ())
        fn = _status(errors, "false_negatives", "fn", ex.id)
        fp = _status(errors, "false_positives", "fp", ex.id)
        body.append(
            f'<section class="article" id="article-{i}"><h2>{html.escape(ex.id)}</h2>'
            f"<p>{len(ex.spans)} gold, {len(preds)} predicted, {len(fn)} missed or wrong, {len(fp)} false.</p>"
            f'<div class="layer">gold</div>{render_entities(ex.text, ex.spans, fn)}'
            f'<div class="layer">predicted</div>{render_entities(ex.text, preds, fp)}</section>'
        )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}{EVENT_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
