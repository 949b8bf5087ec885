"""oneDNN matrix products for ``nn.Linear`` layers, chosen from the CPU and the torch build, never by timing.

PyTorch's x86 CPU wheels run fp32 ``nn.Linear`` through MKL, which takes its
fastest code paths only on Intel CPUs. On AMD CPUs with AVX-512, oneDNN
(``torch.ops.mkldnn._linear_pointwise``) ran an fp32 ``(2048 x 384) @
(384 x 1536)`` faster: 2x on one 2-core EPYC (12 ms against 6 ms), 1.18x on
another (207 against 176 GFLOP/s). torch.compile does not do this for us:
inductor's CPU fusion packs fp32 linears into MKL's ``mkl._mkl_linear`` on
MKL builds, and emits ``_linear_pointwise`` only for bf16/fp16 weights
(autocast), aarch64/ACL, AOT or dynamic batch sizes (PyTorch's own tests
expect it only under bf16/fp16 autocast).

The choice, :func:`choose_kernel`, is a rule, so that two runs of one config
on one machine make the same one whatever the load (and give the same bits):

* not a CPU model, a torch build without oneDNN, a ``_linear_pointwise``
  whose signature is not the one this module calls, or one that fails the
  start-up self-test (:func:`onednn_works`): ``"default"``;
* an AMD CPU (``AuthenticAMD``) with ``avx512f``: ``"onednn"`` for
  prediction; for training ``"default"``. Two EPYC hosts with the same
  flags disagreed on training: the full oneDNN backward (``"onednn"``) ran
  1.14x the default kernels on the first and 0.80x on the second, and on a
  third (2026-12-01, ``scripts/bench_train.py --steps 20``) the default
  kernels ran 1,430 real tokens/s against 1,246 for ``"onednn"`` and 1,281
  for ``"onednn-forward"`` (oneDNN forward, ATen backward). No CPU flag tells
  these hosts apart, so training keeps the kernels that are never slower than
  themselves; both oneDNN variants stay opt-in;
* anything else (Intel, where MKL is at home; AMD without AVX-512; ARM):
  ``"default"``, as measured nowhere faster.

Swapped layers keep their parameters and ``state_dict``; fp32 results equal
``F.linear``'s to rounding. Anything that is not fp32 on the CPU (GPUs,
autocast, other dtypes, empty inputs) goes through ``F.linear``.

Native bf16 prediction (:func:`use_bf16_linear`, for :mod:`inference.bert`)
replaces linears by :class:`Bf16Linear`: the weights cast to bf16 once, and
on a CPU where oneDNN's bf16 product works (:func:`onednn_bf16_works`)
reordered once into oneDNN's own layout (``_reorder_linear_weight``) and
multiplied by ``_linear_pointwise`` (``"onednn"``); else ``F.linear`` on the
bf16 weights (``"default"``). ATen runs bf16 CPU products by oneDNN anyway,
reordering the weight on every call; packed once, the 6-layer MiniLM's
forward pass ran 1.06-1.08x faster than with ``F.linear`` on bf16 weights
(8 x 256 tokens, one thread, 2026-12-01), with the same results (equal to
the bit on the shapes tried).

Written here rather than taken from a library because the library that did
this (intel-extension-for-pytorch) is for Intel CPUs and far heavier than
one autograd function.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from frontlines.inference.precision import CpuInfo, cpu_info

MODES = ("auto", "onednn", "onednn-forward", "default")
#: What a mode resolves to: the names recorded in run.json, checkpoints and prediction state.
KERNELS = ("onednn", "onednn-forward", "default")
#: ``torch.ops.mkldnn._linear_pointwise``'s schema as this module calls it (torch 2.13's).
EXPECTED_SIGNATURE = ("mkldnn::_linear_pointwise(Tensor X, Tensor W, Tensor? B, str attr, Scalar?[] scalars, "
                      "str? algorithm) -> Tensor Y")


def onednn_available() -> bool:
    """Whether this torch build has oneDNN and a ``_linear_pointwise`` with the expected signature."""
    if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        return False
    try:
        signature = str(torch.ops.mkldnn._linear_pointwise.default._schema)
    except (AttributeError, RuntimeError):
        return False
    return signature == EXPECTED_SIGNATURE


def _mm_t(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None, gelu: str | None = None) -> torch.Tensor:
    """``a @ b.T + bias`` for fp32 CPU tensors (or bf16 ones, ``b`` packed), by oneDNN; then GELU if ``gelu``.

    ``gelu="gelu"`` is oneDNN's exact (erf) GELU post-op, applied to the sums before they are rounded.
    """
    if gelu is None:
        return torch.ops.mkldnn._linear_pointwise(a, b, bias, "none", [], "")
    return torch.ops.mkldnn._linear_pointwise(a, b, bias, gelu, [], "none")


@functools.cache
def onednn_works() -> bool:
    """The kernel exists and gives ``F.linear``'s results on small fp32 matrices.

    Once per process; as the first oneDNN call it also sets oneDNN up (30-50 ms
    here, which the first real product would otherwise pay).

    Any exception, or a result not ``allclose`` to ``F.linear``'s, and the
    swap is off: a private op may change meaning between torch releases.
    """
    if not onednn_available():
        return False
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(9, 24, generator=gen)
    w = torch.randn(16, 24, generator=gen)
    b = torch.randn(16, generator=gen)
    try:
        with torch.no_grad():
            cases = [(_mm_t(x, w, b), F.linear(x, w, b)), (_mm_t(x, w), F.linear(x, w)),
                     (_mm_t(x.t().contiguous(), x.t().contiguous()), x.t() @ x)]
            return all(got.shape == want.shape and bool(torch.allclose(got, want, rtol=1e-4, atol=1e-4))
                       for got, want in cases)
    except Exception:  # a changed op raises whatever its implementation raises
        return False


def choose_kernel(device_type: str = "cpu", training: bool = False, cpu: CpuInfo | None = None) -> str:
    """The kernel ``auto`` means here: the rule of the module docstring, from the CPU and the torch build."""
    cpu = cpu or cpu_info()
    if device_type != "cpu" or cpu.vendor != "AuthenticAMD" or "avx512f" not in cpu.flags:
        return "default"
    if not onednn_works():
        return "default"
    return "default" if training else "onednn"


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


class _OneDNNForwardFunction(_OneDNNLinearFunction):
    """The forward product by oneDNN, the backward ones by ATen's ``mm`` (strided views, no copies), as F.linear's."""

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x2, weight = ctx.saved_tensors
        g2 = grad.reshape(-1, grad.shape[-1])
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = g2.mm(weight).view(ctx.input_shape)
        if ctx.needs_input_grad[1]:
            grad_w = g2.t().mm(x2)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g2.sum(0)
        return grad_x, grad_w, grad_b


class OneDNNLinear(nn.Linear):
    """An ``nn.Linear`` whose fp32 CPU products run by oneDNN; anything else (and empty input) by ``F.linear``."""

    _function: Any = _OneDNNLinearFunction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type != "cpu" or x.dtype != torch.float32 or self.weight.dtype != torch.float32
                or not x.numel() or torch.is_autocast_enabled("cpu")):
            return F.linear(x, self.weight, self.bias)  # oneDNN refuses empty inputs; autocast casts F.linear
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return self._function.apply(x, self.weight, self.bias)
        x2 = x.reshape(-1, x.shape[-1])
        return _mm_t(x2, self.weight, self.bias).view(*x.shape[:-1], self.out_features)


class OneDNNForwardLinear(OneDNNLinear):
    """:class:`OneDNNLinear` with the backward products of ``F.linear`` (the ``"onednn-forward"`` kernel)."""

    _function = _OneDNNForwardFunction


_CLASSES = {"onednn": OneDNNLinear, "onednn-forward": OneDNNForwardLinear}


def use_fast_linear(model: nn.Module, mode: str = "auto", training: bool = False,
                    cpu: CpuInfo | None = None) -> str:
    """Give ``model``'s ``nn.Linear`` layers the kernel ``mode`` resolves to, in place; return its name.

    ``mode``: ``"auto"`` (:func:`choose_kernel`, for ``training`` or
    prediction), ``"onednn"``, ``"onednn-forward"`` or ``"default"``. A model
    off the CPU, or one with no linear layer, keeps the default kernels; so
    does one asked for oneDNN where :func:`onednn_works` says no (with a
    warning). The name returned is what ran, for run records.
    """
    if mode not in MODES:
        raise ValueError(f"unknown linear kernel {mode!r}; expected one of {MODES}")
    linears = [m for m in model.modules() if type(m) is nn.Linear]
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    kernel = choose_kernel("cpu" if on_cpu else "other", training, cpu) if mode == "auto" else mode
    if kernel == "default" or not linears or not on_cpu:
        return "default"
    if not onednn_works():
        warnings.warn(f"linear kernel {mode!r}: this torch build's oneDNN linear is missing, has another "
                      "signature or failed its self-test; using the default kernels", stacklevel=2)
        return "default"
    for m in linears:
        m.__class__ = _CLASSES[kernel]  # same parameters and state_dict; only forward (and backward) differ
    return kernel


#: ``torch.ops.mkldnn._reorder_linear_weight``'s schema as :class:`Bf16Linear` calls it (torch 2.13's).
EXPECTED_REORDER_SIGNATURE = "mkldnn::_reorder_linear_weight(Tensor self, int? batch_size=None) -> Tensor Y"


def _packed(weight: torch.Tensor) -> torch.Tensor:
    """A bf16 weight ``(out, in)`` in oneDNN's layout for ``_linear_pointwise`` (an opaque mkldnn tensor)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight)


