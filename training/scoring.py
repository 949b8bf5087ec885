"""Scores of predicted spans against gold: pure functions on in-memory data, JSON-ready results.

Scores are counted on words (:func:`inference.spans.word_offsets`, the
corpus's own split), never on sub-tokens, so a tokenizer cannot change them:

* seqeval entity-level precision, recall and F1 per label with micro/macro
  averages, in strict mode (IOB2 scheme: an entity must open with ``B-``) and
  in the default conlleval-compatible mode (a stray ``I-`` opens an entity);
  the top-level ``micro_f1`` is the strict one. Spans always encode to clean
  IOB2, so the two modes differ only on tag sequences given directly to
  :func:`score_tags`;
* token (word) accuracy;
* nervaluate's span schemes: strict (boundary and type), exact (boundary),
  partial (overlap, half credit) and type (overlap with the right type);
* a 95% bootstrap confidence interval on micro-F1, resampling articles.

Uncertainty is always over articles: a scorer reduces each article to a row
of counts (:func:`article_counts` gives ``[true positives, predicted, gold]``),
and :func:`resample_articles` is the one bootstrap loop, used by both
:func:`bootstrap_ci` and :func:`paired_bootstrap`. It sums rows of any
trailing shape, so another unit of scoring (per label, event records) only
needs its own per-article counts and a statistic of their sums.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from nervaluate import Evaluator
from seqeval.metrics import accuracy_score, classification_report
from seqeval.scheme import IOB2, Entities

from frontlines.inference.labels import LABELS, TAGS
from frontlines.inference.spans import Example, Span, SpanAlignmentError, spans_to_word_tags, word_offsets

#: nervaluate's scheme names -> the names used in reports.
SPAN_SCHEMES = {"strict": "strict", "exact": "exact", "partial": "partial", "ent_type": "type"}
#: The columns of :func:`article_counts`.
COUNT_FIELDS = ("true_positives", "predicted", "gold")
#: Resamples drawn per numpy batch (memory: chunk x articles indices).
_CHUNK = 256


# --------------------------------------------------------------------------- words


def article_tags(gold: Sequence[Example], predicted: Mapping[str, Sequence[Span]]) -> tuple[list, list, list]:
    """Word tags (gold, predicted) and word-index spans for nervaluate, per article."""
    gold_tags, pred_tags, index_spans = [], [], []
    for ex in gold:
        words = word_offsets(ex.text)
        try:
            g = spans_to_word_tags(words, ex.spans)
        except SpanAlignmentError as exc:
            raise ValueError(f"gold article {ex.id!r}: {exc}") from exc
        try:
            p = spans_to_word_tags(words, predicted.get(ex.id, ()))
        except SpanAlignmentError as exc:
            raise ValueError(f"predictions for {ex.id!r}: {exc} (use normalise_predictions first)") from exc
        gold_tags.append(g)
        pred_tags.append(p)
        index_spans.append((_index_spans(words, ex.spans), _index_spans(words, predicted.get(ex.id, ()))))
    return gold_tags, pred_tags, index_spans


def _index_spans(words: Sequence[tuple[int, int]], spans: Iterable[Span]) -> list[dict[str, Any]]:
    """Spans as nervaluate entities: first and last word index (inclusive, nervaluate's convention)."""
    starts = {s: i for i, (s, _) in enumerate(words)}
    ends = {e: i for i, (_, e) in enumerate(words)}
    return [{"label": s.label, "start": starts[s.start], "end": ends[s.end]} for s in sorted(spans)]


# --------------------------------------------------------------------------- seqeval


def _zero_prf() -> dict[str, float]:
    return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def _seqeval_block(gold_tags: list[list[str]], pred_tags: list[list[str]], strict: bool) -> dict[str, Any]:
    """seqeval's classification report in one mode, as plain JSON-ready numbers."""
    kwargs: dict[str, Any] = {"mode": "strict", "scheme": IOB2} if strict else {}
    rep: dict[str, Any] = {}
    if gold_tags:  # seqeval rejects an empty list of sequences; no articles scores 0
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # With no entity at all in gold and predictions seqeval's macro average is
            # the mean of an empty array (NaN plus a RuntimeWarning); we report 0.0.
            warnings.simplefilter("ignore", RuntimeWarning)
            rep = classification_report(gold_tags, pred_tags, output_dict=True, zero_division=0, **kwargs)

    def clean(row: Mapping[str, Any] | None) -> dict[str, Any]:
        if row is None:
            return _zero_prf()
        vals = {k: float(row[src]) for k, src in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score"))}
        vals = {k: (0.0 if np.isnan(v) else v) for k, v in vals.items()}
        return {**vals, "support": int(row["support"])}

    micro, macro = clean(rep.get("micro avg")), clean(rep.get("macro avg"))
    return {
        "micro_f1": micro["f1"],
        "precision": micro["precision"],
        "recall": micro["recall"],
        "macro_f1": macro["f1"],
        "macro_precision": macro["precision"],
        "macro_recall": macro["recall"],
        "support": micro["support"],
        "per_label": {label: clean(rep.get(label)) for label in LABELS},
    }


def _check_tags(gold_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> None:
    if len(gold_tags) != len(pred_tags):
        raise ValueError(f"{len(gold_tags)} gold sequences but {len(pred_tags)} predicted")
    known = set(TAGS)
    for i, (g, p) in enumerate(zip(gold_tags, pred_tags, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sequence {i}: {len(g)} gold tags but {len(p)} predicted")
        bad = sorted({t for t in (*g, *p) if t not in known})
        if bad:
            raise ValueError(f"sequence {i}: unknown tag(s) {bad} (expected one of {', '.join(TAGS)})")


def article_counts(gold_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> np.ndarray:
    """Per article ``[true positives, predicted entities, gold entities]`` in strict IOB2 mode.

    Summed over articles these give seqeval's strict micro scores; kept per
    article so that articles can be resampled for bootstrap intervals and tests.
    """
    counts = np.zeros((len(gold_tags), len(COUNT_FIELDS)), dtype=np.int64)
    for i, (g, p) in enumerate(zip(gold_tags, pred_tags, strict=True)):
        true = {(e.tag, e.start, e.end) for e in Entities([list(g)], IOB2).entities[0]}
        pred = {(e.tag, e.start, e.end) for e in Entities([list(p)], IOB2).entities[0]}
        counts[i] = (len(true & pred), len(pred), len(true))
    return counts


def span_counts(gold: Sequence[Example], predicted: Mapping[str, Sequence[Span]]) -> np.ndarray:
    """:func:`article_counts` of checked predicted spans, one row per gold article."""
    gold_tags, pred_tags, _ = article_tags(gold, predicted)
    return article_counts(gold_tags, pred_tags)


def score_tags(gold_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> dict[str, Any]:
    """seqeval scores of word-tag sequences: strict (IOB2) and default modes, token accuracy.

    The top-level precision/recall/micro_f1/macro_f1/per_label are the strict ones.
    """
    _check_tags(gold_tags, pred_tags)
    g, p = [list(s) for s in gold_tags], [list(s) for s in pred_tags]
    strict = _seqeval_block(g, p, strict=True)
    default = _seqeval_block(g, p, strict=False)
    n_words = sum(len(s) for s in g)
    counts = article_counts(g, p).sum(axis=0)
    return {
        "micro_f1": strict["micro_f1"],
        "macro_f1": strict["macro_f1"],
        "precision": strict["precision"],
        "recall": strict["recall"],
        "token_accuracy": float(accuracy_score(g, p)) if n_words else 0.0,
        "per_label": strict["per_label"],
        "strict": strict,
        "default": default,
        "counts": {name: int(n) for name, n in zip(COUNT_FIELDS, counts, strict=True)},
        "n_words": n_words,
    }


# --------------------------------------------------------------------------- nervaluate


def span_scores(index_spans: list[tuple[list, list]]) -> dict[str, Any]:
    """nervaluate's four schemes on word-index spans, overall and per label."""
    fields = ("correct", "incorrect", "partial", "missed", "spurious", "possible", "actual", "precision", "recall", "f1")
    ratios = ("precision", "recall", "f1")

    def row(res: Any | None) -> dict[str, Any]:
        if res is None:
            return {f: (0.0 if f in ratios else 0) for f in fields}
        return {f: (float(getattr(res, f)) if f in ratios else int(getattr(res, f))) for f in fields}

    results: dict[str, Any] = {"overall": {}, "entities": {}}
    if index_spans:
        true = [t for t, _ in index_spans]
        pred = [p for _, p in index_spans]
        results = Evaluator(true, pred, tags=list(LABELS), loader="dict").evaluate()
    out: dict[str, Any] = {}
    for theirs, ours in SPAN_SCHEMES.items():
        block = row(results["overall"].get(theirs))
        block["per_label"] = {label: row(results["entities"].get(label, {}).get(theirs)) for label in LABELS}
        out[ours] = block
    return out


# --------------------------------------------------------------------------- bootstrap over articles


def f1_from_counts(sums: np.ndarray) -> np.ndarray:
    """Micro-F1 = 2 tp / (predicted + gold), 0 where both are 0; ``sums`` is (..., 3) in :data:`COUNT_FIELDS` order."""
    denom = sums[..., 1] + sums[..., 2]
    return np.divide(2.0 * sums[..., 0], denom, out=np.zeros(denom.shape, dtype=float), where=denom > 0)


def resample_articles(per_article: np.ndarray, samples: int, seed: int) -> Iterator[np.ndarray]:
    """Sums of ``samples`` bootstrap resamples of the articles (axis 0), in batches of shape (batch, ...).

    The one bootstrap loop: resamples are drawn with replacement from a seeded
    generator, so the same seed and article count give the same resamples to
    every statistic (which is what makes a paired test paired).
    """
    rng = np.random.default_rng(seed)
    n = len(per_article)
    for done in range(0, samples, _CHUNK):
        idx = rng.integers(0, n, size=(min(_CHUNK, samples - done), n))
        yield per_article[idx].sum(axis=1)


def bootstrap_values(
    per_article: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], samples: int, seed: int
) -> np.ndarray:
    """``statistic`` of every resample's sums, as one array (length ``samples``)."""
    out = [statistic(sums) for sums in resample_articles(np.asarray(per_article), samples, seed)]
    return np.concatenate(out) if out else np.zeros(0)


def bootstrap_ci(
    counts: np.ndarray,
    samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    statistic: Callable[[np.ndarray], np.ndarray] = f1_from_counts,
) -> list[float]:
    """Percentile bootstrap interval of ``statistic`` (micro-F1), resampling articles with replacement."""
    if len(counts) == 0 or samples <= 0:
        return [0.0, 0.0]
    values = bootstrap_values(counts, statistic, samples, seed)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return [float(lo), float(hi)]


def paired_bootstrap(
    counts_a: np.ndarray,
    counts_b: np.ndarray,
    samples: int = 1000,
    seed: int = 0,
    statistic: Callable[[np.ndarray], np.ndarray] = f1_from_counts,
) -> dict[str, Any]:
    """Paired bootstrap test of ``statistic`` (micro-F1) of b minus a over the same articles.

    Both systems are scored on the same resampled articles; the two-sided
    p-value is twice the smaller share of resampled differences on either side
    of zero (capped at 1). ``significant`` means p < 0.05.
    """
    counts_a, counts_b = np.asarray(counts_a), np.asarray(counts_b)
    if counts_a.shape != counts_b.shape:
        raise ValueError("paired bootstrap needs counts for the same articles")
    delta = float(statistic(counts_b.sum(axis=0)) - statistic(counts_a.sum(axis=0)))
    if len(counts_a) == 0 or samples <= 0:
        return {"delta": delta, "ci95": [delta, delta], "p_value": 1.0, "significant": False, "samples": 0}
    both = np.stack([counts_a, counts_b], axis=1)  # (articles, 2, ...): resampled together
    d = bootstrap_values(both, lambda sums: statistic(sums[:, 1]) - statistic(sums[:, 0]), samples, seed)
    p = min(1.0, 2.0 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0))))
    lo, hi = np.percentile(d, [2.5, 97.5])
    return {"delta": delta, "ci95": [float(lo), float(hi)], "p_value": p, "significant": p < 0.05, "samples": samples}


# --------------------------------------------------------------------------- everything at once


def score(
    gold: Sequence[Example],
    predicted: Mapping[str, Sequence[Span]],
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Score predicted spans (per article id) against ``gold``; JSON-ready.

    Predicted spans must be word-aligned and non-overlapping (as the BIO
    decoder's are); pass untrusted input through
    :func:`training.predictions.normalise_predictions`. Articles absent from
    ``predicted`` count as predicting nothing. With ``bootstrap`` > 0,
    ``ci95`` is a bootstrap interval of micro-F1 over articles (``bootstrap``
    resamples, ``seed``).
    """
    unknown = set(predicted) - {ex.id for ex in gold}
    if unknown:
        raise ValueError(f"predictions for unknown article id(s): {sorted(unknown)[:5]}")
    gold_tags, pred_tags, index_spans = article_tags(gold, predicted)
    result = score_tags(gold_tags, pred_tags)
    result["spans"] = span_scores(index_spans)
    result["n_articles"] = len(gold)
    if bootstrap > 0:
        result["ci95"] = bootstrap_ci(article_counts(gold_tags, pred_tags), bootstrap, seed)
        result["bootstrap"] = {"samples": bootstrap, "seed": seed, "unit": "article"}
    return result
