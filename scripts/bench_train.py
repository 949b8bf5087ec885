"""Training throughput of train.py against Hugging Face ``Trainer`` baselines.

    python scripts/bench_train.py [--steps 40] [--batch-size 16] [--max-length 256] [--rounds 2] [--variants ...]

Runs, each in its own process (so peak memory is its own), the same number of
optimizer steps on the same model, train windows, batch size and sequence
length:

* ``frontlines``: training/train.py as configured (dynamic padding,
  length-grouped batches, and the linear kernel ``train.linear_kernel: auto``
  chooses from this CPU: see inference/kernels.py);
* ``frontlines-default-kernels``: the same with ``train.linear_kernel=default``,
  which shows how much of the gain is the kernels and how much the batching;
* ``frontlines-onednn``: the same with ``train.linear_kernel=onednn`` (oneDNN
  forward and backward), the opt-in that ``auto`` does not take;
* ``frontlines-bf16``: the same with ``train.mixed_precision=bf16``, only where
  the CPU has native bf16;
* ``frontlines-attention-dropout``: the default config with the backbone's own
  attention dropout (0.1) put back, which the default config turns off
  (``model_overrides``: on a CPU, SDPA has no fused kernel with dropout, so
  attention dropout materialises every attention matrix and draws a random
  number per entry);
* ``trainer-padded``: ``Trainer`` fed windows padded to ``max_length``, as
  ``run_ner.py --pad_to_max_length`` does, with the backbone's own config (as
  ``run_ner.py`` builds it: attention dropout 0.1);
* ``trainer-grouped``: ``Trainer`` with dynamic padding and ``group_by_length``,
  the backbone's own config;
* ``trainer-grouped-same-model``: the same with the default config's
  ``model_overrides`` (no attention dropout): like for like with ``frontlines``,
  so the loop's gain shows apart from the recipe's.

It prints the CPU's features, the kernel and precision each frontlines run
used, the FLOP-bound ceiling (the model's training FLOPs per token, three
times the forward's, against this machine's measured fp32 and bf16 matmul
GFLOP/s; ``scripts/bench_ceiling.py``) and each run as a fraction of it.

Throughput counts real (non-padding) tokens per second of training time;
peak memory is the process's maximum resident set size (CUDA peak allocation
on a GPU). The host's speed drifts, so ``--rounds`` runs every variant that
many times, in turn, and keeps each one's fastest run. Ratios are frontlines'
figure over each baseline's, measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_frontlines(args: argparse.Namespace, out: Path, extra: list[str]) -> dict:
    from frontlines.training import train

    sets = [
        f"train.max_steps={args.steps}",
        f"train.batch_size={args.batch_size}",
        f"data.max_length={args.max_length}",
        f"model={args.model}",
        "train.epochs=1000",
        "train.early_stopping_patience=0",
        "eval.final=false",  # time the loop, not the linker and the test/stress evaluation after it
        f"train.num_threads={args.threads}",
        *extra,
    ]
    argv = ["--config", str(ROOT / "configs" / "default.yaml"), "--output-dir", str(out / "run"), "--overwrite"]
    for s in sets:
        argv += ["--set", s]
    assert train.main(argv) == 0
    meta = json.loads((out / "run" / "run.json").read_text())
    return {"tokens_per_second": meta["tokens_per_second"], "tokens": meta["train_tokens"],
            "seconds": meta["train_seconds"], "linear_kernel": meta["linear_kernel"],
            "mixed_precision": meta["mixed_precision"]}


def run_trainer(args: argparse.Namespace, out: Path, padded: bool, same_model: bool) -> dict:
    import torch
    from transformers import AutoTokenizer, DataCollatorForTokenClassification, Trainer, TrainingArguments

    from frontlines.training.backbone import resolve_backbone
    from frontlines.training.config import load_config
    from frontlines.training.corpus import load_corpus, split_examples
    from frontlines.training.data import build_dataset, model_columns
    from frontlines.training.train import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_config(ROOT / "configs" / "default.yaml", [f"model={args.model}", f"data.max_length={args.max_length}"])
    if not same_model:  # what run_ner.py trains: the backbone's config as it ships
        config["model_overrides"] = {}
    backbone = resolve_backbone(config["model"])
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    train_set = build_dataset(
        tokenizer, split_examples(load_corpus(), "train"), args.max_length, config["data"]["stride"]
    )
    lengths = train_set["length"]
    data = model_columns(train_set)
    base = DataCollatorForTokenClassification(
        tokenizer, padding="max_length" if padded else True, max_length=args.max_length if padded else None
    )
    counted = {"tokens": 0}
    model = build_model(config, backbone)

    def count_tokens(module, args, kwargs):  # real tokens of each batch the model trains on
        if module.training:
            counted["tokens"] += int(kwargs["attention_mask"].sum())

    # A hook on the model, not the collator: accelerate's loader prefetches one batch ahead.
    model.register_forward_pre_hook(count_tokens, with_kwargs=True)
    targs = TrainingArguments(
        output_dir=str(out / "trainer"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=config["optim"]["lr"],
        weight_decay=config["optim"]["weight_decay"],
        warmup_steps=int(config["optim"]["warmup_ratio"] * args.steps),
        # transformers 5 spells group_by_length as a sampling strategy
        train_sampling_strategy="random" if padded else "group_by_length",
        length_column_name="length",
        save_strategy="no",
        report_to=[],
        logging_strategy="no",
        dataloader_num_workers=0,
        seed=config["train"]["seed"],
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )
    if not padded:
        data = data.add_column("length", lengths)
    trainer = Trainer(model=model, args=targs, train_dataset=data, data_collator=base)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    return {"tokens_per_second": counted["tokens"] / seconds, "tokens": counted["tokens"], "seconds": seconds}


#: The train.py overrides of each frontlines variant.
FRONTLINES = {
    "frontlines": [],
    "frontlines-default-kernels": ["train.linear_kernel=default"],
    "frontlines-onednn": ["train.linear_kernel=onednn"],
    "frontlines-bf16": ["train.mixed_precision=bf16"],
    "frontlines-attention-dropout": ["model_overrides.attention_probs_dropout_prob=0.1"],
}
TRAINERS = {"trainer-padded": (True, False), "trainer-grouped": (False, False), "trainer-grouped-same-model": (False, True)}
VARIANTS = (*FRONTLINES, *TRAINERS)


def print_ceiling(args: argparse.Namespace, results: dict[str, dict]) -> None:
    """CPU, peaks, the FLOP-bound ceiling and each variant's fraction of it."""
    from bench_ceiling import cpu_line, describe_peaks, forward_flops_per_token, peaks
    from transformers import AutoConfig

    from frontlines.inference.precision import native_bf16
    from frontlines.training.backbone import resolve_backbone

    peak = peaks()
    config = AutoConfig.from_pretrained(resolve_backbone(args.model))
    flops = 3 * forward_flops_per_token(config, args.max_length)  # forward + two backward products
    print(cpu_line())
    print(f"{describe_peaks(peak, native_bf16('cpu'))}; training does {flops / 1e6:.1f} MFLOP of products per "
          f"token (windows of {args.max_length}): ceiling {peak['fp32'] * 1e9 / flops:.0f} tokens/s in fp32, "
          f"{peak['bf16'] * 1e9 / flops:.0f} in bf16")
    for variant, r in results.items():
        kind = "bf16" if r.get("mixed_precision") == "bf16" else "fp32"
        print(f"{variant:<28} {r['tokens_per_second'] * flops / 1e9 / peak[kind]:.2f} of the {kind} ceiling")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--model", default="embedded:minilm")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="runs of every variant; the fastest of each is kept")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated variants to run (frontlines-bf16 only where bf16 is native)")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant:
        with tempfile.TemporaryDirectory() as tmp:
            if args.variant in FRONTLINES:
                result = run_frontlines(args, Path(tmp), FRONTLINES[args.variant])
            else:
                padded, same_model = TRAINERS[args.variant]
                result = run_trainer(args, Path(tmp), padded=padded, same_model=same_model)
        result["peak_memory_mb"] = peak_memory_mb()
        args.result.write_text(json.dumps(result))
        return 0

    from frontlines.inference.precision import native_bf16

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or "frontlines" not in variants:
        parser.error(f"--variants: unknown {unknown}" if unknown else "--variants must include frontlines")
    if "frontlines-bf16" in variants and not native_bf16("cpu"):
        print("note: no native bf16 on this CPU: frontlines-bf16 skipped")
        variants.remove("frontlines-bf16")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for variant in variants:
                path = Path(tmp) / f"{variant}.json"
                cmd = [sys.executable, __file__, "--variant", variant, "--result", str(path)]
                cmd += ["--steps", str(args.steps), "--batch-size", str(args.batch_size)]
                cmd += ["--max-length", str(args.max_length), "--model", args.model, "--threads", str(args.threads)]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                result = json.loads(path.read_text())
                print(f"  round {r + 1}: {variant}: {result['tokens_per_second']:.0f} tok/s", flush=True)
                if variant not in results or result["tokens_per_second"] > results[variant]["tokens_per_second"]:
                    results[variant] = result
    print(f"steps={args.steps} batch={args.batch_size} max_length={args.max_length} model={args.model} "
          f"rounds={args.rounds}")
    print(f"{'variant':<28}{'real tok/s':>12}{'seconds':>10}{'peak MB':>10}  kernel, precision")
    for variant, r in results.items():
        used = f"{r['linear_kernel']}, {r['mixed_precision']}" if "linear_kernel" in r else "transformers' own"
        print(f"{variant:<28}{r['tokens_per_second']:>12.0f}{r['seconds']:>10.1f}{r['peak_memory_mb']:>10.0f}  {used}")
    print_ceiling(args, results)
    ours = results["frontlines"]
    for base in variants:
        if base == "frontlines":
            continue
        r = results[base]
        print(
            f"frontlines / {base}: throughput x{ours['tokens_per_second'] / r['tokens_per_second']:.2f}, "
            f"peak memory x{ours['peak_memory_mb'] / r['peak_memory_mb']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
