"""End-to-end runs of training/train.py with the tiny config (seconds on CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inference.fileio import write_jsonl_atomic
from training import train
from training.corpus import load_corpus, split_of

ROOT = Path(__file__).parent.parent
TINY = str(ROOT / "configs" / "tiny.yaml")


@pytest.fixture(scope="module")
def mini_corpus(tmp_path_factory) -> Path:
    """A slice of the shipped corpus with articles in every split."""
    examples = load_corpus()
    picked = {"train": [], "dev": [], "test": []}
    for ex in examples:
        bucket = picked[split_of(ex.id)]
        if len(bucket) < {"train": 16, "dev": 3, "test": 3}[split_of(ex.id)]:
            bucket.append(ex)
    path = tmp_path_factory.mktemp("corpus") / "mini.jsonl"
    write_jsonl_atomic(path, [ex.to_dict() for part in picked.values() for ex in part])
    return path


def run(out: Path, corpus: Path, *extra: str) -> int:
    return train.main(["--config", TINY, "--output-dir", str(out), "--set", f"data.corpus=[{corpus}]", *extra])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, mini_corpus) -> Path:
    out = tmp_path_factory.mktemp("runs") / "full"
    assert run(out, mini_corpus, "--set", "train.checkpoint_every=3", "--set", "train.keep_checkpoints=100") == 0
    return out


def test_run_writes_model_reports_and_metadata(finished_run):
    out = finished_run
    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md", "config.yaml", "run.json"):
        assert (out / name).is_file(), name
    for name in ("report.json", "report.md", "report.html"):
        assert (out / "report" / name).is_file(), name
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert 0.0 <= epochs[-1]["dev"]["micro_f1"] <= 1.0
    meta = json.loads((out / "run.json").read_text())
    assert meta["tokens_per_second"] > 0 and len(meta["corpus_sha256"]) == 64
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"]["1"] == "B-ACTOR"


def test_run_loads_in_a_plain_transformers_pipeline(finished_run):
    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(finished_run), device="cpu")
    assert isinstance(tagger("Daesh retook Albu Kamal."), list)


def test_existing_run_is_never_overwritten_unless_asked(finished_run, mini_corpus):
    with pytest.raises(SystemExit, match="already holds a run"):
        run(finished_run, mini_corpus)


def test_resume_after_interrupt_gives_the_same_metrics(finished_run, mini_corpus, tmp_path):
    # An interrupted run is a run directory whose newest checkpoint is mid-training.
    resumed = tmp_path / "resumed"
    shutil.copytree(finished_run, resumed)
    checkpoints = sorted((resumed / "checkpoints").glob("step-*"))
    states = [json.loads((c / "run_state.json").read_text()) for c in checkpoints]
    mid = [c for c, s in zip(checkpoints, states, strict=False) if s["batches_done"] > 0 and s["epoch"] == 1]
    assert mid, "the tiny run should checkpoint in the middle of its second epoch"
    for ckpt in checkpoints[checkpoints.index(mid[0]) + 1 :]:
        shutil.rmtree(ckpt)
    for name in ("run.json", "README.md"):  # written only when a run finishes
        (resumed / name).unlink()
    shutil.rmtree(resumed / "report")
    assert train.main(["--output-dir", str(resumed), "--resume"]) == 0
    full = [json.loads(x) for x in (finished_run / "metrics.jsonl").read_text().splitlines()]
    again = [json.loads(x) for x in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in again] == [e["step"] for e in full]
    assert again[-1]["train_loss"] == pytest.approx(full[-1]["train_loss"], rel=1e-5)
    assert again[-1]["dev"]["micro_f1"] == pytest.approx(full[-1]["dev"]["micro_f1"])
    assert json.loads((resumed / "run.json").read_text())["test_micro_f1"] == pytest.approx(
        json.loads((finished_run / "run.json").read_text())["test_micro_f1"]
    )


def test_bad_config_value_fails_before_training(tmp_path, mini_corpus, capsys):
    assert run(tmp_path / "bad", mini_corpus, "--set", "optim.lr=-1") == 2
    assert "optim.lr" in capsys.readouterr().err
    assert run(tmp_path / "bad2", mini_corpus, "--set", "train.epoch=3") == 2
    assert "unknown config key 'train.epoch'" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "model.safetensors").exists()


def test_unknown_label_in_corpus_fails_before_training(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "Mosul fell.", "spans": [{"start": 0, "end": 5, "label": "PLACE"}]}\n')
    assert run(tmp_path / "out", corpus) == 2
    err = capsys.readouterr().err
    assert f"{corpus}:1 [a] span [0, 5) PLACE: unknown label 'PLACE'" in err
    assert not (tmp_path / "out").exists()


def test_tensorboard_tracking_is_opt_in(tmp_path, mini_corpus):
    pytest.importorskip("tensorboard")
    out = tmp_path / "tracked"
    assert run(out, mini_corpus, "--set", "train.tracker=tensorboard", "--set", "train.epochs=1") == 0
    assert list(out.rglob("events.out.tfevents.*"))


def test_mixed_precision_falls_back_to_fp32_on_cpu(tmp_path, mini_corpus, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out = tmp_path / "bf16"
    assert run(out, mini_corpus, "--set", "train.mixed_precision=bf16", "--set", "train.epochs=1") == 0
    assert "training in fp32 on CPU" in capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["mixed_precision"] == "no"


@pytest.mark.slow
def test_real_backbone_trains_and_serves(tmp_path, mini_corpus):
    """The embedded MiniLM fine-tunes for a few steps; SpanTagger and the plain
    transformers pipeline both load the result."""
    from transformers import pipeline

    from inference import SpanTagger

    out = tmp_path / "minilm"
    argv = ["--output-dir", str(out), "--set", f"data.corpus=[{mini_corpus}]"]
    argv += ["--set", "train.max_steps=3", "--set", "train.epochs=1"]
    assert train.main(argv) == 0
    text = "Iraqi forces retook al-Qaim from Daesh, which held about 30 percent of Anbar."
    ours = SpanTagger.from_pretrained(out).predict([text])[0]
    assert all(text[s["start"] : s["end"]] == s["text"] for s in ours)
    theirs = pipeline("token-classification", model=str(out), aggregation_strategy="simple", device="cpu")(text)
    assert isinstance(theirs, list)
    meta = json.loads((out / "run.json").read_text())
    assert meta["optimizer_steps"] == 3 and meta["device"] == "cpu"
