"""The bf16 check of a finished run: test-split micro-F1 with bf16 against fp32, written to ``precision.json``.

``python -m inference predict --precision auto`` serves a run in bf16 only
where the hardware multiplies bf16 natively *and* this check passed for the
run's current weights (see :mod:`inference.precision`): bf16 may lose at most
:data:`inference.precision.MAX_F1_LOSS` (0.3 points) of micro-F1. Both
figures come from :class:`inference.SpanTagger` loaded from the run directory,
the served code path, with the run's own windows and decoder.

    python -m training.precision_check runs/default    # re-check a run (e.g. on a new machine)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from frontlines.inference.fileio import atomic_write_text
from frontlines.inference.precision import (
    MAX_F1_LOSS,
    PRECISION_FILE,
    cpu_info,
    native_bf16,
    weights_digest,
    weights_stat,
)
from frontlines.inference.spans import Example
from frontlines.training.corpus import DEFAULT_CORPUS, load_corpus, split_examples
from frontlines.training.run_eval import tagger_spans
from frontlines.training.scoring import score


def compare_bf16(run_dir: str | Path, examples: Sequence[Example], split: str = "test", device: str | None = None,
                 decoding: str = "viterbi") -> dict[str, Any] | None:
    """The record :func:`check_bf16` writes, without writing it: ``split`` of ``examples`` scored in fp32 and bf16.

    Both taggers are :meth:`inference.SpanTagger.from_pretrained`'s, so bf16
    is the path that serves (native bf16 for the project's BERT, autocast
    for other models: ``bf16_path``). None where the device has no native
    bf16 or the split is empty.
    """
    from frontlines.inference.model_dir import default_device
    from frontlines.inference.tagger import SpanTagger

    run_dir = Path(run_dir)
    device = device or default_device()
    part = split_examples(examples, split)
    if not part or not native_bf16(device):
        why = f"no {split} articles" if not part else f"{device} has no native bf16"
        print(f"note: no bf16 check ({why}); --precision auto serves this run in fp32", file=sys.stderr)
        return None
    spans, f1 = {}, {}
    for precision in ("fp32", "bf16"):
        tagger = SpanTagger.from_pretrained(run_dir, device=device, precision=precision, decoding=decoding)
        spans[precision] = tagger_spans(tagger, part)
        f1[precision] = float(score(part, spans[precision])["micro_f1"])
    native = tagger.forward.native  # the bf16 one's
    identical = sum(spans["fp32"][ex.id] == spans["bf16"][ex.id] for ex in part)
    return {
        "split": split,
        "n_articles": len(part),
        "fp32_micro_f1": f1["fp32"],
        "bf16_micro_f1": f1["bf16"],
        "max_loss": MAX_F1_LOSS,
        "allowed": f1["fp32"] - f1["bf16"] <= MAX_F1_LOSS,
        "articles_with_identical_spans": identical / len(part),
        "bf16_path": "native" if native else "autocast",
        "decoding": decoding,
        "device": device,
        "cpu": cpu_info().describe(),
        "weights_sha256": weights_digest(run_dir),
        "weights_stat": weights_stat(run_dir),
    }


def check_bf16(run_dir: str | Path, examples: Sequence[Example], split: str = "test", device: str | None = None,
               decoding: str = "viterbi") -> dict[str, Any] | None:
    """Score ``split`` of ``examples`` with the run in fp32 and in bf16; write and return ``precision.json``.

    Returns None (and writes nothing) where the device has no native bf16
    or the split is empty: ``auto`` then stays fp32.
    """
    record = compare_bf16(run_dir, examples, split, device, decoding)
    if record is None:
        return None
    atomic_write_text(Path(run_dir) / PRECISION_FILE, json.dumps(record, indent=2) + "\n")
    print(f"bf16 check: {summary(record)}", file=sys.stderr)
    return record


def summary(record: dict[str, Any]) -> str:
    """One line of a :func:`compare_bf16` record: both F1s, the articles with identical spans, the verdict."""
    verdict = "allowed" if record["allowed"] else f"refused (loses more than {MAX_F1_LOSS})"
    identical = round(record["articles_with_identical_spans"] * record["n_articles"])
    return (f"{record['split']} micro-F1 {record['bf16_path']} bf16 {record['bf16_micro_f1']:.4f} vs fp32 "
            f"{record['fp32_micro_f1']:.4f}, {identical}/{record['n_articles']} articles with identical spans: "
            f"bf16 {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.precision_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a finished run directory")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--split", default="test")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    if not (Path(args.run_dir) / "config.json").is_file():
        print(f"error: {args.run_dir}: not a model directory (no config.json)", file=sys.stderr)
        return 2
    return 0 if check_bf16(args.run_dir, load_corpus([args.corpus]), args.split, args.device) is not None else 1


if __name__ == "__main__":
    sys.exit(main())
