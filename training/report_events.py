"""The decoding and event sections of a report, in Markdown and HTML.

HTML shows each predicted record as its sentence with the trigger and the
arguments highlighted by role (taker, loser, place, extent) and the status
and score beside it, so a reader checks a record against the text at a glance;
a record scored below the low-confidence threshold gets the shared
low-confidence mark (:mod:`training.html_marks`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from frontlines.inference.events import sentence_of, sentences
from frontlines.inference.spans import Example
from frontlines.training.event_eval import summary_rows
from frontlines.training.html_marks import LOW_CONFIDENCE, is_low, text_direction
from frontlines.training.md_table import table

ROLE_COLORS = {"trigger": "#c887fb", "taker": "#7aecec", "loser": "#ffb3b3", "place": "#feca74", "extent": "#e4e7d2"}
EVENT_CSS = """
.record { border: 1px solid #eee; padding: 0.4em 0.8em; margin: 0.4em 0; }
.record mark { padding: 0.2em 0.35em; border-radius: 0.3em; }
.record mark .role { font-size: 0.7em; font-weight: bold; margin-left: 0.3em; white-space: nowrap; }
.record[dir="rtl"] mark .role { margin-left: 0; margin-right: 0.3em; }
.record .status { font-size: 0.8em; color: #555; }
"""
HEADER = ["system", "record F1", "95% CI", "taker F1", "loser F1", "place F1", "extent F1", "status acc."]


def decoding_markdown(report: Mapping[str, Any]) -> str:
    dec = report.get("decoding")
    if not dec:
        return ""
    rows = [[name, d["micro_f1"], f"{d['ci95'][0]:.4f} – {d['ci95'][1]:.4f}" if d.get("ci95") else "",
             d["fragments"], d["spans"], d["rate"]] for name, d in dec.items() if name != "used"]
    return ("\n## Decoding\n\nStrict micro-F1 with each decoder (used: " + dec["used"] + "); fragments are spans that "
            "start or end inside a white-space token where no span may.\n\n"
            + table(["decoder", "micro-F1", "95% CI", "fragments", "spans", "fragment rate"], rows))


def events_markdown(report: Mapping[str, Any]) -> str:
    section = report.get("events")
    if not section:
        return ""
    return ("\n## Events\n\nExact-record F1 (trigger, taker, loser, places, extent and status all right), per-role F1 "
            "and status accuracy; `gold_spans` links the gold spans, `end_to_end` the tagger's own.\n\n"
            + table(HEADER, summary_rows(section)))


def _mark(text: str, start: int, end: int, role: str) -> str:
    return (f'<mark style="background: {ROLE_COLORS[role]}" data-role="{role}">{html.escape(text[start:end])}'
            f'<bdi class="role">{role}</bdi></mark>')


def render_record(text: str, record: Mapping[str, Any], bounds: Sequence[tuple[int, int]],
                  low: float = LOW_CONFIDENCE) -> str:
    """One record as its sentence with the arguments highlighted (arguments outside the sentence listed after).

    A record scored below ``low`` gets the low-confidence mark.
    """
    trig = record["trigger"]
    lo, hi = bounds[sentence_of(bounds, trig[0])] if bounds else (0, len(text))
    args = [(trig, "trigger")] + [(record[r], r) for r in ("taker", "loser", "extent") if record.get(r)]
    args += [(p, "place") for p in record.get("places", [])]
    inside = sorted((a for a in args if lo <= a[0][0] and a[0][1] <= hi), key=lambda a: a[0][0])
    outside = [a for a in args if a not in inside]
    parts, at = [], lo
    for (s, e), role in inside:
        if s < at:
            continue
        parts.append(html.escape(text[at:s]))
        parts.append(_mark(text, s, e, role))
        at = e
    parts.append(html.escape(text[at:hi]))
    extra = "".join(f" {_mark(text, s, e, role)}" for (s, e), role in outside)
    score = record.get("score")
    mark = " low" if is_low(score, low) else ""
    meta = f'status <b>{html.escape(record["status"])}</b>' + (f", score {score:.2f}" if score is not None else "")
    return (f'<div class="record{mark}" dir="{text_direction(text[lo:hi])}">{"".join(parts)}'
            f'{" — also " + extra if extra else ""} <bdi class="status">{meta}</bdi></div>')


def events_html(report: Mapping[str, Any], gold: Sequence[Example], low: float = LOW_CONFIDENCE) -> str:
    """The events section: the systems table, then each article's predicted records (below ``low``: marked)."""
    section = report.get("events")
    if not section:
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    rows = "".join("<tr>" + "".join(f"<td>{v:.4f}</td>" if isinstance(v, float) else f"<td>{html.escape(str(v))}</td>"
                                    for v in row) + "</tr>" for row in summary_rows(section))
    system = "linker/end_to_end" if "linker/end_to_end" in section["predicted"] else "rules/end_to_end"
    flat = " (the rule baseline gives every record one flat score)" if system.startswith("rules/") else ""
    body = [f"<h2>Events</h2><table><tr>{head}</tr>{rows}</table>",
            f"<p>Records of <b>{system}</b>, one box per change of control; dashed red border and “?”: score below "
            f"{low:g}{flat}.</p>"]
    predicted = section["predicted"][system]
    for ex in gold:
        records = predicted.get(ex.id) or []
        if not records:
            continue
        bounds = sentences(ex.text)
        boxes = "".join(render_record(ex.text, _with_refs(r), bounds, low) for r in records)
        body.append(f"<h3><bdi>{html.escape(ex.id)}</bdi></h3>{boxes}")
    return "\n".join(body)


def _with_refs(event: Mapping[str, Any]) -> dict[str, Any]:
    """An :meth:`inference.spans.Event.to_dict` record (``[start, end]`` references) as render_record reads it."""
    return {"trigger": event["trigger"], "taker": event.get("taker"), "loser": event.get("loser"),
            "extent": event.get("extent"), "places": event.get("places", []), "status": event["status"],
            "score": event.get("score")}
