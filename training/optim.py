"""The optimizer and its schedule: AdamW without decay on biases and LayerNorm, linear warm-up and decay."""

from __future__ import annotations

from typing import Any

import torch
from transformers import get_linear_schedule_with_warmup


def _no_decay(name: str) -> bool:
    return any(k in name for k in ("bias", "LayerNorm", "layer_norm"))


def build_optimizer(model: torch.nn.Module, optim: dict[str, Any], total_steps: int,
                    head: torch.nn.Module | None = None) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW over two parameter groups (of ``model`` and an extra ``head``, if any) and a linear schedule
    warming up over ``warmup_ratio`` of the steps."""
    params = list(model.named_parameters()) + (list(head.named_parameters("head")) if head is not None else [])
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in params if not _no_decay(n)], "weight_decay": optim["weight_decay"]},
            {"params": [p for n, p in params if _no_decay(n)], "weight_decay": 0.0},
        ],
        lr=optim["lr"],
        eps=optim["adam_eps"],
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(optim["warmup_ratio"] * total_steps), total_steps)
    return optimizer, scheduler
