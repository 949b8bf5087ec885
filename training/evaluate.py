"""Score predicted spans against gold, write evaluation reports, compare runs.

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

Command line (``python -m training.evaluate``)::

    score   --gold GOLD.jsonl --pred PRED.jsonl --out DIR   score any system's predictions file
    model   --model RUN_OR_MODEL_DIR [--split test] [--corpus PATH] --out DIR
    compare RUN_DIR... --out DIR                            runs side by side, paired bootstrap

A predictions file holds one JSON object per line, ``{"id", "spans": [{"start",
"end", "label"}]}`` (other keys are ignored). A predicted span whose ends fall
inside words is widened to the whole words it touches, the unit everything is
scored on; an unknown id, a bad label, offsets out of range, overlapping spans
or invalid JSON are errors naming file and line. A gold article with no line
in the file is scored as predicting nothing (with a warning).
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from nervaluate import Evaluator
from seqeval.metrics import accuracy_score, classification_report
from seqeval.scheme import IOB2, Entities

from inference.labels import LABELS, TAGS
from inference.spans import Example, Span, SpanAlignmentError, spans_to_word_tags, word_offsets
from training.corpus import (
    DEFAULT_CORPUS,
    SPLITS,
    Problem,
    iter_jsonl,
    load_corpus,
    parse_span,
    split_examples,
    write_jsonl_atomic,
)

#: nervaluate's scheme names -> the names used in reports.
SPAN_SCHEMES = {"strict": "strict", "exact": "exact", "partial": "partial", "ent_type": "type"}
REPORT_FILES = {
    "json": "report.json",
    "md": "report.md",
    "html": "report.html",
    "predictions": "predictions.jsonl",
}


class PredictionError(ValueError):
    """Predictions that cannot be scored; lists every problem with file and line."""

    def __init__(self, problems: Sequence[Problem | str]) -> None:
        self.problems = [str(p) for p in problems]
        shown = "\n".join(self.problems[:20])
        more = f"\n... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{len(self.problems)} prediction problem(s):\n{shown}{more}")


# --------------------------------------------------------------------------- words


def widen_to_words(words: Sequence[tuple[int, int]], span: Span) -> Span | None:
    """``span`` widened to the whole words it touches; None if it touches no word."""
    return _widen([s for s, _ in words], [e for _, e in words], span)


def _widen(starts: list[int], ends: list[int], span: Span) -> Span | None:
    first = bisect.bisect_right(ends, span.start)  # first word ending after span.start
    last = bisect.bisect_left(starts, span.end) - 1  # last word starting before span.end
    if first >= len(starts) or last < first:
        return None
    return Span(starts[first], ends[last], span.label)


def _normalise(
    text: str, spans: Iterable[Span], where: str
) -> tuple[list[Span], list[str], int]:
    """Check and widen one article's predicted spans: (spans, problems, n_widened)."""
    words = word_offsets(text)
    starts, ends = [s for s, _ in words], [e for _, e in words]
    problems: list[str] = []
    out: list[tuple[Span, Span]] = []  # (widened, as given)
    widened = 0
    for span in spans:
        tag = f"span [{span.start}, {span.end}) {span.label}"
        if span.label not in LABELS:
            problems.append(f"{where} {tag}: unknown label {span.label!r} (expected one of {', '.join(LABELS)})")
        elif not (0 <= span.start < span.end <= len(text)):
            problems.append(f"{where} {tag}: offsets out of range or empty (text has {len(text)} characters)")
        else:
            wide = _widen(starts, ends, span)
            if wide is None:
                problems.append(f"{where} {tag}: covers no word (only white space)")
                continue
            widened += wide != span
            out.append((wide, span))
    out.sort()

    def show(wide: Span, given: Span) -> str:
        note = f" (widened to [{wide.start}, {wide.end}))" if wide != given else ""
        return f"[{given.start}, {given.end}) {given.label}{note}"

    kept: list[Span] = []
    prev: tuple[Span, Span] | None = None
    for wide, given in out:
        if prev is not None and wide.start < prev[0].end:
            problems.append(f"{where} span {show(wide, given)}: overlaps span {show(*prev)}")
        else:
            kept.append(wide)
            prev = (wide, given)
    return kept, problems, widened


