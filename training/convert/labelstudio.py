"""Label Studio: tasks to label (gold as ``annotations``, model output as ``predictions``) and its JSON export back.

A task is ``{"data": {"text", "id", "meta"}, "annotations": [{"result": [...]}]}``;
each span is a result of type ``labels`` with ``value.start/end/text/labels``
(character offsets, end exclusive, as in the corpus). Importing takes, per
task, the latest annotation that was not cancelled (by ``updated_at``, then
``created_at``, then ``id``); tasks without one are skipped and counted, not
read as "no spans". Results of other types (relations, choices) are ignored.
The text is ``data.text``; metadata is ``data.meta``, or, in tasks that have
none (made from the user's own files), the other ``data`` columns.
Older Label Studio versions counted offsets in UTF-16 code units after an
emoji or other character outside the Basic Multilingual Plane; a span whose
stated text matches only under that count is converted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from frontlines.inference.fileio import atomic_write_text, iter_json_array
from frontlines.inference.labels import LABELS
from frontlines.inference.spans import Example, Span
from frontlines.training.convert.common import Item, located, span_text_problem, stable_id, validate
from frontlines.training.corpus import Problem
from frontlines.training.html_marks import COLORS

FROM_NAME, TO_NAME = "label", "text"
#: Task data that is not metadata: a task without ``data.meta`` (imported from the user's own CSV or JSON)
#: keeps its other columns as the article's metadata.
_NOT_META = ("text", "id", "selection")


def label_config() -> str:
    """The labelling interface for the four labels (Settings -> Labeling Interface -> Code)."""
    labels = "".join(f'    <Label value="{escape(lab)}" background="{COLORS.get(lab, "#ddd")}"/>\n' for lab in LABELS)
    return (f'<View>\n  <Labels name="{FROM_NAME}" toName="{TO_NAME}">\n{labels}  </Labels>\n'
            f'  <Text name="{TO_NAME}" value="$text" granularity="word"/>\n</View>\n')


def config_path(output: str | Path) -> Path:
    """Where the labelling config goes: beside the tasks file, ``tasks.json`` -> ``tasks.label_config.xml``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.label_config.xml")


def _result(text: str, i: int, span: Span, score: float | None) -> dict[str, Any]:
    value = {"start": span.start, "end": span.end, "text": text[span.start : span.end], "labels": [span.label]}
    out: dict[str, Any] = {"id": f"s{i}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
                           "value": value}
    if score is not None:
        out["score"] = score
    return out


def to_task(example: Example, scores: Mapping[Span, float] | None = None, extra: Mapping[str, Any] | None = None,
            model_version: str = "frontlines") -> dict[str, Any]:
    """One task: gold spans as an annotation, or, with ``scores``, the model's spans as a prediction.

    A prediction's ``score`` is the mean of its spans' scores (1.0 with no
    span), which Label Studio can sort tasks by.
    """
    data: dict[str, Any] = {"text": example.text, "id": example.id, "meta": example.meta, **(extra or {})}
    results = [_result(example.text, i, s, None if scores is None else scores[s]) for i, s in enumerate(example.spans)]
    if scores is None:
        return {"data": data, "annotations": [{"result": results}]}
    mean = sum(scores[s] for s in example.spans) / len(example.spans) if example.spans else 1.0
    return {"data": data, "predictions": [{"model_version": model_version, "score": mean, "result": results}]}


def write(path: str | Path, examples: Sequence[Example], scores: Sequence[Mapping[Span, float]] | None = None,
          extras: Sequence[Mapping[str, Any]] | None = None, model_version: str = "frontlines") -> None:
    """Write the tasks (one JSON array) and the labelling config beside them, each atomically."""
    tasks = [to_task(ex, None if scores is None else scores[i], None if extras is None else extras[i], model_version)
             for i, ex in enumerate(examples)]
    atomic_write_text(path, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    atomic_write_text(config_path(path), label_config())


def _latest(annotations: Any) -> dict[str, Any] | None:
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")] if isinstance(
        annotations, list) else []
    return max(kept, key=lambda a: (str(a.get("updated_at") or ""), str(a.get("created_at") or ""),
                                    a.get("id") if isinstance(a.get("id"), int) else -1), default=None)


def _from_utf16(text: str, offset: int) -> int | None:
    """The character offset of a UTF-16 code-unit offset into ``text`` (None if it falls inside a character)."""
    units = 0
    for i, ch in enumerate(text):
        if units >= offset:
            return i if units == offset else None
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(text) if units == offset else None


def _span(text: Any, value: dict[str, Any], where: tuple[str, int, Any]) -> dict[str, Any] | Problem:
    labels = value.get("labels")
    if not (isinstance(labels, list) and len(labels) == 1):
        return located(where, f"a 'labels' result must have exactly one label (got {labels!r})")
    start, end, stated = value.get("start"), value.get("end"), value.get("text")
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end))
    if ints and isinstance(text, str) and isinstance(stated, str) and text[start:end] != stated:
        s16, e16 = _from_utf16(text, start), _from_utf16(text, end)
        if s16 is not None and e16 is not None and text[s16:e16] == stated:
            start, end = s16, e16
        else:
            problem = span_text_problem(text, start, end, labels[0], stated, where)
            assert problem is not None
            return problem
    return {"start": start, "end": end, "label": labels[0]}


def items(path: str | Path) -> Iterator[Item]:
    """Corpus records from a Label Studio JSON export (one array of tasks), with the line each task starts on."""
    name = str(path)
    try:
        tasks = list(iter_json_array(path))
    except OSError as exc:
        yield 0, None, [Problem(name, 0, f"cannot read file: {exc.strerror or exc}")]
        return
    for line, task, error in tasks:
        if error is not None:
            yield line, None, [Problem(name, line, error)]
            continue
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            yield line, None, [Problem(name, line, "a task must be an object with a 'data' object")]
            continue
        data = task["data"]
        text = data.get("text")
        art_id = data.get("id")
        if not (isinstance(art_id, str) and art_id):
            task_id = task.get("id")
            art_id = f"label-studio-{task_id}" if isinstance(task_id, int) else stable_id("label-studio", text)
        annotation = _latest(task.get("annotations", task.get("completions")))
        if annotation is None:
            yield line, None, []
            continue
        results = annotation.get("result")
        spans: list[dict[str, Any]] = []
        problems: list[Problem] = []
        for i, result in enumerate(results if isinstance(results, list) else []):
            if not isinstance(result, dict) or result.get("type") != "labels":
                continue
            value = result.get("value")
            span = _span(text, value, (name, line, art_id)) if isinstance(value, dict) else Problem(
                name, line, f"result #{i} has no 'value' object", art_id)
            (problems if isinstance(span, Problem) else spans).append(span)  # type: ignore[arg-type]
        meta = data["meta"] if "meta" in data else {k: v for k, v in data.items() if k not in _NOT_META}
        yield line, {"id": art_id, "text": text, "spans": spans, "meta": meta}, problems


def read(path: str | Path) -> tuple[list[Example], int]:
    """Examples from a Label Studio export, and how many tasks had no annotation (see :func:`validate`)."""
    return validate(str(path), items(path))
