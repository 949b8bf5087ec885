"""Annotation consistency: surface strings labelled one way here and another way there.

    python scripts/check_consistency.py [--corpus annotations/corpus.jsonl] [--all] [--strict-names]

For every string that is labelled somewhere in the corpus it lists, with
context, (1) the places where the same string carries another label, and (2)
the places where it stands outside any span. An inconsistency is explained
when the unlabelled occurrence lies inside one of the article's declared
``hard_negatives``, or when ``annotations/consistency.yaml`` gives a reason
for that string (a country as the state acting versus as the territory, say).
Exits 1 if anything is left unexplained; ``--all`` prints explained ones too.

Two report-only sections follow. "unlabelled name-like strings": strings that
look like names (capitalised multi-word sequences, possibly with ``of``/``for``/
``the``/``to`` inside, and ALL-CAPS acronyms) that are labelled nowhere in the
corpus, ranked by frequency with file:line (``--strict-names`` makes
unexplained ones fail too; reasons go under ``name-like`` in the exceptions
file). "event links to review": a taker that is its own loser, places far
from their trigger, an extent outside the trigger's sentence, a taker or loser
outside it when the sentence has no pronoun or description for the party.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from frontlines.inference.events import sentence_of, sentences  # noqa: E402
from frontlines.inference.spans import Example, Span, word_offsets  # noqa: E402
from frontlines.training.corpus import DEFAULT_CORPUS, CorpusError, load_corpus  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from name_like import all_indices, context, find_name_like, heading_like  # noqa: E402,F401 - heading_like: the tests' entry

EXCEPTIONS = ROOT / "annotations" / "consistency.yaml"
KINDS = ("label conflict", "unlabelled", "name-like")


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
            for i in all_indices(ex.text, p)
        ]
        for surface, by_label in labels_of.items():
            if surface not in ex.text:
                continue
            for i in all_indices(ex.text, surface):
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


def load_exceptions(path: Path = EXCEPTIONS) -> dict[str, dict[str, str]]:
    """``{kind: {surface: reason}}`` from the exceptions file."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {kind: {str(k): str(v) for k, v in (data.get(kind) or {}).items()} for kind in KINDS}


# --- event links the validator cannot judge -------------------------------------------------


#: Words by which a trigger's sentence can stand for a party named earlier (GUIDELINES, "Which mention").
PARTY_ANAPHOR = re.compile(
    r"\b(it|its|they|them|their|we|us|our|he|his|she|her|the (group|movement|militants?|rebels?|insurgents?|"
    r"jihadists?|fighters|militias?|army|forces?|troops|enemy|organi[sz]ation|front|factions?|regime|government|"
    r"alliance|coalition|terrorists?))\b", re.IGNORECASE)


def find_event_problems(examples: list[Example]) -> list[dict]:
    """Events to review: taker text equal to loser text, every place outside the trigger's sentence
    and the three before it, a PERCENT extent outside the trigger's sentence, and a taker or loser
    outside the trigger's sentence when that sentence has no pronoun or description that could
    stand for it (GUIDELINES, "An implicit loser stays empty")."""
    found = []
    for ex in examples:
        if not ex.events:
            continue
        bounds = sentences(ex.text)
        text = ex.text

        def where(span: Span, bounds: list[tuple[int, int]] = bounds) -> int:
            return sentence_of(bounds, span.start)

        for ev in ex.events:
            trigger = text[ev.trigger.start : ev.trigger.end]
            here = where(ev.trigger)
            issues = []
            if ev.taker and ev.loser and text[ev.taker.start : ev.taker.end].casefold() == text[ev.loser.start : ev.loser.end].casefold():
                issues.append(f"taker and loser are both {text[ev.taker.start : ev.taker.end]!r}")
            if ev.places and all(not here - 3 <= where(p) <= here for p in ev.places):
                issues.append("every place lies outside the trigger's sentence and the 3 before it: " + ", ".join(
                    repr(text[p.start : p.end]) for p in ev.places))
            if ev.extent and where(ev.extent) != here:
                issues.append(f"extent {text[ev.extent.start : ev.extent.end]!r} is outside the trigger's sentence")
            lo, hi = bounds[here] if bounds else (0, len(text))
            for role in ("taker", "loser"):
                party = getattr(ev, role)
                if party is not None and where(party) != here and not PARTY_ANAPHOR.search(text, lo, hi):
                    issues.append(f"{role} {text[party.start : party.end]!r} is outside the trigger's sentence, "
                                  "which has no pronoun or description for it (implicit: leave it empty)")
            for issue in issues:
                found.append({"kind": "event", "surface": trigger, "article": ex, "offset": ev.trigger.start,
                              "detail": issue, "contexts": [f"{ex.id}: {context(text, ev.trigger.start, ev.trigger.end)}"],
                              "explained_by": None})
    return found