def normalise_predictions(
    gold: Sequence[Example], predicted: Mapping[str, Sequence[Span]]
) -> dict[str, list[Span]]:
    """Predicted spans per gold article, widened to whole words and checked.

    Raises :class:`PredictionError` for an id not in ``gold``, a bad label,
    offsets out of range or overlapping spans. Missing ids get no spans.
    """
    by_id = {ex.id: ex for ex in gold}
    problems = [f"unknown article id {art_id!r}" for art_id in predicted if art_id not in by_id]
    out: dict[str, list[Span]] = {}
    for ex in gold:
        spans, found, _ = _normalise(ex.text, predicted.get(ex.id, ()), f"[{ex.id}]")
        problems.extend(found)
        out[ex.id] = spans
    if problems:
        raise PredictionError(problems)
    return out


def read_predictions(path: str | Path, gold: Sequence[Example]) -> tuple[dict[str, list[Span]], int]:
    """Read a predictions file; return spans per article id and how many were widened.

    Every problem is collected and raised at once as :class:`PredictionError`,
    each naming the file, the line, the article id and the span.
    """
    name = str(path)
    by_id = {ex.id: ex for ex in gold}
    problems: list[Problem | str] = []
    out: dict[str, list[Span]] = {}
    seen: dict[str, int] = {}
    widened = 0
    for lineno, record in iter_jsonl(path):
        if isinstance(record, Problem):
            problems.append(record)
            continue
        if not isinstance(record, dict):
            problems.append(Problem(name, lineno, "a line must be a JSON object with 'id' and 'spans'"))
            continue
        art_id, raw_spans = record.get("id"), record.get("spans")
        if not isinstance(art_id, str) or art_id not in by_id:
            problems.append(Problem(name, lineno, f"unknown article id {art_id!r} (not in the gold file)"))
            continue
        if art_id in seen:
            problems.append(Problem(name, lineno, f"duplicate id (first seen at line {seen[art_id]})", art_id))
            continue
        seen[art_id] = lineno
        if not isinstance(raw_spans, list):
            problems.append(Problem(name, lineno, "'spans' must be a list", art_id))
            continue
        spans: list[Span] = []
        for i, item in enumerate(raw_spans):
            span = parse_span(item, i, name, lineno, art_id)
            if isinstance(span, Problem):
                problems.append(span)
            else:
                spans.append(span)
        kept, found, n = _normalise(by_id[art_id].text, spans, f"{name}:{lineno} [{art_id}]")
        problems.extend(found)
        widened += n
        out[art_id] = kept
    if problems:
        raise PredictionError(problems)
    return out, widened


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


# --------------------------------------------------------------------------- scores


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
    counts = np.zeros((len(gold_tags), 3), dtype=np.int64)
    for i, (g, p) in enumerate(zip(gold_tags, pred_tags, strict=True)):
        true = {(e.tag, e.start, e.end) for e in Entities([list(g)], IOB2).entities[0]}
        pred = {(e.tag, e.start, e.end) for e in Entities([list(p)], IOB2).entities[0]}
        counts[i] = (len(true & pred), len(pred), len(true))
    return counts


def _f1_from_counts(sums: np.ndarray) -> np.ndarray:
    """Micro-F1 = 2 tp / (predicted + gold), 0 where both are 0; ``sums`` is (..., 3)."""
    denom = sums[..., 1] + sums[..., 2]
    return np.divide(2.0 * sums[..., 0], denom, out=np.zeros(denom.shape, dtype=float), where=denom > 0)


def _resampled_f1(counts: np.ndarray, samples: int, seed: int, chunk: int = 256) -> np.ndarray:
    """Micro-F1 of ``samples`` bootstrap resamples of the articles (rows of ``counts``)."""
    rng = np.random.default_rng(seed)
    n = len(counts)
    out = []
    for done in range(0, samples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, samples - done), n))
        out.append(_f1_from_counts(counts[idx].sum(axis=1)))
    return np.concatenate(out) if out else np.zeros(0)


