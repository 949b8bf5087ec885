"""bf16 prediction against fp32 in one process: native bf16 (what ``--precision bf16`` serves) and autocast.

Three torch backends of one run, all in this process, timed in turn
``--rounds`` times (the fastest of each kept, so that a busy host's drift
falls on all alike):

* ``fp32``: ``SpanTagger.from_pretrained(precision="fp32")``, with the
  linear kernels its rule picks;
* ``bf16 autocast``: the fp32 model under ``torch.autocast`` to bf16, which
  casts every weight on every call (what bf16 was before it ran natively; the
  path other architectures still take);
* ``bf16 native``: ``precision="bf16"``, the project's BERT with bf16 weights
  (:meth:`inference.bert.BertTagger.to_bf16`).

Each is timed on one batch of 8 windows x 256 tokens of corpus text (one
thread, as each of SpanTagger's two streams gets on two cores) and on
``SpanTagger.predict`` of the corpus's first ``--n-articles`` articles (its
windows, batches and streams). ``--agreement`` adds the bf16 check of the
run's test split (:func:`training.precision_check.compare_bf16`: identical
spans per article and micro-F1, fp32 against the bf16 that serves), without
writing ``precision.json``.

    .venv/bin/python scripts/bench_bf16.py --model runs/default --n-articles 40 --rounds 3
    .venv/bin/python scripts/bench_bf16.py --model runs/default --rounds 0 --agreement
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_ceiling import cpu_line  # noqa: E402

from frontlines.inference.alignment import encode_texts  # noqa: E402
from frontlines.inference.precision import native_bf16  # noqa: E402
from frontlines.inference.tagger import SpanTagger  # noqa: E402
from frontlines.inference.torch_forward import TorchForward  # noqa: E402
from frontlines.training.corpus import DEFAULT_CORPUS, load_corpus  # noqa: E402

BATCH, WIDTH = 8, 256


def taggers(model_dir: Path) -> dict[str, SpanTagger]:
    """fp32, bf16 under autocast and native bf16 taggers of ``model_dir``."""
    fp32 = SpanTagger.from_pretrained(model_dir, device="cpu", precision="fp32")
    autocast = SpanTagger.from_pretrained(model_dir, device="cpu", precision="fp32", linear_kernel="default")
    forward = TorchForward(autocast.forward.model, "cpu", "fp32")
    forward.precision = "bf16"  # not native: the fp32 model under bf16 autocast
    autocast.forward, autocast.precision = forward, "bf16"
    native = SpanTagger.from_pretrained(model_dir, device="cpu", precision="bf16")
    assert native.forward.native and not forward.native
    return {"fp32": fp32, "bf16 autocast": autocast, "bf16 native": native}


def batch_of(tagger: SpanTagger, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``BATCH`` windows of ``WIDTH`` tokens of ``texts`` (the last ones padded), as SpanTagger batches them."""
    windows = encode_texts(tagger.tokenizer, texts, WIDTH, 64)["input_ids"][:BATCH]
    ids = np.full((BATCH, WIDTH), tagger.pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = window
        mask[row, : len(window)] = 1
    return ids, mask


def one_thread(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn()
        finally:
            torch.set_num_threads(threads)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/default", help="run directory")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--n-articles", type=int, default=40, help="articles of the SpanTagger.predict runs")
    parser.add_argument("--rounds", type=int, default=3, help="every measurement in turn, this many times")
    parser.add_argument("--agreement", action="store_true", help="also the bf16 check of the test split")
    args = parser.parse_args(argv)
    if not native_bf16("cpu"):
        raise SystemExit("this CPU has no native bf16 (avx512_bf16 or amx_bf16): nothing to compare")
    model_dir = Path(args.model)
    print(cpu_line(), flush=True)
    examples = load_corpus([args.corpus])
    texts = [ex.text for ex in examples[: args.n_articles]]
    runs = taggers(model_dir)
    ids, mask = batch_of(runs["fp32"], texts)
    timings: dict[str, Callable[[], object]] = {}
    for name, tagger in runs.items():
        tagger.predict(texts[:2])  # warm up allocators and kernels
        timings[f"forward {BATCH}x{WIDTH}, {name}"] = one_thread(lambda t=tagger: t.forward(ids, mask, None))
    for name, tagger in runs.items():
        timings[f"predict {len(texts)} articles, {name}"] = lambda t=tagger: t.predict(texts)
    best = {name: float("inf") for name in timings}
    for r in range(args.rounds):
        for name, fn in timings.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
            print(f"  round {r + 1}: {name}: {time.perf_counter() - start:.3f}s", flush=True)
    if args.rounds:
        print(f"\nmin of {args.rounds} round(s); kernels: fp32 {runs['fp32'].linear_kernel}, native bf16 "
              f"{runs['bf16 native'].linear_kernel}")
        for what in (f"forward {BATCH}x{WIDTH}", f"predict {len(texts)} articles"):
            fp32 = best[f"{what}, fp32"]
            print(f"{what:28} fp32 {fp32:7.3f}s", *(f"{name} {best[f'{what}, {name}']:7.3f}s ({fp32 / best[f'{what}, {name}']:.2f}x)"
                                                    for name in ("bf16 autocast", "bf16 native")))
            print(f"{what:28} native / autocast {best[f'{what}, bf16 autocast'] / best[f'{what}, bf16 native']:.2f}x")
    if args.agreement:
        from frontlines.training.precision_check import compare_bf16, summary

        record = compare_bf16(model_dir, examples, device="cpu")
        if record is not None:
            print(f"\nbf16 check (not written): {summary(record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
