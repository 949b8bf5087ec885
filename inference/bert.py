"""A BERT token classifier in plain torch, read from ``config.json`` and ``model.safetensors``.

Prediction with the torch backend used to build the model with
``transformers.AutoModelForTokenClassification``; importing transformers'
modelling code cost about two seconds of a one-article ``predict``. This
module is that model's inference path for ``model_type: bert`` (what training
saves from MiniLM): embeddings (word + token type + absolute position,
LayerNorm), ``num_hidden_layers`` layers of self-attention
(``scaled_dot_product_attention``, as transformers' default ``sdpa``) and
feed-forward, each closed by a residual LayerNorm with the config's
``layer_norm_eps``, the config's ``hidden_act``, and the token-classification
head. The parameters keep transformers' names, so ``model.safetensors`` loads
with ``load_state_dict``, and every product is an ``nn.Linear``, so the CPU
kernels of :mod:`inference.kernels` apply as before. Dropout is left out:
this module only predicts.

bf16 prediction runs this model natively (:meth:`BertTagger.to_bf16`, what
:class:`inference.torch_forward.TorchForward` does for ``precision="bf16"``)
rather than under autocast, which casts every fp32 weight to bf16 on every
call.

:func:`unsupported` says why a configuration is not one this module runs
(another ``model_type``, a decoder, relative positions, another activation,
no single ``model.safetensors``); :func:`inference.model_dir.load_torch_model`
hands those to transformers. A ``model.safetensors`` that lacks a tensor, or
holds one of the wrong shape, is refused, naming the file and the tensors:
transformers would fill them with random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_FILE = "model.safetensors"


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    """transformers' ``gelu_new`` (the tanh approximation, written out as it does)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


#: ``hidden_act`` values this module runs, each as transformers computes it.
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


@dataclass(frozen=True)
class BertSettings:
    """The parts of ``config.json`` the encoder is built from."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    num_labels: int

    @classmethod
    def of(cls, config: dict[str, Any]) -> BertSettings:
        return cls(
            vocab_size=int(config["vocab_size"]), hidden_size=int(config["hidden_size"]),
            num_hidden_layers=int(config["num_hidden_layers"]), num_attention_heads=int(config["num_attention_heads"]),
            intermediate_size=int(config["intermediate_size"]), hidden_act=str(config.get("hidden_act", "gelu")),
            max_position_embeddings=int(config.get("max_position_embeddings", 512)),
            type_vocab_size=int(config.get("type_vocab_size", 2)),
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)), num_labels=len(config["id2label"]),
        )


def unsupported(config: dict[str, Any], model_dir: str | Path) -> str | None:
    """Why this module cannot run the model of ``model_dir`` (whose ``config.json`` is ``config``); None if it can."""
    if config.get("model_type") != "bert":
        return f"model_type {config.get('model_type')!r} is not bert"
    if config.get("is_decoder") or config.get("add_cross_attention"):
        return "a decoder (is_decoder / add_cross_attention)"
    if config.get("position_embedding_type", "absolute") != "absolute":
        return f"position_embedding_type {config.get('position_embedding_type')!r}"
    if config.get("hidden_act", "gelu") not in ACTIVATIONS:
        return f"hidden_act {config.get('hidden_act')!r}"
    if config.get("dtype", config.get("torch_dtype")) not in (None, "float32"):
        return f"dtype {config.get('dtype', config.get('torch_dtype'))!r}"
    needed = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    if any(not isinstance(config.get(k), int) or isinstance(config.get(k), bool) or config[k] <= 0 for k in needed):
        return f"one of {', '.join(needed)} is not a positive integer"
    if config["hidden_size"] % config["num_attention_heads"]:
        return "hidden_size is not a multiple of num_attention_heads"
    if not (Path(model_dir) / WEIGHTS_FILE).is_file():
        return f"no single {WEIGHTS_FILE}"
    return None


class _Embeddings(nn.Module):
    def __init__(self, s: BertSettings) -> None:
        super().__init__()
        # given a (meta) weight, nn.Embedding skips its random init: on the meta device that init would import
        # torch._dynamo (0.4-1 s), and its values are replaced by the file's anyway
        self.word_embeddings = nn.Embedding(s.vocab_size, s.hidden_size, _weight=torch.empty(s.vocab_size, s.hidden_size))
        self.position_embeddings = nn.Embedding(s.max_position_embeddings, s.hidden_size,
                                                _weight=torch.empty(s.max_position_embeddings, s.hidden_size))
        self.token_type_embeddings = nn.Embedding(s.type_vocab_size, s.hidden_size,
                                                  _weight=torch.empty(s.type_vocab_size, s.hidden_size))
        self.LayerNorm = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(embeddings + self.position_embeddings(positions))


class _SelfAttention(nn.Module):
    def __init__(self, s: BertSettings) -> None:
        super().__init__()
        self.heads = s.num_attention_heads
        self.head_size = s.hidden_size // s.num_attention_heads
        self.query = nn.Linear(s.hidden_size, s.hidden_size)
        self.key = nn.Linear(s.hidden_size, s.hidden_size)
        self.value = nn.Linear(s.hidden_size, s.hidden_size)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        shape = (*hidden.shape[:-1], self.heads, self.head_size)
        q, k, v = (proj(hidden).view(shape).transpose(1, 2) for proj in (self.query, self.key, self.value))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.head_size ** -0.5)
        return out.transpose(1, 2).reshape(*hidden.shape[:-1], -1)


class _Residual(nn.Module):
    """``LayerNorm(dense(x) + residual)``: the close of both halves of a layer."""

    def __init__(self, inputs: int, s: BertSettings) -> None:
        super().__init__()
        self.dense = nn.Linear(inputs, s.hidden_size)
        self.LayerNorm = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _Attention(nn.Module):
    def __init__(self, s: BertSettings) -> None:
        super().__init__()
        self.self = _SelfAttention(s)
        self.output = _Residual(s.hidden_size, s)


class _Intermediate(nn.Module):
    def __init__(self, s: BertSettings) -> None:
        super().__init__()
        self.dense = nn.Linear(s.hidden_size, s.intermediate_size)
        self.act = ACTIVATIONS[s.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))

    def fuse_gelu(self) -> None:
        """Move the (exact) GELU into a :class:`inference.kernels.Bf16Linear` product, rounded once."""
        self.dense.fuse_gelu()
        self.act = _identity


class _Layer(nn.Module):
    def __init__(self, s: BertSettings) -> None:
        super().__init__()
        self.attention = _Attention(s)
        self.intermediate = _Intermediate(s)
        self.output = _Residual(s.intermediate_size, s)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        attended = self.attention.output(self.attention.self(hidden, mask), hidden)
        return self.output(self.intermediate(attended), attended)


class _Encoder(nn.Module):
    def __init__(self, s: BertSettings) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(s) for _ in range(s.num_hidden_layers))


class _Bert(nn.Module):
    def __init__(self, s: BertSettings) -> None:
        super().__init__()
        self.embeddings = _Embeddings(s)
        self.encoder = _Encoder(s)


@dataclass
class TaggerOutput:
    """What the tagger reads of transformers' ``TokenClassifierOutput``."""

    logits: torch.Tensor
    #: The embeddings' output and every layer's, with ``output_hidden_states`` (else None).
    hidden_states: tuple[torch.Tensor, ...] | None = None


