"""The run comparison's charts (matplotlib, Agg backend), written atomically as PNG: per-label F1, learning
curves, and the adoption curve of a simulated adoption (:mod:`training.adoption`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from frontlines.inference.fileio import atomic_path
from frontlines.inference.labels import LABELS
from frontlines.training.adoption import Curve


def dev_f1(row: Mapping[str, Any]) -> float | None:
    """The dev micro-F1 of one ``metrics.jsonl`` row, or None where the row has none."""
    dev = row.get("dev")
    value = dev.get("micro_f1") if isinstance(dev, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def plot_per_label(names: Sequence[str], scores: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Grouped bars: strict F1 per label (and micro), one bar per run."""
    import numpy as np

    plt = _pyplot()
    groups = [*LABELS, "micro"]
    x = np.arange(len(groups))
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4))
    for i, (name, sc) in enumerate(zip(names, scores, strict=True)):
        values = [sc["per_label"][label]["f1"] for label in LABELS] + [sc["micro_f1"]]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, groups)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 (seqeval strict)")
    ax.set_title("Per-label F1 on the common test articles")
    ax.legend(fontsize="small")
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)


def plot_learning_curves(names: Sequence[str], metrics: Sequence[Sequence[Mapping[str, Any]]], path: Path) -> None:
    """Training loss and dev micro-F1 against step (epoch where a row has no step), one line per run."""
    plt = _pyplot()
    fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(11, 4))
    for name, rows in zip(names, metrics, strict=True):
        xs = [row.get("step", row.get("epoch")) for row in rows]
        loss = [(x, row.get("train_loss")) for x, row in zip(xs, rows, strict=True)]
        loss = [(x, y) for x, y in loss if x is not None and y is not None]
        f1 = [(x, dev_f1(row)) for x, row in zip(xs, rows, strict=True)]
        f1 = [(x, y) for x, y in f1 if x is not None and y is not None]
        if loss:
            ax_loss.plot(*zip(*loss, strict=True), marker="o", label=name)
        if f1:
            ax_f1.plot(*zip(*f1, strict=True), marker="o", label=name)
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


def plot_adoption_curve(curve: Curve, path: Path) -> None:
    """Micro-F1 against the number of user articles, a line per strategy (95% CI bars), a level per other run."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sizes = sorted({n for points in curve.lines.values() for n, _, _ in points})
    step = 0.012 * (max(sizes) - min(sizes) if len(sizes) > 1 else 1)  # strategies side by side at each n
    for i, (strategy, points) in enumerate(sorted(curve.lines.items())):
        xs = [n + (i - (len(curve.lines) - 1) / 2) * step for n, _, _ in points]
        ys = [f1 for _, f1, _ in points]
        err = [[f1 - ci[0] if ci else 0.0 for _, f1, ci in points], [ci[1] - f1 if ci else 0.0 for _, f1, ci in points]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=strategy)
    for j, (label, f1, _) in enumerate(curve.references):
        ax.axhline(f1, color=f"C{len(curve.lines) + j}", linestyle=("--", ":", "-.")[j % 3], label=f"{label}: {f1:.3f}")
    if sizes:
        ax.set_xticks(sizes)
    ax.set(title=curve.title, xlabel="the user's articles trained on", ylabel="micro-F1 (strict), the user's test")
    values = [v for points in curve.lines.values() for _, f1, ci in points for v in (f1, *(ci or ()))]
    values += [v for _, f1, ci in curve.references for v in (f1, *(ci or ()))]
    if values:  # the differences are a few points of F1: zoom in, within 0-1
        ax.set_ylim(max(0.0, min(values) - 0.05), min(1.0, max(values) + 0.05) if max(values) < 0.95 else 1.0)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    _save_png(fig, path)
    plt.close(fig)
