"""The reviewable authoring format of the corpus, compiled to JSON lines.

An article is a Markdown file with YAML front matter and inline span markup::

    ---
    region: syria
    style: wire
    title: Daesh counterattacks in Albu Kamal
    hard_negatives: ["the Observatory said"]
    ---
    [IS](ACTOR) [retook](CONTROL_CHANGE) [more than 40 percent](PERCENT) of ...

``[surface](LABEL)`` marks a span; ``\\[`` and ``\\]`` are literal brackets.
The article id is the file name without ``.md``. A diff of such a file shows
text and labels together, which a JSON line with offsets cannot.

Event links sit on the trigger. A span gets a name with ``#name``, and a
CONTROL_CHANGE span lists its event's roles by those names::

    [IS](ACTOR#is) [retook](CONTROL_CHANGE status=asserted taker=is extent=p places=ak)
    [more than 40 percent](PERCENT#p) of the town of [Albu Kamal](LOCATION#ak)

``places=a,b`` lists several places; a name may be used before it is given
and anywhere in the article (a pronoun's taker is the party's nearest named
mention). An article whose triggers carry no ``status=`` has no event
annotation (``events`` is absent); once one does, every trigger must. An
article without triggers has an empty ``events`` list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import regex
import yaml

from frontlines.inference.labels import LABELS, TRIGGER_LABEL
from frontlines.inference.spans import Example, Span
from frontlines.training.event_links import parse_events

_MARK_RE = regex.compile(
    r"\[((?:[^\[\]\\]|\\.)+)\]\(([A-Z_]+)(?:#([A-Za-z0-9_-]+))?((?:[ ]+[a-z]+=[^\s()]*)*)\)")
#: Attributes a trigger may carry (``places`` takes a comma-separated list).
_EVENT_KEYS = ("status", "taker", "loser", "places", "extent")
_ESCAPE_RE = regex.compile(r"\\([\[\]\\])")

#: Front-matter fields every article must have, with their allowed values.
STYLES = ("wire", "statement", "monitor", "encyclopedia", "analysis",
          "briefing", "communique", "social", "humanitarian", "feature")
#: Splits an article may be pinned to in its front matter (others come from the id's hash).
PINNABLE_SPLITS = ("stress",)
REQUIRED_META = ("region", "style", "title")


@dataclass(frozen=True)
class MarkupError:
    """A problem in a source file, with 1-based line and column."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


