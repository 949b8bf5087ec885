"""Compare training runs side by side: config differences, metric deltas, significance, charts.

Every run is rescored from its ``report/predictions.jsonl`` against the same
gold corpus, on the articles all runs predicted, so the numbers are
comparable even if the runs' own reports were written at different times
or over different articles (the others are listed as left out). With a
``split`` every run instead tags that split of the corpus afresh with
:class:`inference.SpanTagger` (its own decoder, ``eval.decoding``), e.g. a
user's own test articles that neither run was evaluated on.
The first run is the baseline: each metric is shown with its delta against
it, and micro-F1 differences get a paired bootstrap test over articles.
Outputs ``compare.md``, ``compare.html``, ``compare.json``,
``per_label_f1.png`` and ``learning_curves.png``; where runs carry the
``adoption.json`` of a simulated adoption (:mod:`training.adoption`), also
``adoption_curve.png``: micro-F1 against the user articles each run was
adapted with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from frontlines.inference.fileio import atomic_write_text, flatten, format_problems, iter_jsonl
from frontlines.inference.labels import LABELS
from frontlines.inference.spans import Example, Span
from frontlines.training.adoption import curve_data, read_adoption
from frontlines.training.charts import dev_f1, plot_adoption_curve, plot_learning_curves, plot_per_label
from frontlines.training.compare_report import render_compare_html, render_compare_markdown
from frontlines.training.corpus import DEFAULT_CORPUS, load_corpus, split_examples
from frontlines.training.predictions import normalise_predictions, read_predictions
from frontlines.training.reports import check_outputs
from frontlines.training.scoring import paired_bootstrap, score, span_counts

OUTPUT_FILES = {
    "md": "compare.md",
    "html": "compare.html",
    "json": "compare.json",
    "per_label_png": "per_label_f1.png",
    "curves_png": "learning_curves.png",
}
#: Written only when a compared run carries adoption metadata.
ADOPTION_PNG = "adoption_curve.png"

#: Metrics shown side by side: (name, path into the scores dict).
METRICS: list[tuple[str, tuple[str, ...]]] = [
    ("micro-F1 (strict)", ("micro_f1",)),
    ("macro-F1", ("macro_f1",)),
    ("precision", ("precision",)),
    ("recall", ("recall",)),
    ("micro-F1 (default mode)", ("default", "micro_f1")),
    ("token accuracy", ("token_accuracy",)),
    *((f"span {s} F1", ("spans", s, "f1")) for s in ("strict", "exact", "partial", "type")),
    *((f"{label} F1", ("per_label", label, "f1")) for label in LABELS),
]


@dataclass
class Run:
    """One run directory's config, learning curve and test predictions."""

    path: Path
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    run_info: dict[str, Any] = field(default_factory=dict)
    predictions: dict[str, list[Span]] = field(default_factory=dict)


