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
from frontlines.training.reports import build_report
from frontlines.training.scoring import score


def tagger_spans(tagger: Any, examples: Sequence[Example], batch_size: int | None = None,
                 decoding: str | None = None) -> dict[str, list[Span]]:
    """Predicted spans per article id (``decoding`` overrides the tagger's own for this call)."""
    saved = tagger.decoding
    if decoding is not None:
        tagger.decoding = decoding
    try:
        outputs = tagger.predict([ex.text for ex in examples], batch_size=batch_size)
    finally:
        tagger.decoding = saved
    return {ex.id: [Span(int(d["start"]), int(d["end"]), str(d["label"])) for d in out]
            for ex, out in zip(examples, outputs, strict=True)}


def fragment_rate(examples: Sequence[Example], preds: dict[str, list[Span]]) -> dict[str, Any]:
    """Share of predicted spans that start or end inside a white-space token where no span may (see decoding)."""
    n = sum(len(v) for v in preds.values())
    bad = sum(len(fragments(ex.text, preds.get(ex.id, []))) for ex in examples)
    return {"fragments": bad, "spans": n, "rate": bad / n if n else 0.0}


def evaluate_tagger(tagger: Any, examples: Sequence[Example], title: str, extra: dict[str, Any] | None = None,
                    bootstrap: int = 1000, seed: int = 0, batch_size: int | None = None,
                    compare_decoding: bool = True, events: bool = True) -> tuple[dict[str, Any], dict[str, list[Span]]]:
    """The report (and checked predictions) of ``tagger`` on ``examples``, with the decoder comparison and events."""
    outputs = None
    if events:
        outputs = tagger.predict_events([ex.text for ex in examples], batch_size=batch_size, with_states=True)
        preds = {ex.id: [Span(int(d["start"]), int(d["end"]), str(d["label"])) for d in out["spans"]]
                 for ex, out in zip(examples, outputs, strict=True)}
    else:
        preds = tagger_spans(tagger, examples, batch_size)
    report, checked = build_report(examples, preds, title=title, extra=extra, bootstrap=bootstrap, seed=seed)
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
    return report, checked
