"""An evaluation report: scores plus error analysis as one dict, written as JSON, Markdown, HTML and predictions.

:func:`build_report` makes the dict (see :mod:`training.scoring` for the
scores and :mod:`training.error_analysis` for the errors); the Markdown and
HTML views are :mod:`training.report_md` and :mod:`training.report_html`.
Every file is written atomically (:mod:`inference.fileio`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NamedTuple

from frontlines.inference.fileio import atomic_write_text, write_jsonl_atomic
from frontlines.inference.labels import LABELS
from frontlines.inference.spans import Example, Span
from frontlines.training.error_analysis import analyse_errors
from frontlines.training.html_marks import LOW_CONFIDENCE, is_low
from frontlines.training.predictions import SpanScores, normalise_scored, prediction_records
from frontlines.training.report_html import render_html
from frontlines.training.report_md import render_markdown
from frontlines.training.scoring import score

REPORT_FILES = {
    "json": "report.json",
    "md": "report.md",
    "html": "report.html",
    "predictions": "predictions.jsonl",
}


def report_paths(out_dir: str | Path) -> dict[str, Path]:
    """The report's files in ``out_dir``, keyed json/md/html/predictions."""
    return {key: Path(out_dir) / name for key, name in REPORT_FILES.items()}


def check_outputs(paths: Iterable[Path], overwrite: bool) -> None:
    """Refuse to replace existing outputs unless ``overwrite``, and an output directory that is a file."""
    paths = [Path(p) for p in paths]
    for parent in {p.parent for p in paths}:
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"output directory {parent} exists and is not a directory")
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"output exists (pass --overwrite / overwrite=True to replace): {', '.join(existing)}")


def scorer_versions() -> dict[str, str]:
    """Versions of the scoring libraries, recorded in every report."""
    out = {}
    for pkg in ("seqeval", "nervaluate"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


class BuiltReport(NamedTuple):
    """A built report: the JSON-ready dict, the checked predicted spans and their scores (where known)."""

    report: dict[str, Any]
    spans: dict[str, list[Span]]
    scores: SpanScores


def build_report(
    gold: Sequence[Example],
    predicted: Mapping[str, Sequence[Span]],
    title: str = "Evaluation report",
    extra: Mapping[str, Any] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    *,
    scores: Mapping[str, Mapping[Span, float]] | None = None,
    low_confidence: float = LOW_CONFIDENCE,
) -> BuiltReport:
    """Scores plus error analysis as one JSON-ready dict, with the checked predictions and their scores.

    ``scores`` (per article id, predicted span -> the system's score) are
    carried over to the checked spans; the report records ``low_confidence``
    (the threshold below which the HTML page marks a span, or an event
    record, as low-confidence) with how many predicted spans have a score and
    how many of those are below it.
    """
    preds, checked_scores = normalise_scored(gold, predicted, scores)
    report = {"title": title, **score(gold, preds, bootstrap=bootstrap, seed=seed)}
    report["errors"] = analyse_errors(gold, preds)
    report["articles"] = [
        {"id": ex.id, "n_gold": len(ex.spans), "n_predicted": len(preds[ex.id]), "predicted": ex.id in predicted}
        for ex in gold
    ]
    values = [v for per in checked_scores.values() for v in per.values()]
    report["low_confidence"] = {"threshold": low_confidence, "scored_spans": len(values),
                                "below": sum(is_low(v, low_confidence) for v in values)}
    report["scorer"] = {"unit": "word", "labels": list(LABELS), **scorer_versions()}
    report["extra"] = dict(extra or {})
    return BuiltReport(report, preds, checked_scores)


def write_report_files(
    out_dir: str | Path, report: Mapping[str, Any], gold: Sequence[Example], preds: Mapping[str, Sequence[Span]],
    scores: Mapping[str, Mapping[Span, float]] | None = None,
) -> dict[str, Path]:
    """Write a built report and its checked predictions (with their ``scores``) into ``out_dir``.

    Returns :func:`report_paths`.
    """
    paths = report_paths(out_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(paths["predictions"], prediction_records(gold, preds, scores))
    atomic_write_text(paths["json"], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(paths["md"], render_markdown(report))
    atomic_write_text(paths["html"], render_html(report, gold, preds, scores))
    return paths


def write_report(
    out_dir: str | Path,
    gold: Sequence[Example],
    predicted: Mapping[str, Sequence[Span]],
    title: str = "Evaluation report",
    extra: Mapping[str, Any] | None = None,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
    scores: Mapping[str, Mapping[Span, float]] | None = None,
    low_confidence: float = LOW_CONFIDENCE,
) -> dict[str, Path]:
    """Write report.json, report.md, report.html and predictions.jsonl into ``out_dir``.

    Each file is written atomically; existing files are kept (FileExistsError)
    unless ``overwrite``. ``scores`` and ``low_confidence`` are
    :func:`build_report`'s. Returns the paths keyed json/md/html/predictions.
    """
    check_outputs(report_paths(out_dir).values(), overwrite)
    built = build_report(gold, predicted, title=title, extra=extra, bootstrap=bootstrap, seed=seed,
                         scores=scores, low_confidence=low_confidence)
    return write_report_files(out_dir, built.report, gold, built.spans, built.scores)


def summary_line(report: Mapping[str, Any]) -> str:
    """One line for a terminal: strict micro-F1 (with CI), macro-F1, P, R."""
    ci = report.get("ci95")
    ci_text = f" [95% CI {ci[0]:.3f}-{ci[1]:.3f}]" if ci else ""
    return (
        f"micro-F1 {report['micro_f1']:.4f}{ci_text}  macro-F1 {report['macro_f1']:.4f}  "
        f"P {report['precision']:.4f}  R {report['recall']:.4f}  token acc {report['token_accuracy']:.4f}  "
        f"({report['n_articles']} articles)"
    )
