"""Throughput of SpanTagger against the Hugging Face pipeline and the bare forward pass.

Measured in one run, on the same model and the same articles (the corpus's
texts, repeated to ``--n-articles``), all on this machine's CPU:

* ``SpanTagger.predict`` in process (model already loaded), torch and, unless
  ``--skip-onnx``, the dynamic int8 ONNX backend;
* ``transformers.pipeline("token-classification", aggregation_strategy="simple",
  stride=...)`` at batch sizes 1 and 16, with the same windows;
* the ceiling: the model's bare forward pass over the articles' tokens in
  batches of 32 x 256, under ``torch.inference_mode``, as transformers loads
  it; and, where SpanTagger switched to oneDNN linear kernels
  (:mod:`inference.kernels`), the same pass with those kernels, so that
  SpanTagger's own overhead can be read off against like for like;
* whole-process ``python -m inference predict`` (interpreter start and model
  load included), torch and int8 backends.

Tokens are the articles' own tokens (no special tokens, windows' overlap not
counted), so every rate is comparable. Without ``--model`` a model is built
from the embedded MiniLM with a randomly initialised classification head:
its spans mean nothing, but its speed is that of a trained model. The host's
speed drifts, so ``--rounds`` repeats every measurement in turn and keeps the
fastest.

    .venv/bin/python scripts/bench_infer.py --n-articles 300
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from inference.alignment import encode_texts  # noqa: E402
from inference.kernels import OneDNNLinear  # noqa: E402
from inference.labels import ID2TAG, TAG2ID, TAGS  # noqa: E402
from inference.tagger import SpanTagger  # noqa: E402
from training.backbone import resolve_backbone  # noqa: E402
from training.corpus import DEFAULT_CORPUS  # noqa: E402

CEILING = "forward pass 32x256 (ceiling)"
CEILING_FAST = "forward pass 32x256, oneDNN linear"


def build_model(directory: Path) -> Path:
    """MiniLM with a random token-classification head, saved with its tokenizer."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    backbone = resolve_backbone("embedded:minilm")
    model = AutoModelForTokenClassification.from_pretrained(
        backbone, num_labels=len(TAGS), id2label=ID2TAG, label2id=TAG2ID
    )
    model.save_pretrained(directory)
    AutoTokenizer.from_pretrained(backbone).save_pretrained(directory)
    return directory


