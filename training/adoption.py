"""A simulated adoption: one source of the corpus held out as a user's, the user's splits and subsets, the curve.

``scripts/adoption_curve.py`` holds out every article whose ``meta[KEY]`` is
``VALUE`` (``--hold-out style=statement``) as "a user's source". The rest is
the "shipped" corpus, split as usual. In the user's file every article's
split is pinned (``meta.split``, :func:`training.corpus.split_of_example`):

    the user's pool (train)  = the held-out articles whose split is train
    the user's dev           = the held-out dev articles
    the user's test          = the held-out test and stress articles

so the user's test articles never train or select anything, whatever their
ids hash to. Adapted runs record what they were adapted with in
``adoption.json`` beside the run (:func:`write_adoption`), which
:func:`training.compare.compare_runs` reads to draw the adoption curve
(:func:`curve_data`, :func:`training.charts.plot_adoption_curve`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from frontlines.inference.fileio import atomic_write_text
from frontlines.inference.spans import Example
from frontlines.training.corpus import split_of_example

#: What an adapted (or base) run of the experiment carries beside its model.
ADOPTION_FILE = "adoption.json"
#: The strategy of the run every adapted run starts from (0 user articles).
BASE = "base"
#: The user's split of a held-out article, by its split in the whole corpus.
USER_SPLIT = {"train": "train", "dev": "dev", "test": "test", "stress": "test"}


def parse_hold_out(text: str) -> tuple[str, str]:
    """``"style=statement"`` -> ``("style", "statement")``; ValueError for anything else."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value or key == "split":
        raise ValueError(f"--hold-out {text!r}: expected META_KEY=VALUE, e.g. style=statement or region=syria "
                         "(a key of the articles' meta other than split)")
    return key, value


def pin(example: Example, split: str) -> Example:
    """A copy of ``example`` whose ``meta.split`` pins it to ``split``."""
    return dataclasses.replace(example, meta={**example.meta, "split": split})


@dataclass(frozen=True)
class HeldOut:
    """The corpus split into the shipped part and a user's source, the latter by the user's splits (pinned)."""

    source: str  #: "key=value"
    shipped: list[Example]
    pool: list[Example]
    dev: list[Example]
    test: list[Example]

    def user_examples(self, pool: Sequence[Example] | None = None) -> list[Example]:
        """The user's file: ``pool`` (default: the whole pool), then dev and test, each pinned to its user split."""
        chosen = self.pool if pool is None else pool
        return ([pin(ex, "train") for ex in chosen] + [pin(ex, "dev") for ex in self.dev]
                + [pin(ex, "test") for ex in self.test])

    def ids(self) -> set[str]:
        """Every held-out article's id."""
        return {ex.id for ex in (*self.pool, *self.dev, *self.test)}


def hold_out(examples: Sequence[Example], key: str, value: str) -> HeldOut:
    """Split ``examples`` by ``meta[key] == value`` (compared as text); ValueError if the source lacks a part.

    The user's source needs a pool to choose from, a dev article to select
    the adapted model and a test article to report it.
    """
    shipped, parts = [], {"train": [], "dev": [], "test": []}
    for ex in examples:
        if key in ex.meta and str(ex.meta[key]) == value:
            parts[USER_SPLIT[split_of_example(ex)]].append(ex)
        else:
            shipped.append(ex)
    if not any(parts.values()):
        known = sorted({str(ex.meta[key]) for ex in examples if key in ex.meta})
        raise ValueError(f"no article has meta {key}={value!r}" + (f" (values: {', '.join(known)})" if known else
                                                                     f" (no article has a meta key {key!r})"))
    missing = [f"{s} ({'pool' if s == 'train' else s})" for s, part in parts.items() if not part]
    if missing:
        raise ValueError(f"{key}={value} has {len(parts['train'])} train, {len(parts['dev'])} dev and "
                         f"{len(parts['test'])} test+stress article(s): no {' and no '.join(missing)} article to "
                         "adapt, select or report with")
    return HeldOut(f"{key}={value}", shipped, parts["train"], parts["dev"], parts["test"])


def random_order(ids: Sequence[str], seed: int) -> list[str]:
    """``ids`` shuffled by ``seed`` (numpy's default generator): the first n are the random subset of n."""
    order = np.random.default_rng(seed).permutation(len(ids))
    return [ids[int(i)] for i in order]


def write_adoption(run_dir: str | Path, info: Mapping[str, Any]) -> Path:
    """Write ``run_dir/adoption.json`` (atomically): needs ``source``, ``strategy`` and ``n_user_articles``."""
    missing = [k for k in ("source", "strategy", "n_user_articles") if k not in info]
    if missing:
        raise ValueError(f"adoption metadata lacks {', '.join(missing)}")
    path = Path(run_dir) / ADOPTION_FILE
    atomic_write_text(path, json.dumps(dict(info), indent=2, ensure_ascii=False) + "\n")
    return path


def read_adoption(run_dir: str | Path) -> dict[str, Any] | None:
    """``run_dir/adoption.json``, or None where the run has none; ValueError if it is not usable."""
    path = Path(run_dir) / ADOPTION_FILE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    n = info.get("n_user_articles") if isinstance(info, dict) else None
    if (not isinstance(info, dict) or not isinstance(info.get("strategy"), str)
            or not isinstance(n, int) or isinstance(n, bool) or n < 0):
        raise ValueError(f"{path}: expected an object with a strategy (text) and n_user_articles (a whole number)")
    return info


Point = tuple[int, float, Sequence[float] | None]  #: (user articles, micro-F1, its 95% CI or None)


@dataclass(frozen=True)
class Curve:
    """What the adoption chart draws: one line per strategy, one horizontal line per other run."""

    title: str
    lines: dict[str, list[Point]]  #: strategy -> points sorted by n
    references: list[tuple[str, float, Sequence[float] | None]]  #: (label, micro-F1, CI): base and other runs


def curve_data(names: Sequence[str], adoptions: Sequence[Mapping[str, Any] | None],
               scores: Sequence[Mapping[str, Any]]) -> Curve:
    """The chart's data from each run's name, adoption metadata (None: not adapted) and scores (``micro_f1``, ``ci95``).

    Runs with user articles make the strategies' lines; the base run and
    runs without metadata (the shipped model, say) are horizontal lines.
    """
    lines: dict[str, list[Point]] = {}
    references = []
    sources = sorted({str(a["source"]) for a in adoptions if a and a.get("source")})
    for name, info, sc in zip(names, adoptions, scores, strict=True):
        ci = sc.get("ci95")
        if info and info["n_user_articles"] > 0 and info["strategy"] != BASE:
            lines.setdefault(info["strategy"], []).append((int(info["n_user_articles"]), float(sc["micro_f1"]), ci))
        else:
            label = f"{name} (0 user articles)" if info and info["strategy"] == BASE else name
            references.append((label, float(sc["micro_f1"]), ci))
    title = f"Adapting to held-out {' / '.join(sources)}" if sources else "Adapting to a user's source"
    return Curve(title, {k: sorted(v, key=lambda p: p[0]) for k, v in lines.items()}, references)
