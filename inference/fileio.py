"""The one home for file handling every command shares: atomic writes, JSON lines, locks, problem lists.

Kept in the slim package (standard library only) so that both ``inference``
and ``training`` call it and nothing imports upward.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

try:  # POSIX; on other systems locks are not taken (documented in lock_exclusive)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

#: How many problems an error message lists before "... and N more".
SHOWN_PROBLEMS = 20


def format_problems(problems: Sequence[object], what: str = "problem") -> str:
    """``"N <what>(s):"`` and the first :data:`SHOWN_PROBLEMS` of them, one per line."""
    items = [str(p) for p in problems]
    shown = "\n".join(items[:SHOWN_PROBLEMS])
    more = f"\n... and {len(items) - SHOWN_PROBLEMS} more" if len(items) > SHOWN_PROBLEMS else ""
    return f"{len(items)} {what}(s):\n{shown}{more}"


def _read_umask() -> int:
    """The process's umask; it can only be read by setting it, so this runs once, at import, before any thread."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    Readers see the old file or the new one, never half of one; a crash leaves
    at most a hidden ``.NAME.*.tmp`` file and the old contents.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp makes the file 0600; give it the mode a plain open() would (0666 less the umask), so reports
        # and predictions stay readable by the group and the web server that shows them.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def dumps_line(record: Any) -> str:
    """One JSON line. ``ensure_ascii`` keeps U+2028/U+2029/U+0085 escaped, so no reader splits the line."""
    return json.dumps(record, ensure_ascii=False).replace("\u2028", "\\u2028").replace(
        "\u2029", "\\u2029").replace("\u0085", "\\u0085") + "\n"


def write_jsonl_atomic(path: str | Path, records: Iterable[Any]) -> None:
    """Write one JSON object per line to ``path`` atomically."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(dumps_line(record))


def iter_lines(path: str | Path) -> Iterator[tuple[int, str | None, str | None]]:
    """``(line number, text, error)`` for each line of a file, split on ``\\n`` only.

    JSON allows raw U+2028, U+2029 and U+0085 inside strings, so
    ``str.splitlines`` would cut valid lines; a line that is not UTF-8 gives
    ``text=None`` and an error naming the byte, and the next line is read.
    """
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            raw = raw.rstrip(b"\n").rstrip(b"\r")
            try:
                yield lineno, raw.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                yield lineno, None, f"invalid UTF-8 at byte {exc.start + 1} of the line"


def parse_json_line(line: str) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, message)`` for one JSON line; never raises.

    Lone surrogates (``"\\ud800"``) are refused here: they are valid JSON
    escapes but not text, and every later step (tokenizers, UTF-8 output)
    would fail on them.
    """
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except ValueError as exc:  # e.g. an integer of more than 4300 digits (sys.set_int_max_str_digits)
        return None, f"invalid JSON: {exc}"
    bad = _find_surrogate(value)
    if bad is not None:
        return None, f"invalid text: lone surrogate U+{ord(bad):04X} (not a character)"
    return value, None


def _find_surrogate(value: Any) -> str | None:
    """The first lone surrogate in any string of ``value`` (iterative: deep values must not recurse)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return item[exc.start]
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any, str | None]]:
    """``(line number, value, error)`` for each non-blank line of a JSON-lines file; never raises on content.

    A file that cannot be opened raises :class:`OSError` for the caller to
    report; a bad line gives ``value=None`` and the reason, and reading goes on.
    """
    for lineno, text, error in iter_lines(path):
        if error is not None:
            yield lineno, None, error
            continue
        assert text is not None
        if not text.strip():
            continue
        value, error = parse_json_line(text)
        yield lineno, value, error


_JSON_WS = frozenset(" \t\n\r")


def iter_json_array(path: str | Path) -> Iterator[tuple[int, Any, str | None]]:
    """``(line number, value, error)`` for each element of a file holding one JSON array (Label Studio's export).

    The line is where the element starts, so a message points into a
    pretty-printed export. Elements are checked like :func:`parse_json_line`
    (lone surrogates refused); a syntax error ends the reading with one error
    naming its line, as JSON has no point to resume from. A file that cannot be
    opened raises :class:`OSError` for the caller to report.
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield raw.count(b"\n", 0, exc.start) + 1, None, f"invalid UTF-8 at byte {exc.start + 1} of the file"
        return
    decoder = json.JSONDecoder()

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in _JSON_WS:
            pos += 1
        return pos

    pos = skip(0)
    if not text.startswith("[", pos):
        yield text.count("\n", 0, pos) + 1, None, "invalid JSON: expected an array ('[')"
        return
    pos, line, counted = skip(pos + 1), 1, 0
    expect_value = not text.startswith("]", pos)
    while expect_value:
        line, counted = line + text.count("\n", counted, pos), pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield exc.lineno, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
            return
        except RecursionError:
            yield line, None, "invalid JSON: nested too deeply"
            return
        except ValueError as exc:
            yield line, None, f"invalid JSON: {exc}"
            return
        bad = _find_surrogate(value)
        if bad is not None:
            yield line, None, f"invalid text: lone surrogate U+{ord(bad):04X} (not a character)"
        else:
            yield line, value, None
        pos = skip(end)
        expect_value = text.startswith(",", pos)
        if expect_value:
            pos = skip(pos + 1)
        elif not text.startswith("]", pos):
            yield text.count("\n", 0, pos) + 1, None, "invalid JSON: expected ',' or ']' after an element"
            return
    if skip(pos + 1) != len(text):
        yield text.count("\n", 0, pos) + 1, None, "invalid JSON: extra data after the array"


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> ``{"a.b.c": value}``; lists and empty mappings are kept as values."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


class LockedError(RuntimeError):
    """Another process holds the lock on an output."""


@contextlib.contextmanager
def lock_exclusive(target: str | Path, *, remove: bool = False) -> Iterator[Path]:
    """Hold an exclusive, non-blocking lock on ``target`` (via ``.NAME.lock`` beside it) for the block.

    A second process asking for the same output gets :class:`LockedError` at
    once instead of racing the first. The lock is the kernel's (``flock``), so
    it is released when the process dies, however it dies. The lock file is
    left behind (harmless) unless ``remove``: then it is deleted on leaving
    the block, while still held; a process that opened the old file meanwhile
    notices that the path no longer names it and takes the lock afresh.
    """
    target = Path(target)
    lock_path = target.with_name(f".{target.name}.lock")
    for _attempt in range(10):
        fh: IO[str] = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
        if fcntl is None:
            break
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise LockedError(
                    f"{target}: another run is writing this output (lock {lock_path}); "
                    "wait for it to finish or choose another output") from None
            raise
        try:
            if os.path.samestat(os.fstat(fh.fileno()), os.stat(lock_path)):
                break
        except FileNotFoundError:
            pass
        fh.close()  # the holder removed the file between our open and our lock: try the new one
    else:
        raise LockedError(f"{target}: could not take the lock {lock_path}; another run keeps replacing it")
    try:
        yield lock_path
    finally:
        if remove:
            with contextlib.suppress(OSError):
                lock_path.unlink()
        fh.close()


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file once links are resolved (existing or not)."""
    pa, pb = Path(a), Path(b)
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()
