"""CoNLL-2003-style BIO columns: ``word TAG`` per line, a blank line between sentences, ``-DOCSTART- <id>`` per article.

Words are the project's word split (:func:`inference.spans.word_offsets`),
sentences :func:`inference.events.sentences` (kept together where a span
crosses one), tags IOB2 from :data:`inference.labels.TAGS`. Readers of the
CoNLL-2003 files skip ``-DOCSTART-`` lines, so the article id rides there.

CoNLL keeps words, not the text between them, so import needs the original
texts to give offsets into them (``texts``: a JSON-lines file of ``{"id",
"text"}``, e.g. the corpus the file was exported from; its ``meta`` is kept
too). Without them the texts are rebuilt (words joined by single spaces,
sentences by line breaks) and offsets refer to the rebuilt texts. Extra
columns (CoNLL-2003's POS and chunk tags) are ignored: the first column is
the word and the last the tag; tabs or spaces separate them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import regex

from frontlines.inference.fileio import atomic_path, iter_lines
from frontlines.inference.labels import TAGS
from frontlines.inference.spans import Example
from frontlines.training.convert.common import Item, read_jsonl_items, sentence_rows, tokens_to_record, validate
from frontlines.training.corpus import Problem

DOCSTART = "-DOCSTART-"
_COLUMNS_RE = regex.compile(r"[ \t]+")
#: CoNLL-2003's own document line, "-DOCSTART- -X- -X- O", carries no id.
_NO_ID_RE = regex.compile(r"(?:-X-[ \t]+)*O?")


def to_lines(example: Example) -> Iterator[str]:
    """The article's lines, each ending in a newline."""
    if any(c in example.id for c in "\r\n") or example.id.strip(" \t") != example.id or _NO_ID_RE.fullmatch(example.id):
        raise ValueError(f"article {example.id!r}: this id cannot be written on a {DOCSTART} line "
                         "(a line break, spaces at either end, or CoNLL-2003's own '-X- O')")
    yield f"{DOCSTART} {example.id}\n\n"
    for words, tags in sentence_rows(example):
        yield "".join(f"{w} {t}\n" for w, t in zip(words, tags, strict=True)) + "\n"


def write(path: str | Path, examples: Sequence[Example], **_: Any) -> None:
    """Write every article's columns, atomically."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for example in examples:
            fh.writelines(to_lines(example))


def read_texts(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{id: record}`` from a JSON-lines file of ``{"id", "text", "meta"?}`` (the originals for import)."""
    out: dict[str, dict[str, Any]] = {}
    for _line, record, problem in read_jsonl_items(path):
        if problem is not None:
            raise ValueError(str(problem))
        if isinstance(record, dict) and isinstance(record.get("id"), str) and isinstance(record.get("text"), str):
            out.setdefault(record["id"], record)
    return out


def _docs(path: str | Path) -> Iterator[tuple[str | None, int, list[tuple[list[str], list[str], list[int]]], list[Problem]]]:
    """``(id, line of its DOCSTART, rows of (words, tags, lines), problems)`` per document."""
    name = str(path)
    doc_id: str | None = None
    start, rows, problems = 1, [], []  # type: ignore[var-annotated]
    row: tuple[list[str], list[str], list[int]] = ([], [], [])
    for line, text, error in iter_lines(path):
        if error is not None:
            problems.append(Problem(name, line, error))
            continue
        assert text is not None
        if text.startswith(DOCSTART):
            if row[0]:
                rows.append(row)
            if rows or problems:
                yield doc_id, start, rows, problems
            rest = text[len(DOCSTART):].strip(" \t")
            doc_id, start, rows, problems, row = (None if _NO_ID_RE.fullmatch(rest) else rest), line, [], [], ([], [], [])
            continue
        columns = _COLUMNS_RE.split(text.strip(" \t"))
        if columns == [""]:
            if row[0]:
                rows.append(row)
            row = ([], [], [])
        elif len(columns) < 2:
            problems.append(Problem(name, line, f"expected 'word TAG' (got {text!r})", doc_id))
        elif columns[-1] not in TAGS:
            problems.append(Problem(name, line, f"unknown tag {columns[-1]!r} (expected one of {', '.join(TAGS)})",
                                    doc_id))
        else:
            row[0].append(columns[0])
            row[1].append(columns[-1])
            row[2].append(line)
    if row[0]:
        rows.append(row)
    if rows or problems:
        yield doc_id, start, rows, problems


def items(path: str | Path, texts: Mapping[str, Mapping[str, Any]] | None = None) -> Iterator[Item]:
    """Corpus records from a CoNLL file: offsets into ``texts[id]["text"]``, or into rebuilt texts without them."""
    name = str(path)
    try:
        docs = list(_docs(path))
    except OSError as exc:
        yield 0, None, [Problem(name, 0, f"cannot read file: {exc.strerror or exc}")]
        return
    for n, (doc_id, line, rows, problems) in enumerate(docs, start=1):
        art_id = doc_id or f"{Path(path).stem}-{n}"
        original = None if texts is None else texts.get(art_id)
        if problems or (texts is not None and original is None):
            yield line, None, problems or [Problem(name, line, "no text for this document in the texts file", art_id)]
            continue
        record, found = tokens_to_record(art_id, rows, None if original is None else str(original["text"]), (name, line))
        if record is not None and original is not None:
            record["meta"] = original.get("meta", {})
        yield line, record, found


def read(path: str | Path, texts: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[list[Example], int]:
    """Examples from a CoNLL file (see :func:`training.convert.common.validate`)."""
    return validate(str(path), items(path, texts))