class BertTagger(nn.Module):
    """``BertForTokenClassification``'s forward pass, for prediction: ``model(input_ids, attention_mask)``.

    Built by :func:`bert_from_tensors`: constructed directly, its embeddings
    are left uninitialised (they are meant to be replaced by a file's).
    """

    def __init__(self, settings: BertSettings) -> None:
        super().__init__()
        self.config = settings
        self.bert = _Bert(settings)
        self.classifier = nn.Linear(settings.hidden_size, settings.num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_hidden_states: bool = False) -> TaggerOutput:
        hidden = self.bert.embeddings(input_ids, token_type_ids)
        mask = None  # no padding: no mask, as transformers passes none then (and SDPA runs its fastest kernel)
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask.bool()[:, None, None, :]  # padding keys are never attended to
        states = [hidden] if output_hidden_states else None
        for layer in self.bert.encoder.layer:
            hidden = layer(hidden, mask)
            if states is not None:
                states.append(hidden)
        return TaggerOutput(self.classifier(hidden), tuple(states) if states is not None else None)

    def to_bf16(self, linear_kernel: str = "auto") -> str:
        """Run natively in bf16 from now on (in place, for prediction); return the kernel of the products.

        The encoder's linear layers (Q, K, V, the attention output, the
        feed-forward) become :class:`inference.kernels.Bf16Linear`: weights cast
        to bf16 once (and packed for oneDNN on a CPU, see
        :func:`inference.kernels.use_bf16_linear` for ``linear_kernel``), bf16
        products with bf16 outputs. So attention runs on bf16 queries, keys and
        values (its softmax accumulates in fp32 inside
        ``scaled_dot_product_attention``); the exact GELU (``hidden_act:
        gelu``) is applied inside the first feed-forward product, to its fp32
        sums, so they are rounded to bf16 once; each residual sum promotes the
        bf16 branch to the fp32 residual stream, so the LayerNorms, the
        embeddings and the classifier stay fp32, as do the logits and hidden
        states returned. Variants measured against fp32 on the default run are
        in the README ("bf16 prediction").
        """
        from frontlines.inference.kernels import use_bf16_linear

        kernel = use_bf16_linear(self, linear_kernel, keep=(self.classifier,))
        if self.config.hidden_act == "gelu":
            for layer in self.bert.encoder.layer:
                layer.intermediate.fuse_gelu()
        return kernel


def bert_from_tensors(config: dict[str, Any], tensors: dict[str, torch.Tensor], path: str | Path) -> BertTagger:
    """The model ``config`` (a ``config.json``, see :func:`unsupported`) describes, with the weights ``tensors``
    read from ``path`` (``safetensors.torch.load_file``), on the CPU, in eval mode.

    The module is built on the meta device and takes the tensors as its
    parameters, so no random initialisation is paid for and thrown away. A
    missing tensor, or one whose shape is not the config's, is a ``ValueError``
    naming ``path``; tensors the model does not use (a pooler) are left out.
    """
    with torch.device("meta"):
        model = BertTagger(BertSettings.of(config))
    tensors = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
               for k, v in tensors.items()}  # the names of old checkpoints, as transformers renames them
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    wrong = [f"{k} {tuple(tensors[k].shape)} (config.json: {tuple(v.shape)})" for k, v in expected.items()
             if k in tensors and tensors[k].shape != v.shape]
    if missing or wrong:
        problems = []
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            problems.append(f"missing {', '.join(missing[:5])}{more}")
        if wrong:
            problems.append(f"wrong shape: {', '.join(wrong[:5])}")
        raise ValueError(f"{path}: not the BertForTokenClassification that config.json describes "
                         f"({'; '.join(problems)})")
    model.load_state_dict({k: tensors[k].float() for k in expected}, assign=True)
    return model.eval()
