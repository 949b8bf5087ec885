"""Evaluate the event layer of a run: the learned linker against the rule baseline, on gold and on predicted spans.

Four systems are scored on the same articles when the run has a linker
(two without): ``linker`` and ``rules``, each (a) on the gold spans, which
isolates the linking, and (b) end to end from the tagger's own spans, which
is what a user gets. Each gets per-role P/R/F1, status accuracy and
exact-record F1 (:mod:`training.event_scoring`), with bootstrap 95% intervals
over articles for record, place and taker F1 from the project's one
bootstrap loop (:func:`training.scoring.bootstrap_ci`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from frontlines.inference.spans import Event, Example, Span
from frontlines.training.event_scoring import ROLES, score_events
from frontlines.training.scoring import bootstrap_ci

#: Scores that get a bootstrap interval.
CI_FIELDS = ("record", "place", "taker")


def _f1_rows(per_article: Mapping[str, Counter], field: str) -> np.ndarray:
    """Per-article ``(tp, predicted, gold)`` rows for ``field`` (the layout of :func:`training.scoring.f1_from_counts`)."""
    rows = []
    for c in per_article.values():
        if field == "record":
            rows.append([c["record_tp"], c["record_pred"], c["record_gold"]])
        else:
            tp = c[f"{field}_tp"]
            rows.append([tp, tp + c[f"{field}_fp"], tp + c[f"{field}_fn"]])
    return np.asarray(rows, dtype=float).reshape(-1, 3)


def score_system(gold: Mapping[str, Sequence[Event]], pred: Mapping[str, Sequence[Event]],
                 bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Scores of one system with bootstrap intervals (JSON-ready)."""
    scores, per_article = score_events(gold, pred)
    out: dict[str, Any] = {k: dict(v) for k, v in scores.items()}
    for field in CI_FIELDS:
        out[field]["ci95"] = bootstrap_ci(_f1_rows(per_article, field), bootstrap, seed) if bootstrap > 0 else None
    out["n_articles"] = len(gold)
    out["n_gold_events"] = sum(len(v) for v in gold.values())
    out["n_predicted_events"] = sum(len(pred.get(k, ())) for k in gold)
    return out


def _events(records: Sequence[Mapping[str, Any]]) -> list[Event]:
    """Event objects back from the tagger's JSON records."""
    def span(ref: Mapping[str, Any] | None, label: str) -> Span | None:
        return None if ref is None else Span(int(ref["start"]), int(ref["end"]), label)

    return [Event(trigger=span(r["trigger"], "CONTROL_CHANGE"), status=r["status"],  # type: ignore[arg-type]
                  taker=span(r["taker"], "ACTOR"), loser=span(r["loser"], "ACTOR"),
                  places=tuple(span(p, "LOCATION") for p in r["places"]),  # type: ignore[misc]
                  extent=span(r["extent"], "PERCENT")) for r in records]


def event_systems(tagger: Any, examples: Sequence[Example], outputs: Sequence[Mapping[str, Any]]
                  ) -> dict[str, dict[str, list[Event]]]:
    """Every system's events per article id, from one :meth:`SpanTagger.predict_events` pass with states.

    ``outputs`` come from ``predict_events(texts, linker="auto", with_states=True)``:
    their spans feed the rules end to end, their states the linker on gold spans.
    """
    from frontlines.inference.event_rules import rule_events
    from frontlines.inference.spans import Span as S

    systems: dict[str, dict[str, list[Event]]] = {"rules/gold_spans": {}, "rules/end_to_end": {}}
    linker = tagger.load_linker("auto")
    if linker is not None:
        systems["linker/gold_spans"], systems["linker/end_to_end"] = {}, {}
    for ex, out in zip(examples, outputs, strict=True):
        spans = [S(int(d["start"]), int(d["end"]), str(d["label"])) for d in out["spans"]]
        systems["rules/gold_spans"][ex.id] = [e for e, _ in rule_events(ex.text, ex.spans)]
        systems["rules/end_to_end"][ex.id] = [e for e, _ in rule_events(ex.text, spans)]
        if linker is not None:
            systems["linker/end_to_end"][ex.id] = _events(out["events"])
            systems["linker/gold_spans"][ex.id] = [e for e, _ in linker.link(ex.text, ex.spans, out["states"],
                                                                             out["words"])]
    return systems


def event_report(tagger: Any, examples: Sequence[Example], outputs: Sequence[Mapping[str, Any]],
                 bootstrap: int = 1000, seed: int = 0) -> dict[str, Any] | None:
    """The ``events`` section of a report (None when the articles carry no event annotation)."""
    keep = [i for i, ex in enumerate(examples) if ex.events is not None]
    if not keep:
        return None
    annotated = [examples[i] for i in keep]
    gold = {ex.id: list(ex.events or []) for ex in annotated}
    systems = event_systems(tagger, annotated, [outputs[i] for i in keep])
    out: dict[str, Any] = {"roles": list(ROLES), "systems": {}}
    for name, pred in systems.items():
        out["systems"][name] = score_system(gold, pred, bootstrap, seed)
    if "linker/end_to_end" in systems:
        a, b = out["systems"]["rules/end_to_end"], out["systems"]["linker/end_to_end"]
        out["linker_minus_rules_record_f1"] = b["record"]["f1"] - a["record"]["f1"]
    # End-to-end records with their scores (the HTML report frames low-scored ones).
    scores = {"linker/end_to_end": {ex.id: [r.get("score") for r in outputs[i]["events"]]
                                    for i, ex in zip(keep, annotated, strict=True)}}
    out["predicted"] = {name: {art: [{**e.to_dict(), "score": (scores.get(name, {}).get(art) or [None] * len(evs))[k]}
                                     for k, e in enumerate(evs)] for art, evs in pred.items()}
                        for name, pred in systems.items() if name.endswith("end_to_end")}
    return out


def summary_rows(section: Mapping[str, Any]) -> list[list[Any]]:
    """One row per system for tables: record F1 (CI), taker, loser, place, extent F1, status accuracy."""
    rows = []
    for name, s in section["systems"].items():
        ci = s["record"].get("ci95")
        rows.append([name, s["record"]["f1"], f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "", s["taker"]["f1"],
                     s["loser"]["f1"], s["place"]["f1"], s["extent"]["f1"], s["status"]["accuracy"]])
    return rows

