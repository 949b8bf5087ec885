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
* ``SpanTagger`` with ``precision="bf16"`` where the CPU has native bf16;
* start-up: one article (the corpus's median-length one) through
  whole-process ``python -m inference predict``, torch and int8 backends,
  beside the floors of the interpreter alone and of ``import torch`` and
  ``import onnxruntime`` (``--startup`` runs only these, in seconds);
* whole-process ``python -m inference predict`` (interpreter start and model
  load included), torch and int8 backends, at each of ``--process-articles``
  (10, 150 and 1,000 articles: start-up dominates the first, steady state the
  last), against the best pipeline's in-process time for as many articles
  (its own start-up not counted, so the ratio errs against us).

It prints the CPU's features, the kernel and precision SpanTagger chose, and
a FLOP-bound ceiling (see ``scripts/bench_ceiling.py``): the model's product
FLOPs per article token against this machine's measured fp32 and bf16
GFLOP/s; every run is also given as a fraction of it (bf16 runs of the bf16
ceiling, the rest of the fp32 one).

Tokens are the articles' own tokens (no special tokens, windows' overlap not
counted), so every rate is comparable. Without ``--model`` a model is built
from the embedded MiniLM with a randomly initialised classification head:
its spans mean nothing, but its speed is that of a trained model. The host's
speed drifts, so ``--rounds`` repeats every measurement in turn and keeps the
fastest. ``--linear-kernel default`` (with ``--precision fp32``) takes
oneDNN's products (and bf16) away from SpanTagger and from the whole-process
runs: what a CPU where oneDNN is no faster than MKL would see.

    .venv/bin/python scripts/bench_infer.py --n-articles 300 --process-articles 10,150,1000
    .venv/bin/python scripts/bench_infer.py --model runs/default --startup --rounds 3
    .venv/bin/python scripts/bench_infer.py --model runs/default --linear-kernel default --precision fp32  # no oneDNN
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
from bench_ceiling import cpu_line, describe_peaks, forward_flops_per_token, peaks  # noqa: E402

from frontlines.inference.alignment import encode_texts  # noqa: E402
from frontlines.inference.labels import ID2TAG, TAG2ID, TAGS  # noqa: E402
from frontlines.inference.precision import native_bf16  # noqa: E402
from frontlines.inference.tagger import SpanTagger  # noqa: E402
from frontlines.training.backbone import resolve_backbone  # noqa: E402
from frontlines.training.corpus import DEFAULT_CORPUS  # noqa: E402

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


def corpus_texts(path: Path) -> list[str]:
    """The corpus's texts in order (read raw: no validation needed here)."""
    with path.open(encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()]
    if not texts:
        raise SystemExit(f"{path}: no articles")
    return texts


def load_texts(path: Path, n: int) -> list[str]:
    """The corpus's texts, repeated in order to ``n`` articles."""
    texts = corpus_texts(path)
    return [texts[i % len(texts)] for i in range(n)]


