"""The run directory: every file a training run reads and writes, each written atomically.

    runs/NAME/config.yaml                 the run's config (a resume rewrites it only once it has started cleanly)
    runs/NAME/metrics.jsonl               one line per dev evaluation
    runs/NAME/checkpoints/step-NNNNNNN/   accelerate's save_state + run_state.json (the loop counters, JSON)
    runs/NAME/model.safetensors, tokenizer files, README.md, run.json, report/   the best model and its papers

A checkpoint is written as ``step-NNNNNNN.tmp`` and renamed when complete, so a
kill mid-save leaves a ``.tmp`` that ``--resume`` ignores and removes. Nothing in
a checkpoint is unpickled beyond tensors and plain containers: accelerate writes
the optimizer, scheduler and RNG states as torch pickles, so every such file is
first opened here with ``torch.load(weights_only=True)`` (which refuses any other
object before it is built), whatever the installed accelerate does with it next.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import platform
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from frontlines.inference.fileio import atomic_write_text, iter_jsonl, write_jsonl_atomic

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_NAME = re.compile(r"step-(\d{7})")
#: What accelerate's RNG file holds besides tensors: numpy's generator state (an array and its dtype).
_RNG_GLOBALS = [np.ndarray, np.dtype, type(np.dtype("uint32")), codecs.encode]
_RNG_GLOBALS.append((np._core if hasattr(np, "_core") else np.core).multiarray._reconstruct)


class RunDirError(Exception):
    """A run directory or checkpoint that cannot be used; the message names the file."""


@dataclass
class RunState:
    """Loop counters saved with every checkpoint as run_state.json."""

    epoch: int = 0
    batches_done: int = 0  # batches of the current epoch already trained on
    epoch_loss: float = 0.0  # sum of batch losses so far this epoch
    epoch_batches: int = 0
    global_step: int = 0  # optimizer steps
    best_f1: float = -1.0
    best_epoch: int = -1
    bad_evals: int = 0
    tokens: int = 0
    train_seconds: float = 0.0
    #: The linear kernel the run trains with (inference/kernels.py KERNELS), kept on resume; "" in checkpoints
    #: written before it was recorded (a resume then chooses by the rule).
    linear_kernel: str = ""

    def write(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), allow_nan=False) + "\n")

    @classmethod
    def read(cls, path: Path) -> RunState:
        """The state in ``path``; :class:`RunDirError` if it is missing, not JSON, or lacks a counter."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise RunDirError(f"{path}: unreadable loop state ({exc})") from None
        if not isinstance(data, dict):
            raise RunDirError(f"{path}: the loop state must be a JSON object")
        state = cls()
        for f in fields(cls):
            value = data.get(f.name)
            if f.type == "str":
                value = data.get(f.name, f.default)
                if value not in ("", "onednn", "onednn-forward", "default"):
                    raise RunDirError(f"{path}: {f.name!r} must be a linear kernel name, got {value!r}")
                setattr(state, f.name, value)
                continue
            kind = int if f.type == "int" else (int, float)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise RunDirError(f"{path}: {f.name!r} must be a number, got {value!r}")
            setattr(state, f.name, float(value) if f.type == "float" else value)
        return state


# --- where a run goes and where it resumes from ------------------------------------------


def locate_run(
    output_dir: str | None, config_path: str, resume: bool, resume_from: str | None, overwrite: bool
) -> tuple[Path, Path | None]:
    """The run directory and the checkpoint to resume from; refuses to clobber a run unless told."""
    if resume_from:
        checkpoint = Path(resume_from).resolve()
        if not (checkpoint / "run_state.json").is_file():
            raise RunDirError(f"{checkpoint} is not a checkpoint of this trainer (no run_state.json)")
        return (Path(output_dir) if output_dir else checkpoint.parent.parent), checkpoint
    out = Path(output_dir) if output_dir else ROOT / "runs" / Path(config_path).stem
    if out.exists() and not out.is_dir():
        raise RunDirError(f"output directory {out} is a file")
    if resume:
        checkpoints = complete_checkpoints(out)
        if not checkpoints:
            raise RunDirError(f"--resume: no complete checkpoint (step-NNNNNNN with run_state.json) under {out / 'checkpoints'}")
        return out, checkpoints[-1]
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RunDirError(f"output directory {out} already holds a run; use --resume or --overwrite")
    return out, None


# --- checkpoints -------------------------------------------------------------------------


def complete_checkpoints(out: Path) -> list[Path]:
    """``step-NNNNNNN`` directories holding a readable run_state.json, oldest first."""
    found = []
    for path in (out / "checkpoints").glob("step-*"):
        match = CHECKPOINT_NAME.fullmatch(path.name)
        if not match or not path.is_dir():
            continue
        try:
            RunState.read(path / "run_state.json")
        except RunDirError:
            continue
        found.append((int(match[1]), path))
    return [path for _, path in sorted(found)]


