"""Fine-tune a token classifier for ACTOR / LOCATION / CONTROL_CHANGE / PERCENT spans.

    accelerate launch training/train.py                       # configs/default.yaml -> runs/default
    accelerate launch training/train.py --config configs/tiny.yaml --output-dir runs/smoke
    python training/train.py --set optim.lr=3e-5 --set train.epochs=5
    python training/train.py --output-dir runs/default --resume   # continue an interrupted run

The loop reads top to bottom: config -> corpus -> model -> data -> optimizer ->
(resume) -> epochs of train steps with dev evaluation, early stopping and
checkpoints -> test evaluation of the best model -> model card and metadata.
Devices, mixed precision, gradient accumulation and DDP are accelerate's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python training/train.py` from anywhere
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import yaml  # noqa: E402
from accelerate import Accelerator  # noqa: E402
from accelerate.utils import set_seed  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    get_linear_schedule_with_warmup,
)

from inference.kernels import use_fast_linear  # noqa: E402
from inference.labels import ID2TAG, TAG2ID  # noqa: E402
from training.backbone import resolve_backbone  # noqa: E402
from training.config import ConfigError, load_config  # noqa: E402
from training.corpus import CorpusError, load_corpus, split_examples  # noqa: E402
from training.data import (  # noqa: E402
    LengthGroupedBatchSampler,
    build_dataset,
    decode_dataset,
    model_columns,
    softmax_rows,
)
from training.evaluate import score, write_report  # noqa: E402
from training.model_card import write_model_card  # noqa: E402


class RunState:
    """Loop counters saved with every checkpoint (registered with accelerate)."""

    def __init__(self) -> None:
        self.epoch = 0
        self.batches_done = 0  # batches of the current epoch already trained on
        self.epoch_loss = 0.0  # sum of batch losses so far this epoch
        self.epoch_batches = 0
        self.global_step = 0  # optimizer steps
        self.best_f1 = -1.0
        self.best_epoch = -1
        self.bad_evals = 0
        self.tokens = 0
        self.train_seconds = 0.0

    def state_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        vars(self).update(state)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"), help="YAML run config")
    parser.add_argument("--output-dir", help="where the run goes (default: runs/<config name>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    parser.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    parser.add_argument("--resume-from", metavar="CHECKPOINT", help="continue from this checkpoint directory")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    return parser.parse_args(argv)


def prepare_output_dir(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """Resolve the run directory and the checkpoint to resume from, refusing to clobber a run."""
    if args.resume_from:
        checkpoint = Path(args.resume_from).resolve()
        if not (checkpoint / "run_state.json").is_file():
            raise SystemExit(f"error: {checkpoint} is not a checkpoint of this trainer (no run_state.json)")
        out = Path(args.output_dir) if args.output_dir else checkpoint.parent.parent
        return out, checkpoint
    out = Path(args.output_dir) if args.output_dir else ROOT / "runs" / Path(args.config).stem
    if args.resume:
        checkpoints = sorted((out / "checkpoints").glob("step-*"))
        if not checkpoints:
            raise SystemExit(f"error: --resume: no checkpoint under {out / 'checkpoints'}")
        return out, checkpoints[-1]
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            raise SystemExit(f"error: output directory {out} already holds a run; use --resume or --overwrite")
    return out, None


def build_model(config: dict[str, Any], backbone: str) -> torch.nn.Module:
    """The backbone with a fresh token-classification head over the project's tags."""
    model_config = AutoConfig.from_pretrained(
        backbone, num_labels=len(ID2TAG), id2label=ID2TAG, label2id=TAG2ID, **config["model_overrides"]
    )
    if config["random_init"]:
        return AutoModelForTokenClassification.from_config(model_config)
    return AutoModelForTokenClassification.from_pretrained(backbone, config=model_config)


def predict(model: torch.nn.Module, loader: DataLoader, accelerator: Accelerator) -> list:
    """Per-window tag probabilities for every window of ``loader``, in order."""
    model.eval()
    probs = []
    with torch.inference_mode():
        for batch in loader:
            batch.pop("labels", None)
            logits = model(**batch).logits
            logits = accelerator.pad_across_processes(logits, dim=1)
            mask = accelerator.pad_across_processes(batch["attention_mask"], dim=1)
            logits, mask = accelerator.gather_for_metrics((logits, mask))
            probs += softmax_rows(logits, mask.sum(dim=1).tolist())
    model.train()
    return probs


