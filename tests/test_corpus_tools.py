"""The corpus statistics and consistency scripts, on fixtures and on the shipped corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from inference.spans import Example, Span

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_consistency  # noqa: E402
import corpus_stats  # noqa: E402


def test_consistency_finds_conflicts_and_unlabelled_occurrences():
    a = Example("a", "Russia struck Kharkiv. Troops lost Izium.", [Span(0, 6, "ACTOR"), Span(30, 34, "CONTROL_CHANGE")])
    b = Example(
        "b",
        "Fighting in Russia. The army lost 40 soldiers.",
        [Span(12, 18, "LOCATION")],
        {"hard_negatives": ["lost 40 soldiers"]},
    )
    c = Example("c", "They lost Lyman.", [])
    found = check_consistency.find_inconsistencies([a, b, c])
    kinds = {(f["kind"], f["surface"], f["explained_by"]) for f in found}
    assert ("label conflict", "Russia", None) in kinds
    assert ("unlabelled", "lost", "hard negative") in kinds  # b: inside a declared hard negative
    assert ("unlabelled", "lost", None) in kinds  # c: a real miss
    assert not any(f["surface"] == "Kharkiv" for f in found)


def test_stats_count_labels_per_group():
    exs = [
        Example("x", "Daesh retook 40% of Albu Kamal.", [Span(0, 5, "ACTOR"), Span(13, 16, "PERCENT")], {"region": "syria", "style": "wire"}),
        Example("y", "Calm day.", [], {"region": "iraq", "style": "monitor", "hard_negatives": ["Calm"]}),
    ]
    text = corpus_stats.render(exs)
    assert "| all | 2 | 8 | 1 | 0 | 0 | 1 | 1 |" in text
    assert "| syria | 1 | 6 | 1 | 0 | 0 | 1 | 0 |" in text


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)


def test_shipped_statistics_are_current():
    result = run("scripts/corpus_stats.py", "--check", "annotations/README.md")
    assert result.returncode == 0, result.stderr


def test_shipped_corpus_has_no_unexplained_inconsistency():
    result = run("scripts/check_consistency.py")
    assert result.returncode == 0, result.stdout[-4000:]


def test_shipped_corpus_meets_the_v1_targets():
    from collections import Counter

    from training.corpus import load_corpus

    examples = load_corpus()
    counts = Counter(s.label for ex in examples for s in ex.spans)
    assert len(examples) >= 201
    assert counts["ACTOR"] >= 1500 and counts["LOCATION"] >= 1500
    assert counts["CONTROL_CHANGE"] >= 500 and counts["PERCENT"] >= 300
    assert sum(len(ex.meta.get("hard_negatives") or []) for ex in examples) >= 150
    assert sum(corpus_stats.n_words(ex.text) for ex in examples) / len(examples) >= 200
    assert len({ex.meta["region"] for ex in examples}) >= 12 and len({ex.meta["style"] for ex in examples}) >= 5
