"""Precision by capability: bf16 only where native and checked; its spans equal fp32's; kernels kept on resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_inference import keyword_model

import frontlines.inference.precision as precision
from frontlines.inference import SpanTagger
from frontlines.inference.kernels import onednn_bf16_works
from frontlines.inference.precision import PRECISION_FILE, CpuInfo, choose_precision, weights_digest
from frontlines.inference.spans import Example, Span
from frontlines.training import rundir
from frontlines.training.corpus import load_corpus, split_of, split_of_example
from frontlines.training.precision_check import check_bf16

ROOT = Path(__file__).resolve().parent.parent
NATIVE = CpuInfo("AuthenticAMD", frozenset({"avx2", "avx512f", "avx512_bf16"}))
AVX2 = CpuInfo("AuthenticAMD", frozenset({"avx2", "fma"}))
AMX = CpuInfo("GenuineIntel", frozenset({"avx512f", "amx_tile", "amx_bf16"}))


def _ids_in(split: str, n: int) -> list[str]:
    ids = (f"keyword-article-{i}" for i in range(10_000))
    return [i for i in ids if split_of(i) == split][:n]


def _examples() -> list[Example]:
    """Test-split articles whose gold spans are the keyword model's (so fp32 scores 1.0)."""
    texts = ["The taliban took Kamal Pasha on Monday.", "Kamal Pasha fell; the taliban said so.",
             "Nothing happened in the town.", "Fighters of the taliban entered kamal pasha at dawn."]
    out = []
    for article_id, text in zip(_ids_in("test", len(texts)), texts, strict=True):
        spans = []
        for word, label in (("taliban", "ACTOR"), ("kamal pasha", "LOCATION")):
            at = text.lower().find(word)
            if at >= 0:
                spans.append(Span(at, at + len(word), label))
        out.append(Example(article_id, text, sorted(spans, key=lambda s: s.start)))
    return out


@pytest.fixture
def keyword_run(tokenizer, tmp_path) -> Path:
    directory = tmp_path / "run"
    model = keyword_model(tokenizer)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture
def native_cpu(monkeypatch):
    """Pretend this CPU has native bf16 (autocast still runs, emulated if need be: the model is tiny)."""
    monkeypatch.setattr(precision, "cpu_info", lambda: NATIVE)


def _write_check(run: Path, fp32: float, bf16: float, allowed: bool, digest: str | None = "current") -> None:
    record = {"fp32_micro_f1": fp32, "bf16_micro_f1": bf16, "allowed": allowed,
              "weights_sha256": weights_digest(run) if digest == "current" else digest}
    (run / PRECISION_FILE).write_text(json.dumps(record))


# ---- the choice -------------------------------------------------------------


@pytest.mark.parametrize(("cpu", "native"), [(NATIVE, True), (AMX, True), (AVX2, False),
                                             (CpuInfo("", frozenset()), False)])
def test_native_bf16_comes_from_the_cpu_flags(cpu, native):
    assert precision.native_bf16("cpu", cpu) is native


def test_auto_refuses_bf16_without_native_support_even_with_a_passed_check(keyword_run):
    _write_check(keyword_run, 0.9, 0.9, True)
    assert choose_precision("auto", "cpu", keyword_run, AVX2)[0] == "fp32"
    assert choose_precision("auto", "cpu", keyword_run, NATIVE)[0] == "bf16"
    with pytest.raises(ValueError, match="no native bf16"):
        choose_precision("bf16", "cpu", keyword_run, AVX2)
    assert choose_precision("fp32", "cpu", keyword_run, NATIVE)[0] == "fp32"
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        choose_precision("fp16", "cpu", keyword_run, NATIVE)


