"""oneDNN linear layers: the same numbers and gradients as nn.Linear, chosen by a rule from the CPU, never by timing."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertForTokenClassification

import frontlines.inference.kernels as kernels
from frontlines.inference.kernels import (
    Bf16Linear,
    OneDNNForwardLinear,
    OneDNNLinear,
    choose_kernel,
    onednn_available,
    onednn_bf16_works,
    onednn_works,
    use_bf16_linear,
    use_fast_linear,
)
from frontlines.inference.precision import CpuInfo, parse_cpuinfo

needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this torch build has no oneDNN linear kernel")


def _tiny_bert(**kw) -> BertForTokenClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=9, **kw)
    return BertForTokenClassification(config)


AMD_AVX512 = CpuInfo("AuthenticAMD", frozenset({"avx2", "fma", "avx512f", "avx512bw", "avx512_bf16"}))


@needs_onednn
@pytest.mark.parametrize("cls", [OneDNNLinear, OneDNNForwardLinear])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (0, 7), (2, 0, 7)])
def test_forward_and_gradients_match_nn_linear(shape, bias, cls):
    torch.manual_seed(1)
    reference = nn.Linear(7, 4, bias=bias)
    fast = copy.deepcopy(reference)
    fast.__class__ = cls
    x = torch.randn(*shape, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    out, out_ref = fast(x), reference(x_ref)
    assert out.shape == out_ref.shape
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    weights = torch.randn(out.shape)  # a loss whose gradient is not all ones
    (out * weights).sum().backward()
    (out_ref * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.weight.grad, reference.weight.grad, rtol=1e-5, atol=1e-5)
    if bias:
        torch.testing.assert_close(fast.bias.grad, reference.bias.grad, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_frozen_weights_and_inputs_get_only_the_gradients_asked_for():
    torch.manual_seed(2)
    layer = nn.Linear(6, 3)
    layer.__class__ = OneDNNLinear
    layer.weight.requires_grad_(False)
    x = torch.randn(4, 6, requires_grad=True)
    layer(x).sum().backward()
    assert layer.weight.grad is None and layer.bias.grad is not None and x.grad is not None
    with torch.no_grad():  # the inference path: no autograd function at all
        assert layer(torch.randn(4, 6)).grad_fn is None


def test_other_dtypes_fall_back_to_f_linear():
    layer = nn.Linear(6, 3).double()
    layer.__class__ = OneDNNLinear
    x = torch.randn(2, 6, dtype=torch.float64)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))


@needs_onednn
def test_swapped_model_keeps_its_state_dict_outputs_and_gradients():
    reference = _tiny_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    fast = copy.deepcopy(reference)
    assert use_fast_linear(fast, "onednn") == "onednn"
    linears = [m for m in fast.modules() if isinstance(m, nn.Linear)]
    assert linears and all(type(m) is OneDNNLinear for m in linears)
    assert list(fast.state_dict()) == list(reference.state_dict())
    ids = torch.randint(0, 100, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    labels = torch.randint(0, 9, (3, 11))
    loss = fast(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss_ref = reference(input_ids=ids, attention_mask=mask, labels=labels).loss
    torch.testing.assert_close(loss, loss_ref, rtol=1e-5, atol=1e-6)
    loss.backward()
    loss_ref.backward()
    grads = dict(reference.named_parameters())
    for name, p in fast.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-4, atol=1e-6, msg=name)


def test_default_mode_changes_nothing_and_bad_modes_fail():
    model = _tiny_bert()
    assert use_fast_linear(model, "default") == "default"
    assert all(type(m) is not OneDNNLinear for m in model.modules())
    with pytest.raises(ValueError, match="unknown linear kernel 'mkl'"):
        use_fast_linear(model, "mkl")


def test_autocast_goes_through_f_linear():
    """Under bf16 autocast the oneDNN fp32 product would silently bypass the cast: F.linear takes it."""
    layer = nn.Linear(6, 3)
    layer.__class__ = OneDNNLinear
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.randn(2, 6)).dtype == torch.bfloat16


FAKE_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_vnni

processor\t: 1
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 fma avx512f avx512bw avx512vl avx512_bf16 avx512_vnni
"""


@pytest.mark.parametrize(("vendor", "flags", "device", "training", "expected"), [
    ("AuthenticAMD", {"avx2", "avx512f"}, "cpu", False, "onednn"),
    ("AuthenticAMD", {"avx2", "avx512f"}, "cpu", True, "default"),  # training: no flag tells the EPYC hosts apart
    ("AuthenticAMD", {"avx2", "fma"}, "cpu", False, "default"),  # Zen 2/3: no AVX-512
    ("GenuineIntel", {"avx2", "avx512f", "amx_bf16"}, "cpu", False, "default"),  # MKL's home
    ("", set(), "cpu", False, "default"),  # no /proc/cpuinfo (macOS, Windows)
    ("AuthenticAMD", {"avx2", "avx512f"}, "cuda", False, "default"),
])
def test_kernel_choice_is_a_rule_of_the_cpu_flags(vendor, flags, device, training, expected, monkeypatch):
    monkeypatch.setattr(kernels, "onednn_works", lambda: True)
    cpu = CpuInfo(vendor, frozenset(flags))
    assert {choose_kernel(device, training, cpu) for _ in range(5)} == {expected}


