"""End-to-end runs of training/train.py with the tiny config (seconds on CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from frontlines.inference.fileio import write_jsonl_atomic
from frontlines.training import train
from frontlines.training.corpus import load_corpus, split_of_example

ROOT = Path(__file__).parent.parent
TINY = str(ROOT / "configs" / "tiny.yaml")


@pytest.fixture(scope="module")
def mini_corpus(tmp_path_factory) -> Path:
    """A slice of the shipped corpus with articles in every split."""
    examples = load_corpus()
    picked = {"train": [], "dev": [], "test": []}
    for ex in examples:
        bucket = picked.get(split_of_example(ex))  # stress articles stay out: the run never trains on them
        if bucket is not None and len(bucket) < {"train": 16, "dev": 3, "test": 3}[split_of_example(ex)]:
            bucket.append(ex)
    path = tmp_path_factory.mktemp("corpus") / "mini.jsonl"
    write_jsonl_atomic(path, [ex.to_dict() for part in picked.values() for ex in part])
    return path


def run(out: Path, corpus: Path, *extra: str) -> int:
    return train.main(["--config", TINY, "--output-dir", str(out), "--set", f"data.corpus=[{corpus}]", *extra])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, mini_corpus) -> Path:
    out = tmp_path_factory.mktemp("runs") / "full"
    # with the event-linking loss, so that resuming restores its head (model_1.safetensors) too
    assert run(out, mini_corpus, "--set", "train.checkpoint_every=3", "--set", "train.keep_checkpoints=100",
               "--set", "train.link_loss_weight=0.5") == 0
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
    for checkpoint in (out / "checkpoints").iterdir():  # the loop state is JSON, not a pickle
        assert not list(checkpoint.glob("custom_checkpoint_*")) and (checkpoint / "run_state.json").is_file()
    # The second stage: the event linker, and the test split scored through SpanTagger with both decoders and events.
    assert (out / "linker" / "linker.safetensors").is_file() and meta["linker"]["n_train_triggers"] > 0
    test = meta["splits"]["test"]
    assert test["micro_f1"] == meta["test_micro_f1"] and set(test["decoding"]) >= {"used", "viterbi", "argmax"}
    assert test["decoding"]["viterbi"]["rate"] == 0.0  # Viterbi never cuts a token where a span cannot end
    assert {"linker/end_to_end", "rules/end_to_end", "linker/gold_spans", "rules/gold_spans"} <= set(test["events"])
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["events"]["systems"]["rules/gold_spans"]["n_gold_events"] > 0
    card = (out / "README.md").read_text()
    assert "## Test and stress splits side by side" in card and "linker/end_to_end" in card
    assert meta["linker"]["members"] == 5 and "the mean of 5 seeds' linkers" in card
    # trained in the same run, the linker saw the tagger's corpus: linker.json and run.json say which
    linker = json.loads((out / "linker" / "linker.json").read_text())
    assert linker["corpus_sha256"] == meta["linker"]["corpus_sha256"] == meta["corpus_sha256"]
    assert "another revision of the corpus" not in card


def test_model_card_names_the_corpus_a_retrained_linker_saw(finished_run, tmp_path):
    from frontlines.training.config import load_config
    from frontlines.training.model_card import write_model_card

    config = load_config(finished_run / "config.yaml")
    meta = json.loads((finished_run / "run.json").read_text())
    test_report = json.loads((finished_run / "report" / "report.json").read_text())
    meta["linker"]["corpus_sha256"] = "ab" * 32  # as after `train_linker --run` on an edited corpus
    card = write_model_card(tmp_path, config, test_report, meta["splits"], {"train": 16}, meta).read_text()
    assert "another revision of the corpus (sha256 `abababababababab...`)" in card
    assert f"sha256\n`{meta['corpus_sha256'][:16]}...`" in card  # the tagger's own corpus stays named


def test_run_loads_in_a_plain_transformers_pipeline(finished_run):
    from transformers import pipeline

    tagger = pipeline("token-classification", model=str(finished_run), device="cpu")
    assert isinstance(tagger("Daesh retook Albu Kamal."), list)


def test_existing_run_is_never_overwritten_unless_asked(finished_run, mini_corpus, capsys):
    assert run(finished_run, mini_corpus) == 2
    assert "already holds a run; use --resume or --overwrite" in capsys.readouterr().err


def test_tokens_are_counted_once_per_trained_window_token(finished_run, mini_corpus):
    from transformers import AutoTokenizer

    from frontlines.training.data import build_dataset

    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    tokenizer = AutoTokenizer.from_pretrained(str(finished_run))
    train_examples = [ex for ex in load_corpus([mini_corpus]) if split_of_example(ex) == "train"]
    windows = build_dataset(tokenizer, train_examples, config["data"]["max_length"], config["data"]["stride"])
    meta = json.loads((finished_run / "run.json").read_text())
    assert meta["train_tokens"] == config["train"]["epochs"] * sum(windows["length"])


def test_resume_after_interrupt_gives_the_same_metrics(finished_run, mini_corpus, tmp_path):
    # An interrupted run is a run directory whose newest checkpoint is mid-training.
    resumed = tmp_path / "resumed"
    shutil.copytree(finished_run, resumed)
    checkpoints = sorted((resumed / "checkpoints").glob("step-*"))
    states = [json.loads((c / "run_state.json").read_text()) for c in checkpoints]
    mid = [c for c, s in zip(checkpoints, states, strict=False) if s["batches_done"] > 0 and s["epoch"] == 1]
    assert mid, "the tiny run should checkpoint in the middle of its second epoch"
    later = checkpoints[checkpoints.index(mid[0]) + 1 :]
    # What a kill during a save leaves: a half-written .tmp and a directory without run_state.json.
    later[0].rename(later[0].with_name(later[0].name + ".tmp"))
    for ckpt in later[1:]:
        shutil.rmtree(ckpt)
    (resumed / "checkpoints" / "step-9000000").mkdir()
    for name in ("run.json", "README.md"):  # written only when a run finishes
        (resumed / name).unlink()
    shutil.rmtree(resumed / "report")
    assert train.main(["--output-dir", str(resumed), "--resume"]) == 0
    assert not list((resumed / "checkpoints").glob("*.tmp"))
    full = [json.loads(x) for x in (finished_run / "metrics.jsonl").read_text().splitlines()]
    again = [json.loads(x) for x in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in again] == [e["step"] for e in full]
    assert again[-1]["train_loss"] == pytest.approx(full[-1]["train_loss"], rel=1e-5)
    assert again[-1]["dev"]["micro_f1"] == pytest.approx(full[-1]["dev"]["micro_f1"])
    assert json.loads((resumed / "run.json").read_text())["test_micro_f1"] == pytest.approx(
        json.loads((finished_run / "run.json").read_text())["test_micro_f1"]
    )


def test_two_runs_of_one_config_give_the_same_weights_bit_for_bit(mini_corpus, tmp_path):
    # the default config's recipe: SDPA's fused attention (no attention dropout) and the event-linking head
    sets = ["--set", "model_overrides.attention_probs_dropout_prob=0.0", "--set", "train.link_loss_weight=0.5",
            "--set", "eval.final=false", "--set", "train.max_steps=4"]
    for name in ("a", "b"):
        assert run(tmp_path / name, mini_corpus, *sets) == 0
    first, second = ((tmp_path / n / "model.safetensors").read_bytes() for n in ("a", "b"))
    assert first == second
    heads = [sorted((tmp_path / n / "checkpoints").glob("*/model_1.safetensors"))[-1].read_bytes() for n in ("a", "b")]
    assert heads[0] == heads[1]


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


def test_mixed_precision_falls_back_to_fp32_on_cpu(tmp_path, mini_corpus, capsys, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    monkeypatch.setattr(train, "native_bf16", lambda device: False)  # a CPU without avx512_bf16 or amx_bf16
    out = tmp_path / "bf16"
    assert run(out, mini_corpus, "--set", "train.mixed_precision=bf16", "--set", "train.epochs=1") == 0
    assert "training in fp32 on CPU" in capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["mixed_precision"] == "no"


@pytest.mark.slow
def test_real_backbone_trains_and_serves(tmp_path, mini_corpus):
    """The embedded MiniLM fine-tunes for a few steps; SpanTagger and the plain
    transformers pipeline both load the result."""
    from transformers import pipeline

    from frontlines.inference import SpanTagger

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


# --- hostile checkpoints: nothing but tensors and plain data is ever unpickled --------------


class _Payload:
    """Unpickling this creates ``marker``: what a crafted checkpoint file would do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def checkpoint_copy(finished_run, tmp_path) -> Path:
    """A copy of the finished run whose newest checkpoint is the one to tamper with."""
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    for name in ("run.json", "README.md"):
        (run_dir / name).unlink()
    return sorted((run_dir / "checkpoints").glob("step-*"))[-1]


