"""Evaluate span predictions: score a file or a model against gold, or compare runs (command line).

Command line (``python -m training.evaluate``)::

    score   --gold GOLD.jsonl --pred PRED.jsonl --out DIR   score any system's predictions file
    model   --model RUN_OR_MODEL_DIR [--split test] [--corpus PATH] --out DIR
    compare RUN_DIR... --out DIR                            runs side by side, paired bootstrap
    compare RUN_DIR... --corpus PATH --split test --out DIR  the same, every run tagging that split afresh

This module only parses arguments and prints; the work is done by plain
functions that return data (:func:`evaluate_predictions`,
:func:`evaluate_model`, :func:`training.compare.compare_runs`) over the chain
:mod:`training.scoring` (scores) <- :mod:`training.predictions` (reading and
checking predictions) <- :mod:`training.reports` (report files) <-
:mod:`training.compare`. No module of that chain imports this one, so
``python -m`` runs it once. A gold article with no line in the predictions file is scored as
predicting nothing (with a warning).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontlines.training.compare import compare_runs
from frontlines.training.corpus import DEFAULT_CORPUS, SPLITS, load_corpus, split_examples
from frontlines.training.html_marks import LOW_CONFIDENCE, threshold_arg
from frontlines.training.predictions import read_scored_predictions
from frontlines.training.reports import (
    build_report,
    check_outputs,
    report_paths,
    summary_line,
    write_report,
    write_report_files,
)
from frontlines.training.scoring import score

#: ``score`` and ``write_report`` are re-exported for ``training/train.py``, which still imports them from here;
#: new code imports them from :mod:`training.scoring` and :mod:`training.reports`.
__all__ = ["Evaluation", "evaluate_model", "evaluate_predictions", "main", "score", "write_report"]


@dataclass
class Evaluation:
    """What an evaluation wrote and found: the report dict, its files, and what the caller should warn about."""

    report: dict[str, Any]
    paths: dict[str, Path]
    missing: list[str] = field(default_factory=list)  #: gold articles with no line in the predictions file
    widened: int = 0  #: predicted spans widened to whole words


def evaluate_predictions(
    gold_path: str | Path,
    pred_path: str | Path,
    out_dir: str | Path,
    *,
    split: str | None = None,
    title: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
    low_confidence: float = LOW_CONFIDENCE,
) -> Evaluation:
    """Score a predictions file against a gold corpus file (or one ``split`` of it) and write the report.

    Spans with a ``"score"`` keep it in the report; those below ``low_confidence`` are marked in its HTML.
    """
    check_outputs(report_paths(out_dir).values(), overwrite)
    examples = load_corpus([gold_path])
    preds, scores, widened = read_scored_predictions(pred_path, examples)
    if split:
        examples = split_examples(examples, split)
    ids = {ex.id for ex in examples}
    preds = {k: v for k, v in preds.items() if k in ids}
    extra = {"gold": str(gold_path), "predictions": str(pred_path), "split": split, "widened_spans": widened}
    built = build_report(
        examples, preds, title=title or f"{Path(pred_path).name} vs {Path(gold_path).name}",
        extra=extra, bootstrap=bootstrap, seed=seed, scores=scores, low_confidence=low_confidence,
    )
    paths = write_report_files(out_dir, built.report, examples, built.spans, built.scores)
    return Evaluation(built.report, paths, missing=[ex.id for ex in examples if ex.id not in preds], widened=widened)


def evaluate_model(
    model: str | Path,
    out_dir: str | Path,
    *,
    corpus: str | Path | None = None,
    split: str = "test",
    batch_size: int = 16,
    title: str | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
    low_confidence: float = LOW_CONFIDENCE,
) -> Evaluation:
    """Predict a corpus split (or ``"all"``) with a saved model, score it and write the report.

    The report's HTML marks the spans (and event records) scored below ``low_confidence``.
    """
    corpus = Path(corpus) if corpus else DEFAULT_CORPUS
    examples = load_corpus([corpus])
    if split != "all":
        examples = split_examples(examples, split)
    if not examples:
        raise ValueError(f"split {split!r} of {corpus} has no articles")
    check_outputs(report_paths(out_dir).values(), overwrite)  # fail before the slow part
    from frontlines.inference import SpanTagger  # the model command alone needs torch and the model code
    from frontlines.training.run_eval import evaluate_tagger

    tagger = SpanTagger.from_pretrained(str(model), precision="fp32")  # fp32: the reference numbers
    extra = {"model": str(model), "corpus": str(corpus), "split": split}
    # The same report as a run's own test and stress reports: both decoders with their fragment rates, and
    # the event systems where the articles have event links.
    built = evaluate_tagger(tagger, examples, title=title or f"{Path(model).name} on {split}", extra=extra,
                            bootstrap=bootstrap, seed=seed, batch_size=batch_size, low_confidence=low_confidence)
    return Evaluation(built.report, write_report_files(out_dir, built.report, examples, built.spans, built.scores))


# --------------------------------------------------------------------------- command line


def _print_evaluation(result: Evaluation, pred_path: str | None = None) -> None:
    if result.missing:
        shown = ", ".join(result.missing[:5]) + (" ..." if len(result.missing) > 5 else "")
        print(
            f"warning: {len(result.missing)} gold article(s) have no line in {pred_path}; "
            f"scored as predicting nothing: {shown}",
            file=sys.stderr,
        )
    if result.widened:
        print(f"note: {result.widened} predicted span(s) widened to whole words", file=sys.stderr)
    print(summary_line(result.report))
    print(f"wrote {', '.join(str(p) for p in result.paths.values())}")


def _cmd_score(args: argparse.Namespace) -> None:
    result = evaluate_predictions(
        args.gold, args.pred, args.out, split=args.split, title=args.title,
        bootstrap=args.bootstrap, seed=args.seed, overwrite=args.overwrite, low_confidence=args.low,
    )
    _print_evaluation(result, args.pred)


def _cmd_model(args: argparse.Namespace) -> None:
    result = evaluate_model(
        args.model, args.out, corpus=args.corpus, split=args.split, batch_size=args.batch_size,
        title=args.title, bootstrap=args.bootstrap, seed=args.seed, overwrite=args.overwrite, low_confidence=args.low,
    )
    _print_evaluation(result)


def _cmd_compare(args: argparse.Namespace) -> None:
    if args.batch_size is not None and args.split is None:
        raise ValueError("--batch-size applies to the runs tagging a split afresh: give --split too")
    _, paths = compare_runs(
        args.runs, args.out, corpus=args.corpus or DEFAULT_CORPUS, bootstrap=args.bootstrap,
        seed=args.seed, overwrite=args.overwrite, split=args.split, batch_size=args.batch_size,
    )
    print(f"wrote {', '.join(str(p) for p in paths.values())}")


def _count(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out", required=True, help="output directory")
        p.add_argument("--bootstrap", type=_count, default=1000, help="bootstrap resamples of the articles (0: none)")
        p.add_argument("--seed", type=_count, default=0)
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")

    def low(p: argparse.ArgumentParser) -> None:
        p.add_argument("--low", type=threshold_arg, default=LOW_CONFIDENCE, metavar="SCORE",
                       help=f"HTML report: mark predicted spans (and event records) scored below this as "
                            f"low-confidence (default {LOW_CONFIDENCE})")

    sp = sub.add_parser("score", help="score a predictions file against a gold corpus file")
    sp.add_argument("--gold", required=True, help="gold corpus JSON lines")
    sp.add_argument("--pred", required=True,
                    help='predictions JSON lines {"id", "spans": [{"start","end","label"[,"score"]}]}')
    sp.add_argument("--split", choices=SPLITS, help="score only this split of the gold file")
    sp.add_argument("--title")
    low(sp)
    common(sp)
    sp.set_defaults(func=_cmd_score)

    mp = sub.add_parser("model", help="predict a corpus split with a saved model and score it")
    mp.add_argument("--model", required=True, help="run directory or model directory (save_pretrained)")
    mp.add_argument("--split", default="test", choices=(*SPLITS, "all"))
    mp.add_argument("--corpus", help=f"corpus JSON lines (default {DEFAULT_CORPUS})")
    mp.add_argument("--batch-size", type=_count, default=16)
    mp.add_argument("--title")
    low(mp)
    common(mp)
    mp.set_defaults(func=_cmd_model)

    cp = sub.add_parser("compare", help="compare run directories side by side")
    cp.add_argument("runs", nargs="+", help="run directories; the first is the baseline")
    cp.add_argument("--corpus", help=f"gold corpus (default {DEFAULT_CORPUS})")
    cp.add_argument("--split", choices=(*SPLITS, "all"),
                    help="tag this split of --corpus afresh with every run's model (inference.SpanTagger) instead "
                         "of reading each run's stored report/predictions.jsonl, e.g. your own test articles")
    cp.add_argument("--batch-size", type=_positive, default=None,
                    help="with --split: windows per forward pass (default: the tagger's)")
    common(cp)
    cp.set_defaults(func=_cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError) as exc:  # PredictionError and CorpusError are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