def load_texts(path: Path, n: int) -> list[str]:
    """The corpus's texts, repeated in order to ``n`` articles (read raw: no validation needed here)."""
    with path.open(encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()]
    if not texts:
        raise SystemExit(f"{path}: no articles")
    return [texts[i % len(texts)] for i in range(n)]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="run directory (default: MiniLM with a random head)")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--n-articles", type=int, default=300)
    parser.add_argument("--max-length", type=int, default=256, help="window tokens (configs/default.yaml: 256)")
    parser.add_argument("--stride", type=int, default=64, help="window overlap (configs/default.yaml: 64)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="SpanTagger full-length windows per forward pass (default: SpanTagger's)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every measurement, keep the fastest")
    parser.add_argument("--skip-onnx", action="store_true", help="no int8 ONNX measurements")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_infer_") as tmp:
        return bench(args, Path(tmp))


def bench(args: argparse.Namespace, tmp: Path) -> int:
    """Run every measurement with files under ``tmp``; print figures and ratios."""
    model_dir = Path(args.model) if args.model else build_model(tmp / "model")
    texts = load_texts(Path(args.corpus), args.n_articles)
    input_file = tmp / "articles.jsonl"
    with input_file.open("w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": f"a{i}", "text": text}, ensure_ascii=False) + "\n")

    tagger = SpanTagger.from_pretrained(model_dir, num_threads=args.threads, max_length=args.max_length,
                                        stride=args.stride, batch_size=args.batch_size)
    tokenizer = tagger.tokenizer
    fast_kernels = isinstance(tagger.forward.model.classifier, OneDNNLinear)
    article_ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    n_tokens = sum(map(len, article_ids))
    window_tokens = sum(map(len, encode_texts(tokenizer, texts, args.max_length, args.stride)["input_ids"]))
    print(f"{len(texts)} articles, {n_tokens} tokens ({n_tokens / len(texts):.0f} per article); windows of "
          f"{args.max_length} with stride {args.stride} feed the model {window_tokens} tokens "
          f"({window_tokens / n_tokens:.2f}x); torch threads {torch.get_num_threads()}; SpanTagger: "
          f"{tagger.streams} stream(s), batches of {tagger.batch_size} windows, "
          f"{'oneDNN' if fast_kernels else 'default'} linear kernels", flush=True)

    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    # The pipeline and the ceiling get the model as transformers loads it (default kernels).
    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    pipe_tokenizer = AutoTokenizer.from_pretrained(model_dir)
    pipe_tokenizer.model_max_length = args.max_length  # the pipeline's window length
    pipe = pipeline("token-classification", model=model, tokenizer=pipe_tokenizer, aggregation_strategy="simple",
                    stride=args.stride, device=-1)

    flat = torch.tensor([t for ids in article_ids for t in ids], dtype=torch.long)
    rows = flat[: len(flat) // 256 * 256].view(-1, 256)

    def ceiling(net: torch.nn.Module) -> Callable[[], object]:
        def run() -> None:
            with torch.inference_mode():
                for lo in range(0, len(rows), 32):
                    batch = rows[lo : lo + 32]
                    net(input_ids=batch, attention_mask=torch.ones_like(batch), token_type_ids=torch.zeros_like(batch))

        return run

    def whole_process(backend: str, *extra: str) -> Callable[[], object]:
        cmd = [sys.executable, "-m", "inference", "predict", "--model", str(model_dir), "--input", str(input_file),
               "--output", str(tmp / f"out-{backend}.jsonl"), "--max-length", str(args.max_length), "--stride",
               str(args.stride), "--backend", backend, "--no-progress", "--overwrite", *extra]
        cmd += ["--threads", str(args.threads)] if args.threads else []
        cmd += ["--batch-size", str(args.batch_size)] if args.batch_size else []
        return lambda: subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)

    runs: dict[str, Callable[[], float]] = {
        CEILING: lambda: timed(ceiling(model)),
        "SpanTagger torch": lambda: timed(lambda: tagger.predict(texts)),
        "pipeline batch 1": lambda: timed(lambda: list(pipe(texts, batch_size=1))),
        "pipeline batch 16": lambda: timed(lambda: list(pipe(texts, batch_size=16))),
        "python -m inference predict (torch)": lambda: timed(whole_process("torch")),
    }
    if fast_kernels:
        runs[CEILING_FAST] = lambda: timed(ceiling(tagger.forward.model))
    if not args.skip_onnx:
        from inference.onnx_backend import export_onnx

        onnx_dir = tmp / "onnx"
        export_s = timed(lambda: export_onnx(model_dir, onnx_dir, quantize="int8", overwrite=True))
        print(f"ONNX export + int8 quantization: {export_s:.1f}s (not counted below)", flush=True)

        def int8_in_process() -> float:
            # A fresh session each time, dropped afterwards: while this process holds a session
            # that has run, a child process's ONNX Runtime ran 40% slower here.
            int8 = SpanTagger.from_pretrained(model_dir, backend="onnx", onnx_file=onnx_dir / "model.int8.onnx",
                                              num_threads=args.threads, max_length=args.max_length,
                                              stride=args.stride, batch_size=args.batch_size)
            int8.predict(texts[:2])
            seconds = timed(lambda: int8.predict(texts))
            del int8
            gc.collect()
            return seconds

        runs["SpanTagger onnx int8"] = int8_in_process
        runs["python -m inference predict (onnx int8)"] = lambda: timed(whole_process(
            "onnx", "--onnx-file", str(onnx_dir / "model.int8.onnx")
        ))

    tagger.predict(texts[:2])  # warm up allocators and kernels
    best: dict[str, float] = {}
    for r in range(args.rounds):
        for name, fn in runs.items():
            seconds = fn()
            best[name] = min(best.get(name, float("inf")), seconds)
            print(f"  round {r + 1}: {name}: {seconds:.1f}s", flush=True)

    print(f"\n{'':40} {'seconds':>8} {'docs/s':>8} {'tokens/s':>9}")
    for name, seconds in best.items():
        print(f"{name:40} {seconds:8.1f} {len(texts) / seconds:8.2f} {n_tokens / seconds:9.0f}")
    rate = {name: n_tokens / seconds for name, seconds in best.items()}
    best_pipe = max(rate["pipeline batch 1"], rate["pipeline batch 16"])
    ceiling_rate = rate[CEILING]
    ratios = {
        "SpanTagger torch / pipeline batch 1": rate["SpanTagger torch"] / rate["pipeline batch 1"],
        "SpanTagger torch / pipeline batch 16": rate["SpanTagger torch"] / rate["pipeline batch 16"],
        "SpanTagger torch / ceiling": rate["SpanTagger torch"] / ceiling_rate,
        "SpanTagger torch / ceiling, window tokens counted": rate["SpanTagger torch"] * window_tokens / n_tokens
        / ceiling_rate,
        "whole process torch / best pipeline (target >= 1.3)": rate["python -m inference predict (torch)"] / best_pipe,
        "whole process torch / ceiling": rate["python -m inference predict (torch)"] / ceiling_rate,
    }
    if fast_kernels:
        ratios["SpanTagger torch / ceiling with oneDNN linear"] = rate["SpanTagger torch"] / rate[CEILING_FAST]
    if not args.skip_onnx:
        ratios["SpanTagger int8 / SpanTagger torch"] = rate["SpanTagger onnx int8"] / rate["SpanTagger torch"]
        ratios["whole process int8 / best pipeline (target >= 1.6)"] = (
            rate["python -m inference predict (onnx int8)"] / best_pipe
        )
    print()
    for name, value in ratios.items():
        print(f"{name:58} {value:6.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "articles": len(texts), "tokens": n_tokens, "window_tokens": window_tokens,
            "max_length": args.max_length, "stride": args.stride, "threads": torch.get_num_threads(),
            "seconds": best, "tokens_per_s": rate, "ratios": ratios,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