@pytest.mark.parametrize("name", ["custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "scheduler.bin"])
def test_a_crafted_pickle_in_a_checkpoint_runs_no_code(checkpoint_copy, tmp_path, capsys, name):
    import pickle

    marker = tmp_path / "pwned"
    (checkpoint_copy / name).write_bytes(pickle.dumps(_Payload(marker)))
    assert train.main(["--resume-from", str(checkpoint_copy)]) == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert f"error: {checkpoint_copy / name}:" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["optimizer.bin", "random_states_0.pkl", "model.safetensors"])
def test_a_truncated_checkpoint_file_is_a_located_error(checkpoint_copy, capsys, name):
    path = checkpoint_copy / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert train.main(["--resume-from", str(checkpoint_copy)]) == 2
    assert f"error: {path}: unreadable or truncated" in capsys.readouterr().err


def test_resume_with_no_complete_checkpoint_says_so(tmp_path, capsys):
    (tmp_path / "run" / "checkpoints" / "step-0000003.tmp").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "step-0000004").mkdir()
    assert train.main(["--output-dir", str(tmp_path / "run"), "--resume"]) == 2
    assert "no complete checkpoint" in capsys.readouterr().err


def test_a_failed_resume_leaves_the_runs_config_alone(checkpoint_copy, capsys):
    config = checkpoint_copy.parent.parent / "config.yaml"
    before = config.read_text()
    argv = ["--output-dir", str(checkpoint_copy.parent.parent), "--resume", "--set", "model_overrides.hidden_size=48"]
    assert train.main(argv) == 2
    assert "does not fit this run's model" in capsys.readouterr().err
    assert config.read_text() == before