@functools.cache
def onednn_bf16_works() -> bool:
    """oneDNN multiplies bf16 with packed weights here, giving ``F.linear``'s results on bf16 matrices.

    Once per process: the ops exist with the expected signatures, and a 2-D
    and a 3-D product, with and without a bias and with the GELU post-op, are
    ``allclose`` to ``F.linear`` (and ``F.gelu``) on the same bf16 values.
    """
    if not onednn_available() or not hasattr(torch.ops.mkldnn, "_reorder_linear_weight"):
        return False
    try:
        if str(torch.ops.mkldnn._reorder_linear_weight.default._schema) != EXPECTED_REORDER_SIGNATURE:
            return False
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(2, 9, 24, generator=gen).to(torch.bfloat16)
        w = torch.randn(16, 24, generator=gen).to(torch.bfloat16)
        b = torch.randn(16, generator=gen).to(torch.bfloat16)
        with torch.no_grad():
            cases = [(_mm_t(x[0], _packed(w), b), F.linear(x[0], w, b)), (_mm_t(x, _packed(w)), F.linear(x, w)),
                     (_mm_t(x, _packed(w), b, "gelu"), F.gelu(F.linear(x.float(), w.float(), b.float())))]
            return all(got.shape == want.shape and got.dtype == torch.bfloat16
                       and bool(torch.allclose(got.float(), want.float(), rtol=2e-2, atol=2e-2))
                       for got, want in cases)
    except Exception:  # a changed op, or a oneDNN without bf16, raises whatever it raises
        return False


