"""What this machine's CPU can do, and the precision prediction runs in.

CPU features are read from ``/proc/cpuinfo`` (the vendor and the kernel's
feature flags, the same ones oneDNN and MKL dispatch on); elsewhere (macOS,
Windows) the vendor is unknown and no flag is set, so every choice made from
them falls back to the safe one (fp32, default kernels).

Precision of the torch backend:

* ``"fp32"``: always.
* ``"bf16"``: matrix products in bf16, the softmax and the returned
  probabilities (and hidden states) in fp32. The project's BERT runs natively
  in bf16, its weights cast once at load time
  (:meth:`inference.bert.BertTagger.to_bf16`); other models run under
  ``torch.autocast(dtype=torch.bfloat16)`` (:func:`autocast`). Only where
  bf16 products are native: a CPU with ``avx512_bf16`` or ``amx_bf16``, or a
  CUDA GPU that supports bf16. Anywhere else bf16 is emulated (tens of times
  slower than fp32 on an AVX2 CPU) and refused.
* ``"auto"``: bf16 where it is native *and* the run directory's
  ``precision.json`` (written at the end of training by
  :func:`training.precision_check.check_bf16`) records that bf16 lost at most
  :data:`MAX_F1_LOSS` test micro-F1 against fp32 for these very weights
  (their SHA-256 is in the file), checked on the bf16 path that serves them
  (``bf16_path``: ``native`` or ``autocast``; files written before native
  bf16 have none, and are read as they are); fp32 otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16")
#: The check's file in a run directory.
PRECISION_FILE = "precision.json"
#: bf16 may lose at most this much test micro-F1 (0.3 points) against fp32 for ``auto`` to choose it.
MAX_F1_LOSS = 0.003
#: The flags that matter to the kernels and precisions chosen here (what the benchmarks print).
RELEVANT_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                  "amx_tile", "amx_bf16", "amx_int8")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's vendor (``AuthenticAMD``, ``GenuineIntel``, "" if unknown) and feature flags."""

    vendor: str
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        return any(f in self.flags for f in NATIVE_BF16_FLAGS)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: the vendor and which of :data:`RELEVANT_FLAGS` are present."""
        return {"vendor": self.vendor or None, "flags": [f for f in RELEVANT_FLAGS if f in self.flags]}


def parse_cpuinfo(text: str) -> CpuInfo:
    """The first processor's vendor and flags in the text of ``/proc/cpuinfo``."""
    vendor, flags = "", frozenset()
    for line in text.split("\n"):
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep:
            continue
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return CpuInfo(vendor, flags)


@functools.cache
def cpu_info() -> CpuInfo:
    """This machine's CPU (read once per process); unknown vendor and no flags where there is no /proc/cpuinfo."""
    try:
        return parse_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return CpuInfo("", frozenset())


def torch_capability() -> str:
    """The vector instructions torch's own CPU kernels use here (``AVX512``, ``AVX2``, ``DEFAULT``...)."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def native_bf16(device: str = "cpu", cpu: CpuInfo | None = None) -> bool:
    """Whether ``device`` multiplies bf16 matrices natively (rather than by emulation)."""
    kind = device.split(":")[0]
    if kind == "cpu":
        return (cpu or cpu_info()).native_bf16
    if kind == "cuda":
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return False


def weights_stat(model_dir: str | Path) -> list[list[Any]]:
    """``[name, size, mtime_ns]`` of each weight file: a cheap identity, checked before the digest."""
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(Path(model_dir).glob("model*.safetensors"))]


def weights_digest(model_dir: str | Path) -> str | None:
    """SHA-256 over the run's weight files (``model*.safetensors``, by name), None if there is none."""
    files = sorted(Path(model_dir).glob("model*.safetensors"))
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def recorded_check(model_dir: str | Path) -> tuple[bool, str]:
    """Whether ``model_dir/precision.json`` records a passed bf16 check for its current weights, and why not."""
    path = Path(model_dir) / PRECISION_FILE
    if not path.is_file():
        return False, f"no {PRECISION_FILE} (the bf16 check runs at the end of training)"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return False, f"{path}: unreadable ({exc})"
    if not isinstance(record, dict):
        return False, f"{path}: not a JSON object"
    fp32, bf16 = record.get("fp32_micro_f1"), record.get("bf16_micro_f1")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (fp32, bf16)):
        return False, f"{path}: no fp32_micro_f1 and bf16_micro_f1 numbers"
    if record.get("allowed") is not True or fp32 - bf16 > MAX_F1_LOSS:
        return False, f"{path}: bf16 lost {fp32 - bf16:.4f} micro-F1 (at most {MAX_F1_LOSS} allowed)"
    # the files the check saw, untouched since (no hashing, ~0.15 s for MiniLM), or else the same bytes
    if record.get("weights_stat") != weights_stat(model_dir) and record.get("weights_sha256") != weights_digest(model_dir):
        return False, f"{path}: checked other weights than the directory's model*.safetensors"
    return True, f"{path}: bf16 {bf16:.4f} vs fp32 {fp32:.4f} test micro-F1"


def choose_precision(requested: str, device: str, model_dir: str | Path | None,
                     cpu: CpuInfo | None = None) -> tuple[str, str]:
    """``("fp32" | "bf16", why)`` for a torch model on ``device`` from ``requested`` (see the module docstring).

    Raises ``ValueError`` for an unknown precision, or ``"bf16"`` where it is not native.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; expected one of {', '.join(PRECISIONS)}")
    if requested == "fp32":
        return "fp32", "asked for"
    native = native_bf16(device, cpu)
    if requested == "bf16":
        if not native:
            raise ValueError(f"precision bf16: {device} has no native bf16 matrix products (CPU flags "
                             f"{' or '.join(NATIVE_BF16_FLAGS)}, or a bf16 GPU); emulated, they would be "
                             "many times slower than fp32 (use --precision fp32 or auto)")
        return "bf16", "asked for"
    if not native:
        return "fp32", f"{device} has no native bf16"
    if model_dir is None:
        return "fp32", "no run directory, so no recorded bf16 check"
    passed, why = recorded_check(model_dir)
    return ("bf16" if passed else "fp32"), why


@contextlib.contextmanager
def autocast(device_type: str, precision: str) -> Iterator[None]:
    """``torch.autocast`` to bf16 for ``precision == "bf16"``, nothing for fp32."""
    if precision != "bf16":
        yield
        return
    import torch

    with torch.autocast(device_type, dtype=torch.bfloat16):
        yield