def bootstrap_ci(counts: np.ndarray, samples: int = 1000, seed: int = 0, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of micro-F1, resampling articles with replacement."""
    if len(counts) == 0 or samples <= 0:
        return [0.0, 0.0]
    f1 = _resampled_f1(np.asarray(counts), samples, seed)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(f1, [tail, 100 - tail])
    return [float(lo), float(hi)]


def paired_bootstrap(
    counts_a: np.ndarray, counts_b: np.ndarray, samples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Paired bootstrap test of micro-F1(b) - micro-F1(a) over the same articles.

    Both systems are scored on the same resampled articles; the two-sided
    p-value is twice the smaller share of resampled differences on either side
    of zero (capped at 1). ``significant`` means p < 0.05.
    """
    counts_a, counts_b = np.asarray(counts_a), np.asarray(counts_b)
    if counts_a.shape != counts_b.shape:
        raise ValueError("paired bootstrap needs counts for the same articles")
    delta = float(_f1_from_counts(counts_b.sum(axis=0)) - _f1_from_counts(counts_a.sum(axis=0)))
    if len(counts_a) == 0 or samples <= 0:
        return {"delta": delta, "ci95": [delta, delta], "p_value": 1.0, "significant": False, "samples": 0}
    both = np.concatenate([counts_a, counts_b], axis=1)
    rng = np.random.default_rng(seed)
    n = len(both)
    diffs = []
    for done in range(0, samples, 256):
        idx = rng.integers(0, n, size=(min(256, samples - done), n))
        sums = both[idx].sum(axis=1)
        diffs.append(_f1_from_counts(sums[:, 3:]) - _f1_from_counts(sums[:, :3]))
    d = np.concatenate(diffs)
    p = min(1.0, 2.0 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0))))
    lo, hi = np.percentile(d, [2.5, 97.5])
    return {"delta": delta, "ci95": [float(lo), float(hi)], "p_value": p, "significant": p < 0.05, "samples": samples}


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
        "counts": {"true_positives": int(counts[0]), "predicted": int(counts[1]), "gold": int(counts[2])},
        "n_words": n_words,
    }


def _span_scores(index_spans: list[tuple[list, list]]) -> dict[str, Any]:
    """nervaluate's four schemes on word-index spans, overall and per label."""
    fields = ("correct", "incorrect", "partial", "missed", "spurious", "possible", "actual", "precision", "recall", "f1")

    def row(res: Any | None) -> dict[str, Any]:
        if res is None:
            return {f: (0.0 if f in ("precision", "recall", "f1") else 0) for f in fields}
        return {f: (float(getattr(res, f)) if f in ("precision", "recall", "f1") else int(getattr(res, f))) for f in fields}

    results: dict[str, Any] = {"overall": {}, "entities": {}}
    if index_spans:
        true = [t for t, _ in index_spans]
        pred = [p for _, p in index_spans]
        results = Evaluator(true, pred, tags=list(LABELS), loader="dict").evaluate()
    out: dict[str, Any] = {}
    for theirs, ours in SPAN_SCHEMES.items():
        block = row(results["overall"].get(theirs))
        block["per_label"] = {
            label: row(results["entities"].get(label, {}).get(theirs)) for label in LABELS
        }
        out[ours] = block
    return out