def save_best_model(accelerator: Accelerator, model: torch.nn.Module, tokenizer: Any, out: Path) -> None:
    """Write the model and tokenizer into the run root, file by file through a temp dir."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        tmp = out / ".best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        accelerator.unwrap_model(model).save_pretrained(tmp, save_function=accelerator.save)
        tokenizer.save_pretrained(tmp)
        for f in tmp.iterdir():
            f.replace(out / f.name)
        tmp.rmdir()
    accelerator.wait_for_everyone()


def save_checkpoint(accelerator: Accelerator, state: RunState, out: Path, keep: int) -> None:
    """save_state into a temp dir, then rename: a crash never leaves half a checkpoint."""
    final = out / "checkpoints" / f"step-{state.global_step:07d}"
    tmp = final.with_name(final.name + ".tmp")
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "run_state.json").write_text(json.dumps(state.state_dict()))
        if final.exists():
            shutil.rmtree(final)
        tmp.replace(final)
        for old in sorted((out / "checkpoints").glob("step-???????"))[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def run_metadata(
    config: dict[str, Any], accelerator: Accelerator, state: RunState, wall: float, onednn: bool
) -> dict[str, Any]:
    import accelerate
    import datasets
    import transformers

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    corpus_hash = hashlib.sha256()
    for path in config["data"]["corpus"]:
        corpus_hash.update((ROOT / path if not Path(path).is_absolute() else Path(path)).read_bytes())
    return {
        "git_commit": commit,
        "corpus_sha256": corpus_hash.hexdigest(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "accelerate": accelerate.__version__,
            "datasets": datasets.__version__,
        },
        "device": str(accelerator.device),
        "num_processes": accelerator.num_processes,
        "mixed_precision": accelerator.mixed_precision,
        "linear_kernel": "onednn" if onednn else "default",
        "wall_seconds": round(wall, 1),
        "train_seconds": round(state.train_seconds, 1),
        "train_tokens": state.tokens,
        "tokens_per_second": round(state.tokens / state.train_seconds, 1) if state.train_seconds else None,
        "optimizer_steps": state.global_step,
        "best_epoch": state.best_epoch,
    }


def main(argv: list[str] | None = None) -> int:
    started = time.time()
    args = parse_args(argv)
    out, checkpoint = prepare_output_dir(args)
    try:
        if checkpoint is not None and (out / "config.yaml").is_file():
            config = load_config(out / "config.yaml", args.set)  # a resumed run keeps its own config
        else:
            config = load_config(args.config, args.set)
        corpus_paths = [p if Path(p).is_absolute() else ROOT / p for p in config["data"]["corpus"]]
        examples = load_corpus(corpus_paths)
        backbone = resolve_backbone(config["model"])
    except (ConfigError, CorpusError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tcfg, dcfg, ocfg = config["train"], config["data"], config["optim"]

    precision = tcfg["mixed_precision"]
    if precision != "no" and not torch.cuda.is_available():
        # The training issue asks CPU runs to stay fp32: on CPUs without native bf16 (the
        # project's AVX2 reference machine) bf16 matmuls are emulated, ~50x slower. (CPUs with
        # AVX512-BF16, like the current AMD EPYC host, run them faster; not enabled here.)
        print(f"note: train.mixed_precision={precision} needs a GPU; training in fp32 on CPU", file=sys.stderr)
        precision = "no"
    accelerator = Accelerator(
        mixed_precision=precision,
        gradient_accumulation_steps=tcfg["grad_accum"],
        log_with=tcfg["tracker"],
        project_dir=str(out),
    )
    if tcfg["num_threads"]:
        torch.set_num_threads(tcfg["num_threads"])
    elif accelerator.device.type == "cpu":
        # `accelerate launch` pins each CPU process to OMP_NUM_THREADS=1 unless told otherwise;
        # share this machine's cores among the local processes instead.
        local = int(os.environ.get("LOCAL_WORLD_SIZE", accelerator.num_processes))
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // max(local, 1)))
    set_seed(tcfg["seed"])
    if accelerator.is_main_process:
        if checkpoint is None and out.exists() and args.overwrite:
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    accelerator.wait_for_everyone()

    # --- model and data ---------------------------------------------------------------
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = build_model(config, backbone)
    onednn = accelerator.device.type == "cpu" and use_fast_linear(model, tcfg["linear_kernel"])
    splits = {s: split_examples(examples, s) for s in ("train", "dev", "test")}
    empty = [s for s, exs in splits.items() if not exs]
    if empty:
        print(f"error: corpus {config['data']['corpus']} has no article in split(s) {empty}", file=sys.stderr)
        return 2
    with accelerator.main_process_first():
        data = {
            s: build_dataset(tokenizer, exs, dcfg["max_length"], dcfg["stride"], dcfg["label_all_tokens"])
            for s, exs in splits.items()
        }
    data["dev"], data["test"] = data["dev"].sort("length"), data["test"].sort("length")
    collator = DataCollatorForTokenClassification(
        tokenizer, pad_to_multiple_of=8 if precision != "no" else None
    )
    sampler = LengthGroupedBatchSampler(
        data["train"]["length"], tcfg["batch_size"], tcfg["seed"], shuffle=True, group=50 if tcfg["group_by_length"] else 1
    )
    # Each loader gets its own generator: creating an iterator then draws no number from the
    # global RNG, so a run resumed mid-epoch sees the same dropout masks as an uninterrupted one.
    def generator() -> torch.Generator:
        return torch.Generator().manual_seed(tcfg["seed"])

    train_loader = DataLoader(
        model_columns(data["train"]), batch_sampler=sampler, collate_fn=collator, generator=generator()
    )
    eval_loaders = {
        s: DataLoader(
            model_columns(data[s]), batch_size=tcfg["eval_batch_size"], collate_fn=collator, generator=generator()
        )
        for s in ("dev", "test")
    }

    # --- optimizer: AdamW, no decay on biases and LayerNorm, linear warm-up and decay ----
    decay = [p for n, p in model.named_parameters() if not any(k in n for k in ("bias", "LayerNorm", "layer_norm"))]
    no_decay = [p for n, p in model.named_parameters() if any(k in n for k in ("bias", "LayerNorm", "layer_norm"))]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": ocfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=ocfg["lr"],
        eps=ocfg["adam_eps"],
    )
    steps_per_epoch = math.ceil(len(sampler) / accelerator.num_processes / tcfg["grad_accum"])
    total_steps = steps_per_epoch * tcfg["epochs"]
    if tcfg["max_steps"]:
        total_steps = min(total_steps, tcfg["max_steps"])
    scheduler = get_linear_schedule_with_warmup(optimizer, int(ocfg["warmup_ratio"] * total_steps), total_steps)

    model, optimizer, train_loader, eval_loaders["dev"], eval_loaders["test"], scheduler = accelerator.prepare(
        model, optimizer, train_loader, eval_loaders["dev"], eval_loaders["test"], scheduler
    )
    state = RunState()
    accelerator.register_for_checkpointing(state)
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        accelerator.print(f"resumed from {checkpoint} (epoch {state.epoch}, step {state.global_step})")
    metrics_path = out / "metrics.jsonl"
    if accelerator.is_main_process and metrics_path.exists():  # drop evaluations newer than the checkpoint
        kept = [ln for ln in metrics_path.read_text().splitlines() if json.loads(ln)["step"] <= state.global_step]
        metrics_path.write_text("".join(ln + "\n" for ln in kept))
    if tcfg["tracker"]:
        accelerator.init_trackers("frontlines", config={f"{k}.{kk}": vv for k, v in config.items() if isinstance(v, dict) for kk, vv in v.items() if not isinstance(vv, (list, dict))})

    # --- the loop ------------------------------------------------------------------------
    progress = tqdm(total=total_steps, initial=state.global_step, disable=not accelerator.is_local_main_process)
    model.train()
    stop = state.global_step >= total_steps
    try:
        while state.epoch < tcfg["epochs"] and not stop:
            # accelerate's loader sets the sampler's epoch from its own counter: keep it on ours.
            train_loader.set_epoch(state.epoch)
            sampler.set_epoch(state.epoch)
            loader = accelerator.skip_first_batches(train_loader, state.batches_done) if state.batches_done else train_loader
            tick = time.perf_counter()
            for batch in loader:
                with accelerator.accumulate(model):
                    loss = model(**batch).loss
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and ocfg["max_grad_norm"]:
                        accelerator.clip_grad_norm_(model.parameters(), ocfg["max_grad_norm"])
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                state.batches_done += 1
                tokens = int(accelerator.gather(batch["attention_mask"].sum()).sum())
                state.tokens += tokens
                state.epoch_loss += loss.item()
                state.epoch_batches += 1
                if not accelerator.sync_gradients:
                    continue
                state.global_step += 1
                now = time.perf_counter()
                state.train_seconds += now - tick
                progress.update(1)
                progress.set_postfix(loss=f"{state.epoch_loss / state.epoch_batches:.4f}", tok_s=f"{state.tokens / state.train_seconds:.0f}")
                tick = now
                if tcfg["checkpoint_every"] and state.global_step % tcfg["checkpoint_every"] == 0:
                    save_checkpoint(accelerator, state, out, tcfg["keep_checkpoints"])
                    tick = time.perf_counter()
                if state.global_step >= total_steps:
                    stop = True
                    break

            # --- end of epoch: dev evaluation, early stopping, checkpoint ---
            dev_pred = decode_dataset(splits["dev"], data["dev"], predict(model, eval_loaders["dev"], accelerator))
            dev_scores = score(splits["dev"], dev_pred)
            record = {
                "epoch": state.epoch + 1,
                "step": state.global_step,
                "train_loss": state.epoch_loss / max(state.epoch_batches, 1),
                "lr": scheduler.get_last_lr()[0],
                "tokens_per_second": state.tokens / max(state.train_seconds, 1e-9),
                "dev": dev_scores,
            }
            if accelerator.is_main_process:
                append_jsonl(metrics_path, record)
            if tcfg["tracker"]:
                accelerator.log({"train/loss": record["train_loss"], "dev/micro_f1": dev_scores["micro_f1"]}, step=state.global_step)
            accelerator.print(f"epoch {state.epoch + 1}: dev micro-F1 {dev_scores['micro_f1']:.4f}")
            if dev_scores["micro_f1"] > state.best_f1:
                state.best_f1, state.best_epoch, state.bad_evals = dev_scores["micro_f1"], state.epoch + 1, 0
                save_best_model(accelerator, model, tokenizer, out)
            else:
                state.bad_evals += 1
            state.epoch += 1
            state.batches_done = state.epoch_batches = 0
            state.epoch_loss = 0.0
            if tcfg["early_stopping_patience"] and state.bad_evals >= tcfg["early_stopping_patience"]:
                accelerator.print(f"early stopping: no dev improvement in {state.bad_evals} evaluations")
                stop = True
            save_checkpoint(accelerator, state, out, tcfg["keep_checkpoints"])
    except KeyboardInterrupt:
        save_checkpoint(accelerator, state, out, tcfg["keep_checkpoints"])
        accelerator.print(f"interrupted: checkpoint saved; continue with --output-dir {out} --resume")
        return 130
    progress.close()

    # --- test evaluation of the best model ------------------------------------------------
    from safetensors.torch import load_file

    accelerator.unwrap_model(model).load_state_dict(load_file(str(out / "model.safetensors")))
    test_pred = decode_dataset(splits["test"], data["test"], predict(model, eval_loaders["test"], accelerator))
    if accelerator.is_main_process:
        meta = run_metadata(config, accelerator, state, time.time() - started, onednn)
        report = write_report(
            out / "report", splits["test"], test_pred, title=f"{out.name}: test split", extra={"run": meta}, overwrite=True
        )
        test_scores = json.loads(report["json"].read_text())
        meta["test_micro_f1"] = test_scores["micro_f1"]
        meta["dev_best_micro_f1"] = state.best_f1
        (out / "run.json").write_text(json.dumps(meta, indent=2))
        write_model_card(out, config, test_scores, {s: len(e) for s, e in splits.items()}, meta)
        accelerator.print(f"test micro-F1 {test_scores['micro_f1']:.4f}; run written to {out}")
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    sys.exit(main())
