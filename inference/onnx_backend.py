"""ONNX export and an ONNX Runtime backend, for dynamic int8 inference on CPU.

Measured on the project's 2-core CPU, ONNX Runtime fp32 is slower than torch
but dynamic int8 is faster, so the int8 file is the point of this module. The
model must be exported with ``torch.onnx.export(..., dynamo=True)``: the
legacy TorchScript exporter produced wrong outputs for this model.

onnxruntime and onnx are optional dependencies (the ``onnx`` extra) and are
imported only when a function here needs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from frontlines.inference.fileio import atomic_path

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


def default_onnx_file(model_dir: str | Path) -> Path:
    """The int8 file of ``model_dir`` if exported, else the fp32 one; a clear error if neither."""
    base = Path(model_dir) / ONNX_DIR
    for name in (INT8_FILE, FP32_FILE):
        if (base / name).is_file():
            return base / name
    raise FileNotFoundError(
        f"{base}: no {INT8_FILE} or {FP32_FILE}; export one first: "
        f"python -m inference export-onnx --model {model_dir} --quantize int8"
    )


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the onnx backend needs onnxruntime: pip install 'frontlines[onnx]'") from exc
    return onnxruntime


class OnnxForward:
    """The onnx backend: an ONNX Runtime session returning tag probabilities."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        ort = _import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.uses_token_type_ids = "token_type_ids" in self.input_names
        #: Files exported with a ``hidden`` output (the last hidden state) can serve the event linker; newer
        #: exports also carry each earlier layer's as ``hidden_{i}`` (0: the embeddings), for linkers that read
        #: a middle layer (``state_layer`` in ``linker.json``).
        self.outputs = {o.name for o in self.session.get_outputs()}
        self.has_states = "hidden" in self.outputs
        self.states = False
        self.state_layer = -1

    def state_output(self, layer: int) -> str | None:
        """The output holding hidden state ``layer`` (an index into ``hidden_states``), None if not exported."""
        if layer == -1:
            return "hidden" if self.has_states else None
        name = f"hidden_{layer}"
        if name in self.outputs:
            return name
        # the last layer is exported once, as "hidden": it is the layer after the highest hidden_{i}
        last = 1 + max((int(n[7:]) for n in self.outputs if n.startswith("hidden_") and n[7:].isdigit()), default=-2)
        return "hidden" if self.has_states and layer == last else None

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray | None) -> np.ndarray:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.uses_token_type_ids:
            feed["token_type_ids"] = token_type_ids if token_type_ids is not None else np.zeros_like(input_ids)
        names = ["logits"]
        if self.states:
            name = self.state_output(self.state_layer)
            if name is None:
                raise ValueError(f"{self.path}: no hidden state of layer {self.state_layer}, which this event linker "
                                 "reads; re-export the ONNX file with export-onnx")
            names.append(name)
        outputs = self.session.run(names, {k: v for k, v in feed.items() if k in self.input_names})
        logits = outputs[0].astype(np.float32, copy=False)
        logits -= logits.max(-1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(-1, keepdims=True)
        if self.states:
            return np.concatenate([logits, outputs[1].astype(np.float32, copy=False)], axis=-1)
        return logits


def feed_forward_outputs(path: str | Path, intermediate_size: int) -> list[str]:
    """Names of the MatMul nodes whose weight maps ``intermediate_size`` features back down."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    down = {i.name for i in graph.initializer if len(i.dims) == 2 and i.dims[0] == intermediate_size}
    return [n.name for n in graph.node if n.op_type == "MatMul" and len(n.input) == 2 and n.input[1] in down]


def export_onnx(
    model_dir: str | Path,
    output_dir: str | Path | None = None,
    quantize: str | None = None,
    overwrite: bool = False,
    opset: int = 18,
) -> list[Path]:
    """Export ``model_dir`` to ``output_dir/model.onnx`` (default ``model_dir/onnx``).

    With ``quantize="int8"`` also writes ``model.int8.onnx``, weights
    quantized to int8 with ONNX Runtime's dynamic quantization. Returns the
    files written. Existing files are kept unless ``overwrite``.
    """
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    if quantize not in (None, "int8"):
        raise ValueError(f"unknown quantization {quantize!r}; expected 'int8'")
    out = Path(output_dir) if output_dir is not None else Path(model_dir) / ONNX_DIR
    fp32, int8 = out / FP32_FILE, out / INT8_FILE
    targets = [fp32] + ([int8] if quantize else [])
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(map(str, existing))} already exist(s); pass --overwrite to replace")
    out.mkdir(parents=True, exist_ok=True)

    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names]

    class Logits(torch.nn.Module):
        """The model with plain positional inputs; outputs ``logits``, ``hidden`` (the last hidden state) and
        ``hidden_0`` ... (the embeddings' and each earlier layer's): the event linker reads one of them."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
        ) -> tuple[torch.Tensor, ...]:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            out = self.model(**{n: inputs[n] for n in names}, output_hidden_states=True)
            return (out.logits, out.hidden_states[-1], *out.hidden_states[:-1])

    sample = tokenizer(["an example sentence to trace", "and a second, longer one to trace with"], padding=True,
                       return_tensors="pt")
    args = tuple(sample[n] for n in names)
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    dynamic = {n: {0: batch, 1: length} for n in names}
    with torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(
            Logits().eval(), args, input_names=names, dynamic_shapes=dynamic,
            output_names=["logits", "hidden", *(f"hidden_{i}" for i in range(model.config.num_hidden_layers))],
            opset_version=opset, dynamo=True, external_data=False, verbose=False,
        )
    with atomic_path(fp32, suffix=".onnx") as tmp:
        program.save(str(tmp))
    written = [fp32]
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel scales and 7-bit weights (reduce_range): on CPUs without VNNI,
        # full-range int8 saturates; it cost the first default model 2 F1 points on the test split.
        # The feed-forward output products stay fp32: their inputs (GELU outputs) have outliers
        # that one activation scale per tensor handles badly. Quantizing them too cost a later
        # default model 0.3 dev / 0.7 test F1 points; keeping them fp32, the int8 model is within
        # 0.2 points of fp32 on both splits, for 16% more time.
        with atomic_path(int8, suffix=".onnx") as tmp:
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                             nodes_to_exclude=feed_forward_outputs(fp32, getattr(model.config, "intermediate_size", -1)))
        written.append(int8)
    return written