def _line_col(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _unescape(fragment: str) -> str:
    return _ESCAPE_RE.sub(r"\1", fragment)


def parse_article(path: Path, source: str | None = None) -> tuple[Example | None, list[MarkupError]]:
    """Parse one source file into an :class:`Example` and the problems found.

    Every problem is collected; the example is ``None`` only when the front
    matter cannot be read at all.
    """
    name = str(path)
    source = path.read_text(encoding="utf-8") if source is None else source
    errors: list[MarkupError] = []
    if not source.startswith("---\n"):
        return None, [MarkupError(name, 1, 1, "missing YAML front matter ('---' on line 1)")]
    close = source.find("\n---\n", 3)
    if close < 0:
        return None, [MarkupError(name, 1, 1, "front matter is not closed by a '---' line")]
    try:
        meta = yaml.safe_load(source[4:close]) or {}
    except yaml.YAMLError as exc:
        return None, [MarkupError(name, 1, 1, f"front matter is not valid YAML: {exc}")]
    if not isinstance(meta, dict):
        return None, [MarkupError(name, 2, 1, "front matter must be a mapping")]
    for key in REQUIRED_META:
        if not meta.get(key):
            errors.append(MarkupError(name, 2, 1, f"front matter lacks '{key}'"))
    if meta.get("style") and meta["style"] not in STYLES:
        errors.append(MarkupError(name, 2, 1, f"style {meta['style']!r} is not one of {STYLES}"))
    if "split" in meta and meta["split"] not in PINNABLE_SPLITS:
        errors.append(MarkupError(name, 2, 1, f"split {meta['split']!r} is not one of {PINNABLE_SPLITS}"))

    body_start = close + len("\n---\n")
    body = source[body_start:].strip("\n")
    body_start += len(source[body_start:]) - len(source[body_start:].lstrip("\n"))
    text_parts: list[str] = []
    spans: list[Span] = []
    names: dict[str, Span] = {}
    positions: dict[Span, tuple[int, int]] = {}
    links: list[tuple[Span, dict[str, str], tuple[int, int]]] = []
    cursor = length = 0
    def check_stray(lo: int, hi: int) -> None:
        for stray in regex.finditer(r"(?<!\\)[\[\]]", body[lo:hi]):
            line, col = _line_col(source, body_start + lo + stray.start())
            errors.append(MarkupError(name, line, col, "unbalanced or malformed span markup"))

    for match in _MARK_RE.finditer(body):
        check_stray(cursor, match.start())
        before = _unescape(body[cursor : match.start()])
        text_parts.append(before)
        length += len(before)
        surface, label = _unescape(match.group(1)), match.group(2)
        line, col = _line_col(source, body_start + match.start())
        if label not in LABELS:
            errors.append(MarkupError(name, line, col, f"unknown label {label!r} on {surface!r}"))
        elif surface != surface.strip():
            errors.append(MarkupError(name, line, col, f"span {surface!r} starts or ends with white space"))
        else:
            span = Span(length, length + len(surface), label)
            spans.append(span)
            positions[span] = (line, col)
            _read_links(match, span, (line, col), names, links, errors, name)
        text_parts.append(surface)
        length += len(surface)
        cursor = match.end()
    check_stray(cursor, len(body))
    text_parts.append(_unescape(body[cursor:]))
    text = "".join(text_parts)
    for phrase in meta.get("hard_negatives") or []:
        if phrase not in text:
            errors.append(MarkupError(name, 2, 1, f"hard negative {phrase!r} does not occur in the text"))
    raw_events = _resolve_links(spans, names, links, errors, name)
    events, problems = parse_events(raw_events, sorted(spans))
    for message, span in problems:
        line, col = positions.get(span, (1, 1)) if span is not None else (1, 1)
        errors.append(MarkupError(name, line, col, message))
    meta = {"source": str(path.as_posix()), **meta}
    return Example(id=path.stem, text=text, spans=spans, meta=meta, events=events), errors


def _read_links(match: regex.Match, span: Span, where: tuple[int, int], names: dict[str, Span],
                links: list[tuple[Span, dict[str, str], tuple[int, int]]], errors: list[MarkupError],
                name: str) -> None:
    """Record a span's ``#name`` and, on a trigger, its ``key=value`` event attributes."""
    line, col = where
    ident, attrs = match.group(3), match.group(4).split()
    if ident:
        if ident in names:
            errors.append(MarkupError(name, line, col, f"span name #{ident} is used twice"))
        names[ident] = span
    if not attrs:
        return
    if span.label != TRIGGER_LABEL:
        errors.append(MarkupError(name, line, col, f"event attributes on a {span.label} span (only {TRIGGER_LABEL})"))
        return
    values: dict[str, str] = {}
    for attr in attrs:
        key, _, value = attr.partition("=")
        if key not in _EVENT_KEYS:
            errors.append(MarkupError(name, line, col, f"unknown event attribute {key!r} (one of {', '.join(_EVENT_KEYS)})"))
        elif key in values:
            errors.append(MarkupError(name, line, col, f"event attribute {key!r} given twice"))
        else:
            values[key] = value
    links.append((span, values, where))


def _resolve_links(spans: list[Span], names: dict[str, Span],
                   links: list[tuple[Span, dict[str, str], tuple[int, int]]],
                   errors: list[MarkupError], name: str) -> list[dict] | None:
    """The article's events as JSON records, resolving span names.

    ``None`` (not annotated) when it has triggers but none carries attributes;
    an article without any CONTROL_CHANGE has the empty list: its events are known.
    """
    if not links:
        return None if any(s.label == TRIGGER_LABEL for s in spans) else []
    events = []
    for trigger, values, (line, col) in links:
        record: dict = {"trigger": [trigger.start, trigger.end], "status": values.get("status")}
        for key in ("taker", "loser", "extent", "places"):
            refs = [r for r in values.get(key, "").split(",") if r] if key == "places" else (
                [values[key]] if values.get(key) else [])
            resolved = []
            for ref in refs:
                target = names.get(ref.lstrip("#"))
                if target is None:
                    errors.append(MarkupError(name, line, col, f"{key}={ref}: no span is named #{ref.lstrip('#')}"))
                else:
                    resolved.append([target.start, target.end])
            record[key] = resolved if key == "places" else (resolved[0] if resolved else None)
        events.append(record)
    return events