def differences(mappings: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Flattened keys whose values are not the same in every mapping (missing counts as different)."""
    flat = [flatten(m) for m in mappings]
    keys = sorted(set().union(*flat)) if flat else []
    missing = object()
    out = []
    for key in keys:
        values = [f.get(key, missing) for f in flat]
        if any(v != values[0] for v in values[1:]):
            out.append((key, [None if v is missing else v for v in values]))
    return out


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    """``metrics.jsonl`` rows; every bad line is reported with file and line."""
    rows, problems = [], []
    for lineno, row, error in iter_jsonl(path):
        if error is None and not isinstance(row, dict):
            error = "a line must be a JSON object"
        if error is not None:
            problems.append(f"{path}:{lineno}: {error}")
        else:
            rows.append(row)
    if problems:
        raise ValueError(format_problems(problems, "metrics problem"))
    return rows


def _read_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML (or JSON, which is YAML) file holding one mapping; an empty file is an empty mapping."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid {what}: {' '.join(str(exc).split())}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a {what} mapping, got {type(loaded).__name__}")
    return loaded or {}


def tag_afresh(path: Path, gold: Sequence[Example], decoding: str, batch_size: int | None = None) -> dict[str, list[Span]]:
    """``gold``'s articles tagged by the run's :class:`inference.SpanTagger`, widened to whole words and checked."""
    from frontlines.inference.tagger import SpanTagger
    from frontlines.training.run_eval import tagger_spans

    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"run directory {path} has no model (config.json) to tag the articles with")
    tagger = SpanTagger.from_pretrained(path, decoding=decoding, precision="fp32")
    return normalise_predictions(gold, tagger_spans(tagger, gold, batch_size))


def load_run(path: str | Path, gold: Sequence[Example], tag: bool = False, batch_size: int | None = None) -> Run:
    """Read a run directory: ``report/predictions.jsonl`` is required, the rest optional.

    With ``tag`` the predictions are the run's model's on ``gold`` (:func:`tag_afresh`) instead.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} does not exist")
    pred_path = path / "report" / "predictions.jsonl"
    if not tag and not pred_path.is_file():
        raise FileNotFoundError(
            f"{pred_path} is missing: evaluate the run first "
            f"(python -m training.evaluate model --model {path} --out {path / 'report'})"
        )
    run = Run(path=path, name=path.resolve().name)
    if (path / "config.yaml").is_file():
        run.config = _read_mapping(path / "config.yaml", "YAML")
    if (path / "metrics.jsonl").is_file():
        run.metrics = _read_metrics(path / "metrics.jsonl")
    if (path / "run.json").is_file():
        try:
            run.run_info = json.loads((path / "run.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path / 'run.json'}: not valid JSON: {exc}") from None
        if not isinstance(run.run_info, dict):
            raise ValueError(f"{path / 'run.json'}: expected a JSON object")
    if tag:
        evaluation = run.config.get("eval")  # the decoder of the run's own reports
        decoding = evaluation.get("decoding", "viterbi") if isinstance(evaluation, dict) else "viterbi"
        run.predictions = tag_afresh(path, gold, decoding, batch_size)
    else:
        run.predictions, _ = read_predictions(pred_path, gold)
    return run


def _lookup(scores: Mapping[str, Any], keys: Sequence[str]) -> float | None:
    value: Any = scores
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return float(value)


def _best_dev(run: Run) -> tuple[float | None, Any]:
    best, at = None, None
    for row in run.metrics:
        f1 = dev_f1(row)
        if f1 is not None and (best is None or f1 > best):
            best, at = f1, row.get("epoch")
    return best, at


def compare(
    runs: Sequence[Run], gold_all: Sequence[Example], bootstrap: int = 1000, seed: int = 0, corpus: str | Path = "",
    split: str | None = None,
) -> dict[str, Any]:
    """The comparison as a JSON-ready dict: scores on the common articles, deltas, paired tests, differences.

    Runs may have predicted different articles: all are scored on the gold
    articles that every run predicted, and the rest are listed in
    ``articles_not_in_every_run``.
    """
    if not runs:
        raise ValueError("compare needs at least one run")
    common = set.intersection(*(set(r.predictions) for r in runs))
    gold = [ex for ex in gold_all if ex.id in common]
    if not gold:
        raise ValueError("the runs' predictions share no article of the gold corpus; nothing to compare")
    not_common = sorted(set().union(*(set(r.predictions) for r in runs)) - common)

    scores, counts = [], []
    for run in runs:
        preds = {k: v for k, v in run.predictions.items() if k in common}
        scores.append(score(gold, preds, bootstrap=bootstrap, seed=seed))
        counts.append(span_counts(gold, preds))
    tests = [paired_bootstrap(counts[0], c, samples=bootstrap, seed=seed) for c in counts]

    metric_rows = []
    for name, keys in METRICS:
        values = [_lookup(sc, keys) for sc in scores]
        deltas = [None if v is None or values[0] is None else v - values[0] for v in values]
        metric_rows.append({"metric": name, "values": values, "deltas": deltas})
    best = [_best_dev(r) for r in runs]
    return {
        "runs": [{"name": r.name, "path": str(r.path)} for r in runs],
        "corpus": str(corpus),
        "split": split,  # None: each run's stored test predictions; else the split every run tagged afresh
        "articles": [ex.id for ex in gold],
        "articles_not_in_every_run": not_common,
        "metrics": metric_rows,
        "ci95": [sc.get("ci95") for sc in scores],
        "paired_bootstrap": tests,
        "best_dev": [{"micro_f1": b, "epoch": e} for b, e in best],
        "config_differences": [{"key": k, "values": v} for k, v in differences([r.config for r in runs])],
        "run_info_differences": [{"key": k, "values": v} for k, v in differences([r.run_info for r in runs])],
        "scores": scores,
        # Event records as each run's own end-of-run evaluation scored them on its test split (run.json).
        "events": [((r.run_info.get("splits") or {}).get("test") or {}).get("events") for r in runs],
    }


def compare_runs(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    corpus: str | Path = DEFAULT_CORPUS,
    bootstrap: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
    split: str | None = None,
    batch_size: int | None = None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Compare ``run_dirs`` (the first is the baseline), write the outputs into ``out_dir``; (result, paths).

    ``split`` (a corpus split or ``"all"``): every run tags that part of ``corpus`` afresh
    instead of being read from its stored test predictions.
    """
    if not run_dirs:
        raise ValueError("compare needs at least one run directory")
    out = Path(out_dir)
    paths = {key: out / name for key, name in OUTPUT_FILES.items()}
    adoptions = [read_adoption(d) for d in run_dirs]
    if any(adoptions):
        paths["adoption_png"] = out / ADOPTION_PNG
    check_outputs(paths.values(), overwrite)
    gold_all = load_corpus([corpus])
    if split is not None:
        gold_all = gold_all if split == "all" else split_examples(gold_all, split)
        if not gold_all:
            raise ValueError(f"split {split!r} of {corpus} has no articles")
    runs = [load_run(d, gold_all, tag=split is not None, batch_size=batch_size) for d in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        for r in runs:
            r.name = str(r.path)
    result = compare(runs, gold_all, bootstrap=bootstrap, seed=seed, corpus=corpus, split=split)
    result["adoption"] = adoptions if any(adoptions) else None

    out.mkdir(parents=True, exist_ok=True)
    names = [r.name for r in runs]
    plot_per_label(names, result["scores"], paths["per_label_png"])
    plot_learning_curves(names, [r.metrics for r in runs], paths["curves_png"])
    if "adoption_png" in paths:
        plot_adoption_curve(curve_data(names, adoptions, result["scores"]), paths["adoption_png"])
    atomic_write_text(paths["json"], json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    atomic_write_text(paths["md"], render_compare_markdown(result))
    atomic_write_text(paths["html"], render_compare_html(result))
    return result, paths
