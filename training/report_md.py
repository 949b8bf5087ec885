"""Render an evaluation report (the dict of :func:`training.reports.build_report`) as Markdown tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from frontlines.inference.fileio import flatten
from frontlines.inference.labels import LABELS
from frontlines.training.md_table import md_escape, table
from frontlines.training.report_events import decoding_markdown, events_markdown

#: At most this many false positives / negatives per label in the Markdown (report.json has them all).
MAX_LISTED = 50


def _prf_rows(block: Mapping[str, Any]) -> list[list[Any]]:
    rows = [[label, r["precision"], r["recall"], r["f1"], r["support"]] for label, r in block["per_label"].items()]
    rows.append(["**micro avg**", block["precision"], block["recall"], block["micro_f1"], block["support"]])
    rows.append(["**macro avg**", block["macro_precision"], block["macro_recall"], block["macro_f1"], block["support"]])
    return rows


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown a person reads: scores, span schemes, errors."""
    out = [f"# {md_escape(report.get('title', 'Evaluation report'))}\n"]
    ci = report.get("ci95")
    counts = report["counts"]
    summary = [
        ["micro-F1 (seqeval strict, IOB2)", report["micro_f1"]],
        ["95% CI (bootstrap over articles)", f"{ci[0]:.4f} – {ci[1]:.4f}" if ci else "not computed"],
        ["macro-F1", report["macro_f1"]],
        ["precision", report["precision"]],
        ["recall", report["recall"]],
        ["micro-F1 (seqeval default, conlleval)", report["default"]["micro_f1"]],
        ["token accuracy (words)", report["token_accuracy"]],
        ["articles / words", f"{report['n_articles']} / {report['n_words']}"],
        ["gold / predicted / correct spans", f"{counts['gold']} / {counts['predicted']} / {counts['true_positives']}"],
    ]
    out.append(table(["metric", "value"], summary))
    extra = report.get("extra") or {}
    if extra:
        rows = [[md_escape(k), md_escape(str(v))] for k, v in flatten(extra).items() if v != {}]  # {}: nothing to show
        out.append("\n" + table(["setting", "value"], rows))

    header = ["label", "precision", "recall", "F1", "support"]
    out.append("\n## Per label, seqeval strict mode (IOB2)\n\n" + table(header, _prf_rows(report["strict"])))
    out.append("\n## Per label, seqeval default mode (conlleval)\n\n" + table(header, _prf_rows(report["default"])))

    spans = report["spans"]
    out.append(
        "\n## Span schemes (nervaluate)\n\nstrict: boundaries and type; exact: boundaries; "
        "partial: overlap counts half; type: overlap with the right type.\n\n"
    )
    fields = ["correct", "incorrect", "partial", "missed", "spurious", "precision", "recall", "f1"]
    out.append(table(["scheme", *fields], [[name, *(block[f] for f in fields)] for name, block in spans.items()]))
    out.append("\nF1 per label and scheme:\n\n")
    out.append(
        table(["label", *spans], [[label, *(spans[s]["per_label"][label]["f1"] for s in spans)] for label in LABELS])
    )

    out.append(decoding_markdown(report))
    out.append(events_markdown(report))

    errors = report["errors"]
    axis = errors["confusion"]["axis"]
    out.append("\n## Confusion (rows: gold type, columns: predicted type, overlapping spans; O: none)\n\n")
    out.append(table(["gold \\ predicted", *axis], [[g, *(errors["confusion"]["matrix"][g][p] for p in axis)] for g in axis]))
    kinds = list(errors["boundary"]["total"])
    out.append("\n## Boundary errors (overlapping spans with different boundaries, by gold label)\n\n")
    rows = [[label, *(errors["boundary"]["per_label"][label][k] for k in kinds)] for label in LABELS]
    rows.append(["**total**", *(errors["boundary"]["total"][k] for k in kinds)])
    out.append(table(["label", *kinds], rows))

    for key, heading in (("false_positives", "False positives"), ("false_negatives", "False negatives")):
        out.append(f"\n## {heading}\n")
        for label in LABELS:
            items = errors[key][label]
            if not items:
                continue
            out.append(f"\n### {label} ({len(items)})\n\n")
            rows = []
            for item in items[:MAX_LISTED]:
                ctx = item["context"]
                other = item["other"]
                other_text = f"{other['label']} “{md_escape(other['text'])}”" if other else ""
                sentence = f"{md_escape(ctx['left'])}**[{md_escape(ctx['span'])}]**{md_escape(ctx['right'])}"
                rows.append([md_escape(item["id"]), item["error"], other_text, sentence])
            out.append(table(["article", "error", "overlaps", "context"], rows))
            if len(items) > MAX_LISTED:
                out.append(f"\n… {len(items) - MAX_LISTED} more in report.json\n")
    return "".join(out)