def test_kernel_choice_reads_proc_cpuinfo_and_never_times_anything(monkeypatch):
    cpu = parse_cpuinfo(FAKE_CPUINFO)
    assert cpu.vendor == "AuthenticAMD" and "avx512f" in cpu.flags and cpu.native_bf16
    assert cpu.describe()["flags"] == ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"]

    def no_clock():
        raise AssertionError("the kernel choice must not time anything")

    monkeypatch.setattr("time.perf_counter", no_clock)
    monkeypatch.setattr(kernels, "onednn_works", lambda: True)
    model = _tiny_bert()
    assert use_fast_linear(model, "auto", cpu=cpu) == "onednn"
    assert type(model.classifier) is OneDNNLinear
    trained = _tiny_bert()
    assert use_fast_linear(trained, "auto", training=True, cpu=cpu) == "default"
    assert type(trained.classifier) is torch.nn.Linear
    intel = _tiny_bert()
    assert use_fast_linear(intel, "auto", cpu=CpuInfo("GenuineIntel", cpu.flags)) == "default"
    assert all(type(m) is nn.Linear for m in intel.modules() if isinstance(m, nn.Linear))


def test_self_test_passes_on_this_build():
    assert onednn_works() == onednn_available()


@pytest.mark.parametrize("broken", ["wrong", "raises"])
def test_a_broken_kernel_fails_the_self_test_and_falls_back_to_f_linear(broken, monkeypatch):
    def wrong(a, b, bias=None):
        return F.linear(a, b, bias) + 1.0

    def raises(a, b, bias=None):
        raise RuntimeError("mkldnn::_linear_pointwise: unexpected argument")

    monkeypatch.setattr(kernels, "onednn_available", lambda: True)
    monkeypatch.setattr(kernels, "_mm_t", {"wrong": wrong, "raises": raises}[broken])
    kernels.onednn_works.cache_clear()
    try:
        assert onednn_works() is False
        assert choose_kernel("cpu", False, AMD_AVX512) == "default"
        model = _tiny_bert()
        with pytest.warns(UserWarning, match="failed its self-test"):
            assert use_fast_linear(model, "onednn") == "default"
        assert all(type(m) is nn.Linear for m in model.modules() if isinstance(m, nn.Linear))
    finally:
        kernels.onednn_works.cache_clear()


def test_a_changed_signature_is_not_used(monkeypatch):
    monkeypatch.setattr(kernels, "EXPECTED_SIGNATURE", "mkldnn::_linear_pointwise(Tensor X) -> Tensor Y")
    kernels.onednn_works.cache_clear()
    try:
        assert onednn_available() is False and onednn_works() is False
    finally:
        kernels.onednn_works.cache_clear()


# ---- native bf16 products ------------------------------------------------------


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("shape", [(5, 24), (2, 3, 24), (0, 24)])
def test_bf16_linear_is_f_linear_on_bf16_values(packed, shape):
    if packed and not onednn_bf16_works():
        pytest.skip("no working oneDNN bf16 product here")
    gen = torch.Generator().manual_seed(0)
    linear = nn.Linear(24, 16)
    x = torch.randn(shape, generator=gen)  # fp32 in: the layer casts it
    layer = Bf16Linear(linear, packed)
    assert layer.weight.dtype == layer.bias.dtype == torch.bfloat16 and linear.weight.dtype == torch.float32
    sums = F.linear(x.bfloat16().float(), linear.weight.bfloat16().float(), linear.bias.bfloat16().float())
    want = F.linear(x.bfloat16(), linear.weight.bfloat16(), linear.bias.bfloat16())
    with torch.inference_mode():
        got = layer(x)
        layer.fuse_gelu()
        activated = layer(x)
    assert got.dtype == activated.dtype == torch.bfloat16 and got.shape == activated.shape == (*shape[:-1], 16)
    # bf16 results: 8 significant bits, so within 2**-8 of the exact sums (plus the summation's rounding)
    assert torch.allclose(got.float(), want.float(), rtol=2 ** -7, atol=1e-2)
    assert torch.allclose(activated.float(), F.gelu(sums), rtol=2 ** -7, atol=1e-2)


def test_bf16_linears_keep_what_they_are_told_and_fall_back_without_onednn(monkeypatch):
    model = _tiny_bert()
    kind = "onednn" if onednn_bf16_works() else "default"
    assert use_bf16_linear(model, "auto", keep=(model.classifier,)) == kind
    assert type(model.classifier) is nn.Linear and model.classifier.weight.dtype == torch.float32
    swapped = [m for m in model.modules() if isinstance(m, Bf16Linear)]
    assert len(swapped) == 2 * 6 and all(m.packed is (kind == "onednn") for m in swapped)

    monkeypatch.setattr(kernels, "onednn_bf16_works", lambda: False)
    with pytest.warns(UserWarning, match="no working oneDNN bf16 product"):
        assert use_bf16_linear(_tiny_bert(), "onednn") == "default"
    plain = _tiny_bert()
    assert use_bf16_linear(plain, "default") == "default"  # asked for: F.linear on bf16 weights, no warning
    assert not any(m.packed for m in plain.modules() if isinstance(m, Bf16Linear))
    with pytest.raises(ValueError, match="unknown linear kernel"):
        use_bf16_linear(plain, "mkl")


def test_a_wrong_bf16_kernel_fails_its_self_test(monkeypatch):
    monkeypatch.setattr(kernels, "_mm_t", lambda a, b, bias=None, gelu=None: a.new_zeros(*a.shape[:-1], b.shape[0]))
    kernels.onednn_bf16_works.cache_clear()
    try:
        assert onednn_bf16_works() is False
    finally:
        kernels.onednn_bf16_works.cache_clear()
