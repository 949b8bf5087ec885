"""Load and validate corpus files (JSON lines of :class:`Example`), and split them.

``python -m training.corpus validate PATH...`` checks every line of every file
and prints one message per problem, naming file, line, article id and span;
it exits non-zero if any problem was found and never stops at the first.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frontlines.inference.fileio import format_problems, iter_jsonl
from frontlines.inference.labels import LABELS
from frontlines.inference.spans import Example, Span, SpanAlignmentError, spans_to_word_tags, word_offsets
from frontlines.training.event_links import parse_events

#: The default corpus, compiled from ``annotations/articles`` by scripts/compile_corpus.py.
DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "annotations" / "corpus.jsonl"

SPLITS = ("train", "dev", "test", "stress")
#: Articles pinned to a split whatever their hash (the seed article is the
#: project's reference test case and must never be trained on).
PINNED_SPLITS = {"albu-kamal-seed": "test"}


@dataclass(frozen=True)
class Problem:
    """One validation problem, located as precisely as the input allows."""

    path: str
    line: int
    message: str
    article_id: str | None = None
    span: Span | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        if self.article_id is not None:
            where += f" [{self.article_id}]"
        if self.span is not None:
            where += f" span [{self.span.start}, {self.span.end}) {self.span.label}"
        return f"{where}: {self.message}"


class CorpusError(ValueError):
    """Raised by :func:`load_corpus` when a file has problems; lists them all."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(self.problems, "corpus problem"))


