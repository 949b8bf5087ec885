"""doccano sequence labelling JSONL: ``{"id", "text", "label": [[start, end, "LABEL"], ...], "meta"}``.

Import also reads the relation-mode export (``"entities": [{"start_offset",
"end_offset", "label"}]``). The article id is ``id`` when it is a string,
``doccano-<id>`` for doccano's numbers, else ``doccano-<hash of the text>``
(stable, so the same text always gets the same id).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from frontlines.inference.fileio import write_jsonl_atomic
from frontlines.inference.spans import Example, Span
from frontlines.training.convert.common import Item, located, read_jsonl_items, stable_id, validate
from frontlines.training.corpus import Problem


def to_record(example: Example, scores: Mapping[Span, float] | None = None,
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One line; doccano has no place for a score, so pre-annotations are plain labels."""
    return {"id": example.id, "text": example.text, "label": [[s.start, s.end, s.label] for s in example.spans],
            "meta": example.meta, **(extra or {})}


def write(path: str | Path, examples: Sequence[Example], scores: Sequence[Mapping[Span, float]] | None = None,
          extras: Sequence[Mapping[str, Any]] | None = None, model_version: str = "") -> None:
    """Write one doccano line per example, atomically."""
    write_jsonl_atomic(path, (to_record(ex, None, None if extras is None else extras[i])
                              for i, ex in enumerate(examples)))


def _article_id(record: dict[str, Any]) -> str | None:
    raw = record.get("id")
    if isinstance(raw, str) and raw:
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return f"doccano-{raw}"
    return stable_id("doccano", record.get("text"))


def _spans(record: dict[str, Any], where: tuple[str, int, Any]) -> tuple[list[dict[str, Any]], list[Problem]]:
    spans: list[dict[str, Any]] = []
    problems: list[Problem] = []
    if "entities" in record and "label" not in record:
        raw = record["entities"]
        triples = [[e.get("start_offset"), e.get("end_offset"), e.get("label")] if isinstance(e, dict) else e
                   for e in raw] if isinstance(raw, list) else raw
    else:
        triples = record.get("label", [])
    if not isinstance(triples, list):
        return [], [located(where, "'label' must be a list of [start, end, label]")]
    for i, triple in enumerate(triples):
        if not (isinstance(triple, list) and len(triple) == 3):
            problems.append(located(where, f"label #{i} must be [start, end, label] (got {triple!r})"))
        else:
            spans.append({"start": triple[0], "end": triple[1], "label": triple[2]})
    return spans, problems


def items(path: str | Path) -> Iterator[Item]:
    """Corpus records from a doccano JSONL export, one per line."""
    for line, record, problem in read_jsonl_items(path):
        if problem is not None or not isinstance(record, dict):
            yield line, None, [problem or Problem(str(path), line, "a line must be a JSON object")]
            continue
        art_id = _article_id(record)
        spans, problems = _spans(record, (str(path), line, art_id))
        yield line, {"id": art_id, "text": record.get("text"), "spans": spans, "meta": record.get("meta", {})}, problems


def read(path: str | Path) -> tuple[list[Example], int]:
    """Examples from a doccano export (see :func:`training.convert.common.validate`)."""
    return validate(str(path), items(path))
