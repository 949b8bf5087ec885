"""oneDNN linear layers: the same numbers and gradients as nn.Linear, swapped in only when asked."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertForTokenClassification

from inference.kernels import OneDNNLinear, onednn_available, onednn_speedup, use_fast_linear

needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this torch build has no oneDNN linear kernel")


def _tiny_bert(**kw) -> BertForTokenClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=9, **kw)
    return BertForTokenClassification(config)


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (0, 7), (2, 0, 7)])
def test_forward_and_gradients_match_nn_linear(shape, bias):
    torch.manual_seed(1)
    reference = nn.Linear(7, 4, bias=bias)
    fast = copy.deepcopy(reference)
    fast.__class__ = OneDNNLinear
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
    assert use_fast_linear(fast, "onednn") is True
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
    assert use_fast_linear(model, "default") is False
    assert all(type(m) is not OneDNNLinear for m in model.modules())
    with pytest.raises(ValueError, match="unknown linear kernel 'mkl'"):
        use_fast_linear(model, "mkl")


@needs_onednn
def test_auto_mode_follows_the_timing(monkeypatch):
    import inference.kernels as kernels

    monkeypatch.setattr(kernels, "onednn_speedup", lambda *a, **k: 1.0)
    slow = _tiny_bert()
    assert use_fast_linear(slow, "auto") is False
    monkeypatch.setattr(kernels, "onednn_speedup", lambda *a, **k: 2.0)
    fast = _tiny_bert()
    assert use_fast_linear(fast, "auto") is True
    assert type(fast.classifier) is OneDNNLinear


def test_speedup_is_the_best_default_time_over_the_best_onednn_time(monkeypatch):
    """On a fake clock: a warm-up call each, then the fastest of three timed calls, default over oneDNN."""
    import inference.kernels as kernels

    clock = [0.0]
    seconds = {"default": [5.0, 4.0, 2.0, 3.0], "onednn": [9.0, 1.0, 0.5, 2.0]}  # the first call is the warm-up

    def costs(kind, real):
        def run(*args):
            clock[0] += seconds[kind].pop(0)
            return real(*args)
        return run

    monkeypatch.setattr(kernels, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(kernels, "F", SimpleNamespace(linear=costs("default", F.linear)))
    monkeypatch.setattr(kernels, "_mm_t", costs("onednn", F.linear))
    assert onednn_speedup(16, 32, rows=64) == 2.0 / 0.5
    assert seconds == {"default": [], "onednn": []}
