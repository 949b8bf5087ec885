"""Splitting a predict run across processes: ``--shard I/N`` shares and the ``merge`` that joins them.

Process ``I`` of ``N`` (0-based) tags the ``I``-th contiguous share of the
input records and writes ``OUTPUT`` with ``.shard-I-of-N`` before its suffix
(a :class:`inference.writer.Target` of its own, resumable like any output).
``merge`` concatenates finished shards in input order into ``OUTPUT`` and
refuses while any shard is missing, unfinished, or from other inputs; any
job array or cluster engine can call it once every shard has exited. Under
``accelerate launch`` or ``torchrun`` (``RANK``/``WORLD_SIZE`` read directly,
so that this package never imports accelerate) each process is shard
``RANK/WORLD_SIZE`` and rank 0 merges, after waiting at most a set time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from frontlines.inference.errors import UsageError
from frontlines.inference.fileio import atomic_path, format_problems
from frontlines.inference.writer import Target, read_state


def parse_shard(spec: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; for argparse's ``type=``."""
    index, _, count = spec.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{spec!r} is not I/N (process I of N, counted from 0)") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"{spec!r}: I must be at least 0 and below N")
    return i, n


def world() -> tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment (``(0, 1)`` without one)."""
    try:
        rank, size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    except ValueError:
        raise UsageError(f"RANK={os.environ.get('RANK')!r} and WORLD_SIZE={os.environ.get('WORLD_SIZE')!r} "
                         "must be integers") from None
    if not 0 <= rank < size:
        raise UsageError(f"RANK={rank} is outside WORLD_SIZE={size}")
    return rank, size


def share(total: int, index: int, count: int) -> tuple[int, int]:
    """The record indices ``[lo, hi)`` of shard ``index`` of ``count``: contiguous, sizes differing by at most one."""
    return index * total // count, (index + 1) * total // count


def unfinished(output: Path, count: int) -> list[str]:
    """One line per shard of ``output`` that is not finished and published, saying why."""
    problems = []
    for index in range(count):
        shard = Target.of(output).shard(index, count)
        where = f"shard {index}/{count}"
        if not shard.state.exists():
            problems.append(f"{where}: missing ({shard.output} was never started or was merged already)")
        elif not read_state(shard.state)["complete"] or shard.partial.exists() or not shard.output.exists():
            problems.append(f"{where}: not finished ({shard.partial} is still being written, or was interrupted: "
                            "continue it with --resume)")
    return problems


def wait_for_shards(output: Path, count: int, timeout: float, poll: float = 1.0) -> None:
    """Return once every shard is finished; a clear error after ``timeout`` seconds (a rank that died or hangs)."""
    deadline = time.monotonic() + timeout
    problems = unfinished(output, count)
    if problems:
        print(f"rank 0: waiting up to {timeout:g} s for {len(problems)} other shard(s) to finish", file=sys.stderr)
    while problems and time.monotonic() < deadline:
        time.sleep(poll)
        problems = unfinished(output, count)
    if problems:
        raise UsageError(f"after {timeout:g} s, {format_problems(problems, 'unfinished shard')}\n"
                         f"when every shard is finished, run: python -m inference merge --output {output} "
                         f"--shards {count}")


def _check_same_run(output: Path, count: int) -> list[dict[str, Any]]:
    """The shards' states, refusing shards of other inputs or a shard whose file does not match its state."""
    target = Target.of(output)
    states = [read_state(target.shard(i, count).state) for i in range(count)]
    first = states[0]["fingerprint"]
    for index, state in enumerate(states):
        shard, fp = target.shard(index, count), state["fingerprint"]
        same = {k: v for k, v in fp.items() if k not in ("shard", "records")} == {
            k: v for k, v in first.items() if k not in ("shard", "records")}
        if not same or fp.get("shard") != [index, count] or fp.get("records") != list(share(fp["total"], index, count)):
            raise UsageError(f"{shard.state}: shard {index}/{count} was run on other inputs or another split than "
                             f"shard 0/{count}; rerun it with --overwrite")
        if shard.output.stat().st_size != state["output_bytes"]:
            raise UsageError(f"{shard.output} has {shard.output.stat().st_size} bytes, its state records "
                             f"{state['output_bytes']}; rerun shard {index}/{count} with --overwrite")
    return states


def _concatenate(parts: list[Path], into: Path) -> None:
    with atomic_path(into) as tmp, tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())


def merge_shards(output: Path, count: int, overwrite: bool) -> tuple[Target, int | None]:
    """Concatenate the ``count`` finished shards of ``output`` in order.

    Returns the merged target (its errors file is the one the shards were
    run with) and the number of bad records, None where no shard had an
    errors file. The errors file is written first and the output last, so
    the output's appearance marks a finished merge; the shards are removed
    after it. The caller holds the lock on ``output``.
    """
    problems = unfinished(output, count)
    if problems:
        raise UsageError(format_problems(problems, "unfinished shard"))
    states = _check_same_run(output, count)
    recorded = states[0]["fingerprint"].get("errors")
    target = Target.of(output, Path(recorded) if isinstance(recorded, str) else None)
    shards = [target.shard(i, count) for i in range(count)]
    errors = [s.errors for s in shards if s.errors.exists()]
    for path in [target.output] + ([target.errors] if errors else []):
        if path.exists() and not overwrite:
            raise UsageError(f"{path} already exists; pass --overwrite to replace it")
    n_errors = None
    if errors:
        _concatenate(errors, target.errors)
        with target.errors.open("rb") as fh:
            n_errors = sum(1 for _ in fh)
    _concatenate([s.output for s in shards], target.output)
    for shard in shards:
        for path in (shard.output, shard.errors, shard.state):
            path.unlink(missing_ok=True)
    return target, n_errors
