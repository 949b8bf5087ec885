"""What the benchmarks measure against: this CPU's features and its FLOP-bound ceiling for a BERT.

The ceiling is the model's matrix-product FLOPs per token against this
machine's measured ``F.linear`` GFLOP/s on a MiniLM-sized product
(2048 x 384 x 1536), in fp32 and in bf16 (emulated where the CPU has no
native bf16, and labelled so). A run's fraction of it is how much of the
machine's product speed reaches the user as article tokens: element-wise
ops, attention's softmax, tokenization, decoding and padding are all in the
gap.
"""

from __future__ import annotations

import time
from typing import Any

#: The shape timed: (rows, in_features, out_features) of MiniLM's FFN product at 8 windows of 256.
SHAPE = (2048, 384, 1536)


def cpu_line() -> str:
    """One line: vendor, the flags that matter, torch's capability, oneDNN, threads."""
    import torch

    from frontlines.inference.precision import cpu_info, torch_capability

    cpu = cpu_info().describe()
    return (f"CPU {cpu['vendor'] or 'unknown vendor'}; flags: {' '.join(cpu['flags']) or 'none of note'}; "
            f"torch {torch.__version__} capability {torch_capability()}, oneDNN "
            f"{'yes' if torch.backends.mkldnn.is_available() else 'no'}, {torch.get_num_threads()} thread(s); "
            f"native bf16: {'yes' if cpu_info().native_bf16 else 'no'}")


def matmul_gflops(dtype: Any, seconds: float = 0.4, shape: tuple[int, int, int] = SHAPE) -> float:
    """Best measured GFLOP/s of ``F.linear`` in ``dtype`` on ``shape`` over about ``seconds``."""
    import torch
    import torch.nn.functional as F

    rows, k, n = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(rows, k, generator=gen).to(dtype)
    w = torch.randn(n, k, generator=gen).to(dtype)
    best, spent = float("inf"), 0.0
    with torch.inference_mode():
        F.linear(x, w)
        while spent < seconds or best == float("inf"):
            start = time.perf_counter()
            F.linear(x, w)
            took = time.perf_counter() - start
            best, spent = min(best, took), spent + took
    return 2 * rows * k * n / best / 1e9


def peaks(seconds: float = 0.4) -> dict[str, float]:
    """``{"fp32": GFLOP/s, "bf16": GFLOP/s}`` measured here."""
    import torch

    return {"fp32": matmul_gflops(torch.float32, seconds), "bf16": matmul_gflops(torch.bfloat16, seconds)}


def forward_flops_per_token(config: Any, length: float) -> float:
    """Matrix-product FLOPs of one token's forward pass through a BERT of ``config`` in windows of ``length``.

    Per layer: Q, K, V and the output projection (4 h^2), the feed-forward
    (2 h i), attention scores and their weighted sum (2 L h); times 2 for
    multiply-add; plus the classifier.
    """
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    labels = getattr(config, "num_labels", 9)
    return 2 * (layers * (4 * h * h + 2 * h * i + 2 * length * h) + h * labels)


def describe_peaks(peak: dict[str, float], native_bf16: bool) -> str:
    return (f"matmul {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s "
            f"({peak['bf16'] / peak['fp32']:.2f}x{'' if native_bf16 else ', emulated'})")
