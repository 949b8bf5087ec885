"""Annotation consistency: surface strings labelled one way here and another way there.

    python scripts/check_consistency.py [--corpus annotations/corpus.jsonl] [--all]

For every string that is labelled somewhere in the corpus it lists, with
context, (1) the places where the same string carries another label, and (2)
the places where it stands outside any span. An inconsistency is explained
when the unlabelled occurrence lies inside one of the article's declared
``hard_negatives``, or when ``annotations/consistency.yaml`` gives a reason
for that string (a country as the state acting versus as the territory, say).
Exits 1 if anything is left unexplained; ``--all`` prints explained ones too.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from inference.spans import Example, word_offsets  # noqa: E402
from training.corpus import DEFAULT_CORPUS, load_corpus  # noqa: E402

EXCEPTIONS = ROOT / "annotations" / "consistency.yaml"


def context(text: str, start: int, end: int, width: int = 50) -> str:
    left = text[max(0, start - width) : start].replace("\n", " ")
    right = text[end : end + width].replace("\n", " ")
    return f"...{left}[{text[start:end]}]{right}..."


def find_inconsistencies(examples: list[Example]) -> list[dict]:
    """All label conflicts and unlabelled occurrences of labelled strings."""
    labels_of: dict[str, dict[str, list[tuple[Example, int]]]] = defaultdict(lambda: defaultdict(list))
    for ex in examples:
        for s in ex.spans:
            labels_of[ex.text[s.start : s.end]][s.label].append((ex, s.start))
    found = []
    for surface, by_label in sorted(labels_of.items()):
        if len(by_label) > 1:
            counts = {label: len(v) for label, v in by_label.items()}
            found.append(
                {
                    "surface": surface,
                    "kind": "label conflict",
                    "detail": ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())),
                    "contexts": [f"{label} {ex.id}: {context(ex.text, i, i + len(surface))}" for label, occ in sorted(by_label.items()) for ex, i in occ[:3]],
                    "explained_by": None,
                }
            )
    # unlabelled occurrences: the surface on word boundaries, overlapping no span
    for ex in examples:
        words = word_offsets(ex.text)
        starts = {s for s, _ in words}
        ends = {e for _, e in words}
        covered = sorted((s.start, s.end) for s in ex.spans)
        negatives = [
            (i, i + len(p))
            for p in ex.meta.get("hard_negatives") or []
            for i in _all_indices(ex.text, p)
        ]
        for surface, by_label in labels_of.items():
            if surface not in ex.text:
                continue
            for i in _all_indices(ex.text, surface):
                j = i + len(surface)
                if i not in starts or j not in ends or any(a < j and i < b for a, b in covered):
                    continue
                label = max(by_label, key=lambda k: len(by_label[k]))
                explained = "hard negative" if any(a <= i and j <= b for a, b in negatives) else None
                found.append(
                    {
                        "surface": surface,
                        "kind": "unlabelled",
                        "detail": f"labelled {label} x{len(by_label[label])} elsewhere",
                        "contexts": [f"{ex.id}: {context(ex.text, i, j)}"],
                        "explained_by": explained,
                    }
                )
    return found


def _all_indices(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def load_exceptions(path: Path = EXCEPTIONS) -> dict[str, dict[str, str]]:
    """``{kind: {surface: reason}}`` from the exceptions file."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {kind: {str(k): str(v) for k, v in (data.get(kind) or {}).items()} for kind in ("label conflict", "unlabelled")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--exceptions", type=Path, default=EXCEPTIONS)
    parser.add_argument("--all", action="store_true", help="also list explained inconsistencies")
    args = parser.parse_args(argv)
    exceptions = load_exceptions(args.exceptions)
    found = find_inconsistencies(load_corpus([args.corpus]))
    for item in found:
        if item["explained_by"] is None and item["surface"] in exceptions.get(item["kind"], {}):
            item["explained_by"] = exceptions[item["kind"]][item["surface"]]
    unexplained = [f for f in found if f["explained_by"] is None]
    for item in found if args.all else unexplained:
        reason = f" (explained: {item['explained_by']})" if item["explained_by"] else ""
        print(f"{item['kind']}: {item['surface']!r} {item['detail']}{reason}")
        for c in item["contexts"]:
            print(f"    {c}")
    print(f"{len(found)} inconsistencies, {len(found) - len(unexplained)} explained, {len(unexplained)} unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
