"""Inter-annotator agreement between two annotations of the same texts (spans per label, and event links).

    python scripts/agreement.py --first annotations/articles --second annotations/agreement/second

Both sides are article sources in the corpus markup; articles are paired by id
and must have identical text (a mismatch is reported and the pair skipped).
Span agreement is the F1 of one annotation against the other with exact
offsets and label (symmetric: precision one way is recall the other), per
label and micro-averaged, with Cohen's kappa over the corpus's words (BIO
tags) beside it. Event agreement is the exact-record and per-role F1 of
:mod:`training.event_scoring` on the triggers both annotators marked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run by path from a checkout
    sys.path.insert(0, str(ROOT))

from frontlines.inference.labels import LABELS  # noqa: E402
from frontlines.inference.spans import Example, spans_to_word_tags, word_offsets  # noqa: E402
from frontlines.training.event_scoring import ROLES, article_counts, counts_to_scores  # noqa: E402
from frontlines.training.markup import parse_article  # noqa: E402


def load(base: Path) -> dict[str, Example]:
    """Articles under ``base`` (a file or a folder of ``.md``), by id; problems stop the run."""
    files = [base] if base.is_file() else sorted(base.rglob("*.md"))
    out: dict[str, Example] = {}
    for path in files:
        example, errors = parse_article(path)
        if errors or example is None:
            raise SystemExit("\n".join(str(e) for e in errors) or f"{path}: unreadable")
        out[example.id] = example
    return out


def _kappa(a: list[str], b: list[str]) -> float:
    n = len(a)
    if n == 0:
        return 1.0
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[t] * cb[t] for t in ca) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def agreement(first: dict[str, Example], second: dict[str, Example]) -> dict:
    """Span and event agreement over the articles both sides have."""
    common = sorted(set(first) & set(second))
    mismatched = [i for i in common if first[i].text != second[i].text]
    pairs = [(first[i], second[i]) for i in common if i not in mismatched]
    counts = {label: Counter() for label in LABELS}
    tags_a: list[str] = []
    tags_b: list[str] = []
    events: Counter = Counter()
    n_events = 0
    for a, b in pairs:
        sa, sb = set(a.spans), set(b.spans)
        for label in LABELS:
            la = {s for s in sa if s.label == label}
            lb = {s for s in sb if s.label == label}
            counts[label].update(tp=len(la & lb), a=len(la), b=len(lb))
        words = word_offsets(a.text)
        tags_a += [t.split("-")[-1] for t in spans_to_word_tags(words, a.spans)]
        tags_b += [t.split("-")[-1] for t in spans_to_word_tags(words, b.spans)]
        if a.events is not None and b.events is not None:
            shared = {e.trigger for e in a.events} & {e.trigger for e in b.events}
            events.update(article_counts([e for e in a.events if e.trigger in shared],
                                         [e for e in b.events if e.trigger in shared]))
            n_events += len(shared)

    def f1(c: Counter) -> float:
        return 2 * c["tp"] / (c["a"] + c["b"]) if c["a"] + c["b"] else 1.0

    total = sum(counts.values(), Counter())
    scores = counts_to_scores(events)
    return {
        "articles": len(pairs), "text_mismatch": mismatched,
        "spans": {label: {"f1": f1(c), "first": c["a"], "second": c["b"], "both": c["tp"]} for label, c in counts.items()},
        "spans_micro_f1": f1(total), "word_kappa": _kappa(tags_a, tags_b),
        "events": {"shared_triggers": n_events, **{r: scores[r]["f1"] for r in ROLES},
                   "status_agreement": scores["status"]["accuracy"], "record_f1": scores["record"]["f1"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=Path, required=True, help="the first annotation (file or folder of .md)")
    parser.add_argument("--second", type=Path, required=True, help="the second, blind annotation")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    result = agreement(load(args.first), load(args.second))
    print(f"{result['articles']} articles; span micro-F1 {result['spans_micro_f1']:.3f}; "
          f"word-level kappa {result['word_kappa']:.3f}")
    for label, s in result["spans"].items():
        print(f"  {label:<15} F1 {s['f1']:.3f}  (first {s['first']}, second {s['second']}, both {s['both']})")
    ev = result["events"]
    print(f"  events on {ev['shared_triggers']} shared triggers: record F1 {ev['record_f1']:.3f}, status agreement "
          f"{ev['status_agreement']:.3f}, " + ", ".join(f"{r} {ev[r]:.3f}" for r in ROLES))
    if result["text_mismatch"]:
        print(f"  skipped (texts differ): {', '.join(result['text_mismatch'])}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