def remove_stale(out: Path) -> list[Path]:
    """Delete what a killed save leaves behind (``step-*.tmp``, ``.best.tmp``); return what went."""
    stale = sorted((out / "checkpoints").glob("step-*.tmp")) + sorted(out.glob(".best.tmp"))
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def save_checkpoint(accelerator: Any, state: RunState, out: Path, keep: int) -> Path:
    """save_state into ``step-N.tmp``, add run_state.json, rename: a crash never leaves half a checkpoint."""
    final = out / "checkpoints" / f"step-{state.global_step:07d}"
    tmp = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state.write(tmp / "run_state.json")  # last: its presence marks the directory complete
        if final.exists():
            shutil.rmtree(final)
        tmp.replace(final)
        for old in complete_checkpoints(out)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def verify_checkpoint(path: Path, process_index: int = 0) -> RunState:
    """Check every file of a checkpoint loads as data only (and is whole); return its loop state."""
    state = RunState.read(path / "run_state.json")
    legacy = sorted(path.glob("custom_checkpoint_*.pkl"))
    if legacy:
        raise RunDirError(
            f"{legacy[0]}: a pickled loop state from an older trainer, which this one never unpickles; "
            "delete the file to resume (run_state.json beside it holds the same counters)")
    needed = ["model.safetensors", "optimizer.bin", "scheduler.bin", f"random_states_{process_index}.pkl"]
    missing = [name for name in needed if not (path / name).is_file()]
    if missing:
        raise RunDirError(f"{path}: incomplete checkpoint, missing {', '.join(missing)}")
    from safetensors.torch import load_file

    for file in sorted(path.iterdir()):
        if file.suffix == ".safetensors":
            try:
                load_file(str(file))
            except Exception as exc:  # safetensors raises its own error types for every kind of damage
                raise RunDirError(f"{file}: unreadable or truncated safetensors file ({_first_line(exc)})") from None
        elif file.suffix in (".bin", ".pkl", ".pt", ".pth"):
            _load_weights_only(file)
    return state


def _load_weights_only(file: Path) -> None:
    import pickle

    try:
        with torch.serialization.safe_globals(_RNG_GLOBALS):
            torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise RunDirError(
            f"{file}: holds objects other than tensors and plain data; refusing to unpickle it "
            f"({_first_line(exc)})") from None
    except Exception as exc:  # truncated or corrupt archives surface as RuntimeError, EOFError, ValueError...
        raise RunDirError(f"{file}: unreadable or truncated checkpoint file ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    """The informative part of a long library message: torch's offending global, else the first sentence."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    named = [line for line in lines if "Unsupported global" in line or "Unsupported operand" in line]
    if named:
        return named[0].split(" We recommend")[0]
    return lines[0].split(". ")[0] if lines else type(exc).__name__


# --- the best model and the run's records ------------------------------------------------


def save_best_model(accelerator: Any, model: torch.nn.Module, tokenizer: Any, out: Path) -> None:
    """Write the model and tokenizer into the run root, each file replaced by a rename."""
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


def write_config(out: Path, config: dict[str, Any]) -> None:
    atomic_write_text(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))


def read_metrics(out: Path) -> list[dict[str, Any]]:
    """The evaluations in metrics.jsonl; a line cut by a kill is dropped."""
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    return [value for _, value, error in iter_jsonl(path) if error is None and isinstance(value, dict)]


def keep_metrics_until(out: Path, step: int) -> None:
    """Drop evaluations newer than the checkpoint a run resumes from."""
    if (out / "metrics.jsonl").exists():
        write_jsonl_atomic(out / "metrics.jsonl", [r for r in read_metrics(out) if r.get("step", 0) <= step])


def append_metrics(out: Path, record: dict[str, Any]) -> None:
    write_jsonl_atomic(out / "metrics.jsonl", [*read_metrics(out), record])


def write_run_json(out: Path, meta: dict[str, Any]) -> None:
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2) + "\n")


def corpus_sha256(paths: Sequence[str | Path]) -> str:
    """One digest of the corpus files' bytes, in order (relative paths from the project root)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update((ROOT / path if not Path(path).is_absolute() else Path(path)).read_bytes())
    return digest.hexdigest()


def run_metadata(
    config: dict[str, Any], accelerator: Any, state: RunState, wall: float, kernel: str
) -> dict[str, Any]:
    """What run.json records: code and data versions, hardware (and the kernel chosen for it), and how long it took."""
    import accelerate
    import datasets
    import transformers

    from frontlines.inference.precision import cpu_info, torch_capability

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "git_commit": commit,
        "corpus_sha256": corpus_sha256(config["data"]["corpus"]),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "accelerate": accelerate.__version__,
            "datasets": datasets.__version__,
        },
        "device": str(accelerator.device),
        "num_processes": accelerator.num_processes,
        "cpu": {**cpu_info().describe(), "torch_capability": torch_capability(),
                "mkldnn": bool(torch.backends.mkldnn.is_available())},
        "mixed_precision": accelerator.mixed_precision,
        "linear_kernel": kernel,
        "wall_seconds": round(wall, 1),
        "train_seconds": round(state.train_seconds, 1),
        "train_tokens": state.tokens,
        "tokens_per_second": round(state.tokens / state.train_seconds, 1) if state.train_seconds else None,
        "optimizer_steps": state.global_step,
        "best_epoch": state.best_epoch,
    }
