"""Command line: ``python -m inference predict`` and ``python -m inference export-onnx``.

``predict`` reads JSON lines ``{"id", "text", ...}`` (or plain text files,
one article per file) and writes JSON lines ``{"id", ..., "spans": [...]}``
in input order, the input's other fields kept (``text`` only with
``--keep-text``). Output is streamed to a hidden partial file next to the
output, with a small state file recording how many input records and output
bytes are safely on disk after every chunk; ``--resume`` truncates the
partial file to that point and carries on, so an interrupted run neither
repeats nor loses a line. The output appears, by a rename, only when
complete, and an existing output is never replaced without ``--overwrite``.

Under ``accelerate launch`` or ``torchrun`` (``RANK``/``WORLD_SIZE``/
``LOCAL_RANK`` in the environment, read directly so that this package never
imports accelerate), each process takes a contiguous share of the input,
writes its own shard on its own GPU, and rank 0 concatenates the shards in
input order once all are finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


class InputError(ValueError):
    """A malformed input record; the message names file and line."""


class UsageError(ValueError):
    """A command line that cannot be carried out as asked (existing output, bad resume)."""


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


# ---- input ------------------------------------------------------------------


def _input_kind(path: Path, fmt: str) -> str:
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    if path.is_dir():
        return "dir"
    if fmt != "auto":
        return fmt
    return "jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "text"


def _parse_json_line(raw: bytes, source: str, line: int) -> Unit:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Unit(source, line, error=f"not UTF-8 ({exc.reason} at byte {exc.start})")
    except json.JSONDecodeError as exc:
        return Unit(source, line, error=f"invalid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(record, dict):
        return Unit(source, line, error=f"a line must be a JSON object, not {type(record).__name__}")
    art_id = record.get("id")
    if isinstance(art_id, bool) or not isinstance(art_id, (str, int)) or art_id == "":
        return Unit(source, line, error="'id' must be a non-empty string or an integer")
    if not isinstance(record.get("text"), str):
        return Unit(source, line, error=f"[{art_id}] 'text' must be a string")
    return Unit(source, line, record=record)


def _text_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*.txt") if p.is_file())


def iter_units(paths: Sequence[Path], fmt: str = "auto") -> Iterator[Unit]:
    """Every input record in order; blank lines of JSON-lines files are skipped."""
    for path in paths:
        kind = _input_kind(path, fmt)
        if kind == "jsonl":
            with path.open("rb") as fh:
                for line, raw in enumerate(fh, 1):
                    if raw.strip():
                        yield _parse_json_line(raw, str(path), line)
        else:
            files = _text_files(path) if kind == "dir" else [path]
            for file in files:
                art_id = file.relative_to(path).with_suffix("").as_posix() if kind == "dir" else file.stem
                try:
                    text = file.read_bytes().decode("utf-8")  # bytes: CRLF stays as it is
                except UnicodeDecodeError as exc:
                    yield Unit(str(file), 1, error=f"not UTF-8 ({exc.reason} at byte {exc.start})")
                    continue
                yield Unit(str(file), 1, record={"id": art_id, "text": text})


def count_units(paths: Sequence[Path], fmt: str = "auto") -> int:
    """How many records :func:`iter_units` yields, without parsing them."""
    total = 0
    for path in paths:
        kind = _input_kind(path, fmt)
        if kind == "jsonl":
            with path.open("rb") as fh:
                total += sum(1 for raw in fh if raw.strip())
        else:
            total += len(_text_files(path)) if kind == "dir" else 1
    return total


# ---- output files -----------------------------------------------------------


def world() -> tuple[int, int]:
    """``(rank, world_size)`` from the launcher's environment (``(0, 1)`` without one)."""
    rank, size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if not 0 <= rank < size:
        raise UsageError(f"RANK={rank} is outside WORLD_SIZE={size}")
    return rank, size


@dataclass(frozen=True)
class ShardFiles:
    """The hidden files of one process's share of the output."""

    partial: Path
    errors: Path
    state: Path
    done: Path
    errors_done: Path

    @classmethod
    def of(cls, output: Path, rank: int, size: int) -> ShardFiles:
        tag = f".rank{rank}-of-{size}" if size > 1 else ""
        base = output.parent / f".{output.name}{tag}"
        return cls(
            Path(f"{base}.partial"),
            Path(f"{base}.errors.partial"),
            Path(f"{base}.state.json"),
            Path(f"{base}.done"),
            Path(f"{base}.errors.done"),
        )

    def all(self) -> list[Path]:
        return [self.partial, self.errors, self.state, self.done, self.errors_done]


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)