@pytest.mark.parametrize(("fp32", "bf16", "allowed", "digest", "reason"), [
    (None, None, None, None, "no precision.json"),
    (0.90, 0.89, False, "current", "lost 0.0100"),
    (0.90, 0.89, True, "current", "lost 0.0100"),  # the numbers rule, whatever the flag says
    (0.90, 0.90, True, "0" * 64, "other weights"),  # a check of weights since replaced
])
def test_auto_refuses_bf16_without_a_passed_check_of_these_weights(keyword_run, fp32, bf16, allowed, digest, reason):
    if fp32 is not None:
        _write_check(keyword_run, fp32, bf16, allowed, digest)
    chosen, why = choose_precision("auto", "cpu", keyword_run, NATIVE)
    assert chosen == "fp32" and reason in why
    assert choose_precision("bf16", "cpu", keyword_run, NATIVE)[0] == "bf16"  # asking still works


def test_an_unreadable_check_is_no_check(keyword_run):
    (keyword_run / PRECISION_FILE).write_text("{not json")
    chosen, why = choose_precision("auto", "cpu", keyword_run, NATIVE)
    assert chosen == "fp32" and "unreadable" in why


# ---- bf16 prediction --------------------------------------------------------


def test_bf16_spans_equal_fp32_spans_and_scores_stay_close(keyword_run, native_cpu):
    texts = [ex.text for ex in _examples()] + ["taliban " * 300, "Kamal Pasha, kamal pasha and KAMAL PASHA."]
    fp32 = SpanTagger.from_pretrained(keyword_run, device="cpu", precision="fp32", max_length=32, stride=8)
    bf16 = SpanTagger.from_pretrained(keyword_run, device="cpu", precision="bf16", max_length=32, stride=8)
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16") and bf16.forward.native
    assert bf16.linear_kernel == ("onednn" if onednn_bf16_works() else "default")  # packed bf16 weights where it can
    want, got = fp32.predict(texts), bf16.predict(texts)
    assert any(want)
    assert [[(s["start"], s["end"], s["label"]) for s in spans] for spans in got] == \
        [[(s["start"], s["end"], s["label"]) for s in spans] for spans in want]
    for a, b in zip(got, want, strict=True):
        assert all(isinstance(s["score"], float) and abs(s["score"] - t["score"]) < 0.02 for s, t in zip(a, b, strict=True))


def test_bf16_runs_the_products_in_bf16(keyword_run, native_cpu):
    import numpy as np
    import torch

    tagger = SpanTagger.from_pretrained(keyword_run, device="cpu", precision="bf16")
    seen = []
    model = tagger.forward.model
    for module in (model.bert.encoder.layer[0].attention.self.query, model.bert.encoder.layer[-1].output,
                   model.classifier):  # a product, a LayerNorm closing a layer, the head
        module.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    probs = tagger.forward(np.array([[101, 2000, 102]]), np.ones((1, 3), dtype=np.int64), None)
    assert seen == [torch.bfloat16, torch.float32, torch.float32]
    assert probs.dtype == np.float32 and np.allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_the_onnx_backend_takes_no_bf16(keyword_run):
    with pytest.raises(ValueError, match="bf16 is torch's"):
        SpanTagger.from_pretrained(keyword_run, backend="onnx", precision="bf16")


# ---- the check at the end of training ------------------------------------------


def test_check_bf16_records_both_scores_and_auto_follows_it(keyword_run, native_cpu, monkeypatch):
    record = check_bf16(keyword_run, _examples(), device="cpu")
    saved = json.loads((keyword_run / PRECISION_FILE).read_text())
    assert record == saved and saved["allowed"] is True and saved["n_articles"] == 4
    assert saved["fp32_micro_f1"] == pytest.approx(1.0) and saved["bf16_micro_f1"] == pytest.approx(1.0)
    assert saved["articles_with_identical_spans"] == 1.0 and saved["weights_sha256"] == weights_digest(keyword_run)
    assert saved["bf16_path"] == "native"  # the path that serves the run's BERT
    assert SpanTagger.from_pretrained(keyword_run, device="cpu").precision == "bf16"
    monkeypatch.setattr(precision, "cpu_info", lambda: AVX2)  # the same run on a CPU without native bf16
    assert SpanTagger.from_pretrained(keyword_run, device="cpu").precision == "fp32"