def median_article(path: Path) -> str:
    """The corpus's article of median length: the one-article start-up figure's input."""
    texts = sorted(corpus_texts(path), key=len)
    return texts[len(texts) // 2]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="run directory (default: MiniLM with a random head)")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--n-articles", type=int, default=300, help="articles of the in-process runs")
    parser.add_argument("--process-articles", default="10,150,1000",
                        help="comma-separated article counts of the whole-process runs")
    parser.add_argument("--max-length", type=int, default=256, help="window tokens (configs/default.yaml: 256)")
    parser.add_argument("--stride", type=int, default=64, help="window overlap (configs/default.yaml: 64)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="SpanTagger full-length windows per forward pass (default: SpanTagger's)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every measurement, keep the fastest")
    parser.add_argument("--skip-onnx", action="store_true", help="no int8 ONNX measurements")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--linear-kernel", choices=("auto", "onednn", "default"), default="auto",
                        help="SpanTagger's CPU products, in process and whole process (default: auto, as predict); "
                             "'default' takes oneDNN away, as on a CPU where it is no faster than MKL")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="the whole-process runs' --precision (default: auto, as predict)")
    parser.add_argument("--startup", action="store_true",
                        help="only the one-article whole-process figures (start-up), torch and int8 ONNX")
    args = parser.parse_args(argv)
    try:
        args.process_articles = [int(n) for n in args.process_articles.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--process-articles: expected counts like 10,150,1000, got {args.process_articles!r}")
    if args.n_articles < 1 or any(n < 1 for n in args.process_articles):
        parser.error("article counts must be positive")

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_infer_") as tmp:
        return startup(args, Path(tmp)) if args.startup else bench(args, Path(tmp))


def one_article_runs(args: argparse.Namespace, model_dir: Path, tmp: Path,
                     onnx_file: Path | None) -> dict[str, Callable[[], float]]:
    """Whole-process ``predict`` of the median article, torch (and int8 ONNX), and the floors under them."""
    article = tmp / "one-article.jsonl"
    article.write_text(json.dumps({"id": "a0", "text": median_article(Path(args.corpus))}, ensure_ascii=False) + "\n",
                       encoding="utf-8")

    def process(*argv: str) -> Callable[[], float]:
        return lambda: timed(lambda: subprocess.run([sys.executable, *argv], check=True, cwd=ROOT, capture_output=True))

    def predict(backend: str, *extra: str) -> Callable[[], float]:
        return process("-m", "inference", "predict", "--model", str(model_dir), "--input", str(article), "--output",
                       str(tmp / f"one-{backend}.jsonl"), "--backend", backend, "--no-progress", "--overwrite", *extra)

    runs = {"python -c pass": process("-c", "pass"), "python -c 'import torch'": process("-c", "import torch"),
            "one article, torch": predict("torch")}
    if onnx_file is not None:
        runs["python -c 'import onnxruntime'"] = process("-c", "import onnxruntime")
        runs["one article, onnx int8"] = predict("onnx", "--onnx-file", str(onnx_file))
    return runs


def best_of(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Every run ``rounds`` times in turn; the fastest of each."""
    best: dict[str, float] = {}
    for r in range(rounds):
        for name, fn in runs.items():
            seconds = fn()
            best[name] = min(best.get(name, float("inf")), seconds)
            print(f"  round {r + 1}: {name}: {seconds:.2f}s", flush=True)
    return best


def startup(args: argparse.Namespace, tmp: Path) -> int:
    """``--startup``: the one-article whole-process figures alone (min of ``--rounds``)."""
    from frontlines.inference.onnx_backend import export_onnx

    model_dir = Path(args.model) if args.model else build_model(tmp / "model")
    onnx_file = None
    if not args.skip_onnx:
        export_onnx(model_dir, tmp / "onnx", quantize="int8", overwrite=True)
        onnx_file = tmp / "onnx" / "model.int8.onnx"
    print(cpu_line())
    best = best_of(one_article_runs(args, model_dir, tmp, onnx_file), args.rounds)
    print(f"\nmin of {args.rounds} round(s):")
    for name, seconds in best.items():
        print(f"{name:40} {seconds:6.2f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_line(), "rounds": args.rounds, "seconds": best}, indent=2))
    return 0


def bench(args: argparse.Namespace, tmp: Path) -> int:
    """Run every measurement with files under ``tmp``; print figures and ratios."""
    model_dir = Path(args.model) if args.model else build_model(tmp / "model")
    texts = load_texts(Path(args.corpus), max(args.n_articles, *args.process_articles))
    process_inputs = {}
    for count in args.process_articles:
        process_inputs[count] = tmp / f"articles-{count}.jsonl"
        with process_inputs[count].open("w", encoding="utf-8") as fh:
            for i, text in enumerate(texts[:count]):
                fh.write(json.dumps({"id": f"a{i}", "text": text}, ensure_ascii=False) + "\n")
    all_texts, texts = texts, texts[: args.n_articles]

    tagger = SpanTagger.from_pretrained(model_dir, num_threads=args.threads, max_length=args.max_length,
                                        stride=args.stride, batch_size=args.batch_size, precision="fp32",
                                        linear_kernel=args.linear_kernel)
    tokenizer = tagger.tokenizer
    fast_kernels = tagger.linear_kernel != "default"
    bf16 = native_bf16("cpu")
    article_ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    n_tokens = sum(map(len, article_ids))
    windows = encode_texts(tokenizer, texts, args.max_length, args.stride)["input_ids"]
    window_tokens = sum(map(len, windows))
    print(cpu_line())
    print(f"{len(texts)} articles, {n_tokens} tokens ({n_tokens / len(texts):.0f} per article); windows of "
          f"{args.max_length} with stride {args.stride} feed the model {window_tokens} tokens "
          f"({window_tokens / n_tokens:.2f}x); torch threads {torch.get_num_threads()}; SpanTagger: "
          f"{tagger.streams} stream(s), batches of {tagger.batch_size} windows, {tagger.linear_kernel} linear "
          f"kernels ({args.linear_kernel}), precision {tagger.precision}; whole process: --precision "
          f"{args.precision} --linear-kernel {args.linear_kernel}", flush=True)
    peak = peaks()
    flops = forward_flops_per_token(tagger.forward.model.config, window_tokens / len(windows)) * window_tokens / n_tokens
    print(f"{describe_peaks(peak, bf16)}; the model does {flops / 1e6:.1f} MFLOP of products per article token "
          f"(window overlap included): ceiling {peak['fp32'] * 1e9 / flops:.0f} tokens/s in fp32, "
          f"{peak['bf16'] * 1e9 / flops:.0f} in bf16", flush=True)

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

    def whole_process(backend: str, count: int, *extra: str) -> Callable[[], object]:
        cmd = [sys.executable, "-m", "inference", "predict", "--model", str(model_dir), "--input",
               str(process_inputs[count]), "--output", str(tmp / f"out-{backend}.jsonl"), "--max-length",
               str(args.max_length), "--stride", str(args.stride), "--backend", backend, "--no-progress",
               "--overwrite", *extra]
        if backend == "torch":
            cmd += ["--precision", args.precision, "--linear-kernel", args.linear_kernel]
        cmd += ["--threads", str(args.threads)] if args.threads else []
        cmd += ["--batch-size", str(args.batch_size)] if args.batch_size else []
        return lambda: subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)

    runs: dict[str, Callable[[], float]] = {
        CEILING: lambda: timed(ceiling(model)),
        "SpanTagger torch": lambda: timed(lambda: tagger.predict(texts)),
        "pipeline batch 1": lambda: timed(lambda: list(pipe(texts, batch_size=1))),
        "pipeline batch 16": lambda: timed(lambda: list(pipe(texts, batch_size=16))),
    }
    if tagger.load_linker("auto") is not None:  # events ride on the same forward pass: what do they add?
        runs["SpanTagger torch + events"] = lambda: timed(lambda: tagger.predict_events(texts))
    for count in args.process_articles:
        runs[f"process torch, {count} articles"] = lambda count=count: timed(whole_process("torch", count))
    if fast_kernels:
        runs[CEILING_FAST] = lambda: timed(ceiling(tagger.forward.model))
    if bf16:
        tagger_bf16 = SpanTagger.from_pretrained(model_dir, num_threads=args.threads, max_length=args.max_length,
                                                 stride=args.stride, batch_size=args.batch_size, precision="bf16",
                                                 linear_kernel=args.linear_kernel)
        tagger_bf16.predict(texts[:2])
        runs["SpanTagger torch bf16"] = lambda: timed(lambda: tagger_bf16.predict(texts))
    if not args.skip_onnx:
        from frontlines.inference.onnx_backend import export_onnx

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
        runs.update(one_article_runs(args, model_dir, tmp, onnx_dir / "model.int8.onnx"))
        for count in args.process_articles:
            runs[f"process onnx int8, {count} articles"] = lambda count=count: timed(whole_process(
                "onnx", count, "--onnx-file", str(onnx_dir / "model.int8.onnx")
            ))

    if args.skip_onnx:
        runs.update(one_article_runs(args, model_dir, tmp, None))
    tagger.predict(texts[:2])  # warm up allocators and kernels
    best = best_of(runs, args.rounds)
    startup_figures = {name: best.pop(name) for name in list(best) if name.startswith(("one article", "python -c"))}

    counts = {name: len(texts) for name in best}
    tokens = {name: n_tokens for name in best}
    for count in args.process_articles:
        n = sum(map(len, tokenizer(all_texts[:count], add_special_tokens=False)["input_ids"]))
        for backend in ("torch", "onnx int8"):
            counts[f"process {backend}, {count} articles"] = count
            tokens[f"process {backend}, {count} articles"] = n
    print(f"\n{'':40} {'articles':>8} {'seconds':>8} {'docs/s':>8} {'tokens/s':>9} {'of FLOP ceiling':>16}")
    rate = {name: tokens[name] / seconds for name, seconds in best.items()}
    of_peak = {name: rate[name] * flops / 1e9 / peak["bf16" if "bf16" in name else "fp32"] for name in best}
    for name, seconds in best.items():
        print(f"{name:40} {counts[name]:8d} {seconds:8.1f} {counts[name] / seconds:8.2f} {rate[name]:9.0f} "
              f"{of_peak[name]:16.2f}")
    best_pipe = max(rate["pipeline batch 1"], rate["pipeline batch 16"])
    ceiling_rate = rate[CEILING]
    ratios = {
        "SpanTagger torch / pipeline batch 1": rate["SpanTagger torch"] / rate["pipeline batch 1"],
        "SpanTagger torch / pipeline batch 16": rate["SpanTagger torch"] / rate["pipeline batch 16"],
        "SpanTagger torch / ceiling": rate["SpanTagger torch"] / ceiling_rate,
        "SpanTagger torch / ceiling, window tokens counted": rate["SpanTagger torch"] * window_tokens / n_tokens
        / ceiling_rate,
    }
    if fast_kernels:
        ratios["SpanTagger torch / ceiling with oneDNN linear"] = rate["SpanTagger torch"] / rate[CEILING_FAST]
    if bf16:
        ratios["SpanTagger bf16 / SpanTagger fp32 (target >= 1.6)"] = rate["SpanTagger torch bf16"] / rate["SpanTagger torch"]
    if not args.skip_onnx:
        ratios["SpanTagger int8 / SpanTagger torch"] = rate["SpanTagger onnx int8"] / rate["SpanTagger torch"]
    # whole process against the pipeline's in-process time for as many articles (its start-up not counted)
    for backend in ("torch",) + (() if args.skip_onnx else ("onnx int8",)):
        for count in args.process_articles:
            ratios[f"whole process {backend} / best pipeline, {count} articles"] = (
                rate[f"process {backend}, {count} articles"] / best_pipe)
    print()
    for name, seconds in startup_figures.items():
        print(f"start-up, whole process: {name:32} {seconds:6.2f}s")
    if "SpanTagger torch + events" in best:
        ratios["events' extra time / SpanTagger torch time (target < 0.25)"] = (
            best["SpanTagger torch + events"] / best["SpanTagger torch"] - 1.0)
    for name, value in ratios.items():
        print(f"{name:58} {value:6.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "articles": len(texts), "tokens": n_tokens, "window_tokens": window_tokens,
            "max_length": args.max_length, "stride": args.stride, "threads": torch.get_num_threads(),
            "cpu": cpu_line(), "linear_kernel": tagger.linear_kernel, "precision": tagger.precision,
            "asked": {"linear_kernel": args.linear_kernel, "process_precision": args.precision},
            "matmul_gflops": peak, "flops_per_article_token": flops, "of_flop_ceiling": of_peak,
            "seconds": best, "tokens_per_s": rate, "ratios": ratios, "startup_seconds": startup_figures,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
