"""Compare training runs side by side: config differences, metric deltas, significance, charts.

Every run is rescored from its ``report/predictions.jsonl`` against the same
gold corpus, on the articles all runs predicted, so the numbers are
comparable even if the runs' own reports were written at different times.
The first run is the baseline: each metric is shown with its delta against
it, and micro-F1 differences get a paired bootstrap test over articles.
Outputs ``compare.md``, ``compare.html``, ``compare.json``,
``per_label_f1.png`` and ``learning_curves.png`` (matplotlib, Agg backend).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inference.labels import LABELS
from inference.spans import Example, Span
from training.corpus import DEFAULT_CORPUS, load_corpus
from training.evaluate import (
    article_counts,
    article_tags,
    check_outputs,
    paired_bootstrap,
    read_predictions,
    score,
    write_text_atomic,
)
from training.report_md import md_escape, table

OUTPUT_FILES = {
    "md": "compare.md",
    "html": "compare.html",
    "json": "compare.json",
    "per_label_png": "per_label_f1.png",
    "curves_png": "learning_curves.png",
}

#: Below this many common articles the significance table carries a warning.
FEW_ARTICLES = 20

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


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {"a.b.c": value}; lists are kept as values."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


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


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: invalid JSON: {exc.msg} at column {exc.colno}") from exc
    return rows


def load_run(path: str | Path, gold: Sequence[Example]) -> Run:
    """Read a run directory; its ``report/predictions.jsonl`` is required, the rest optional."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} does not exist")
    pred_path = path / "report" / "predictions.jsonl"
    if not pred_path.is_file():
        raise FileNotFoundError(
            f"{pred_path} is missing: evaluate the run first "
            f"(python -m training.evaluate model --model {path} --out {path / 'report'})"
        )
    run = Run(path=path, name=path.resolve().name)
    config_path = path / "config.yaml"
    if config_path.is_file():
        loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(f"{config_path}: expected a YAML mapping")
        run.config = loaded or {}
    if (path / "metrics.jsonl").is_file():
        run.metrics = _read_jsonl(path / "metrics.jsonl")
    if (path / "run.json").is_file():
        run.run_info = json.loads((path / "run.json").read_text(encoding="utf-8"))
    run.predictions, _ = read_predictions(pred_path, gold)
    return run


def _get(scores: Mapping[str, Any], keys: Sequence[str]) -> float | None:
    value: Any = scores
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return float(value)


def _best_dev(run: Run) -> tuple[float | None, Any]:
    best, at = None, None
    for row in run.metrics:
        f1 = _get(row.get("dev") or {}, ("micro_f1",))
        if f1 is not None and (best is None or f1 > best):
            best, at = f1, row.get("epoch")
    return best, at


def _save_png(fig: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    tmp.replace(path)


def plot_per_label(runs: Sequence[Run], scores: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Grouped bars: strict F1 per label (and micro), one bar per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = [*LABELS, "micro"]
    x = np.arange(len(groups))
    width = 0.8 / max(len(runs), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4))
    for i, (run, sc) in enumerate(zip(runs, scores, strict=True)):
        values = [sc["per_label"][label]["f1"] for label in LABELS] + [sc["micro_f1"]]
        ax.bar(x + (i - (len(runs) - 1) / 2) * width, values, width, label=run.name)
    ax.set_xticks(x, groups)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 (seqeval strict)")
    ax.set_title("Per-label F1 on the common test articles")
    ax.legend(fontsize="small")
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)