def parse_span(raw: Any, index: int, path: str, line: int, article_id: str | None) -> Span | Problem:
    """A span from its JSON object, or the problem with it (shape and integer offsets only)."""
    if not isinstance(raw, dict) or not all(k in raw for k in ("start", "end", "label")):
        return Problem(path, line, f"span #{index} must be an object with start, end and label", article_id)
    start, end = raw["start"], raw["end"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        return Problem(path, line, f"span #{index} offsets must be integers", article_id)
    return Span(start, end, str(raw["label"]))


def check_record(
    record: Any, path: str, line: int
) -> tuple[Example | None, list[Problem]]:
    """Check one decoded JSON line; return the example (if usable) and problems."""
    if not isinstance(record, dict):
        return None, [Problem(path, line, "a line must be a JSON object")]
    problems: list[Problem] = []
    art_id = record.get("id")
    if not isinstance(art_id, str) or not art_id:
        problems.append(Problem(path, line, "'id' must be a non-empty string"))
        art_id = None
    text = record.get("text")
    if not isinstance(text, str):
        return None, problems + [Problem(path, line, "'text' must be a string", art_id)]
    if not text.strip():
        problems.append(Problem(path, line, "empty text", art_id))
    meta = record.get("meta", {})
    if not isinstance(meta, dict):
        problems.append(Problem(path, line, "'meta' must be an object", art_id))
        meta = {}
    if "split" in meta and meta["split"] not in SPLITS:
        problems.append(Problem(path, line, f"'meta.split' must be one of {', '.join(SPLITS)} (it pins the "
                                            f"article's split), got {meta['split']!r}", art_id))
    raw_spans = record.get("spans")
    if not isinstance(raw_spans, list):
        return None, problems + [Problem(path, line, "'spans' must be a list", art_id)]

    spans: list[Span] = []
    for i, raw in enumerate(raw_spans):
        span = parse_span(raw, i, path, line, art_id)
        if isinstance(span, Problem):
            problems.append(span)
            continue
        start, end, label = span.start, span.end, span.label
        if label not in LABELS:
            problems.append(Problem(path, line, f"unknown label {label!r} (expected one of {', '.join(LABELS)})", art_id, span))
        elif start >= end:
            problems.append(Problem(path, line, "reversed or empty offsets (start >= end)", art_id, span))
        elif start < 0 or end > len(text):
            problems.append(Problem(path, line, f"offsets out of range (text has {len(text)} characters)", art_id, span))
        elif text[start].isspace() or text[end - 1].isspace():
            problems.append(Problem(path, line, f"span {text[start:end]!r} starts or ends with white space", art_id, span))
        else:
            spans.append(span)

    spans.sort()
    kept: list[Span] = []
    for span in spans:
        if kept and span.start < kept[-1].end:
            problems.append(Problem(path, line, f"overlaps span [{kept[-1].start}, {kept[-1].end}) {kept[-1].label}", art_id, span))
        else:
            kept.append(span)
    words = word_offsets(text)
    aligned: list[Span] = []
    for span in kept:
        try:
            spans_to_word_tags(words, [span])
            aligned.append(span)
        except SpanAlignmentError as exc:
            problems.append(Problem(path, line, f"{exc.reason} (text {text[span.start:span.end]!r})", art_id, span))
    events, event_problems = parse_events(record.get("events"), aligned)
    problems.extend(Problem(path, line, message, art_id, span) for message, span in event_problems)
    if art_id is None:
        return None, problems
    return Example(id=art_id, text=text, spans=aligned, meta=meta, events=events), problems


def read_corpus(paths: Iterable[str | Path]) -> tuple[list[Example], list[Problem]]:
    """Read every file, collecting all examples and all problems."""
    examples: list[Example] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in paths:
        name = str(path)
        for lineno, record, error in _read_lines(path):
            if error is not None:
                problems.append(Problem(name, lineno, error))
                continue
            example = accept_record(record, name, lineno, seen, problems)
            if example is not None:
                examples.append(example)
    return examples, problems


def accept_record(record: Any, path: str, line: int, seen: dict[str, str], problems: list[Problem]) -> Example | None:
    """:func:`check_record` plus the duplicate-id check across everything read so far (``seen``: id -> where).

    Problems are appended to ``problems``; the example comes back only if it is usable and its id is new.
    """
    example, found = check_record(record, path, line)
    problems.extend(found)
    if example is None:
        return None
    if example.id in seen:
        problems.append(Problem(path, line, f"duplicate id (first seen at {seen[example.id]})", example.id))
        return None
    seen[example.id] = f"{path}:{line}"
    return example


def _read_lines(path: str | Path) -> Iterable[tuple[int, Any, str | None]]:
    """fileio's JSON-lines reader (bad bytes, deep nesting, lone surrogates -> a message, reading goes on),
    with a file that cannot be opened reported as line 0 rather than raised."""
    try:
        yield from iter_jsonl(path)
    except OSError as exc:
        yield 0, None, f"cannot read file: {exc.strerror or exc}"


def load_corpus(paths: Iterable[str | Path] = (DEFAULT_CORPUS,)) -> list[Example]:
    """Load examples, raising :class:`CorpusError` listing every problem."""
    examples, problems = read_corpus(paths)
    if problems:
        raise CorpusError(problems)
    return examples


def split_of(article_id: str) -> str:
    """The article's split, from a stable hash of its id (about 80/10/10)."""
    if article_id in PINNED_SPLITS:
        return PINNED_SPLITS[article_id]
    bucket = int(hashlib.sha1(article_id.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 9 else "dev" if bucket == 8 else "train"


def split_of_example(example: Example) -> str:
    """The article's split: the one its metadata pins (``meta.split``, one of :data:`SPLITS`), else :func:`split_of`.

    The shipped articles pin only ``stress``: articles chosen for the hardest
    real-report phenomena (long, noisy, no change of control, press releases),
    that nothing trains or selects a model on. A corpus file of one's own may
    pin any split, e.g. to keep chosen articles for testing whatever their ids
    hash to (``scripts/adoption_curve.py`` pins every article of its user's file).
    """
    pinned = example.meta.get("split")
    return pinned if pinned in SPLITS else split_of(example.id)


def split_examples(examples: Iterable[Example], split: str) -> list[Example]:
    """The examples of one split, in corpus order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return [ex for ex in examples if split_of_example(ex) == split]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.corpus", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="check corpus files and report every problem")
    val.add_argument("paths", nargs="*", default=[str(DEFAULT_CORPUS)])
    args = parser.parse_args(argv)

    examples, problems = read_corpus(args.paths)
    for problem in problems:
        print(problem, file=sys.stderr)
    n_spans = sum(len(ex.spans) for ex in examples)
    status = "FAILED" if problems else "ok"
    print(f"{status}: {len(examples)} articles, {n_spans} spans, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
