"""Prodigy / spaCy-style JSONL: ``{"id", "text", "spans": [{"start", "end", "label"}], "meta"}``.

Pre-annotated spans carry their ``score`` (Prodigy shows extra span keys and
keeps them). Import reads ``prodigy db-out`` output: only answers ``accept``
(or records without an answer) are taken, ``reject``/``ignore`` are skipped and
counted. A span's ``text``, when given, must match the article's text; other
span keys (``token_start``, ``score``) are ignored. The article id is ``id``,
else ``meta.id``, else ``prodigy-<hash of the text>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from frontlines.inference.fileio import write_jsonl_atomic
from frontlines.inference.spans import Example, Span
from frontlines.training.convert.common import Item, read_jsonl_items, span_text_problem, stable_id, validate
from frontlines.training.corpus import Problem


def to_record(example: Example, scores: Mapping[Span, float] | None = None,
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One line; with ``scores`` each span carries the model's score."""
    spans = [s.to_dict() | ({} if scores is None else {"score": scores[s]}) for s in example.spans]
    return {"id": example.id, "text": example.text, "spans": spans, "meta": example.meta, **(extra or {})}


def write(path: str | Path, examples: Sequence[Example], scores: Sequence[Mapping[Span, float]] | None = None,
          extras: Sequence[Mapping[str, Any]] | None = None, model_version: str = "") -> None:
    """Write one Prodigy line per example, atomically."""
    write_jsonl_atomic(path, (to_record(ex, None if scores is None else scores[i], None if extras is None else extras[i])
                              for i, ex in enumerate(examples)))


def items(path: str | Path) -> Iterator[Item]:
    """Corpus records from Prodigy / spaCy-style JSONL, one per line."""
    name = str(path)
    for line, record, problem in read_jsonl_items(path):
        if problem is not None or not isinstance(record, dict):
            yield line, None, [problem or Problem(name, line, "a line must be a JSON object")]
            continue
        if record.get("answer", "accept") != "accept":
            yield line, None, []
            continue
        meta = record.get("meta", {})
        art_id = record.get("id")
        if not (isinstance(art_id, str) and art_id):
            meta_id = meta.get("id") if isinstance(meta, dict) else None
            art_id = meta_id if isinstance(meta_id, str) and meta_id else stable_id("prodigy", record.get("text"))
        spans = record.get("spans", [])
        problems = [p for i, s in enumerate(spans if isinstance(spans, list) else []) if isinstance(s, dict) and (
            p := span_text_problem(record.get("text"), s.get("start"), s.get("end"), s.get("label"), s.get("text"),
                                   (name, line, art_id))) is not None]
        yield line, {"id": art_id, "text": record.get("text"), "spans": spans, "meta": meta}, problems


def read(path: str | Path) -> tuple[list[Example], int]:
    """Examples from a Prodigy / spaCy-style file (see :func:`training.convert.common.validate`)."""
    return validate(str(path), items(path))