class Bf16Linear(nn.Module):
    """``y = act(x W^T + b)`` in bf16 for prediction: W and b cast to bf16 once, any input cast to bf16, y in bf16.

    Made from an ``nn.Linear`` by :func:`use_bf16_linear`; ``packed``: W is
    held in oneDNN's layout and multiplied by oneDNN (CPU only), else by
    ``F.linear``. ``activation`` (None or ``"gelu"``, the exact erf GELU, set
    with :meth:`fuse_gelu`) is applied by oneDNN to the fp32 sums before they
    are rounded to bf16 (one rounding rather than two; ``F.gelu`` after
    ``F.linear`` where not packed). ``weight`` and ``bias`` are buffers: this
    layer does not train.
    """

    def __init__(self, linear: nn.Linear, packed: bool) -> None:
        super().__init__()
        self.in_features, self.out_features, self.packed = linear.in_features, linear.out_features, packed
        self.activation: str | None = None
        weight = linear.weight.detach().to(torch.bfloat16)
        self.register_buffer("weight", _packed(weight) if packed else weight)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to(torch.bfloat16))

    def fuse_gelu(self) -> None:
        """Apply the exact (erf) GELU to this layer's output, inside the product where it is oneDNN's."""
        self.activation = "gelu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.bfloat16)
        if not self.packed:
            y = F.linear(x, self.weight, self.bias)
            return F.gelu(y) if self.activation == "gelu" else y
        if not x.numel():  # oneDNN refuses empty inputs
            return x.new_zeros(*x.shape[:-1], self.out_features)
        return _mm_t(x, self.weight, self.bias, self.activation)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, packed={self.packed}, "
                f"activation={self.activation}")


def use_bf16_linear(model: nn.Module, mode: str = "auto", keep: tuple[nn.Module, ...] = ()) -> str:
    """Replace ``model``'s linear layers, but those in ``keep``, by :class:`Bf16Linear`, in place; return the kernel.

    ``mode`` (one of :data:`MODES`): ``"default"`` multiplies by ``F.linear``
    on bf16 weights; any other packs the weights for oneDNN where the model is
    on the CPU and :func:`onednn_bf16_works` (``"onednn"``), else falls back
    to ``"default"`` (with a warning where oneDNN was asked for by name).
    """
    if mode not in MODES:
        raise ValueError(f"unknown linear kernel {mode!r}; expected one of {MODES}")
    on_cpu = all(t.device.type == "cpu" for t in model.parameters())
    packed = mode != "default" and on_cpu and onednn_bf16_works()
    if mode in ("onednn", "onednn-forward") and not packed:
        warnings.warn(f"linear kernel {mode!r}: no working oneDNN bf16 product here (off the CPU, or this torch "
                      "build's is missing or failed its self-test); using F.linear on bf16 weights", stacklevel=2)
    kept = {id(m) for m in keep}
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and id(child) not in kept:
                setattr(parent, name, Bf16Linear(child, packed))
    return "onednn" if packed else "default"