def plot_learning_curves(runs: Sequence[Run], path: Path) -> None:
    """Training loss and dev micro-F1 against step (epoch where a row has no step), one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        xs = [row.get("step", row.get("epoch")) for row in run.metrics]
        loss = [(x, row.get("train_loss")) for x, row in zip(xs, run.metrics, strict=True)]
        loss = [(x, y) for x, y in loss if x is not None and y is not None]
        f1 = [(x, _get(row.get("dev") or {}, ("micro_f1",))) for x, row in zip(xs, run.metrics, strict=True)]
        f1 = [(x, y) for x, y in f1 if x is not None and y is not None]
        if loss:
            ax_loss.plot(*zip(*loss, strict=True), marker="o", label=run.name)
        if f1:
            ax_f1.plot(*zip(*f1, strict=True), marker="o", label=run.name)
    ax_loss.set(title="training loss", xlabel="step", ylabel="loss")
    ax_f1.set(title="dev micro-F1 (strict)", xlabel="step", ylabel="F1", ylim=(0, 1))
    for ax in (ax_loss, ax_f1):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "no metrics.jsonl rows", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)


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


def compare_runs(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    corpus: str | Path = DEFAULT_CORPUS,
    bootstrap: int = 1000,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Compare ``run_dirs`` (the first is the baseline) and write the outputs into ``out_dir``."""
    if not run_dirs:
        raise ValueError("compare needs at least one run directory")
    out = Path(out_dir)
    paths = {key: out / name for key, name in OUTPUT_FILES.items()}
    check_outputs(paths.values(), overwrite)
    gold_all = load_corpus([corpus])
    runs = [load_run(d, gold_all) for d in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        for r in runs:
            r.name = str(r.path)
    common = set.intersection(*(set(r.predictions) for r in runs))
    gold = [ex for ex in gold_all if ex.id in common]
    if not gold:
        raise ValueError("the runs' predictions share no article of the gold corpus; nothing to compare")
    not_common = sorted(set().union(*(set(r.predictions) for r in runs)) - common)

    scores, counts = [], []
    for run in runs:
        scores.append(score(gold, run.predictions, bootstrap=bootstrap, seed=seed))
        gold_tags, pred_tags, _ = article_tags(gold, run.predictions)
        counts.append(article_counts(gold_tags, pred_tags))
    tests = [paired_bootstrap(counts[0], c, samples=bootstrap, seed=seed) for c in counts]

    metric_rows = []
    for name, keys in METRICS:
        values = [_get(sc, keys) for sc in scores]
        metric_rows.append({"metric": name, "values": values, "deltas": [None if v is None or values[0] is None else v - values[0] for v in values]})
    best = [_best_dev(r) for r in runs]
    config_diff = differences([r.config for r in runs])
    info_diff = differences([r.run_info for r in runs])

    out.mkdir(parents=True, exist_ok=True)
    plot_per_label(runs, scores, paths["per_label_png"])
    plot_learning_curves(runs, paths["curves_png"])

    result = {
        "runs": [{"name": r.name, "path": str(r.path)} for r in runs],
        "corpus": str(corpus),
        "articles": [ex.id for ex in gold],
        "articles_not_in_every_run": not_common,
        "metrics": metric_rows,
        "ci95": [sc.get("ci95") for sc in scores],
        "paired_bootstrap": tests,
        "best_dev": [{"micro_f1": b, "epoch": e} for b, e in best],
        "config_differences": [{"key": k, "values": v} for k, v in config_diff],
        "run_info_differences": [{"key": k, "values": v} for k, v in info_diff],
        "scores": scores,
    }
    write_text_atomic(paths["json"], json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    write_text_atomic(paths["md"], render_compare_markdown(result))
    write_text_atomic(paths["html"], render_compare_html(result))
    return paths


def _sections(result: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]], str]]:
    """The comparison as (heading, header, rows, note) tables, shared by the Markdown and HTML views."""
    names = [r["name"] for r in result["runs"]]
    header_runs = [names[0] + " (baseline)", *names[1:]]
    sections = []
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
    if result["articles_not_in_every_run"]:
        note += f" Left out (not predicted by every run): {', '.join(result['articles_not_in_every_run'][:10])}."
    sections.append(("Metrics", ["metric", *header_runs], rows, note))

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
    sections.append(("Significance against the baseline", ["run", "Δ micro-F1", "95% CI of Δ", "p", "significant"], rows, note))
    for key, heading in (("config_differences", "Config differences"), ("run_info_differences", "Run metadata differences")):
        diff_rows = [[d["key"], *(_fmt(v) for v in d["values"])] for d in result[key]]
        sections.append((heading, ["key", *names], diff_rows, "" if diff_rows else "none"))
    return sections


def render_compare_markdown(result: Mapping[str, Any]) -> str:
    """compare.md: the tables, then the two charts."""
    out = ["# Run comparison\n"]
    for heading, header, rows, note in _sections(result):
        out.append(f"\n## {heading}\n\n")
        if rows:
            out.append(table([md_escape(h) for h in header], [[md_escape(c) for c in r] for r in rows]) + "\n")
        if note:
            out.append(f"{note}\n")
    out.append("\n## Charts\n\n![per-label F1](per_label_f1.png)\n\n![learning curves](learning_curves.png)\n")
    return "".join(out)


def render_compare_html(result: Mapping[str, Any]) -> str:
    """compare.html: the same tables and charts as a standalone page."""
    from training.report_html import CSS

    body = ["<h1>Run comparison</h1>"]
    for heading, header, rows, note in _sections(result):
        body.append(f"<h2>{html.escape(heading)}</h2>")
        if rows:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            body.append(f"<table><tr>{head}</tr>{trs}</table>")
        if note:
            body.append(f"<p>{html.escape(note)}</p>")
    body.append('<h2>Charts</h2><img src="per_label_f1.png" alt="per-label F1"><br>')
    body.append('<img src="learning_curves.png" alt="learning curves">')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Run comparison</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
