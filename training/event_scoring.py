"""Scores for event records: per-role precision/recall/F1, status accuracy and exact-record F1.

Events are matched by their trigger span (exact offsets). A role counts as
right only when the predicted span is exactly the gold one; ``places`` is a
set per event. Predicted events whose trigger is not a gold trigger count
all their filled roles as false positives, gold events without a predicted
trigger all theirs as false negatives, so the same function scores the
linker on gold spans (every trigger matches) and end to end from predicted
spans. Counts are kept per article so that a bootstrap over articles can
resample them (:func:`counts_to_scores` turns summed counts into scores).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from frontlines.inference.spans import Event, Span

ROLES = ("taker", "loser", "place", "extent")


def _role_spans(event: Event, role: str) -> set[Span]:
    if role == "place":
        return set(event.places)
    value = getattr(event, role)
    return set() if value is None else {value}


def article_counts(gold: Sequence[Event], pred: Sequence[Event]) -> Counter:
    """Counts for one article: ``{role}_tp/fp/fn``, ``status_ok``/``status_n``, ``record_tp``/``gold``/``pred``."""
    counts: Counter = Counter()
    gold_by = {e.trigger: e for e in gold}
    pred_by = {e.trigger: e for e in pred}
    for trigger in gold_by.keys() | pred_by.keys():
        g, p = gold_by.get(trigger), pred_by.get(trigger)
        for role in ROLES:
            gs = _role_spans(g, role) if g else set()
            ps = _role_spans(p, role) if p else set()
            counts[f"{role}_tp"] += len(gs & ps)
            counts[f"{role}_fp"] += len(ps - gs)
            counts[f"{role}_fn"] += len(gs - ps)
        if g is not None and p is not None:
            counts["status_n"] += 1
            counts["status_ok"] += g.status == p.status
            counts["record_tp"] += _same(g, p)
        counts["trigger_tp"] += g is not None and p is not None
    counts["record_gold"] += len(gold_by)
    counts["record_pred"] += len(pred_by)
    return counts


def _same(a: Event, b: Event) -> bool:
    return (a.taker, a.loser, set(a.places), a.extent, a.status) == (b.taker, b.loser, set(b.places), b.extent, b.status)


def _prf(tp: float, fp: float, fn: float) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": int(tp + fn)}


def counts_to_scores(counts: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Scores from (summed) counts: one entry per role, ``status`` accuracy and ``record`` exact F1."""
    out = {role: _prf(counts.get(f"{role}_tp", 0), counts.get(f"{role}_fp", 0), counts.get(f"{role}_fn", 0))
           for role in ROLES}
    n = counts.get("status_n", 0)
    out["status"] = {"accuracy": counts.get("status_ok", 0) / n if n else 0.0, "support": int(n)}
    tp = counts.get("record_tp", 0)
    out["record"] = _prf(tp, counts.get("record_pred", 0) - tp, counts.get("record_gold", 0) - tp)
    return out


def score_events(gold: Mapping[str, Sequence[Event]], pred: Mapping[str, Sequence[Event]]) -> tuple[
        dict[str, dict[str, float]], dict[str, Counter]]:
    """Scores over the articles of ``gold`` and the per-article counts behind them."""
    per_article = {art: article_counts(gold[art], pred.get(art, ())) for art in gold}
    total: Counter = Counter()
    for c in per_article.values():
        total.update(c)
    return counts_to_scores(total), per_article