def _sync(fh: Any) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _open_shard(files: ShardFiles, fingerprint: dict[str, Any], resume: bool, overwrite: bool) -> dict[str, Any]:
    """The shard's state: fresh, or the recorded one with the partial files truncated to it."""
    leftovers = [p for p in files.all() if p.exists()]
    if leftovers and not resume:
        if not overwrite:
            raise UsageError(
                f"an interrupted run left {leftovers[0]}; pass --resume to continue it or --overwrite to start again"
            )
        for p in leftovers:
            p.unlink()
    if resume and files.done.exists():
        state = json.loads(files.state.read_text(encoding="utf-8"))
        if state["fingerprint"] != fingerprint:
            raise UsageError(f"{files.state}: the interrupted run had other inputs or shard; use --overwrite")
        return state
    if resume and files.state.exists():
        state = json.loads(files.state.read_text(encoding="utf-8"))
        if state["fingerprint"] != fingerprint:
            raise UsageError(
                f"{files.state}: the interrupted run had other inputs or shard "
                f"({state['fingerprint']} != {fingerprint}); use --overwrite to start again"
            )
        for path, size in ((files.partial, state["output_bytes"]), (files.errors, state["error_bytes"])):
            if (path.stat().st_size if path.exists() else 0) < size:
                raise UsageError(f"{path} is shorter than its state file records; use --overwrite to start again")
            with path.open("ab") as fh:  # drop whatever was written after the last recorded chunk
                fh.truncate(size)
        return state
    for p in (files.partial, files.errors):
        p.unlink(missing_ok=True)
    state = {"fingerprint": fingerprint, "done": 0, "output_bytes": 0, "error_bytes": 0}
    _write_state(files.state, state)
    return state


def _merge(parts: Sequence[Path], target: Path) -> None:
    """Concatenate ``parts`` into ``target`` through a temporary file and a rename."""
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(1 << 20):
                    out.write(block)
        _sync(out)
    os.replace(tmp, target)


# ---- predict ----------------------------------------------------------------


def _output_record(record: dict[str, Any], spans: list[dict[str, Any]], keep_text: bool) -> dict[str, Any]:
    out = {"id": record["id"]}
    out.update((k, v) for k, v in record.items() if k not in ("id", "spans") and (keep_text or k != "text"))
    out["spans"] = spans
    return out


def predict_command(args: argparse.Namespace) -> int:
    """Tag every input record; see the module docstring for the file protocol."""
    from inference.tagger import SpanTagger

    output = Path(args.output)
    errors_path = Path(args.errors) if args.errors else output.with_name(output.stem + ".errors.jsonl")
    inputs = [Path(p) for p in args.input]
    rank, size = world()
    for target in [output] + ([errors_path] if args.skip_bad else []):
        if target.exists() and not args.overwrite:
            raise UsageError(f"{target} already exists; pass --overwrite to replace it")
    if output.resolve() in {p.resolve() for p in inputs}:
        raise UsageError(f"{output} is also an input")
    output.parent.mkdir(parents=True, exist_ok=True)

    total = count_units(inputs, args.format)
    lo, hi = rank * total // size, (rank + 1) * total // size
    files = ShardFiles.of(output, rank, size)
    fingerprint = {"inputs": [str(p.resolve()) for p in inputs], "format": args.format, "shard": [lo, hi]}
    state = _open_shard(files, fingerprint, args.resume, args.overwrite)

    if not files.done.exists():
        tagger = SpanTagger.from_pretrained(
            args.model, device=args.device, backend=args.backend, num_threads=args.threads,
            max_length=args.max_length, stride=args.stride, onnx_file=args.onnx_file, streams=args.streams,
            linear_kernel=args.linear_kernel,
        )
        _run_shard(tagger, inputs, args, files, state, lo, hi, show=rank == 0 and not args.no_progress)
        os.replace(files.errors, files.errors_done)
        os.replace(files.partial, files.done)  # last: the shard's completion mark

    if rank != 0:
        return 0
    shards = [ShardFiles.of(output, r, size) for r in range(size)]
    waiting = [s.done for s in shards if not s.done.exists()]
    if waiting:
        print(f"rank 0: waiting for {len(waiting)} other process(es) to finish their shards", file=sys.stderr)
    while any(not s.done.exists() for s in shards):
        time.sleep(1.0)
    _merge([s.done for s in shards], output)
    n_errors = 0
    if args.skip_bad:
        _merge([s.errors_done for s in shards], errors_path)
        with errors_path.open("rb") as fh:
            n_errors = sum(1 for _ in fh)
    for s in shards:
        for p in s.all():
            p.unlink(missing_ok=True)
    summary = f"wrote {output}"
    if args.skip_bad:
        summary += f"; {n_errors} bad record(s) skipped, listed in {errors_path}"
    print(summary, file=sys.stderr)
    return 0


