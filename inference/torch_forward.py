"""The torch backend of :class:`inference.SpanTagger`: a model's forward pass, numpy in and out.

torch is imported when an instance is made, so that the ONNX backend and the
CLI's argument checks never pay for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class TorchForward:
    """The torch backend: the model's forward pass under ``inference_mode``, in fp32 or under bf16 autocast.

    With ``precision="bf16"`` only the model runs under autocast: the logits
    are cast back and the softmax (and any hidden states returned) are fp32.
    """

    def __init__(self, model: Any, device: str | Any, precision: str = "fp32") -> None:
        import torch

        from frontlines.inference.precision import autocast

        if precision not in ("fp32", "bf16"):
            raise ValueError(f"unknown precision {precision!r}; expected fp32 or bf16")
        self.torch = torch
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.precision = precision
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
            with self._autocast(self.device.type, self.precision):
                out = self.model(**tensors, output_hidden_states=self.states)
            probs = out.logits.float().softmax(-1)
            if self.states:
                probs = torch.cat([probs, out.hidden_states[-1].float()], dim=-1)
            return probs.cpu().numpy()