def test_a_check_holds_for_a_copy_of_the_run_but_not_for_new_weights(keyword_run, native_cpu, tokenizer, tmp_path):
    import torch

    check_bf16(keyword_run, _examples(), device="cpu")
    copy = tmp_path / "copy"
    shutil.copytree(keyword_run, copy, copy_function=shutil.copyfile)  # new mtimes, same bytes
    assert SpanTagger.from_pretrained(copy, device="cpu").precision == "bf16"
    model = keyword_model(tokenizer)
    with torch.no_grad():
        model.classifier.bias[0] += 1.0
    model.save_pretrained(copy)  # retrained (say) after the check
    assert SpanTagger.from_pretrained(copy, device="cpu").precision == "fp32"


def test_a_failed_check_keeps_auto_in_fp32(keyword_run, native_cpu, monkeypatch):
    import frontlines.training.precision_check as check
    from frontlines.training.run_eval import tagger_spans

    def bf16_loses_everything(tagger, examples):
        spans = tagger_spans(tagger, examples)
        return {k: [] for k in spans} if tagger.precision == "bf16" else spans

    monkeypatch.setattr(check, "tagger_spans", bf16_loses_everything)
    record = check_bf16(keyword_run, _examples(), device="cpu")
    assert record["allowed"] is False and record["bf16_micro_f1"] == 0.0 and record["fp32_micro_f1"] > 0.9
    assert SpanTagger.from_pretrained(keyword_run, device="cpu").precision == "fp32"


def test_no_check_without_native_bf16(keyword_run, monkeypatch):
    monkeypatch.setattr(precision, "cpu_info", lambda: AVX2)
    import frontlines.training.precision_check as check

    monkeypatch.setattr(check, "native_bf16", lambda device: precision.native_bf16(device, AVX2))
    assert check_bf16(keyword_run, _examples(), device="cpu") is None
    assert not (keyword_run / PRECISION_FILE).exists()


# ---- training: the kernel is recorded and kept; bf16 mixed precision is an opt-in ---


def test_run_state_keeps_the_kernel_and_reads_older_checkpoints(tmp_path):
    state = rundir.RunState(global_step=3, linear_kernel="onednn-forward")
    state.write(tmp_path / "run_state.json")
    assert rundir.RunState.read(tmp_path / "run_state.json").linear_kernel == "onednn-forward"
    old = json.loads((tmp_path / "run_state.json").read_text())
    del old["linear_kernel"]  # written before the kernel was recorded
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert rundir.RunState.read(tmp_path / "old.json").linear_kernel == ""
    (tmp_path / "bad.json").write_text(json.dumps({**old, "linear_kernel": "mkl"}))
    with pytest.raises(rundir.RunDirError, match="linear kernel name"):
        rundir.RunState.read(tmp_path / "bad.json")


@pytest.fixture(scope="module")
def mini_corpus(tmp_path_factory) -> Path:
    from frontlines.inference.fileio import write_jsonl_atomic

    picked: dict[str, list] = {"train": [], "dev": [], "test": []}
    for ex in load_corpus():
        bucket = picked.get(split_of_example(ex))
        if bucket is not None and len(bucket) < {"train": 8, "dev": 2, "test": 2}[split_of_example(ex)]:
            bucket.append(ex)
    path = tmp_path_factory.mktemp("corpus") / "mini.jsonl"
    write_jsonl_atomic(path, [ex.to_dict() for part in picked.values() for ex in part])
    return path


def _train(out: Path, corpus: Path, *extra: str) -> int:
    from frontlines.training import train

    return train.main(["--config", str(ROOT / "configs" / "tiny.yaml"), "--output-dir", str(out), "--set",
                       f"data.corpus=[{corpus}]", "--set", "events.linker=false", "--set", "eval.bootstrap=0",
                       *extra])