def _run_shard(
    tagger: Any,
    inputs: Sequence[Path],
    args: argparse.Namespace,
    files: ShardFiles,
    state: dict[str, Any],
    lo: int,
    hi: int,
    show: bool,
) -> None:
    from tqdm import tqdm

    start = lo + state["done"]
    pending: list[Unit] = []
    with (
        files.partial.open("ab") as out,
        files.errors.open("ab") as err,
        tqdm(total=hi - lo, initial=state["done"], unit="doc", disable=not show, file=sys.stderr) as bar,
    ):

        def flush() -> None:
            good = [u for u in pending if u.record is not None]
            spans = tagger.predict([u.record["text"] for u in good], batch_size=args.batch_size) if good else []
            found = iter(spans)
            for unit in pending:
                if unit.record is None:
                    line = {"source": unit.source, "line": unit.line, "error": unit.error}
                    err.write((json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))
                else:
                    record = _output_record(unit.record, next(found), args.keep_text)
                    out.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
            _sync(out)
            _sync(err)
            state["done"] += len(pending)
            state["output_bytes"], state["error_bytes"] = out.tell(), err.tell()
            _write_state(files.state, state)
            bar.update(len(pending))
            pending.clear()

        for index, unit in enumerate(iter_units(inputs, args.format)):
            if index < start:
                continue
            if index >= hi:
                break
            if unit.error is not None and not args.skip_bad:
                flush()  # everything before the bad record is kept, so --resume starts at it
                raise InputError(f"{unit.where}: {unit.error} (pass --skip-bad to record it and go on)")
            pending.append(unit)
            if len(pending) >= args.chunk_size:
                flush()
        if pending:
            flush()


def export_command(args: argparse.Namespace) -> int:
    from inference.onnx_backend import export_onnx

    try:
        written = export_onnx(args.model, args.output_dir, quantize=args.quantize, overwrite=args.overwrite,
                              opset=args.opset)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from exc
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


# ---- argument parsing -------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inference", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="tag articles with spans")
    p.add_argument("--model", required=True, help="trained run directory (model and tokenizer)")
    p.add_argument("--input", required=True, nargs="+", help="JSON-lines files, text files or directories of .txt")
    p.add_argument("--output", required=True, help="JSON-lines output, one line per input record, in input order")
    p.add_argument("--format", choices=("auto", "jsonl", "text"), default="auto",
                   help="input format (auto: .jsonl/.ndjson/.json are JSON lines, other files one article each)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="full-length windows per forward pass (default: 8 on a CPU, 64 on a GPU)")
    p.add_argument("--chunk-size", type=int, default=256, help="records tokenized, sorted and written together")
    p.add_argument("--max-length", type=int, default=None, help="tokens per window (default: the run's own)")
    p.add_argument("--stride", type=int, default=None, help="tokens shared by consecutive windows")
    p.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    p.add_argument("--onnx-file", default=None, help="ONNX file (default: MODEL/onnx/model.int8.onnx, else model.onnx)")
    p.add_argument("--device", default=None, help="torch device (default: this process's GPU if any, else cpu)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: the library's choice)")
    p.add_argument("--streams", type=int, default=None,
                   help="batches run at once, sharing the threads (default: 2 for torch on a CPU, else 1)")
    # the choices of inference.kernels.MODES, not imported here: that module needs torch
    p.add_argument("--linear-kernel", choices=("auto", "onednn", "default"), default="auto",
                   help="torch CPU matrix products: oneDNN where it is faster (auto), always, or never")
    p.add_argument("--keep-text", action="store_true", help="copy each record's text into the output")
    p.add_argument("--skip-bad", action="store_true", help="record malformed lines in the errors file and go on")
    p.add_argument("--errors", default=None, help="errors file for --skip-bad (default: OUTPUT stem + .errors.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output or interrupted run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=predict_command)

    e = sub.add_parser("export-onnx", help="export a run to ONNX (optionally int8) for --backend onnx")
    e.add_argument("--model", required=True, help="trained run directory")
    e.add_argument("--output-dir", default=None, help="where to write (default: MODEL/onnx)")
    e.add_argument("--quantize", choices=("int8",), default=None, help="also write a dynamic int8 model")
    e.add_argument("--opset", type=int, default=18)
    e.add_argument("--overwrite", action="store_true")
    e.set_defaults(func=export_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    bad = [f"--{k.replace('_', '-')}" for k in ("batch_size", "chunk_size", "streams")
           if getattr(args, k, None) is not None and getattr(args, k) < 1]
    if bad:
        print(f"error: {', '.join(bad)} must be positive", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
