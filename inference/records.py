"""Input records of ``predict``: JSON-lines files, text files and folders of ``.txt``, read in a fixed order.

Every record becomes a :class:`Unit`: a record to tag, or the located reason
it cannot be. The order (and so each record's index) is the same on every
read, which is what lets ``--resume`` and ``--shard`` count records instead
of remembering them. JSON lines are read with :func:`inference.fileio.iter_jsonl`
(split on ``\\n`` only; lone surrogates and too-deep nesting refused).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontlines.inference.errors import InputError, UsageError
from frontlines.inference.fileio import format_problems, iter_jsonl

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
#: How deep a record's extra fields (copied to the output) may nest.
MAX_DEPTH = 100


@dataclass
class Unit:
    """One input record: a text to tag, or the reason it cannot be."""

    source: str
    line: int
    record: dict[str, Any] | None = None
    error: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def check_record(value: Any) -> str | None:
    """Why a parsed JSON line is not a record ``{"id", "text", ...}`` that can be tagged and written back; None if it is."""
    if not isinstance(value, dict):
        return f"a line must be a JSON object, not {type(value).__name__}"
    art_id = value.get("id")
    if isinstance(art_id, bool) or not isinstance(art_id, (str, int)) or art_id == "":
        return "'id' must be a non-empty string or an integer"
    if not isinstance(value.get("text"), str):
        return f"[{art_id}] 'text' must be a string"
    stack: list[tuple[Any, int, str]] = [(v, 1, k) for k, v in value.items()]
    while stack:  # iterative: a deep value must not recurse here, nor later in the JSON writer
        item, depth, key = stack.pop()
        if depth > MAX_DEPTH:
            return f"[{art_id}] field {key!r} is nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, float) and not math.isfinite(item):
            return f"[{art_id}] field {key!r} holds {item}, which JSON has no number for"
        if isinstance(item, dict):
            stack.extend((v, depth + 1, key) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1, key) for v in item)
    return None


def shown(path: Path) -> str:
    """``path`` as text that can be written as UTF-8 (a name that is not UTF-8 gets ``\\xff`` escapes)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _kind(path: Path, fmt: str) -> str:
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    if path.is_dir():
        return "dir"
    if fmt != "auto":
        return fmt
    return "jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "text"


@dataclass(frozen=True)
class Inputs:
    """The input paths and format, and which files of a folder are not articles but our own outputs.

    Folders are walked for ``*.txt`` files in path order, without following
    links to folders (no loops) and leaving out hidden files and folders
    (``.git``, our partial, state and lock files) and every file ``skip``
    accepts (our outputs: ``--output``, ``--errors`` and their shards).
    """

    paths: tuple[Path, ...]
    fmt: str = "auto"
    skip: Callable[[Path], bool] = field(default=lambda _path: False, compare=False)

    def kinds(self) -> list[tuple[Path, str]]:
        """``(path, kind)`` per input, ``kind`` one of jsonl, text, dir; a clear error for a missing path."""
        return [(path, _kind(path, self.fmt)) for path in self.paths]

    def text_files(self, folder: Path) -> list[Path]:
        """The articles of ``folder``, sorted by their path inside it."""
        found = []
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                path = Path(root, name)
                if name.endswith(".txt") and not name.startswith(".") and path.is_file() and not self.skip(path):
                    found.append(path)
        return sorted(found, key=lambda p: p.relative_to(folder).parts)

    def files(self) -> list[Path]:
        """Every file that is read: the JSON-lines and text inputs and each folder's articles."""
        out: list[Path] = []
        for path, kind in self.kinds():
            out.extend(self.text_files(path) if kind == "dir" else [path])
        return out

    def units(self) -> Iterator[Unit]:
        """Every record in order; blank lines of JSON-lines files are not records."""
        for path, kind in self.kinds():
            if kind == "jsonl":
                source = shown(path)
                for line, value, error in iter_jsonl(path):
                    error = error if error is not None else check_record(value)
                    yield Unit(source, line, error=error) if error else Unit(source, line, record=value)
                continue
            for file in self.text_files(path) if kind == "dir" else [path]:
                art_id = file.relative_to(path).with_suffix("").as_posix() if kind == "dir" else file.stem
                if shown(Path(art_id)) != art_id:
                    yield Unit(shown(file), 1, error="the file name is not UTF-8, so it cannot be an id")
                    continue
                try:
                    text = file.read_bytes().decode("utf-8")  # bytes: CRLF stays as it is
                except UnicodeDecodeError as exc:
                    yield Unit(shown(file), 1, error=f"not UTF-8 ({exc.reason} at byte {exc.start})")
                    continue
                yield Unit(shown(file), 1, record={"id": art_id, "text": text})


def count_and_check_ids(units: Iterator[Unit], allow_duplicates: bool) -> int:
    """How many records ``units`` holds; refuses an id seen twice (naming both lines) unless allowed."""
    first: dict[Any, str] = {}
    problems: list[str] = []
    total = 0
    for unit in units:
        total += 1
        if unit.record is None or allow_duplicates:
            continue
        art_id = unit.record["id"]
        seen = first.get(art_id)
        if seen is None:
            first[art_id] = unit.where
        else:
            problems.append(f"{unit.where}: duplicate id {art_id!r} (first at {seen})")
    if problems:
        raise InputError(format_problems(problems, "duplicate id")
                         + "\npass --allow-duplicate-ids to tag every record anyway")
    return total

