"""Evaluate a loaded tagger on corpus articles: spans, both decoders, fragments and events, as one report.

Used by ``python -m training.evaluate model`` and by ``training/train.py`` at
the end of a run, so the model card, ``run.json`` and the report files agree.
The tagger runs once per decoder; events add the linker systems of
:mod:`training.event_eval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from frontlines.inference.decoding import fragments
from frontlines.inference.spans import Example, Span
from frontlines.training.event_eval import event_report
from frontlines.training.html_marks import LOW_CONFIDENCE
from frontlines.training.predictions import SpanScores
from frontlines.training.reports import BuiltReport, build_report
from frontlines.training.scoring import score


def _spans_and_scores(examples: Sequence[Example],
                      outputs: Sequence[Sequence[dict[str, Any]]]) -> tuple[dict[str, list[Span]], SpanScores]:
    """The tagger's span dicts (``{"start", "end", "label", "score"}``) as spans and scores per article id."""
    preds: dict[str, list[Span]] = {}
    scores: SpanScores = {}
    for ex, out in zip(examples, outputs, strict=True):
        spans = [Span(int(d["start"]), int(d["end"]), str(d["label"])) for d in out]
        preds[ex.id] = spans
        scores[ex.id] = {s: float(d["score"]) for s, d in zip(spans, out, strict=True) if d.get("score") is not None}
    return preds, scores


def tagger_scored_spans(tagger: Any, examples: Sequence[Example], batch_size: int | None = None,
                        decoding: str | None = None) -> tuple[dict[str, list[Span]], SpanScores]:
    """Predicted spans and their scores per article id (``decoding`` overrides the tagger's own for this call)."""
    saved = tagger.decoding
    if decoding is not None:
        tagger.decoding = decoding
    try:
        outputs = tagger.predict([ex.text for ex in examples], batch_size=batch_size)
    finally:
        tagger.decoding = saved
    return _spans_and_scores(examples, outputs)


def tagger_spans(tagger: Any, examples: Sequence[Example], batch_size: int | None = None,
                 decoding: str | None = None) -> dict[str, list[Span]]:
    """Predicted spans per article id (``decoding`` overrides the tagger's own for this call)."""
    return tagger_scored_spans(tagger, examples, batch_size, decoding)[0]


def fragment_rate(examples: Sequence[Example], preds: dict[str, list[Span]]) -> dict[str, Any]:
    """Share of predicted spans that start or end inside a white-space token where no span may (see decoding)."""
    n = sum(len(v) for v in preds.values())
    bad = sum(len(fragments(ex.text, preds.get(ex.id, []))) for ex in examples)
    return {"fragments": bad, "spans": n, "rate": bad / n if n else 0.0}


def evaluate_tagger(tagger: Any, examples: Sequence[Example], title: str, extra: dict[str, Any] | None = None,
                    bootstrap: int = 1000, seed: int = 0, batch_size: int | None = None,
                    compare_decoding: bool = True, events: bool = True,
                    low_confidence: float = LOW_CONFIDENCE) -> BuiltReport:
    """The report (with checked predictions and their scores) of ``tagger`` on ``examples``, decoders and events.

    ``low_confidence`` is :func:`training.reports.build_report`'s.
    """
    outputs = None
    if events:
        outputs = tagger.predict_events([ex.text for ex in examples], batch_size=batch_size, with_states=True)
        preds, scores = _spans_and_scores(examples, [out["spans"] for out in outputs])
    else:
        preds, scores = tagger_scored_spans(tagger, examples, batch_size)
    built = build_report(examples, preds, title=title, extra=extra, bootstrap=bootstrap, seed=seed,
                         scores=scores, low_confidence=low_confidence)
    report = built.report
    decoding = {tagger.decoding: {"micro_f1": report["micro_f1"], "ci95": report.get("ci95"),
                                  **fragment_rate(examples, preds)}}
    if compare_decoding:
        other = "argmax" if tagger.decoding == "viterbi" else "viterbi"
        alt = tagger_spans(tagger, examples, batch_size, decoding=other)
        alt_score = score(examples, alt, bootstrap=bootstrap, seed=seed)
        decoding[other] = {"micro_f1": alt_score["micro_f1"], "ci95": alt_score.get("ci95"),
                           "per_label": {k: v["f1"] for k, v in alt_score["per_label"].items()},
                           **fragment_rate(examples, alt)}
    report["decoding"] = {"used": tagger.decoding, **decoding}
    if outputs is not None:
        section = event_report(tagger, examples, outputs, bootstrap=bootstrap, seed=seed)
        if section is not None:
            report["events"] = section
    return built