# --- settings that cannot work fail before anything is written -------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model_overrides.hidden_size=33", "config key 'model_overrides'"),
        ("model_overrides.num_attention_heads=0", "config key 'model_overrides'"),
        ("data.max_length=1024", "'data.max_length' (1024) exceeds the model's 512 positions"),
        ("train.seed=-1", "'train.seed' must be >= 0"),
        ("optim.adam_eps=-1", "'optim.adam_eps' must be > 0"),
        ("optim.lr=.inf", "'optim.lr' must be a finite number"),
        ("train.tracker=nosuchtracker", "'train.tracker': unknown tracker 'nosuchtracker'"),
    ],
)
def test_unusable_settings_are_located_errors(tmp_path, mini_corpus, capsys, override, message):
    out = tmp_path / "out"
    assert run(out, mini_corpus, "--set", override) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_an_output_dir_that_cannot_be_created_is_a_located_error(tmp_path, mini_corpus, capsys):
    (tmp_path / "file").write_text("")
    assert run(tmp_path / "file" / "run", mini_corpus) == 2
    assert f"error: Not a directory: {tmp_path / 'file' / 'run'}" in capsys.readouterr().err
    assert run(tmp_path / "file", mini_corpus) == 2
    assert f"output directory {tmp_path / 'file'} is a file" in capsys.readouterr().err


def test_a_read_only_output_dir_is_a_located_error(tmp_path, mini_corpus, capsys):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    assert run(tmp_path / "ro" / "run", mini_corpus) == 2
    assert "error: Permission denied" in capsys.readouterr().err


def test_a_diverging_run_stops_and_saves_no_best_model(tmp_path, mini_corpus, capsys):
    out = tmp_path / "nan"
    assert run(out, mini_corpus, "--set", "optim.lr=1e30", "--set", "train.epochs=1") == 1
    assert "the training loss stopped being a finite number" in capsys.readouterr().err
    assert not (out / "model.safetensors").exists() and not (out / "run.json").exists()


# --- the program: python -m, by path under accelerate launch, and the launcher's death --------


def test_runs_as_a_module_and_by_path(tmp_path):
    import subprocess
    import sys

    for argv in ([sys.executable, "-m", "training.train", "--help"], [sys.executable, str(ROOT / "training" / "train.py"), "--help"]):
        done = subprocess.run(argv, cwd=ROOT if "-m" in argv else tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "--resume" in done.stdout, done.stderr


def test_killing_accelerate_launch_stops_the_trainer_with_a_checkpoint(tmp_path, mini_corpus):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "launched"
    argv = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--cpu", str(ROOT / "training" / "train.py"),
            "--config", TINY, "--output-dir", str(out), "--set", f"data.corpus=[{mini_corpus}]",
            "--set", "train.epochs=1000", "--set", "train.checkpoint_every=2"]
    launcher = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    trainer = None
    try:
        deadline = time.time() + 120
        while not list((out / "checkpoints").glob("step-???????")) and time.time() < deadline:
            assert launcher.poll() is None, launcher.stdout.read()
            time.sleep(0.2)
        children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
        assert len(children) == 1
        trainer = int(children[0])
        launcher.kill()  # SIGKILL: the launcher cannot forward anything
        output, _ = launcher.communicate(timeout=60)  # EOF once the trainer has closed the pipe too
        assert "interrupted (SIGTERM): checkpoint saved" in output
        trainer_gone = not Path(f"/proc/{trainer}").exists() or "State:\tZ" in Path(f"/proc/{trainer}/status").read_text()
        assert trainer_gone
    finally:
        launcher.kill()
        if trainer is not None and Path(f"/proc/{trainer}").exists():
            os.kill(trainer, signal.SIGKILL)
    assert train.main(["--output-dir", str(out), "--resume", "--set", "train.epochs=1"]) == 0


def test_a_signal_asks_for_a_stop_and_a_second_one_interrupts():
    import os
    import signal

    from frontlines.training.stopping import StopRequest

    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before
