"""Command line: ``python -m inference predict``, ``merge`` and ``export-onnx``.

``predict`` reads JSON lines ``{"id", "text", ...}`` (or plain text files,
one article per file; see :mod:`inference.records`) and writes JSON lines
``{"id", ..., "spans": [...]}`` in input order, the input's other fields kept
(``text`` only with ``--keep-text``), through a resumable writer
(:mod:`inference.writer`) under an exclusive lock on the output, so that a
second run on the same output is refused rather than racing the first.
``--shard I/N`` tags one contiguous share and ``merge`` joins the shards
(:mod:`inference.shards`); under ``accelerate launch`` each rank is a shard
and rank 0 merges. Every refusal is one ``error:`` line, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from frontlines.inference.errors import InputError, UsageError
from frontlines.inference.fileio import LockedError, lock_exclusive
from frontlines.inference.paths import check_paths, ours
from frontlines.inference.records import Inputs, Unit, count_and_check_ids
from frontlines.inference.shards import merge_shards, parse_shard, share, wait_for_shards, world
from frontlines.inference.writer import ResumableWriter, Target

#: How long rank 0 waits, by default, for the other ranks' shards under a launcher.
MERGE_TIMEOUT_S = 1800.0


def _output_record(record: dict[str, Any], found: dict[str, Any], keep_text: bool) -> dict[str, Any]:
    out = {"id": record["id"]}
    out.update((k, v) for k, v in record.items()
               if k not in ("id", "spans", "events") and (keep_text or k != "text"))
    out.update(found)
    return out


def _tag_texts(tagger: Any, texts: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """``{"spans"}`` (and ``{"events"}`` with ``--events``) for each text."""
    if args.events:
        return tagger.predict_events(texts, batch_size=args.batch_size, linker=args.events)
    return [{"spans": spans} for spans in tagger.predict(texts, batch_size=args.batch_size)]


def tag_units(tagger: Any, units: Iterator[Unit], writer: ResumableWriter, lo: int, hi: int,
              args: argparse.Namespace, show: bool) -> None:
    """Tag records ``lo + writer.done`` to ``hi`` a chunk at a time, each chunk written before the next is read.

    A bad record stops the run (after writing everything before it, so that
    ``--resume`` starts at it) unless ``--skip-bad``, which lists it in the
    errors file.
    """
    from tqdm import tqdm

    start = lo + writer.done
    pending: list[Unit] = []
    with tqdm(total=hi - lo, initial=writer.done, unit="doc", disable=not show, file=sys.stderr) as bar:

        def flush() -> None:
            good = [u for u in pending if u.record is not None]
            found = iter(_tag_texts(tagger, [u.record["text"] for u in good], args) if good else [])
            records = [_output_record(u.record, next(found), args.keep_text) for u in good]
            errors = [{"source": u.source, "line": u.line, "error": u.error} for u in pending if u.record is None]
            writer.write(records, errors, consumed=len(pending))
            bar.update(len(pending))
            pending.clear()

        for index, unit in enumerate(units):
            if index < start:
                continue
            if index >= hi:
                break
            if unit.error is not None and not args.skip_bad:
                flush()
                raise InputError(f"{unit.where}: {unit.error} (pass --skip-bad to record it and go on)")
            pending.append(unit)
            if len(pending) >= args.chunk_size:
                flush()
        if pending:
            flush()


def margin_arg(value: str) -> float:
    """A probability margin in [0, 1] (``--bf16-recheck``)."""
    try:
        margin = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= margin <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value!r}")
    return margin


def load_tagger(args: argparse.Namespace, linear_kernel: str, precision: str | None = None) -> Any:
    """The model of ``--model``; a model directory that cannot be used is a one-line refusal."""
    from frontlines.inference.tagger import SpanTagger

    try:
        tagger = SpanTagger.from_pretrained(
            args.model, device=args.device, backend=args.backend, num_threads=args.threads,
            max_length=args.max_length, stride=args.stride, onnx_file=args.onnx_file, streams=args.streams,
            linear_kernel=linear_kernel, decoding=args.decoding, precision=precision or args.precision,
            bf16_recheck=getattr(args, "bf16_recheck", None),
        )
        if args.events:
            tagger.load_linker(args.events)  # a missing or unreadable linker is refused before any tagging
        return tagger
    except (ValueError, OSError) as exc:  # the loader's checks name the file and what is wrong with it
        raise UsageError(str(exc)) from None


def predict_command(args: argparse.Namespace) -> int:
    """Tag every input record (or this shard's share of them) and publish the output when complete."""
    target = Target.of(Path(args.output), Path(args.errors) if args.errors else None)
    index, count = args.shard or world()
    launched = args.shard is None and count > 1  # a rank of accelerate launch or torchrun
    mine = target.shard(index, count) if count > 1 else target
    inputs = Inputs(tuple(Path(p) for p in args.input), args.format, skip=ours(target))
    merge_here = launched and index == 0
    check_paths(inputs, [target, mine])
    if merge_here and target.output.exists() and not args.overwrite:
        raise UsageError(f"{target.output} already exists; pass --overwrite to replace it")
    total = count_and_check_ids(inputs.units(), args.allow_duplicate_ids)
    lo, hi = share(total, index, count)
    fingerprint = {"inputs": [str(p.resolve()) for p in inputs.paths], "format": args.format, "total": total,
                   "decoding": args.decoding, "events": args.events,
                   "errors": str(target.errors.resolve()), "shard": [index, count], "records": [lo, hi]}
    for path in (mine.output, mine.errors):
        path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        held.enter_context(lock_exclusive(mine.output, remove=True))
        held.enter_context(lock_exclusive(mine.errors, remove=True))
        writer = ResumableWriter(mine, fingerprint, resume=args.resume, overwrite=args.overwrite,
                                 keep_state=count > 1)
        held.callback(writer.close)
        if not writer.complete:
            show = (index == 0 or not launched) and not args.no_progress
            # a resumed run keeps the matrix products and precision "auto" chose, so its lines match an
            # uninterrupted run's bits (even if the machine, or the run's bf16 check, changed meanwhile)
            kernel = writer.settings.get("linear_kernel") if args.linear_kernel == "auto" else None
            precision = writer.settings.get("precision") if args.precision == "auto" else None
            tagger = load_tagger(args, kernel if kernel in ("onednn", "default") else args.linear_kernel,
                                 precision if precision in ("fp32", "bf16") else None)
            writer.settings["linear_kernel"] = tagger.linear_kernel
            writer.settings["precision"] = tagger.precision
            tag_units(tagger, inputs.units(), writer, lo, hi, args, show)
        n_errors = writer.finish(publish_errors=args.skip_bad)
    if not merge_here:
        _summary(mine, n_errors if args.skip_bad or n_errors else None,
                 f"; merge the {count} shards with: python -m inference merge --output {target.output} "
                 f"--shards {count}" if count > 1 else "")
        return 0
    wait_for_shards(target.output, count, args.merge_timeout)
    return _merge(target.output, count, args.overwrite)


def _merge(output: Path, count: int, overwrite: bool) -> int:
    with lock_exclusive(output, remove=True):
        merged, n_errors = merge_shards(output, count, overwrite)
    _summary(merged, n_errors, f" from {count} shards")
    return 0


def _summary(target: Target, n_errors: int | None, note: str = "") -> None:
    summary = f"wrote {target.output}{note}"
    if n_errors is not None:
        summary += f"; {n_errors} bad record(s) skipped, listed in {target.errors}"
    print(summary, file=sys.stderr)


def merge_command(args: argparse.Namespace) -> int:
    """Join the finished shards of ``--output`` in input order (see :mod:`inference.shards`)."""
    if args.shards < 1:
        raise UsageError("--shards must be positive")
    return _merge(Path(args.output), args.shards, args.overwrite)


def export_command(args: argparse.Namespace) -> int:
    from frontlines.inference.onnx_backend import export_onnx

    if not (Path(args.model) / "config.json").is_file():
        raise UsageError(f"{args.model}: not a model directory (no config.json)")
    try:
        written = export_onnx(args.model, args.output_dir, quantize=args.quantize, overwrite=args.overwrite,
                              opset=args.opset)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from exc
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def export_events_command(args: argparse.Namespace) -> int:
    from frontlines.inference.event_table import export_events

    rows = export_events(Path(args.input), Path(args.output), overwrite=args.overwrite)
    print(f"wrote {args.output}: {rows} row(s)", file=sys.stderr)
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
                   help="torch CPU matrix products: oneDNN where the CPU is known to run it faster (auto: AMD "
                        "with AVX-512 in fp32, every CPU in native bf16), always, or never")
    # the choices of inference.precision.PRECISIONS
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="torch backend precision: bf16 where the hardware has native bf16 and the run's own "
                        "bf16 check passed (auto), always (refused without native bf16), or fp32")
    p.add_argument("--bf16-recheck", type=margin_arg, default=None, metavar="MARGIN",
                   help="in bf16, run a window again in fp32 when a token whose tags decoding reads has its two "
                        "likeliest tags closer than MARGIN in probability, so that rounding flips no span "
                        "(default 0.025; 0: never)")
    p.add_argument("--decoding", choices=("viterbi", "argmax"), default="viterbi",
                   help="per-word tags: BIO-constrained Viterbi (default) or plain argmax (for comparison)")
    p.add_argument("--events", nargs="?", const="auto", choices=("auto", "model", "rules"), default=None,
                   help="also write event records (who took which place from whom): the run's learned "
                        "linker (model), the rule baseline (rules) or the model where the run has one (auto)")
    p.add_argument("--keep-text", action="store_true", help="copy each record's text into the output")
    p.add_argument("--skip-bad", action="store_true", help="record malformed lines in the errors file and go on")
    p.add_argument("--errors", default=None, help="errors file for --skip-bad (default: OUTPUT stem + .errors.jsonl)")
    p.add_argument("--allow-duplicate-ids", action="store_true",
                   help="tag records that share an id (refused by default, naming both lines)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output or interrupted run")
    p.add_argument("--shard", type=parse_shard, default=None, metavar="I/N",
                   help="tag only share I of N (from 0) into OUTPUT's .shard-I-of-N file; join them with merge")
    p.add_argument("--merge-timeout", type=float, default=MERGE_TIMEOUT_S, metavar="SECONDS",
                   help="under accelerate launch: how long rank 0 waits for the other ranks' shards")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=predict_command)

    m = sub.add_parser("merge", help="join the finished --shard I/N outputs of a predict run, in input order")
    m.add_argument("--output", required=True, help="the --output the shards were run with")
    m.add_argument("--shards", type=int, required=True, metavar="N", help="the N of --shard I/N")
    m.add_argument("--overwrite", action="store_true", help="replace an existing output")
    m.set_defaults(func=merge_command)

    x = sub.add_parser("export-events", help="a predict --events output as a table: one row per event and place")
    x.add_argument("--input", required=True, help="JSON lines written by predict --events")
    x.add_argument("--output", required=True, help="a .csv or .parquet file")
    x.add_argument("--overwrite", action="store_true", help="replace an existing output")
    x.set_defaults(func=export_events_command)

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
    bad = [f"--{k.replace('_', '-')}" for k in ("batch_size", "chunk_size", "streams", "merge_timeout")
           if getattr(args, k, None) is not None and getattr(args, k) <= 0]
    if bad:
        print(f"error: {', '.join(bad)} must be positive", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (UsageError, LockedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file system that refuses: read-only, full, a directory where a file was meant
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
