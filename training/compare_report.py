"""The run comparison (the dict of :func:`training.compare.compare`) as Markdown and as an HTML page."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from frontlines.training.md_table import md_escape, table
from frontlines.training.report_html import CSS

#: Below this many common articles the significance table carries a warning.
FEW_ARTICLES = 20


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _delta(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "—"
    return f"{value - base:+.4f}"


def _p_text(test: Mapping[str, Any]) -> str:
    samples = test.get("samples") or 0
    if samples and test["p_value"] < 1.0 / samples:
        return f"< {1.0 / samples:.4f}"
    return f"{test['p_value']:.4f}"


def sections(result: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]], str]]:
    """The comparison as (heading, header, rows, note) tables, shared by the Markdown and HTML views."""
    names = [r["name"] for r in result["runs"]]
    header_runs = [names[0] + " (baseline)", *names[1:]]
    out = []
    rows = []
    for row in result["metrics"]:
        cells = [_fmt(row["values"][0])]
        cells += [f"{_fmt(v)} ({_delta(v, row['values'][0])})" for v in row["values"][1:]]
        rows.append([row["metric"], *cells])
    ci = result["ci95"]
    rows.append(["micro-F1 95% CI", *(f"{c[0]:.4f} – {c[1]:.4f}" if c else "—" for c in ci)])
    rows.append(["best dev micro-F1 (epoch)", *(f"{_fmt(b['micro_f1'])} ({_fmt(b['epoch'])})" for b in result["best_dev"])])
    n = len(result["articles"])
    note = f"Scored on the {n} article(s) every run predicted; deltas in brackets are against the baseline."
    if result.get("split"):
        note = (f"Every run tagged the {result['split']} split of {result['corpus']} ({n} article(s)) afresh; "
                "deltas in brackets are against the baseline.")
    if result["articles_not_in_every_run"]:
        note += f" Left out (not predicted by every run): {', '.join(result['articles_not_in_every_run'][:10])}."
    out.append(("Metrics", ["metric", *header_runs], rows, note))

    rows = []
    for name, test in zip(names[1:], result["paired_bootstrap"][1:], strict=True):
        rows.append([
            name, f"{test['delta']:+.4f}", f"{test['ci95'][0]:+.4f} – {test['ci95'][1]:+.4f}", _p_text(test),
            "yes" if test["significant"] else "no",
        ])
    samples = result["paired_bootstrap"][0]["samples"]
    note = (
        f"Paired bootstrap over articles ({samples} resamples): micro-F1 of the run minus the baseline's on the "
        "same resampled articles; two-sided p, significant at p < 0.05."
    )
    if n < FEW_ARTICLES:
        note += f" With only {n} article(s) the resamples barely vary: treat the test as indicative at best."
    out.append(("Significance against the baseline", ["run", "Δ micro-F1", "95% CI of Δ", "p", "significant"], rows, note))
    events = result.get("events") or []
    if any(events):
        systems = sorted({name for ev in events if ev for name in ev})
        ev_rows = [[system, field, *(_fmt((ev or {}).get(system, {}).get(key)) for ev in events)]
                   for system in systems
                   for field, key in (("record F1", "record_f1"), ("taker F1", "taker_f1"), ("place F1", "place_f1"),
                                      ("status acc.", "status_accuracy"))]
        out.append(("Event records (each run's test split, from its run.json)", ["system", "score", *names], ev_rows,
                    "exact record: trigger, taker, loser, places, extent and status all right"))
    adoption = result.get("adoption")
    if adoption:
        f1 = result["metrics"][0]["values"]
        rows = [[name, info["strategy"], str(info["n_user_articles"]), _fmt(value)]
                for name, info, value in zip(names, adoption, f1, strict=True) if info]
        out.append(("Adoption", ["run", "strategy", "user articles", "micro-F1 (strict)"], rows,
                    f"Runs adapted to {', '.join(sorted({str(a.get('source')) for a in adoption if a}))} "
                    "(adoption.json beside each run); the chart is adoption_curve.png."))
    for key, heading in (("config_differences", "Config differences"), ("run_info_differences", "Run metadata differences")):
        diff_rows = [[d["key"], *(_fmt(v) for v in d["values"])] for d in result[key]]
        out.append((heading, ["key", *names], diff_rows, "" if diff_rows else "none"))
    return out


def render_compare_markdown(result: Mapping[str, Any]) -> str:
    """compare.md: the tables, then the charts."""
    out = ["# Run comparison\n"]
    for heading, header, rows, note in sections(result):
        out.append(f"\n## {heading}\n\n")
        if rows:
            out.append(table([md_escape(h) for h in header], [[md_escape(c) for c in r] for r in rows]) + "\n")
        if note:
            out.append(f"{note}\n")
    out.append("\n## Charts\n\n![per-label F1](per_label_f1.png)\n\n![learning curves](learning_curves.png)\n")
    if result.get("adoption"):
        out.append("\n![adoption curve](adoption_curve.png)\n")
    return "".join(out)


def render_compare_html(result: Mapping[str, Any]) -> str:
    """compare.html: the same tables and charts as a standalone page."""
    body = ["<h1>Run comparison</h1>"]
    for heading, header, rows, note in sections(result):
        body.append(f"<h2>{html.escape(heading)}</h2>")
        if rows:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            body.append(f"<table><tr>{head}</tr>{trs}</table>")
        if note:
            body.append(f"<p>{html.escape(note)}</p>")
    body.append('<h2>Charts</h2><img src="per_label_f1.png" alt="per-label F1"><br>')
    body.append('<img src="learning_curves.png" alt="learning curves">')
    if result.get("adoption"):
        body.append('<br><img src="adoption_curve.png" alt="adoption curve">')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Run comparison</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