def test_a_resumed_run_keeps_the_kernel_it_recorded(tmp_path, mini_corpus, monkeypatch):
    import frontlines.inference.kernels as kernels
    import frontlines.training.train as train

    monkeypatch.setattr(train, "native_bf16", lambda device: False)  # no bf16 check: not what this tests
    monkeypatch.setattr(kernels, "onednn_works", lambda: True)
    out = tmp_path / "run"
    monkeypatch.setattr(precision, "cpu_info", lambda: CpuInfo("AuthenticAMD", frozenset({"avx512f"})))
    # Training's rule gives the default kernels on every CPU now, so the first run names one (a user's choice,
    # recorded like a rule's); the resume below says "auto" and must keep it.
    assert _train(out, mini_corpus, "--set", "train.epochs=1", "--set", "train.linear_kernel=onednn-forward") == 0
    checkpoints = sorted((out / "checkpoints").glob("step-*"))
    state = json.loads((checkpoints[-1] / "run_state.json").read_text())
    assert state["linear_kernel"] == "onednn-forward"
    assert json.loads((out / "run.json").read_text())["linear_kernel"] == "onednn-forward"
    # resume on a machine where the rule says otherwise, for one more epoch: the run keeps its kernel
    monkeypatch.setattr(precision, "cpu_info", lambda: CpuInfo("GenuineIntel", frozenset({"avx512f"})))
    shutil.rmtree(out / "report")
    assert train.main(["--output-dir", str(out), "--resume", "--set", "train.epochs=2",
                       "--set", "train.linear_kernel=auto"]) == 0
    meta = json.loads((out / "run.json").read_text())
    assert meta["linear_kernel"] == "onednn-forward" and meta["cpu"]["vendor"] == "GenuineIntel"
    newest = sorted((out / "checkpoints").glob("step-*"))[-1]
    assert json.loads((newest / "run_state.json").read_text())["linear_kernel"] == "onednn-forward"


@pytest.mark.skipif(not precision.native_bf16("cpu"), reason="this CPU has no native bf16")
def test_bf16_mixed_precision_trains_on_a_cpu_with_native_bf16(tmp_path, mini_corpus):
    import subprocess
    import sys

    out = tmp_path / "bf16"  # its own process: accelerate keeps one mixed-precision state per process
    subprocess.run([sys.executable, "-m", "training.train", "--config", str(ROOT / "configs" / "tiny.yaml"),
                    "--output-dir", str(out), "--set", f"data.corpus=[{mini_corpus}]", "--set", "events.linker=false",
                    "--set", "eval.bootstrap=0", "--set", "train.mixed_precision=bf16", "--set", "train.epochs=1"],
                   cwd=ROOT, check=True, capture_output=True)
    meta = json.loads((out / "run.json").read_text())
    assert meta["mixed_precision"] == "bf16" and meta["linear_kernel"] == "default"
    check = json.loads((out / PRECISION_FILE).read_text())  # the bf16 check ran at the end of the run
    assert {"fp32_micro_f1", "bf16_micro_f1", "allowed"} <= set(check)


# ---- the command line -------------------------------------------------------


def test_predict_precision_flag(keyword_run, tmp_path, monkeypatch, capsys):
    from frontlines.inference.cli import main

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": ex.id, "text": ex.text}) + "\n" for ex in _examples()))

    def spans(name: str) -> list:
        lines = (tmp_path / name).read_text().splitlines()
        return [[(s["start"], s["end"], s["label"]) for s in json.loads(line)["spans"]] for line in lines]

    common = ["predict", "--model", str(keyword_run), "--input", str(src), "--no-progress", "--device", "cpu"]
    monkeypatch.setattr(precision, "cpu_info", lambda: AVX2)
    assert main([*common, "--output", str(tmp_path / "refused.jsonl"), "--precision", "bf16"]) == 2
    assert "no native bf16" in capsys.readouterr().err and not (tmp_path / "refused.jsonl").exists()
    monkeypatch.setattr(precision, "cpu_info", lambda: NATIVE)
    assert main([*common, "--output", str(tmp_path / "fp32.jsonl"), "--precision", "fp32"]) == 0
    assert main([*common, "--output", str(tmp_path / "bf16.jsonl"), "--precision", "bf16"]) == 0
    assert spans("bf16.jsonl") == spans("fp32.jsonl") and any(spans("fp32.jsonl"))
