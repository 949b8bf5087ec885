"""A resumable JSON-lines output: a hidden partial file, a state file, and an atomic publish.

Lines are appended to ``.OUTPUT.partial`` (and bad records to
``.OUTPUT.errors.partial``) a chunk at a time; after every chunk both are
synced and ``.OUTPUT.state.json`` records how many input records and output
bytes are safely on disk. ``--resume`` truncates the partial files to that
point and carries on, so an interrupted run neither repeats nor loses a line.
The output appears, by a rename, only when complete; an existing output is
never replaced without ``--overwrite``. The caller holds the output's lock
(:func:`inference.fileio.lock_exclusive`) for as long as a writer is open.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frontlines.inference.errors import UsageError
from frontlines.inference.fileio import atomic_write_text, dumps_line

#: The state file's fields and their types; anything else is refused, not guessed at.
STATE_FIELDS: dict[str, type] = {"fingerprint": dict, "done": int, "output_bytes": int, "error_bytes": int,
                                 "complete": bool}


def shard_path(path: Path, index: int, count: int) -> Path:
    """``spans.jsonl`` -> ``spans.shard-2-of-4.jsonl``: where process ``index`` of ``count`` writes its share."""
    return path.with_name(f"{path.stem}.shard-{index}-of-{count}{path.suffix}")


def default_errors(output: Path) -> Path:
    """The errors file of ``--skip-bad`` when ``--errors`` is not given: ``spans.jsonl`` -> ``spans.errors.jsonl``."""
    return output.with_name(output.stem + ".errors.jsonl")


def _hidden(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}{suffix}")


def lock_file(path: Path) -> Path:
    """The lock file :func:`inference.fileio.lock_exclusive` takes for ``path``."""
    return _hidden(path, ".lock")


@dataclass(frozen=True)
class Target:
    """Where one run (or one shard) writes: its output, its errors file and the hidden files beside the output."""

    output: Path
    errors: Path

    @classmethod
    def of(cls, output: Path, errors: Path | None = None) -> Target:
        """The target of ``output``, its errors file defaulting to :func:`default_errors`."""
        return cls(output, errors if errors is not None else default_errors(output))

    @property
    def partial(self) -> Path:
        return _hidden(self.output, ".partial")

    @property
    def errors_partial(self) -> Path:
        return _hidden(self.output, ".errors.partial")

    @property
    def state(self) -> Path:
        return _hidden(self.output, ".state.json")

    def files(self) -> list[Path]:
        """Every file this target writes, lock files included."""
        return [self.output, self.errors, self.partial, self.errors_partial, self.state,
                lock_file(self.output), lock_file(self.errors)]

    def shard(self, index: int, count: int) -> Target:
        """The target of process ``index`` of ``count``."""
        return Target(shard_path(self.output, index, count), shard_path(self.errors, index, count))


def read_state(path: Path) -> dict[str, Any]:
    """A state file's contents, checked field by field; a clear error for a damaged or foreign one."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: damaged state file ({exc}); use --overwrite to start again") from None
    bad = [k for k, kind in STATE_FIELDS.items() if not isinstance(state, dict) or type(state.get(k)) is not kind]
    if isinstance(state, dict) and not isinstance(state.setdefault("settings", {}), dict):
        bad.append("settings")
    if bad or state["done"] < 0 or state["output_bytes"] < 0 or state["error_bytes"] < 0:
        raise UsageError(f"{path}: not a state file of this version (bad or missing {', '.join(bad) or 'counts'}); "
                         "use --overwrite to start again")
    return state