def score(
    gold: Sequence[Example],
    predicted: Mapping[str, Sequence[Span]],
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Score predicted spans (per article id) against ``gold``; JSON-ready.

    Predicted spans must be word-aligned and non-overlapping (as the BIO
    decoder's are); pass untrusted input through :func:`normalise_predictions`.
    Articles absent from ``predicted`` count as predicting nothing. With
    ``bootstrap`` > 0, ``ci95`` is a bootstrap interval of micro-F1 over
    articles (``bootstrap`` resamples, ``seed``).
    """
    unknown = set(predicted) - {ex.id for ex in gold}
    if unknown:
        raise ValueError(f"predictions for unknown article id(s): {sorted(unknown)[:5]}")
    gold_tags, pred_tags, index_spans = article_tags(gold, predicted)
    result = score_tags(gold_tags, pred_tags)
    result["spans"] = _span_scores(index_spans)
    result["n_articles"] = len(gold)
    if bootstrap > 0:
        result["ci95"] = bootstrap_ci(article_counts(gold_tags, pred_tags), bootstrap, seed)
        result["bootstrap"] = {"samples": bootstrap, "seed": seed, "unit": "article"}
    return result


# --------------------------------------------------------------------------- reports


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def check_outputs(paths: Iterable[Path], overwrite: bool) -> None:
    """Refuse to replace existing outputs unless ``overwrite``."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"output exists (pass --overwrite / overwrite=True to replace): {', '.join(existing)}")


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("seqeval", "nervaluate"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def build_report(
    gold: Sequence[Example],
    predicted: Mapping[str, Sequence[Span]],
    title: str = "Evaluation report",
    extra: Mapping[str, Any] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, list[Span]]]:
    """Scores plus error analysis as one JSON-ready dict, and the checked predictions."""
    from training.error_analysis import analyse_errors

    preds = normalise_predictions(gold, predicted)
    report = {"title": title, **score(gold, preds, bootstrap=bootstrap, seed=seed)}
    report["errors"] = analyse_errors(gold, preds)
    report["articles"] = [
        {"id": ex.id, "n_gold": len(ex.spans), "n_predicted": len(preds[ex.id]), "predicted": ex.id in predicted}
        for ex in gold
    ]
    report["scorer"] = {"unit": "word", "labels": list(LABELS), **_versions()}
    report["extra"] = dict(extra or {})
    return report, preds


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
) -> dict[str, Path]:
    """Write report.json, report.md, report.html and predictions.jsonl into ``out_dir``.

    Each file is written atomically; existing files are kept (FileExistsError)
    unless ``overwrite``. Returns the paths keyed json/md/html/predictions.
    """
    from training.report_html import render_html
    from training.report_md import render_markdown

    out = Path(out_dir)
    paths = {key: out / name for key, name in REPORT_FILES.items()}
    check_outputs(paths.values(), overwrite)
    report, preds = build_report(gold, predicted, title=title, extra=extra, bootstrap=bootstrap, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(
        paths["predictions"], ({"id": ex.id, "spans": [s.to_dict() for s in preds[ex.id]]} for ex in gold)
    )
    write_text_atomic(paths["json"], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(paths["md"], render_markdown(report))
    write_text_atomic(paths["html"], render_html(report, gold, preds))
    return paths


def summary_line(report: Mapping[str, Any]) -> str:
    """One line for a terminal: strict micro-F1 (with CI), macro-F1, P, R."""
    ci = report.get("ci95")
    ci_text = f" [95% CI {ci[0]:.3f}-{ci[1]:.3f}]" if ci else ""
    return (
        f"micro-F1 {report['micro_f1']:.4f}{ci_text}  macro-F1 {report['macro_f1']:.4f}  "
        f"P {report['precision']:.4f}  R {report['recall']:.4f}  token acc {report['token_accuracy']:.4f}  "
        f"({report['n_articles']} articles)"
    )


# --------------------------------------------------------------------------- CLI


def _cmd_score(args: argparse.Namespace) -> int:
    examples = load_corpus([args.gold])
    preds, widened = read_predictions(args.pred, examples)
    if args.split:
        examples = split_examples(examples, args.split)
    missing = [ex.id for ex in examples if ex.id not in preds]
    if missing:
        print(
            f"warning: {len(missing)} gold article(s) have no line in {args.pred}; scored as predicting nothing: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
            file=sys.stderr,
        )
    if widened:
        print(f"note: {widened} predicted span(s) widened to whole words", file=sys.stderr)
    preds = {k: v for k, v in preds.items() if k in {ex.id for ex in examples}}
    extra = {"gold": str(args.gold), "predictions": str(args.pred), "split": args.split, "widened_spans": widened}
    return _report_and_summarise(args, examples, preds, f"{Path(args.pred).name} vs {Path(args.gold).name}", extra)


def _report_and_summarise(
    args: argparse.Namespace, examples: Sequence[Example], preds: Mapping[str, Sequence[Span]], title: str, extra: dict
) -> int:
    """Write the report files for a CLI command and print the one-line summary."""
    paths = write_report(
        args.out, examples, preds, title=args.title or title,
        extra=extra, bootstrap=args.bootstrap, seed=args.seed, overwrite=args.overwrite,
    )
    print(summary_line(json.loads(paths["json"].read_text(encoding="utf-8"))))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def predict_examples(model_dir: str | Path, examples: Sequence[Example], batch_size: int = 16) -> dict[str, list[Span]]:
    """Predict spans for ``examples`` with :class:`inference.SpanTagger`."""
    from inference import SpanTagger  # imported here: only this command needs torch and the model code

    tagger = SpanTagger.from_pretrained(str(model_dir))
    outputs = tagger.predict([ex.text for ex in examples], batch_size=batch_size)
    if len(outputs) != len(examples):
        raise RuntimeError(f"SpanTagger returned {len(outputs)} results for {len(examples)} texts")
    return {
        ex.id: [Span(int(d["start"]), int(d["end"]), str(d["label"])) for d in out]
        for ex, out in zip(examples, outputs, strict=True)
    }


def _cmd_model(args: argparse.Namespace) -> int:
    corpus = Path(args.corpus) if args.corpus else DEFAULT_CORPUS
    examples = load_corpus([corpus])
    if args.split != "all":
        examples = split_examples(examples, args.split)
    if not examples:
        raise SystemExit(f"error: split {args.split!r} of {corpus} has no articles")
    paths = {key: Path(args.out) / name for key, name in REPORT_FILES.items()}
    check_outputs(paths.values(), args.overwrite)  # fail before the slow part
    preds = predict_examples(args.model, examples, batch_size=args.batch_size)
    extra = {"model": str(args.model), "corpus": str(corpus), "split": args.split}
    return _report_and_summarise(args, examples, preds, f"{Path(args.model).name} on {args.split}", extra)


def _cmd_compare(args: argparse.Namespace) -> int:
    from training.compare import compare_runs

    paths = compare_runs(
        args.runs, args.out, corpus=args.corpus or DEFAULT_CORPUS, bootstrap=args.bootstrap,
        seed=args.seed, overwrite=args.overwrite,
    )
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out", required=True, help="output directory")
        p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the articles (0: none)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")

    sp = sub.add_parser("score", help="score a predictions file against a gold corpus file")
    sp.add_argument("--gold", required=True, help="gold corpus JSON lines")
    sp.add_argument("--pred", required=True, help='predictions JSON lines {"id", "spans": [{"start","end","label"}]}')
    sp.add_argument("--split", choices=SPLITS, help="score only this split of the gold file")
    sp.add_argument("--title")
    common(sp)
    sp.set_defaults(func=_cmd_score)

    mp = sub.add_parser("model", help="predict a corpus split with a saved model and score it")
    mp.add_argument("--model", required=True, help="run directory or model directory (save_pretrained)")
    mp.add_argument("--split", default="test", choices=(*SPLITS, "all"))
    mp.add_argument("--corpus", help=f"corpus JSON lines (default {DEFAULT_CORPUS})")
    mp.add_argument("--batch-size", type=int, default=16)
    mp.add_argument("--title")
    common(mp)
    mp.set_defaults(func=_cmd_model)

    cp = sub.add_parser("compare", help="compare run directories side by side")
    cp.add_argument("runs", nargs="+", help="run directories; the first is the baseline")
    cp.add_argument("--corpus", help=f"gold corpus for the paired test (default {DEFAULT_CORPUS})")
    common(cp)
    cp.set_defaults(func=_cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (PredictionError, FileExistsError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
