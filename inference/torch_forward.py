"""The torch backend of :class:`inference.SpanTagger`: a model's forward pass, numpy in and out.

torch is imported when an instance is made, so that the ONNX backend and the
CLI's argument checks never pay for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The re-check margin of bf16 prediction (:class:`TorchForward`). On the default run of 2026-12-02 native bf16
#: changed the spans of 5 of 327 train articles and 2 of 32 dev ones. A window is re-run in fp32 where a token whose
#: row the decoder reads (:func:`inference.alignment.read_tokens`) has its two likeliest tags within this margin of
#: each other. Chosen on train and dev alone, the smallest margin with the most articles identical: 0.01 left 323 of
#: 327 and 31 of 32, 0.015 and 0.02 325 and 32, 0.025 and 0.03 326 and 32.
RECHECK_MARGIN = 0.025


class TorchForward:
    """The torch backend: the model's forward pass under ``inference_mode``, in fp32 or bf16.

    With ``precision="bf16"`` the project's BERT (:class:`inference.bert.BertTagger`)
    is converted once, in place, to run natively in bf16
    (:meth:`~inference.bert.BertTagger.to_bf16`, ``native``); any other model
    runs under bf16 autocast. Either way the softmax, and any hidden states
    returned, are fp32. A bf16 window with a near tie (some real token whose two
    likeliest tags are within ``recheck`` of each other; only the tokens in
    ``read``, where the caller gives it) is run again in fp32, with the fp32
    path's own kernel (``rechecked`` counts them), since those are where bf16
    rounding can flip a span; other windows keep their bf16 rows.

    ``linear_kernel`` (see :mod:`inference.kernels`) picks the CPU products:
    fp32 ones by :func:`~inference.kernels.use_fast_linear`, native bf16 ones
    by :func:`~inference.kernels.use_bf16_linear`; under autocast the kernels
    are the default ones. ``self.linear_kernel`` is what was chosen (None off
    the CPU).
    """

    def __init__(self, model: Any, device: str | Any, precision: str = "fp32", linear_kernel: str = "default",
                 recheck: float | None = None) -> None:
        import copy

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
        #: bf16 windows whose closest call (top tag probability minus the next one, on a token the decoder
        #: reads, or on any real token without ``read``) is under this margin are run again in fp32, so that
        #: bf16 changes no span that rounding could flip.
        self.recheck = (RECHECK_MARGIN if recheck is None else recheck) if precision == "bf16" else 0.0
        #: The fp32 model of the re-check: the same module under autocast, an fp32 copy for native bf16.
        self.fp32_model = copy.deepcopy(self.model) if self.native and self.recheck > 0 else self.model
        self.windows = self.rechecked = 0  # counted, for benchmarks and the bf16 check
        kernel = None
        if self.native:
            if self.recheck > 0 and self.device.type == "cpu":  # the fp32 rows as the fp32 path computes them
                use_fast_linear(self.fp32_model, linear_kernel)
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

    #: When True, each token's row is its tag probabilities followed by a hidden state (for the linker).
    states = False
    #: Which hidden state :attr:`states` appends: an index into the model's ``hidden_states`` (0 the embeddings,
    #: -1 the last layer); the linker's ``state_layer``.
    state_layer = -1

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None,
                 read: np.ndarray | None = None) -> np.ndarray:
        """Each token's row, ``(batch, tokens, n_tags)`` (then the hidden state, with :attr:`states`).

        ``read`` (bool, the shape of ``input_ids``) marks the tokens whose rows
        reach the spans; the bf16 re-check looks for near ties only there
        (every real token where it is None).
        """
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        torch = self.torch
        with torch.inference_mode():
            tensors = {k: torch.from_numpy(v).to(self.device, non_blocking=True) for k, v in inputs.items()}
            with self._autocast(self.device.type, "fp32" if self.native else self.precision):
                probs = self._rows(self.model, tensors)
            self.windows += len(input_ids)
            if self.recheck > 0:
                top2 = probs[..., : self.n_tags].topk(2, dim=-1).values
                look = tensors["attention_mask"] != 0 if read is None else torch.from_numpy(read).to(self.device)
                margin = (top2[..., 0] - top2[..., 1]).masked_fill(~look, 1.0)
                redo = (margin.min(dim=1).values < self.recheck).nonzero().flatten()
                if len(redo):
                    self.rechecked += len(redo)
                    with self._autocast(self.device.type, "fp32"):
                        probs[redo] = self._rows(self.fp32_model, {k: v[redo] for k, v in tensors.items()})
            return probs.cpu().numpy()

    def _rows(self, model: Any, tensors: dict[str, Any]) -> Any:
        """Tag probabilities (then the :attr:`state_layer` hidden state, with :attr:`states`) of every token."""
        out = model(**tensors, output_hidden_states=self.states)
        probs = out.logits.float().softmax(-1)
        self.n_tags = probs.shape[-1]
        if self.states:
            probs = self.torch.cat([probs, out.hidden_states[self.state_layer].float()], dim=-1)
        return probs
