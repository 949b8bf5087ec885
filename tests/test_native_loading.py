"""Prediction without transformers: the tokenizers-only tokenizer, the plain-torch BERT, and the imports of a run.

The reference is what transformers gives for the same directory: the same
windows (ids, offsets, sequence ids, overflow), the same logits (fp32 to
1e-5) and the same spans, in fp32 and under bf16 autocast.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from transformers import (
    BertConfig,
    BertForTokenClassification,
    DistilBertConfig,
    DistilBertForTokenClassification,
    PreTrainedTokenizerFast,
)

from frontlines.inference import SpanTagger
from frontlines.inference.bert import BertTagger, unsupported
from frontlines.inference.cli import main
from frontlines.inference.labels import ID2TAG, TAG2ID, TAGS
from frontlines.inference.model_dir import load_tokenizer, load_torch_model
from frontlines.inference.precision import autocast
from frontlines.inference.tokenizer import WindowTokenizer
from frontlines.inference.torch_forward import TorchForward

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "Taliban fighters took Kamal Pasha,\r\nthen 😀 kamal-pasha fell; Kamalabad did not.",
    "", " \t ", "[CLS] the [SEP] tokens [PAD] as text", "Sa’dah, re-taking U.S.-backed Iraq’s Albu Kamal",
    "zero\u200bwidth and \u0301combining and ﬁ ligatures", "word " * 300,
    "IS (Daesh) retook more than 40 percent of the town of Albu Kamal. " * 12,
]


def _bert(tokenizer, directory: Path, seed: int = 0, **kw) -> Path:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, num_labels=len(TAGS), id2label=ID2TAG, label2id=TAG2ID, **kw)
    BertForTokenClassification(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def bert_dir(tokenizer, tmp_path_factory) -> Path:
    return _bert(tokenizer, tmp_path_factory.mktemp("bert"))


def _windows(enc, key: str) -> list:
    return [[tuple(x) for x in row] if key == "offset_mapping" else row for row in enc[key]] if key in enc else None


# ---- the tokenizer ----------------------------------------------------------


@pytest.mark.parametrize("max_length,stride", [(16, 4), (32, 8), (256, 64)])
def test_windows_are_transformers_windows(bert_dir, max_length, stride):
    ours, theirs = load_tokenizer(bert_dir), PreTrainedTokenizerFast.from_pretrained(bert_dir)
    assert isinstance(ours, WindowTokenizer)
    assert (ours.pad_token_id, ours.num_special_tokens_to_add(), ours.model_input_names) == (
        theirs.pad_token_id, theirs.num_special_tokens_to_add(pair=False), list(theirs.model_input_names))
    kw = dict(truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True,
              return_offsets_mapping=True, padding=False)
    a, b = ours(TEXTS, **kw), theirs(TEXTS, **kw)
    assert sorted(a) == sorted(b)
    for key in b:
        assert _windows(a, key) == _windows(b, key), key
    assert [a.sequence_ids(w) for w in range(len(a["input_ids"]))] == [
        b.sequence_ids(w) for w in range(len(b["input_ids"]))]
    assert len(a["input_ids"]) > len(TEXTS)  # the long texts overflow into several windows
    assert ours(TEXTS, add_special_tokens=False)["input_ids"] == theirs(TEXTS, add_special_tokens=False)["input_ids"]


_LOADED: dict[Path, tuple] = {}


def _tokenizers(directory: Path) -> tuple:
    if directory not in _LOADED:
        _LOADED[directory] = (load_tokenizer(directory), PreTrainedTokenizerFast.from_pretrained(directory))
    return _LOADED[directory]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=120), min_size=1, max_size=4))
def test_any_text_gets_transformers_windows(bert_dir, texts):
    ours, theirs = _tokenizers(bert_dir)
    kw = dict(truncation=True, max_length=12, stride=3, return_overflowing_tokens=True, return_offsets_mapping=True)
    a, b = ours(texts, **kw), theirs(texts, **kw)
    for key in ("input_ids", "offset_mapping", "overflow_to_sample_mapping"):
        assert _windows(a, key) == _windows(b, key), key


@pytest.mark.parametrize("change", [{"add_bos_token": True}, {"pad_token": "<pad>"},
                                    {"additional_special_tokens": ["[ENT]"]}])
def test_a_tokenizer_config_that_asks_for_more_goes_to_transformers(bert_dir, tmp_path, change):
    copy = tmp_path / "m"
    shutil.copytree(bert_dir, copy)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    (copy / "tokenizer_config.json").write_text(json.dumps({**config, **change}))
    assert not isinstance(load_tokenizer(copy), WindowTokenizer)


# ---- the model --------------------------------------------------------------


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
def test_plain_torch_bert_gives_transformers_logits(tokenizer, tmp_path, act):
    directory = _bert(tokenizer, tmp_path / act, seed=1, hidden_act=act, layer_norm_eps=1e-3,
                      initializer_range=0.5)  # large weights: a wrong activation or eps shows in the logits
    config = json.loads((directory / "config.json").read_text())
    ours, theirs = load_torch_model(directory, config), BertForTokenClassification.from_pretrained(directory).eval()
    assert isinstance(ours, BertTagger) and sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in theirs.parameters())
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, tokenizer.vocab_size, (3, 20), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    mask[2, 3:] = 0
    types = torch.randint(0, 2, ids.shape, generator=gen)
    with torch.inference_mode():
        for kw in ({"attention_mask": mask}, {"attention_mask": mask, "token_type_ids": types},
                   {"attention_mask": torch.ones_like(ids)}):
            a = ours(ids, output_hidden_states=True, **kw)
            b = theirs(ids, output_hidden_states=True, **kw)
            real = kw["attention_mask"].bool()
            assert (a.logits - b.logits)[real].abs().max() < 1e-5
            assert (a.hidden_states[-1] - b.hidden_states[-1])[real].abs().max() < 1e-5
            assert len(a.hidden_states) == len(b.hidden_states) == 3


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_plain_torch_bert_gives_transformers_spans(bert_dir, precision):
    config = json.loads((bert_dir / "config.json").read_text())
    tokenizer = load_tokenizer(bert_dir)
    ours, theirs = (SpanTagger(tokenizer, TorchForward(model, "cpu", precision), max_length=32, stride=8,
                               use_token_type_ids=False)
                    for model in (load_torch_model(bert_dir, config), BertForTokenClassification.from_pretrained(bert_dir)))
    assert isinstance(ours.forward.model, BertTagger)
    got, expected = ours.predict(TEXTS), theirs.predict(TEXTS)
    assert [[(s["start"], s["end"], s["label"]) for s in spans] for spans in got] == [
        [(s["start"], s["end"], s["label"]) for s in spans] for spans in expected]
    assert sum(map(len, expected)) > 5  # a random head tags plenty: the comparison is not of empty lists
    assert np.allclose([s["score"] for x in got for s in x], [s["score"] for x in expected for s in x],
                       atol=1e-5 if precision == "fp32" else 1e-2)
    with torch.inference_mode(), autocast("cpu", precision):  # the linker's states, too
        ids = torch.tensor([[101, 2000, 2001, 102]])
        a = ours.forward.model(ids, torch.ones_like(ids), output_hidden_states=True).hidden_states[-1]
        b = theirs.forward.model(ids, torch.ones_like(ids), output_hidden_states=True).hidden_states[-1]
        assert (a.float() - b.float()).abs().max() < (1e-5 if precision == "fp32" else 1e-2)


# ---- native bf16 --------------------------------------------------------------


def _windows_of(tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every 32-token window of ``texts``, padded into one batch: ``(input_ids, attention_mask)``."""
    windows = tokenizer(texts, truncation=True, max_length=32, stride=8, return_overflowing_tokens=True)["input_ids"]
    ids = np.zeros((len(windows), max(map(len, windows))), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, window in enumerate(windows):
        ids[row, : len(window)], mask[row, : len(window)] = window, 1
    return ids, mask


@pytest.fixture(scope="module")
def sharp_bert_dir(tokenizer, tmp_path_factory) -> Path:
    """A tiny random BERT with weights large enough (initializer_range 0.2) for bf16 to move its probabilities."""
    return _bert(tokenizer, tmp_path_factory.mktemp("sharp"), seed=2, initializer_range=0.2)


@pytest.mark.parametrize("kernel", ["auto", "default"])
def test_native_bf16_gives_fp32_spans_and_probabilities_within_two_hundredths(sharp_bert_dir, kernel):
    """bf16 keeps 8 significant bits of every product's inputs: on this model the probabilities move by up to
    0.006 (measured), the default run's by up to 0.049 over 140,000 tokens; no span moves here."""
    config = json.loads((sharp_bert_dir / "config.json").read_text())
    tokenizer = load_tokenizer(sharp_bert_dir)
    fp32, bf16 = (SpanTagger(tokenizer, TorchForward(load_torch_model(sharp_bert_dir, config), "cpu", precision,
                                                     kernel, recheck=0.0), max_length=32, stride=8,
                             use_token_type_ids=False)
                  for precision in ("fp32", "bf16"))  # bf16 alone: no fp32 re-check of near ties
    assert bf16.forward.native and not fp32.forward.native
    got, expected = bf16.predict(TEXTS), fp32.predict(TEXTS)
    assert [[(s["start"], s["end"], s["label"]) for s in spans] for spans in got] == [
        [(s["start"], s["end"], s["label"]) for s in spans] for spans in expected]
    assert sum(map(len, expected)) > 100  # plenty of spans, of every window
    ids, mask = _windows_of(tokenizer, TEXTS)
    real = mask.astype(bool)
    moved = np.abs(bf16.forward(ids, mask, None) - fp32.forward(ids, mask, None))[real]
    assert 1e-4 < moved.max() < 0.02  # bf16 for real, and close


def test_bf16_windows_with_a_near_tie_are_run_again_in_fp32(sharp_bert_dir):
    config = json.loads((sharp_bert_dir / "config.json").read_text())
    tokenizer = load_tokenizer(sharp_bert_dir)
    ids, mask = _windows_of(tokenizer, TEXTS)

    def forward(precision: str, recheck: float) -> TorchForward:
        return TorchForward(load_torch_model(sharp_bert_dir, config), "cpu", precision, "default", recheck=recheck)

    fp32 = forward("fp32", 0.0)(ids, mask, None)
    plain = forward("bf16", 0.0)
    bf16 = plain(ids, mask, None)
    assert plain.rechecked == 0 and plain.windows == len(ids)
    # the windows that have a real token whose two likeliest tags are within 0.02 of each other
    top2 = -np.sort(-bf16, axis=-1)[..., :2]
    margin = np.where(mask.astype(bool), top2[..., 0] - top2[..., 1], 1.0).min(axis=1)
    ties = margin < 0.02
    assert 0 < ties.sum() < len(ids)  # some windows, not all: the check is selective here
    checked = forward("bf16", 0.02)
    out = checked(ids, mask, None)
    assert checked.rechecked == ties.sum() and checked.windows == len(ids)
    assert np.allclose(out[ties], fp32[ties], atol=1e-6)  # fp32 rows where bf16 was unsure
    assert np.array_equal(out[~ties], bf16[~ties])  # bf16 rows elsewhere
    assert forward("fp32", 0.02).recheck == 0.0  # only bf16 is re-checked
    # with ``read`` only the tokens it marks count: without the tied ones nothing runs again,
    # and one tied token marked re-runs exactly its window
    tied = np.where(mask.astype(bool), top2[..., 0] - top2[..., 1], 1.0) < 0.02
    read = mask.astype(bool) & ~tied
    unread = forward("bf16", 0.02)
    assert np.array_equal(unread(ids, mask, None, read=read), bf16) and unread.rechecked == 0
    window, token = (int(i[0]) for i in np.nonzero(tied))
    read[window, token] = True
    one = forward("bf16", 0.02)
    out = one(ids, mask, None, read=read)
    assert one.rechecked == 1 and np.allclose(out[window], fp32[window], atol=1e-6)
    assert np.array_equal(np.delete(out, window, 0), np.delete(bf16, window, 0))


def test_the_bf16_re_check_runs_fp32_with_the_fp32_paths_kernel(bert_dir):
    from frontlines.inference.kernels import onednn_works

    config = json.loads((bert_dir / "config.json").read_text())
    checked = TorchForward(load_torch_model(bert_dir, config), "cpu", "bf16", "onednn", recheck=0.02)
    linears = [m for m in checked.fp32_model.modules() if isinstance(m, torch.nn.Linear)]
    fast = {type(m).__name__ for m in linears}
    plain = TorchForward(load_torch_model(bert_dir, config), "cpu", "fp32", "onednn")
    assert fast == {type(m).__name__ for m in plain.model.modules() if isinstance(m, torch.nn.Linear)}
    assert (fast != {"Linear"}) == onednn_works()  # oneDNN's products where this torch has them, as fp32 uses


def test_native_bf16_holds_bf16_weights_and_returns_fp32(bert_dir):
    from frontlines.inference.kernels import Bf16Linear, onednn_bf16_works

    config = json.loads((bert_dir / "config.json").read_text())
    forward = TorchForward(load_torch_model(bert_dir, config), "cpu", "bf16", "auto")
    model = forward.model
    assert forward.native and forward.linear_kernel == ("onednn" if onednn_bf16_works() else "default")
    products = [m for m in model.bert.modules() if isinstance(m, Bf16Linear)]
    assert len(products) == 6 * config["num_hidden_layers"] and not any(
        isinstance(m, torch.nn.Linear) for m in model.bert.modules())
    assert all(m.weight.dtype == m.bias.dtype == torch.bfloat16 for m in products)
    assert [m.activation for m in products].count("gelu") == config["num_hidden_layers"]  # the GELU, fused
    assert all(p.dtype == torch.float32 for p in model.parameters())  # embeddings, LayerNorms, classifier
    assert {n.split(".")[-2] for n, _ in model.named_parameters() if "encoder" in n} == {"LayerNorm"}
    forward.states = True
    out = forward(np.array([[101, 2000, 2001, 102], [101, 2002, 102, 0]]), np.array([[1, 1, 1, 1], [1, 1, 1, 0]]), None)
    assert out.dtype == np.float32 and out.shape == (2, 4, len(TAGS) + config["hidden_size"])
    assert np.allclose(out[..., : len(TAGS)].sum(-1), 1.0, atol=1e-5)


def test_bf16_of_other_models_stays_on_autocast(tokenizer):
    torch.manual_seed(0)
    distil = DistilBertForTokenClassification(DistilBertConfig(
        vocab_size=tokenizer.vocab_size, dim=32, n_layers=1, n_heads=2, hidden_dim=48, num_labels=len(TAGS)))
    forward = TorchForward(distil, "cpu", "bf16", "auto", recheck=0.0)
    assert not forward.native and forward.linear_kernel == "default"
    assert all(p.dtype == torch.float32 for p in distil.parameters())
    seen = []
    distil.classifier.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = forward(np.array([[101, 2000, 102]]), np.ones((1, 3), dtype=np.int64), None)
    assert seen == [torch.bfloat16] and out.dtype == np.float32  # autocast's bf16 product, fp32 probabilities
    seen.clear()
    TorchForward(distil, "cpu", "bf16", "auto", recheck=1.0)(np.array([[101, 2000, 102]]), np.ones((1, 3), np.int64), None)
    assert seen == [torch.bfloat16, torch.float32]  # every window re-checked: the same model without autocast


def test_the_fp32_path_is_transformers_to_the_bit_beside_a_bf16_one(bert_dir):
    """fp32 is untouched by native bf16: the same bits as transformers' model (what it gave before), also
    with a bf16 forward of the same directory loaded beside it."""
    config = json.loads((bert_dir / "config.json").read_text())
    ids, mask = _windows_of(load_tokenizer(bert_dir), TEXTS)
    theirs = TorchForward(BertForTokenClassification.from_pretrained(bert_dir), "cpu", "fp32")
    ours = TorchForward(load_torch_model(bert_dir, config), "cpu", "fp32")
    theirs.states = ours.states = True
    before = ours(ids, mask, None)
    TorchForward(load_torch_model(bert_dir, config), "cpu", "bf16", "auto")(ids, mask, None)
    assert np.array_equal(before, theirs(ids, mask, None)) and np.array_equal(ours(ids, mask, None), before)
    assert all(type(m) is torch.nn.Linear and m.weight.dtype == torch.float32
               for m in ours.model.modules() if isinstance(m, torch.nn.Linear))


def _edit_weights(directory: Path, edit) -> None:
    tensors = load_file(directory / "model.safetensors")
    edit(tensors)
    save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: t.pop("classifier.weight"), "missing classifier.weight"),
    (lambda t: [t.pop(k) for k in list(t) if "layer.1." in k],
     "missing bert.encoder.layer.1.attention.self.query.weight"),
    (lambda t: t.update({"classifier.bias": torch.zeros(3)}), "wrong shape: classifier.bias (3,) (config.json: (9,))"),
])
def test_weights_that_do_not_fit_the_config_are_refused_naming_the_file(bert_dir, tmp_path, capsys, edit, expected):
    copy = tmp_path / "m"
    shutil.copytree(bert_dir, copy)
    _edit_weights(copy, edit)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "text": "Kamal"}) + "\n")
    assert main(["predict", "--model", str(copy), "--input", str(src), "--output", str(tmp_path / "o.jsonl"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"error: {copy / 'model.safetensors'}: not the BertForTokenClassification that config.json describes" in err
    assert expected in err and "Traceback" not in err and not (tmp_path / "o.jsonl").exists()


def test_models_the_plain_bert_does_not_run_are_loaded_by_transformers(tokenizer, bert_dir, tmp_path):
    torch.manual_seed(0)
    distil = tmp_path / "distil"
    DistilBertForTokenClassification(DistilBertConfig(
        vocab_size=tokenizer.vocab_size, dim=32, n_layers=1, n_heads=2, hidden_dim=48, num_labels=len(TAGS),
        id2label=ID2TAG, label2id=TAG2ID)).eval().save_pretrained(distil)
    tokenizer.save_pretrained(distil)
    quick = tmp_path / "quick"
    shutil.copytree(bert_dir, quick)
    config = json.loads((quick / "config.json").read_text())
    (quick / "config.json").write_text(json.dumps({**config, "hidden_act": "quick_gelu"}))
    for directory, why, cls in ((distil, "model_type 'distilbert' is not bert", DistilBertForTokenClassification),
                                (quick, "hidden_act 'quick_gelu'", BertForTokenClassification)):
        assert unsupported(json.loads((directory / "config.json").read_text()), directory) == why
        tagger = SpanTagger.from_pretrained(directory, device="cpu", max_length=32, stride=8)
        assert isinstance(tagger.forward.model, cls)
        assert len(tagger.predict(TEXTS)) == len(TEXTS)
    (quick / "model.safetensors").rename(quick / "elsewhere.safetensors")
    config["hidden_act"] = "gelu"
    assert unsupported(config, quick) == "no single model.safetensors"


def test_the_plain_bert_takes_the_fast_linear_kernels(bert_dir):
    tagger = SpanTagger.from_pretrained(bert_dir, device="cpu", linear_kernel="onednn", precision="fp32")
    if tagger.linear_kernel != "onednn":
        pytest.skip("this torch build has no working oneDNN linear")
    kinds = {type(m).__name__ for m in tagger.forward.model.modules() if isinstance(m, torch.nn.Linear)}
    assert kinds == {"OneDNNLinear"}


# ---- what a prediction process imports ---------------------------------------


def _onnx_file(directory: Path) -> Path:
    """A stand-in ONNX export: each token's logits are its row of a table, its hidden state a second table's."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    logits = numpy_helper.from_array(rng.normal(size=(30522, len(TAGS))).astype(np.float32), "logit_table")
    hidden = numpy_helper.from_array(rng.normal(size=(30522, 4)).astype(np.float32), "hidden_table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["logit_table", "input_ids"], ["logits"]),
         helper.make_node("Gather", ["hidden_table", "input_ids"], ["hidden"])],
        "stand_in",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "length"]) for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "length", len(TAGS)]),
         helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", 4])],
        initializer=[logits, hidden])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    path = directory / "stand_in.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_predict_never_imports_transformers_and_onnx_never_torch(bert_dir, tmp_path, backend):
    pytest.importorskip("onnxruntime")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "text": "Taliban fighters took Kamal Pasha."}) + "\n")
    extra = ["--backend", "onnx", "--onnx-file", str(_onnx_file(tmp_path))] if backend == "onnx" else []
    argv = ["predict", "--model", str(bert_dir), "--input", str(src), "--output", str(tmp_path / "o.jsonl"),
            "--no-progress", *extra]
    banned = ["transformers"] + (["torch"] if backend == "onnx" else [])
    code = (f"import sys\nfrom frontlines.inference.cli import main\nassert main({argv!r}) == 0\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {banned!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert [json.loads(line)["id"] for line in (tmp_path / "o.jsonl").read_text().splitlines()] == [1]
