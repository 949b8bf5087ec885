"""Fine-tune a token classifier for ACTOR / LOCATION / CONTROL_CHANGE / PERCENT spans.

    accelerate launch training/train.py                       # configs/default.yaml -> runs/default
    accelerate launch training/train.py --config configs/tiny.yaml --output-dir runs/smoke
    python -m training.train --set optim.lr=3e-5 --set train.epochs=5
    python -m training.train --output-dir runs/default --resume   # continue an interrupted run

The loop reads top to bottom: config -> corpus -> model -> data -> optimizer ->
(resume) -> epochs of train steps with dev evaluation, early stopping and
checkpoints -> test evaluation of the best model -> model card and metadata.
Devices, mixed precision, gradient accumulation and DDP are accelerate's; the
run directory's files are training/rundir.py's; signals are training/stopping.py's.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run by path (`accelerate launch training/train.py`): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import math
import os
import shutil
import time

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from frontlines.inference.fileio import flatten
from frontlines.inference.kernels import use_fast_linear
from frontlines.inference.precision import native_bf16
from frontlines.training import rundir
from frontlines.training.backbone import BackboneNotFound, build_model, resolve_backbone
from frontlines.training.config import ConfigError, load_config
from frontlines.training.corpus import SPLITS, CorpusError, split_examples
from frontlines.training.data import build_loaders, decode_dataset, predict
from frontlines.training.finish import finish_run
from frontlines.training.link_loss import LINK_KEYS, LinkHead, trains_links
from frontlines.training.mixing import run_corpus
from frontlines.training.optim import build_optimizer
from frontlines.training.rundir import RunDirError, RunState
from frontlines.training.scoring import score
from frontlines.training.stopping import StopRequest, launched_by_accelerate, stop_with_parent


class Diverged(Exception):
    """The loss or the weights stopped being finite numbers."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(rundir.ROOT / "configs" / "default.yaml"), help="YAML run config")
    parser.add_argument("--output-dir", help="where the run goes (default: runs/<config name>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    parser.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    parser.add_argument("--resume-from", metavar="CHECKPOINT", help="continue from this checkpoint directory")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    return parser.parse_args(argv)


def check_tracker(name: str | None) -> None:
    """An accelerate tracker that exists and is installed (accelerate drops a missing one silently)."""
    if name is None:
        return
    from accelerate.tracking import get_available_trackers
    from accelerate.utils import LoggerType

    known = [t.value for t in LoggerType]
    if name not in known:
        raise ConfigError(f"config key 'train.tracker': unknown tracker {name!r} (known: {', '.join(known)})")
    if name != "all" and LoggerType(name) not in get_available_trackers():
        raise ConfigError(f"config key 'train.tracker': {name!r} is not installed (pip install {name})")


def agree(accelerator: Accelerator, *flags: bool) -> list[bool]:
    """Each flag, true if it is true on any process (one tiny all-reduce, only with several processes)."""
    if accelerator.num_processes == 1:
        return list(flags)
    values = torch.tensor([float(f) for f in flags], device=accelerator.device)
    return [bool(v) for v in accelerator.reduce(values, reduction="sum").tolist()]


def resume(accelerator: Accelerator, checkpoint: Path) -> RunState:
    """Verify the checkpoint holds data only, then load model, optimizer, scheduler and RNG with accelerate."""
    state = rundir.verify_checkpoint(checkpoint, accelerator.process_index)
    try:
        accelerator.load_state(str(checkpoint))
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunDirError(f"{checkpoint}: does not fit this run's model and optimizer ({first})") from None
    return state


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with StopRequest() as stop:
            return train(args, stop)
    except Diverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, CorpusError, BackboneNotFound, RunDirError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an unwritable or full run directory, a vanished input
        print(f"error: {exc.strerror or exc}: {exc.filename}" if exc.filename else f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted at once: no checkpoint saved; --resume continues from the last one", file=sys.stderr)
        return 130


def train(args: argparse.Namespace, stop: StopRequest) -> int:
    started = time.time()
    out, checkpoint = rundir.locate_run(args.output_dir, args.config, args.resume, args.resume_from, args.overwrite)
    resuming_own = checkpoint is not None and (out / "config.yaml").is_file()
    config = load_config(out / "config.yaml" if resuming_own else args.config, args.set)  # a resumed run keeps its own
    # every file's train articles, and the dev/test/stress ones of data.eval_corpus (training/mixing.py)
    corpus = run_corpus([p if Path(p).is_absolute() else rundir.ROOT / p for p in config["data"]["corpus"]], config["data"])
    examples = corpus.examples
    backbone = resolve_backbone(config["model"])
    tcfg, dcfg, ocfg = config["train"], config["data"], config["optim"]
    check_tracker(tcfg["tracker"])
    splits = {s: split_examples(examples, s) for s in ("train", "dev")}  # test and stress: finish_run
    empty = [s for s, exs in splits.items() if not exs]
    if empty:
        raise ConfigError(f"config key 'data.corpus': {dcfg['corpus']} has no article in split(s) {empty}")

    precision = tcfg["mixed_precision"]
    if precision != "no" and not torch.cuda.is_available() and not (precision == "bf16" and native_bf16("cpu")):
        # bf16 on a CPU is an opt-in where it is native (AVX512-BF16 or AMX: accelerate's CPU autocast);
        # elsewhere bf16 matmuls are emulated (~50x slower on an AVX2 CPU) and fp16 has no CPU autocast worth it.
        print(f"note: train.mixed_precision={precision} needs a GPU, or for bf16 a CPU with native bf16 "
              "(avx512_bf16 or amx_bf16); training in fp32 on CPU", file=sys.stderr)
        precision = "no"
    accelerator = Accelerator(
        mixed_precision=precision, gradient_accumulation_steps=tcfg["grad_accum"], log_with=tcfg["tracker"],
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

    # --- model and data (nothing is written before the model is known to fit) ----------
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    model = build_model(config, backbone)
    # the event-linking head beside the tagger (training/link_loss.py): trained with it, never saved with it
    link_head = LinkHead(model.config.hidden_size) if trains_links(config, splits["train"]) else None
    # the kernel by rule (inference/kernels.py), not timing; a resumed run keeps the one it recorded unless
    # the config now names one; under bf16 autocast the products are bf16 ones and the kernel is the default
    recorded = RunState.read(checkpoint / "run_state.json").linear_kernel if checkpoint is not None else ""
    wanted = recorded if recorded and tcfg["linear_kernel"] == "auto" else tcfg["linear_kernel"]
    on_cpu_fp32 = accelerator.device.type == "cpu" and precision == "no"
    kernel = use_fast_linear(model, wanted, training=True) if on_cpu_fp32 else "default"
    if accelerator.is_main_process:
        if checkpoint is None and out.exists() and args.overwrite:
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        for stale in rundir.remove_stale(out):
            print(f"note: removed {stale}, left by an interrupted save", file=sys.stderr)
        if checkpoint is None:
            rundir.write_config(out, config)
    accelerator.wait_for_everyone()
    with accelerator.main_process_first():
        data, sampler, loaders = build_loaders(tokenizer, splits, config, 8 if precision != "no" else None,
                                               corpus.train_weights(splits["train"]))

    steps_per_epoch = math.ceil(len(sampler) / accelerator.num_processes / tcfg["grad_accum"])
    total_steps = steps_per_epoch * tcfg["epochs"]
    if tcfg["max_steps"]:
        total_steps = min(total_steps, tcfg["max_steps"])
    optimizer, scheduler = build_optimizer(model, ocfg, total_steps, link_head)
    model, optimizer, train_loader, dev_loader, scheduler = accelerator.prepare(
        model, optimizer, loaders["train"], loaders["dev"], scheduler
    )
    if link_head is not None:  # prepared second: its weights are the checkpoints' model_1.safetensors
        link_head = accelerator.prepare(link_head)
        link_head.train()
    trained = [p for m in (model, link_head) if m is not None for p in m.parameters()]
    state = RunState()
    if checkpoint is not None:
        state = resume(accelerator, checkpoint)
        if accelerator.is_main_process:  # the overrides of a resume are the run's only once it has started
            rundir.write_config(out, config)
            rundir.keep_metrics_until(out, state.global_step)
        accelerator.print(f"resumed from {checkpoint} (epoch {state.epoch}, step {state.global_step})")
    state.linear_kernel = kernel
    if tcfg["tracker"]:
        hparams = {k: v for k, v in flatten(config).items() if isinstance(v, (str, int, float, bool))}
        accelerator.init_trackers("frontlines", config=hparams)

    pending_tokens = torch.zeros((), dtype=torch.long, device=accelerator.device)  # this process's, since the last log

    def count_tokens() -> None:  # one all-reduce at log time rather than a gather on every batch
        state.tokens += int(accelerator.reduce(pending_tokens, reduction="sum"))
        pending_tokens.zero_()

    def save_checkpoint() -> None:
        count_tokens()
        rundir.save_checkpoint(accelerator, state, out, tcfg["keep_checkpoints"])

    def interrupted() -> int:
        save_checkpoint()
        accelerator.print(f"interrupted ({stop.requested}): checkpoint saved; continue with --output-dir {out} --resume")
        return 130

    # --- the loop ------------------------------------------------------------------------
    progress = tqdm(total=total_steps, initial=state.global_step, disable=not accelerator.is_local_main_process)
    model.train()
    finished = state.global_step >= total_steps
    try:
        while state.epoch < tcfg["epochs"] and not finished:
            # accelerate's loader sets the sampler's epoch from its own counter: keep it on ours.
            train_loader.set_epoch(state.epoch)
            sampler.set_epoch(state.epoch)
            loader = accelerator.skip_first_batches(train_loader, state.batches_done) if state.batches_done else train_loader
            tick, finite = time.perf_counter(), True
            for batch in loader:
                with accelerator.accumulate(model):
                    links = {k: batch.pop(k) for k in LINK_KEYS if k in batch}
                    output = model(**batch, output_hidden_states=link_head is not None)
                    loss = output.loss
                    if link_head is not None:
                        loss = loss + tcfg["link_loss_weight"] * link_head(output.hidden_states[-1], **links)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and ocfg["max_grad_norm"]:
                        accelerator.clip_grad_norm_(trained, ocfg["max_grad_norm"])
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                state.batches_done += 1
                pending_tokens += batch["attention_mask"].sum()
                batch_loss = loss.item()
                finite = finite and math.isfinite(batch_loss)
                state.epoch_loss += batch_loss
                state.epoch_batches += 1
                if not accelerator.sync_gradients:
                    continue
                state.global_step += 1
                now = time.perf_counter()
                state.train_seconds += now - tick
                progress.update(1)
                progress.set_postfix(loss=f"{state.epoch_loss / state.epoch_batches:.4f}")
                diverged, stopping = agree(accelerator, not finite, stop.requested is not None)
                if diverged:
                    raise Diverged(
                        f"the training loss stopped being a finite number (now {batch_loss}) at epoch {state.epoch + 1}, "
                        f"step {state.global_step}; stopped with nothing saved from this step on (try a lower optim.lr)")
                if stopping:
                    return interrupted()
                if tcfg["checkpoint_every"] and state.global_step % tcfg["checkpoint_every"] == 0:
                    save_checkpoint()
                tick = time.perf_counter()
                if state.global_step >= total_steps:
                    finished = True
                    break

            # --- end of epoch: dev evaluation, early stopping, checkpoint ---
            count_tokens()
            dev_scores = score(splits["dev"], decode_dataset(splits["dev"], data["dev"], predict(model, dev_loader, accelerator)))
            record = {
                "epoch": state.epoch + 1,
                "step": state.global_step,
                "train_loss": state.epoch_loss / max(state.epoch_batches, 1),
                "lr": scheduler.get_last_lr()[0],
                "tokens_per_second": state.tokens / max(state.train_seconds, 1e-9),
                "dev": dev_scores,
            }
            if accelerator.is_main_process:
                rundir.append_metrics(out, record)
            if tcfg["tracker"]:
                accelerator.log({"train/loss": record["train_loss"], "dev/micro_f1": dev_scores["micro_f1"]}, step=state.global_step)
            accelerator.print(f"epoch {state.epoch + 1}: dev micro-F1 {dev_scores['micro_f1']:.4f}")
            if dev_scores["micro_f1"] > state.best_f1:
                if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                    raise Diverged(f"the weights stopped being finite numbers in epoch {state.epoch + 1}; no best model saved")
                state.best_f1, state.best_epoch, state.bad_evals = dev_scores["micro_f1"], state.epoch + 1, 0
                rundir.save_best_model(accelerator, model, tokenizer, out)
            else:
                state.bad_evals += 1
            state.epoch += 1
            state.batches_done = state.epoch_batches = 0
            state.epoch_loss = 0.0
            if tcfg["early_stopping_patience"] and state.bad_evals >= tcfg["early_stopping_patience"]:
                accelerator.print(f"early stopping: no dev improvement in {state.bad_evals} evaluations")
                finished = True
            save_checkpoint()
            if not finished and agree(accelerator, stop.requested is not None)[0]:
                return interrupted()
    finally:
        progress.close()

    # --- the event linker, then test and stress as a user's SpanTagger sees them -------------
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        meta = rundir.run_metadata(config, accelerator, state, time.time() - started, kernel)
        meta["dev_best_micro_f1"] = state.best_f1
        sizes = {s: len(split_examples(examples, s)) for s in SPLITS}
        if config["eval"]["final"]:
            summaries = finish_run(out, config, examples, meta, sizes)
            if native_bf16(str(accelerator.device)):  # what --precision auto needs before it serves bf16
                from frontlines.training.precision_check import check_bf16

                check_bf16(out, examples, decoding=config["eval"]["decoding"])
        else:  # benchmarks and smoke runs: the loop only
            summaries = {}
            rundir.write_run_json(out, meta)
        test = summaries.get("test", {}).get("micro_f1")
        accelerator.print(f"test micro-F1 {test:.4f}; run written to {out}" if test is not None else f"run written to {out}")
    accelerator.end_training()
    return 0


def cli() -> int:
    """The program: under ``accelerate launch`` the trainer stops (with a checkpoint) when the launcher dies."""
    if launched_by_accelerate():
        stop_with_parent()
    return main()


if __name__ == "__main__":
    sys.exit(cli())