# --- locations ---------------------------------------------------------------------------------

_BODY_LINE: dict[str, int | None] = {}


def location(example: Example, offset: int) -> str:
    """``file:line`` of a text offset in the article's source (``id:line`` of the text without one)."""
    text_line = example.text.count("\n", 0, offset)
    source = example.meta.get("source")
    if source not in _BODY_LINE:
        _BODY_LINE[source] = _body_first_line(ROOT / source) if source else None
    first = _BODY_LINE[source]
    return f"{source}:{first + text_line}" if first is not None else f"{example.id}:{text_line + 1}"


def _body_first_line(path: Path) -> int | None:
    """Line number of the first body line in a Markdown source (after the front matter and blank lines)."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    close = source.find("\n---\n", 3)
    if not source.startswith("---\n") or close < 0:
        return None
    start = close + len("\n---\n")
    start += len(source[start:]) - len(source[start:].lstrip("\n"))
    return source.count("\n", 0, start) + 1


def print_ranked(title: str, items: list[dict], show: int = 5) -> None:
    """Findings grouped by surface, most frequent first, each with up to ``show`` file:line places."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        groups[item["surface"]].append(item)
    print(f"\n{title}: {len(groups)} strings, {len(items)} occurrences")
    for surface, occ in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        reason = next((o["explained_by"] for o in occ if o["explained_by"]), None)
        places = ", ".join(location(o["article"], o["offset"]) for o in occ[:show])
        more = f" (+{len(occ) - show} more)" if len(occ) > show else ""
        print(f"  {len(occ):>3}x {surface!r}: {places}{more}" + (f" (explained: {reason})" if reason else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--exceptions", type=Path, default=EXCEPTIONS)
    parser.add_argument("--all", action="store_true", help="also list explained inconsistencies")
    parser.add_argument("--strict-names", action="store_true", help="also fail on unexplained name-like strings")
    args = parser.parse_args(argv)
    exceptions = load_exceptions(args.exceptions)
    try:
        examples = load_corpus([args.corpus])
    except CorpusError as exc:
        print(f"{args.corpus}: {len(exc.problems)} problem(s), first: {exc.problems[0]}", file=sys.stderr)
        return 2
    found = find_inconsistencies(examples)
    names = find_name_like(examples)
    for item in found + names:
        if item["explained_by"] is None and item["surface"] in exceptions.get(item["kind"], {}):
            item["explained_by"] = exceptions[item["kind"]][item["surface"]]
    unexplained = [f for f in found if f["explained_by"] is None]
    for item in found if args.all else unexplained:
        reason = f" (explained: {item['explained_by']})" if item["explained_by"] else ""
        print(f"{item['kind']}: {item['surface']!r} {item['detail']}{reason}")
        for c in item["contexts"]:
            print(f"    {c}")
    bare = [n for n in names if n["explained_by"] is None]
    print_ranked("unlabelled name-like strings (labelled nowhere" + ("" if args.strict_names else "; report-only") + ")",
                 names if args.all else bare)
    events = find_event_problems(examples)
    print(f"\nevent links to review (report-only): {len(events)}")
    for item in events:
        print(f"  {location(item['article'], item['offset'])}: {item['surface']!r}: {item['detail']}")
    print(f"\n{len(found)} inconsistencies, {len(found) - len(unexplained)} explained, {len(unexplained)} unexplained; "
          f"{len(names)} name-like occurrences, {len(bare)} unexplained; {len(events)} event links to review")
    return 1 if unexplained or (args.strict_names and bare) else 0


if __name__ == "__main__":
    sys.exit(main())
