"""oneDNN matrix products for ``nn.Linear`` layers on CPUs where they beat the default BLAS.

PyTorch's CPU wheels run ``nn.Linear`` through MKL. On AMD CPUs MKL does not
use its fastest code paths: on the project's 2-core AMD EPYC (AVX-512) an
fp32 ``(2048 x 384) @ (384 x 1536)`` took 12 ms through MKL and 6 ms through
oneDNN (``torch.ops.mkldnn._linear_pointwise``, the kernel torch.compile
itself emits for CPU linears), which made the MiniLM forward pass 1.7x and
an isolated training step 1.37x faster (1.14x over a whole
``scripts/bench_train.py`` run, where dropout masks take their share). Where
MKL is as fast, ``auto`` keeps it.

:func:`use_fast_linear` swaps a model's ``nn.Linear`` modules for
:class:`OneDNNLinear` (same parameters, same ``state_dict``, fp32 results
equal to rounding) when the kernel is there and, with ``"auto"``, only if a
quick timing on this machine shows it faster. Training uses it too: the
backward pass is two more oneDNN products. Anything that is not fp32 on the
CPU (GPUs, autocast) goes through ``F.linear`` as before.

Written here rather than taken from a library because the libraries that did
this (intel-extension-for-pytorch) are for Intel CPUs and far heavier than
one autograd function.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("auto", "onednn", "default")
#: ``auto`` switches only for a clear win: timings on a loaded machine wobble by a few percent.
AUTO_MIN_SPEEDUP = 1.15


def onednn_available() -> bool:
    """Whether this torch build has oneDNN and its linear kernel."""
    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _mm_t(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``a @ b.T + bias`` for 2-D fp32 CPU tensors, by oneDNN."""
    return torch.ops.mkldnn._linear_pointwise(a, b, bias, "none", [], "")


class _OneDNNLinearFunction(torch.autograd.Function):
    """``y = x W^T + b`` with the forward and both backward products run by oneDNN."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        x2 = x.reshape(-1, x.shape[-1])
        ctx.save_for_backward(x2, weight)
        ctx.input_shape = x.shape
        ctx.has_bias = bias is not None
        return _mm_t(x2, weight, bias).view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x2, weight = ctx.saved_tensors
        g2 = grad.reshape(-1, grad.shape[-1])
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:  # dL/dx = g W
            grad_x = _mm_t(g2, weight.t().contiguous()).view(ctx.input_shape)
        if ctx.needs_input_grad[1]:  # dL/dW = g^T x
            grad_w = _mm_t(g2.t().contiguous(), x2.t().contiguous())
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g2.sum(0)
        return grad_x, grad_w, grad_b


class OneDNNLinear(nn.Linear):
    """An ``nn.Linear`` whose fp32 CPU products run by oneDNN; anything else (and empty input) by ``F.linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32 or self.weight.dtype != torch.float32 or not x.numel():
            return F.linear(x, self.weight, self.bias)  # oneDNN refuses empty inputs
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return _OneDNNLinearFunction.apply(x, self.weight, self.bias)
        x2 = x.reshape(-1, x.shape[-1])
        return _mm_t(x2, self.weight, self.bias).view(*x.shape[:-1], self.out_features)


def _seconds(fn: Any, repeats: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def onednn_speedup(in_features: int = 384, out_features: int = 1536, rows: int = 2048) -> float:
    """How many times faster oneDNN runs an fp32 linear of this shape than ``F.linear`` here (~0.1 s)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(rows, in_features, generator=gen)
    w = torch.randn(out_features, in_features, generator=gen)
    b = torch.randn(out_features, generator=gen)
    with torch.no_grad():
        return _seconds(lambda: F.linear(x, w, b)) / _seconds(lambda: _mm_t(x, w, b))


def use_fast_linear(model: nn.Module, mode: str = "auto") -> bool:
    """Swap ``model``'s ``nn.Linear`` layers for :class:`OneDNNLinear` in place; True if it did.

    ``mode``: ``"onednn"`` always (if the kernel exists), ``"default"`` never,
    ``"auto"`` when the model is on the CPU and oneDNN is at least
    ``AUTO_MIN_SPEEDUP`` times faster on a linear of the model's own size.
    """
    if mode not in MODES:
        raise ValueError(f"unknown linear kernel {mode!r}; expected one of {MODES}")
    linears = [m for m in model.modules() if type(m) is nn.Linear]
    if mode == "default" or not linears or not onednn_available():
        return False
    if mode == "auto":
        if any(p.device.type != "cpu" for p in model.parameters()):
            return False
        widest = max(linears, key=lambda m: m.weight.numel())
        if onednn_speedup(widest.in_features, widest.out_features) < AUTO_MIN_SPEEDUP:
            return False
    for m in linears:
        m.__class__ = OneDNNLinear  # same parameters and state_dict; only forward differs
    return True
