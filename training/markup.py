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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import regex
import yaml

from inference.labels import LABELS
from inference.spans import Example, Span

_MARK_RE = regex.compile(r"\[((?:[^\[\]\\]|\\.)+)\]\(([A-Z_]+)\)")
_ESCAPE_RE = regex.compile(r"\\([\[\]\\])")

#: Front-matter fields every article must have, with their allowed values.
STYLES = ("wire", "statement", "monitor", "encyclopedia", "analysis")
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

    body_start = close + len("\n---\n")
    body = source[body_start:].strip("\n")
    body_start += len(source[body_start:]) - len(source[body_start:].lstrip("\n"))
    text_parts: list[str] = []
    spans: list[Span] = []
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
            spans.append(Span(length, length + len(surface), label))
        text_parts.append(surface)
        length += len(surface)
        cursor = match.end()
    check_stray(cursor, len(body))
    text_parts.append(_unescape(body[cursor:]))
    text = "".join(text_parts)
    for phrase in meta.get("hard_negatives") or []:
        if phrase not in text:
            errors.append(MarkupError(name, 2, 1, f"hard negative {phrase!r} does not occur in the text"))
    meta = {"source": str(path.as_posix()), **meta}
    return Example(id=path.stem, text=text, spans=spans, meta=meta), errors
