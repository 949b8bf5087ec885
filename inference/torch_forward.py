"""The torch backend of :class:`inference.SpanTagger`: a model's forward pass, numpy in and out.

torch is imported when an instance is made, so that the ONNX backend and the
CLI's argument checks never pay for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchForward:
    """The torch backend: the model's forward pass under ``inference_mode``, in fp32 or bf16.

    With ``precision="bf16"`` the project's BERT (:class:`inference.bert.BertTagger`)
    is converted once, in place, to run natively in bf16
    (:meth:`~inference.bert.BertTagger.to_bf16`, ``native``); any other model
    runs under bf16 autocast. Either way the softmax, and any hidden states
    returned, are fp32.

    ``linear_kernel`` (see :mod:`inference.kernels`) picks the CPU products:
    fp32 ones by :func:`~inference.kernels.use_fast_linear`, native bf16 ones
    by :func:`~inference.kernels.use_bf16_linear`; under autocast the kernels
    are the default ones. ``self.linear_kernel`` is what was chosen (None off
    the CPU).
    """

    def __init__(self, model: Any, device: str | Any, precision: str = "fp32", linear_kernel: str = "default") -> None:
        import torch

        from frontlines.inference.bert import BertTagger
        from frontlines.inference.kernels import use_fast_linear
        from frontlines.inference.precision import autocast

        if precision not in ("fp32", "bf16"):
            raise ValueError(f"unknown precision {precision!r}; expected fp32 or bf16")
        self.torch = torch
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.precision = precision
        #: True where bf16 runs natively (bf16 weights), False for fp32 and for bf16 under autocast.
        self.native = precision == "bf16" and isinstance(self.model, BertTagger)
        kernel = None
        if self.native:
            kernel = self.model.to_bf16(linear_kernel)
        elif self.device.type == "cpu":
            kernel = use_fast_linear(self.model, "default" if precision == "bf16" else linear_kernel)
        self.linear_kernel = kernel if self.device.type == "cpu" else None
        self._autocast = autocast
        self.threads = torch.get_num_threads()  # the caller's, shared out by start_stream

    def start_stream(self, streams: int) -> None:
        """Called in each of ``streams`` worker threads: give it its share of the CPU threads.

        torch keeps the thread count per calling thread, so this leaves the
        caller's own setting alone.
        """
        self.torch.set_num_threads(max(1, self.threads // streams))

    #: When True, each token's row is its tag probabilities followed by the last hidden state (for the linker).
    states = False

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None) -> np.ndarray:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        torch = self.torch
        with torch.inference_mode():
            tensors = {k: torch.from_numpy(v).to(self.device, non_blocking=True) for k, v in inputs.items()}
            with self._autocast(self.device.type, "fp32" if self.native else self.precision):
                out = self.model(**tensors, output_hidden_states=self.states)
            probs = out.logits.float().softmax(-1)
            if self.states:
                probs = torch.cat([probs, out.hidden_states[-1].float()], dim=-1)
            return probs.cpu().numpy()