class ResumableWriter:
    """Append chunks of output and error records to a :class:`Target`; see the module docstring.

    ``keep_state`` keeps the state file after publishing (a shard's, which
    ``merge`` reads to check that the shard is complete and whole).
    """

    def __init__(self, target: Target, fingerprint: dict[str, Any], *, resume: bool, overwrite: bool,
                 keep_state: bool = False) -> None:
        self.target = target
        self.keep_state = keep_state
        self._out: Any = None
        self._err: Any = None
        self.state = self._open_state(fingerprint, resume, overwrite)

    def _open_state(self, fingerprint: dict[str, Any], resume: bool, overwrite: bool) -> dict[str, Any]:
        """The recorded state (partial files truncated to it) on ``resume``, else a fresh one."""
        t = self.target
        state = read_state(t.state) if t.state.exists() else None
        published = state is not None and state["complete"] and not t.partial.exists() and t.output.exists()
        leftovers = [p for p in (t.partial, t.errors_partial, t.state) if p.exists()]
        if resume and state is not None:
            if state["fingerprint"] != fingerprint:
                raise UsageError(f"{t.state}: the interrupted run had other inputs, format or shard "
                                 f"({_differences(state['fingerprint'], fingerprint)}); use --overwrite to start again")
            if state["complete"] and not t.partial.exists() and not t.output.exists():
                raise UsageError(f"{t.state} records a finished output, but {t.output} is gone; "
                                 "use --overwrite to start again")
            if not published and t.output.exists() and not overwrite:
                raise UsageError(f"{t.output} already exists; pass --overwrite to replace it")
            if not state["complete"]:
                for path, size in ((t.partial, state["output_bytes"]), (t.errors_partial, state["error_bytes"])):
                    if (path.stat().st_size if path.exists() else 0) < size:
                        raise UsageError(f"{path} is shorter than its state file records; use --overwrite to start "
                                         "again")
                    with path.open("ab") as fh:  # drop whatever was written after the last recorded chunk
                        fh.truncate(size)
            return state
        if published and not overwrite:
            raise UsageError(f"{t.output} already exists (a finished shard); pass --resume to keep it or "
                             "--overwrite to redo it")
        if leftovers and not (resume or overwrite or published):
            raise UsageError(f"an interrupted run left {leftovers[0]}; pass --resume to continue it or "
                             "--overwrite to start again")
        if t.output.exists() and not overwrite:
            raise UsageError(f"{t.output} already exists; pass --overwrite to replace it")
        for path in leftovers:
            path.unlink()
        # written with the first chunk: a run that fails before it (a model that cannot be loaded) leaves nothing
        return {"fingerprint": fingerprint, "done": 0, "output_bytes": 0, "error_bytes": 0, "complete": False,
                "settings": {}}

    def _open_files(self) -> None:
        if self._out is None:
            if not self.target.state.exists():
                atomic_write_text(self.target.state, json.dumps(self.state))
            self._out = self.target.partial.open("ab")
            self._err = self.target.errors_partial.open("ab")

    @property
    def done(self) -> int:
        """How many input records are safely written (as output lines or errors)."""
        return int(self.state["done"])

    @property
    def complete(self) -> bool:
        return bool(self.state["complete"])

    @property
    def settings(self) -> dict[str, Any]:
        """Choices the run made that a resumed run should repeat (saved with every chunk)."""
        return self.state["settings"]

    def write(self, records: Sequence[Any], errors: Sequence[Any], consumed: int) -> None:
        """Append ``records`` and ``errors``, sync both, then record ``consumed`` more input records as done."""
        assert not self.state["complete"], "write after finish"
        self._open_files()
        for fh, items in ((self._out, records), (self._err, errors)):
            fh.write("".join(dumps_line(item) for item in items).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        self.state["done"] += consumed
        self.state["output_bytes"], self.state["error_bytes"] = self._out.tell(), self._err.tell()
        atomic_write_text(self.target.state, json.dumps(self.state))

    def finish(self, publish_errors: bool) -> int:
        """Mark the output complete and publish it (and the errors file if asked, or not empty); returns the error count."""
        t = self.target
        if not self.state["complete"]:
            self._open_files()  # an empty input gives an empty output
            self.close()
            self.state["complete"] = True
            atomic_write_text(t.state, json.dumps(self.state))
        n_errors = 0
        if t.errors_partial.exists():
            with t.errors_partial.open("rb") as fh:
                n_errors = sum(1 for _ in fh)
            if publish_errors or n_errors:
                os.replace(t.errors_partial, t.errors)
            else:
                t.errors_partial.unlink()
        elif t.errors.exists():  # published by an earlier, interrupted finish
            with t.errors.open("rb") as fh:
                n_errors = sum(1 for _ in fh)
        if t.partial.exists():
            os.replace(t.partial, t.output)  # last but the state: the output's appearance marks completion
        if not self.keep_state:
            t.state.unlink(missing_ok=True)
        return n_errors

    def close(self) -> None:
        for fh in (self._out, self._err):
            if fh is not None:
                with contextlib.suppress(OSError):
                    fh.close()
        self._out = self._err = None


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return "; ".join(f"{k}: {old.get(k)} then, {new.get(k)} now" for k in keys)
