"""What every converter shares: validation through the corpus's own checks, stable ids, token alignment, atomic folders.

An importer turns each record of a tool's file into a corpus record (``id``,
``text``, ``spans``, ``meta``) and hands it, with the line it came from, to
:func:`validate`, so that a bad record gets the validator's located message
(file, line, article id, span) and nothing is written unless every record is good.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import regex

from frontlines.inference.events import sentence_of, sentences
from frontlines.inference.fileio import iter_jsonl
from frontlines.inference.spans import Example, Span, spans_to_word_tags, word_offsets, word_tags_to_spans
from frontlines.training.corpus import CorpusError, Problem, accept_record

#: One imported record: (line, corpus record or None, problems found by the importer itself).
#: ``None`` with no problems means "skipped on purpose" (unannotated task, rejected answer).
Item = tuple[int, Any, list[Problem]]

_SPACE_RE = regex.compile(r"\s")


def stable_id(prefix: str, text: Any) -> str | None:
    """An id from the text's hash, for formats that carry none (the same text always gets the same id)."""
    if not isinstance(text, str):
        return None
    return f"{prefix}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def validate(path: str, items: Iterable[Item]) -> tuple[list[Example], int]:
    """Check every record with :func:`training.corpus.check_record`; return (examples, records skipped).

    Raises :class:`training.corpus.CorpusError` listing every problem (the
    importer's and the validator's, and duplicate ids) if there is any.
    """
    examples: list[Example] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    skipped = 0
    for line, record, found in items:
        problems.extend(found)
        if record is None:
            skipped += not found
            continue
        example = accept_record(record, path, line, seen, problems)
        if example is None:
            continue
        example.events = None  # no annotation tool here carries event links
        examples.append(example)
    if problems:
        raise CorpusError(problems)
    return examples, skipped


def read_jsonl_items(path: str | Path) -> Iterator[tuple[int, Any, Problem | None]]:
    """``(line, value, problem)`` for each non-blank line of a JSON-lines file; unreadable file -> a line-0 problem."""
    try:
        for line, value, error in iter_jsonl(path):
            yield line, value, None if error is None else Problem(str(path), line, error)
    except OSError as exc:
        yield 0, None, Problem(str(path), 0, f"cannot read file: {exc.strerror or exc}")


def located(where: tuple[str, int, Any], message: str, span: Span | None = None) -> Problem:
    """A problem at ``where`` = (file, line, article id)."""
    return Problem(where[0], where[1], message, where[2], span)


def span_text_problem(text: Any, start: Any, end: Any, label: Any, expected: Any, where: tuple[str, int, Any]) -> Problem | None:
    """A problem if a record states its span's text and the article's text at those offsets differs."""
    if not (isinstance(text, str) and isinstance(expected, str) and isinstance(start, int) and isinstance(end, int)):
        return None
    if 0 <= start < end <= len(text) and text[start:end] == expected:
        return None
    found = text[start:end] if 0 <= start < end <= len(text) else None
    span = Span(start, end, str(label))
    return located(where, f"span text {expected!r} does not match the text at its offsets ({found!r})", span)


def sentence_rows(example: Example) -> list[tuple[list[str], list[str]]]:
    """``(words, BIO tags)`` per sentence (:func:`inference.events.sentences`), with the project's word split.

    Sentences that a span crosses are kept together, so that every span comes
    back whole when the rows are read again.
    """
    words = word_offsets(example.text)
    tags = spans_to_word_tags(words, example.spans)
    bounds = sentences(example.text)
    rows: list[tuple[list[str], list[str]]] = []
    last = -1
    for (start, end), tag in zip(words, tags, strict=True):
        k = sentence_of(bounds, start)
        if rows and (k == last or tag.startswith("I-")):
            rows[-1][0].append(example.text[start:end])
            rows[-1][1].append(tag)
        else:
            rows.append(([example.text[start:end]], [tag]))
        last = k
    return rows


def tokens_to_record(art_id: str, rows: Sequence[tuple[list[str], list[str], list[int]]], text: str | None,
                     where: tuple[str, int]) -> tuple[dict[str, Any] | None, list[Problem]]:
    """A corpus record from (tokens, tags, line of each token) rows: offsets into ``text``, or a rebuilt text.

    ``text`` None rebuilds it: tokens joined by single spaces, rows by line
    breaks. Otherwise each token must be the next non-space run of ``text``.
    """
    tokens = [t for row in rows for t in row[0]]
    tags = [t for row in rows for t in row[1]]
    lines = [n for row in rows for n in row[2]]
    if text is None:
        text = "\n".join(" ".join(row[0]) for row in rows)
    offsets: list[tuple[int, int]] = []
    pos = 0
    for token, line in zip(tokens, lines, strict=True):
        if not token or _SPACE_RE.search(token):
            return None, [Problem(where[0], line, f"token {token!r} is empty or holds white space", art_id)]
        while pos < len(text) and not text.startswith(token, pos) and _SPACE_RE.match(text, pos):
            pos += 1
        if not text.startswith(token, pos):
            found = text[pos : pos + len(token)] if pos < len(text) else "the end of the text"
            return None, [Problem(where[0], line, f"token {token!r} does not match the text here ({found!r})", art_id)]
        offsets.append((pos, pos + len(token)))
        pos += len(token)
    if _SPACE_RE.sub("", text[pos:]):
        return None, [Problem(*where, f"the text goes on after the last token ({text[pos:pos + 30].strip()!r}...)", art_id)]
    spans = [s.to_dict() for s in word_tags_to_spans(offsets, tags)]
    return {"id": art_id, "text": text, "spans": spans, "meta": {}}, []


@contextlib.contextmanager
def atomic_dir(path: str | Path, marker: str) -> Iterator[Path]:
    """Yield a fresh folder beside ``path`` that replaces it on success and is removed on error.

    An existing ``path`` is replaced only if it is an empty folder or holds
    ``marker`` (an earlier export); anything else is refused, never deleted.
    """
    path = Path(path)
    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or (path / marker).exists())):
        raise FileExistsError(f"{path}: exists and is not an earlier export (no {marker}); choose another output")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the export from the rest of the team
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

