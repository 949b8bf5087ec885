"""Checks on a predict run's paths before anything is written: no output may be an input or another output.

Links are resolved (symbolic and hard), so that ``--errors`` equal to
``--output``, or an output that is an input under another name, is refused
instead of destroying a file.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from frontlines.inference.errors import UsageError
from frontlines.inference.fileio import parse_json_line, same_file
from frontlines.inference.records import Inputs
from frontlines.inference.writer import Target, lock_file


def ours(target: Target) -> Callable[[Path], bool]:
    """Whether a file met in an input folder is this run's output or errors file, or a shard of either."""
    mine = [(p.name, f"{p.stem}.shard-*-of-*{p.suffix}", p.parent) for p in (target.output, target.errors)]

    def skip(path: Path) -> bool:
        return any((path.name == name or fnmatch.fnmatchcase(path.name, pattern)) and same_file(path.parent, parent)
                   for name, pattern, parent in mine)

    return skip


def _written(targets: Sequence[Target]) -> list[tuple[str, Path]]:
    """``(what, path)`` of every file the run writes, each once."""
    out: list[tuple[str, Path]] = []
    for t in targets:
        for what, path in (("--output", t.output), ("--errors", t.errors), ("the partial output", t.partial),
                           ("the partial errors file", t.errors_partial), ("the state file", t.state),
                           ("the output's lock", lock_file(t.output)), ("the errors file's lock", lock_file(t.errors))):
            if (what, path) not in out:
                out.append((what, path))
    return out


def looks_like_output(path: Path) -> bool:
    """Whether an existing file is empty or starts like a predict output or errors file (not an article)."""
    with path.open("rb") as fh:
        first = fh.readline(1 << 20)
    if not first.strip():
        return True
    value, _ = parse_json_line(first.decode("utf-8", "replace"))
    return isinstance(value, dict) and ("spans" in value or "error" in value)


def check_paths(inputs: Inputs, targets: Sequence[Target]) -> None:
    """Refuse outputs that are folders, the same file twice, or an input (a file given, or an article of a folder)."""
    written = _written(targets)
    for what, path in written:
        if path.is_dir():
            raise UsageError(f"{path} is a directory; {what} must be a file path")
        parent = next(p for p in path.absolute().parents if p.exists())
        if not parent.is_dir():
            raise UsageError(f"{parent} is not a directory, so {what} {path} cannot be written")
    for i, (what, path) in enumerate(written):
        for other, other_path in written[i + 1 :]:
            if same_file(path, other_path):
                raise UsageError(f"{what} and {other} are the same file ({path}); choose another --errors")
    for i, path in enumerate(inputs.paths):
        for other in inputs.paths[i + 1 :]:
            if same_file(path, other) or path.resolve().is_relative_to(other.resolve()) \
                    or other.resolve().is_relative_to(path.resolve()):
                raise UsageError(f"--input {path} and {other} overlap: every record would be read twice")
    given = {os.stat(p).st_ino: p for p, kind in inputs.kinds() if kind != "dir"}
    folders = [p for p, kind in inputs.kinds() if kind == "dir"]
    articles = {os.stat(p).st_ino: p for f in folders for p in Inputs((f,), inputs.fmt).files()}
    for what, path in written:
        if not path.exists():
            continue
        st = path.stat()
        for found in (given, articles):
            source = found.get(st.st_ino)
            if source is None or not os.path.samestat(st, source.stat()):
                continue
            if found is given:
                raise UsageError(f"{what} {path} is also an input ({source}); choose another path")
            if not looks_like_output(path):
                raise UsageError(f"{what} {path} is an article of an input folder, not an earlier output; "
                                 "refusing to replace it")
