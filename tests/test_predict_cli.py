"""``python -m inference predict`` and ``merge`` under hostile use: concurrent runs, clashing paths, bad
models, bad records, shards. Every refusal must be a one-line ``error:`` with file and line, never a
traceback, and no file a user handed us may be lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForTokenClassification

import frontlines.inference.fileio
from frontlines.inference import SpanTagger
from frontlines.inference.cli import main
from frontlines.inference.labels import ID2TAG, TAG2ID, TAGS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_dir(tokenizer, tmp_path_factory) -> Path:
    """A random two-layer BERT with the project's tags and the MiniLM tokenizer."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=len(TAGS), id2label=ID2TAG, label2id=TAG2ID)
    directory = tmp_path_factory.mktemp("model")
    BertForTokenClassification(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _jsonl(path: Path, lines: list) -> Path:
    """Write records (dicts) and raw lines (str) as given; raw lines may hold JSON escapes such as ``\\ud800``."""
    path.write_bytes("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n"
                             for x in lines).encode("utf-8"))
    return path


def _docs(n: int, prefix: str = "d") -> list[dict]:
    return [{"id": f"{prefix}{i}", "text": "Kamal Pasha fell to the Taliban . " * (1 + i % 5), "n": i} for i in range(n)]


def _ids(path: Path) -> list:
    return [json.loads(line)["id"] for line in path.read_bytes().decode("utf-8").split("\n") if line]


def _without_scores(path: Path) -> list:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(r["id"], [(s["start"], s["end"], s["label"]) for s in r["spans"]]) for r in records]


def _run(model_dir: Path, *args: object) -> int:
    return main(["predict", "--model", str(model_dir), "--no-progress", *map(str, args)])


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines, err
    return err[err.index("error:"):]


# ---- item 1: one run per output ---------------------------------------------


def test_a_second_run_on_a_live_output_is_refused_and_the_first_loses_nothing(model_dir, tmp_path, monkeypatch,
                                                                               capsys):
    src = _jsonl(tmp_path / "in.jsonl", _docs(12))
    assert _run(model_dir, "--input", src, "--output", tmp_path / "clean.jsonl", "--chunk-size", "3") == 0
    out = tmp_path / "o.jsonl"
    original = SpanTagger.predict
    paused, release = threading.Event(), threading.Event()
    calls = []

    def pause_the_first_run(self, texts, **kw):
        if threading.current_thread().name == "first":
            calls.append(len(texts))
            if len(calls) == 2:  # one chunk is on disk: the state file says "interrupted" to anyone looking
                paused.set()
                assert release.wait(60)
        return original(self, texts, **kw)

    monkeypatch.setattr(SpanTagger, "predict", pause_the_first_run)
    codes = []
    first = threading.Thread(name="first", target=lambda: codes.append(
        _run(model_dir, "--input", src, "--output", out, "--chunk-size", "3")))
    first.start()
    try:
        assert paused.wait(60)
        capsys.readouterr()
        for extra in ([], ["--resume"], ["--overwrite"], ["--resume", "--overwrite"]):
            assert _run(model_dir, "--input", src, "--output", out, "--chunk-size", "3", *extra) == 2
            message = _error_line(capsys)
            assert "another run is writing this output" in message and "--resume" not in message
    finally:
        release.set()
        first.join(60)
    assert codes == [0]
    assert _without_scores(out) == _without_scores(tmp_path / "clean.jsonl")  # a thread's sums differ in the last bits
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # the lock file goes with the run


def test_a_resumed_run_keeps_the_kernels_auto_chose(model_dir, tmp_path, monkeypatch):
    """``--linear-kernel auto`` chooses by the CPU; resumed on another machine, the run could choose the other
    kernel, and its lines would differ from an uninterrupted run's in the last bits of every score."""

    if not frontlines.inference.kernels.onednn_works():
        pytest.skip("no working oneDNN kernel in this torch build")
    amd = frontlines.inference.precision.CpuInfo("AuthenticAMD", frozenset({"avx512f"}))
    intel = frontlines.inference.precision.CpuInfo("GenuineIntel", frozenset({"avx512f"}))
    src = _jsonl(tmp_path / "in.jsonl", _docs(6))
    out = tmp_path / "o.jsonl"
    chosen, load, original = [], frontlines.inference.cli.load_tagger, SpanTagger.predict

    def recording(*args, **kw):
        tagger = load(*args, **kw)
        chosen.append(tagger.linear_kernel)
        return tagger

    def crash_on_second_chunk(self, texts, **kw):
        if (tmp_path / ".o.jsonl.state.json").exists():
            raise KeyboardInterrupt
        return original(self, texts, **kw)

    monkeypatch.setattr(frontlines.inference.cli, "load_tagger", recording)
    monkeypatch.setattr(frontlines.inference.precision, "cpu_info", lambda: amd)
    monkeypatch.setattr(SpanTagger, "predict", crash_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        _run(model_dir, "--input", src, "--output", out, "--chunk-size", "3")
    monkeypatch.setattr(frontlines.inference.precision, "cpu_info", lambda: intel)  # now "auto" would say no
    monkeypatch.setattr(SpanTagger, "predict", original)
    assert _run(model_dir, "--input", src, "--output", out, "--chunk-size", "3", "--resume") == 0
    assert chosen == ["onednn", "onednn"] and _ids(out) == [f"d{i}" for i in range(6)]


# ---- item 3: no output may be an input or another output --------------------


def test_an_output_that_is_an_input_or_another_output_is_refused(model_dir, tmp_path, capsys):
    src = _jsonl(tmp_path / "in.jsonl", _docs(3) + ["{bad"])
    before = src.read_bytes()
    out = tmp_path / "o.jsonl"
    os.link(src, tmp_path / "hard.jsonl")
    (tmp_path / "soft.jsonl").symlink_to(src)
    (tmp_path / "to-out.jsonl").symlink_to(out)
    cases = [
        (["--output", out, "--errors", out], "--output and --errors are the same file"),
        (["--output", out, "--errors", tmp_path / "to-out.jsonl"], "are the same file"),
        (["--output", out, "--errors", src, "--overwrite"], "--errors"),
        (["--output", tmp_path / "hard.jsonl", "--overwrite"], "is also an input"),
        (["--output", tmp_path / "soft.jsonl", "--overwrite"], "is also an input"),
        (["--output", out, "--errors", tmp_path / ".o.jsonl.partial"], "the partial output"),
        (["--output", out, "--errors", tmp_path / ".o.jsonl.state.json"], "the state file"),
    ]
    for args, expected in cases:
        assert _run(model_dir, "--input", src, "--skip-bad", *args) == 2, args
        assert expected in _error_line(capsys), args
        assert src.read_bytes() == before and not out.exists()


# ---- item 5: model directories that cannot be used ---------------------------


def _variant(model_dir: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    edit(copy)
    return copy


def _config(copy: Path, **changes) -> None:
    config = json.loads((copy / "config.json").read_text())
    config.update(changes)
    (copy / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda m: [p.unlink() for p in m.iterdir() if p.name.startswith("tokenizer")], "tokenizer.json is missing"),
    (lambda m: _config(m, id2label={str(i): f"L{i}" for i in range(len(TAGS))}), "not the project's tags"),
    (lambda m: _config(m, id2label=["O"]), "no id2label"),
    (lambda m: _config(m, id2label={"x": "O"}), "are not tag ids"),
    (lambda m: (m / "config.json").write_text("{nope"), "config.json: cannot be loaded"),
    (lambda m: (m / "config.json").write_text("[]"), "not a model configuration"),
    (lambda m: (m / "config.yaml").write_text("data:\n  max_length: 1024\n  stride: 64\n"),
     "config.yaml: data.max_length: windows of 1024 tokens exceed the model's max_position_embeddings (512)"),
    (lambda m: (m / "tokenizer.json").write_text("{not json"), "tokenizer.json: cannot be loaded"),
    (lambda m: (m / "model.safetensors").write_bytes((m / "model.safetensors").read_bytes()[:1000]),
     "(model weights): cannot be loaded"),
])
def test_an_unusable_model_directory_is_refused_by_name(model_dir, tmp_path, capsys, edit, expected):
    src = _jsonl(tmp_path / "in.jsonl", _docs(2))
    model = _variant(model_dir, tmp_path, edit)
    assert _run(model, "--input", src, "--output", tmp_path / "o.jsonl") == 2
    assert expected in _error_line(capsys)
    assert not (tmp_path / "o.jsonl").exists()


def test_windows_and_devices_the_model_cannot_take_are_refused(model_dir, tmp_path, capsys):
    src = _jsonl(tmp_path / "in.jsonl", _docs(2))
    for args, expected in (
        (["--max-length", "2048"], "max_length: windows of 2048 tokens exceed the model's max_position_embeddings"),
        (["--max-length", "32", "--stride", "40"], "stride (40)"),
        (["--device", "gpu7"], "device 'gpu7'"),
        (["--backend", "onnx"], "export-onnx"),
        (["--backend", "onnx", "--onnx-file", tmp_path / "none.onnx"], "no such ONNX file"),
    ):
        assert _run(model_dir, "--input", src, "--output", tmp_path / "o.jsonl", *args) == 2, args
        assert expected in _error_line(capsys), args
    with pytest.raises(FileNotFoundError, match="tokenizer.json is missing"):
        SpanTagger.from_pretrained(_variant(model_dir, tmp_path, lambda m: (m / "tokenizer.json").unlink()))


# ---- items 6, 8, 12, 13: records ----------------------------------------------


def test_a_lone_surrogate_is_a_located_error_and_skip_bad_resumes_past_it(model_dir, tmp_path, capsys):
    src = _jsonl(tmp_path / "in.jsonl", _docs(2) + ['{"id": "s", "text": "bad \\ud800 here"}',
                                                     '{"id": "m", "text": "ok", "meta": ["\\udfff"]}', _docs(1, "z")[0]])
    out = tmp_path / "o.jsonl"
    assert _run(model_dir, "--input", src, "--output", out, "--chunk-size", "1") == 1
    assert f"{src}:3: invalid text: lone surrogate U+D800" in _error_line(capsys)
    assert _run(model_dir, "--input", src, "--output", out, "--chunk-size", "1", "--resume", "--skip-bad") == 0
    assert _ids(out) == ["d0", "d1", "z0"]
    errors = [json.loads(line) for line in (tmp_path / "o.errors.jsonl").read_text().splitlines()]
    assert [e["line"] for e in errors] == [3, 4] and "U+DFFF" in errors[1]["error"]


def test_line_and_paragraph_separators_stay_inside_their_lines(model_dir, tmp_path):
    records = [{"id": "a", "text": "Kamal\u2028Pasha\u2029fell\u0085 to", "meta": "p\u0085q\u2028"},
               {"id": "b", "text": "x\u2029"}]
    src = _jsonl(tmp_path / "in.jsonl", records)  # raw separators inside the input's strings, too
    out = tmp_path / "o.jsonl"
    assert _run(model_dir, "--input", src, "--output", out, "--keep-text") == 0
    lines = out.read_text(encoding="utf-8").splitlines()  # what most readers do
    assert [json.loads(line)["text"] for line in lines] == [r["text"] for r in records]
    assert json.loads(lines[0])["meta"] == records[0]["meta"]


def test_records_that_cannot_be_read_or_written_back_are_located(model_dir, tmp_path, capsys):
    from frontlines.inference.records import MAX_DEPTH

    deep = '{"id": "x", "text": "t", "m": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}"
    cases = [
        ("[" * 100_000, "invalid JSON: nested too deeply"),
        ('{"id": ' + "9" * 5000 + ', "text": "x"}', "invalid JSON: Exceeds the limit"),
        ('{"id": "a", "text": "x", "m": NaN}', "field 'm' holds nan"),
        ('{"id": "a", "text": "x", "m": [1e999]}', "field 'm' holds inf"),
        (deep, f"nested more than {MAX_DEPTH} levels deep"),
    ]
    for line, expected in cases:
        src = _jsonl(tmp_path / "in.jsonl", _docs(1) + [line])
        assert _run(model_dir, "--input", src, "--output", tmp_path / "o.jsonl", "--overwrite") == 1, expected
        assert f"{src}:2: " in (message := _error_line(capsys)) and expected in message, message
    src = _jsonl(tmp_path / "in.jsonl", _docs(1) + [line for line, _ in cases])
    assert _run(model_dir, "--input", src, "--output", tmp_path / "o.jsonl", "--overwrite", "--skip-bad") == 0
    assert _ids(tmp_path / "o.jsonl") == ["d0"]
    assert len((tmp_path / "o.errors.jsonl").read_text().splitlines()) == len(cases)


def test_duplicate_ids_are_refused_naming_both_lines_unless_allowed(model_dir, tmp_path, capsys):
    src = _jsonl(tmp_path / "in.jsonl", _docs(3) + [{"id": "d1", "text": "again"}, {"id": 7, "text": "int"},
                                                     {"id": "7", "text": "str: another id"}])
    out = tmp_path / "o.jsonl"
    assert _run(model_dir, "--input", src, "--output", out) == 1
    message = _error_line(capsys)
    assert f"{src}:4: duplicate id 'd1' (first at {src}:2)" in message and "--allow-duplicate-ids" in message
    assert "'7'" not in message and not out.exists()
    assert _run(model_dir, "--input", src, tmp_path / "." / "in.jsonl", "--output", out) == 2
    assert "overlap: every record would be read twice" in _error_line(capsys)
    (tmp_path / "again.jsonl").write_bytes(src.read_bytes())
    assert _run(model_dir, "--input", src, tmp_path / "again.jsonl", "--output", out) == 1
    assert "7 duplicate id(s)" in _error_line(capsys)
    assert _run(model_dir, "--input", src, "--output", out, "--allow-duplicate-ids") == 0
    assert _ids(out) == ["d0", "d1", "d2", "d1", 7, "7"]


def test_outputs_in_an_input_folder_are_not_read_back_nor_articles_replaced(model_dir, tmp_path, capsys):
    docs = tmp_path / "docs"
    (docs / ".git").mkdir(parents=True)
    (docs / "a.txt").write_text("Kamal Pasha fell")
    (docs / ".git" / "junk.txt").write_text("not an article")
    (docs / ".notes.txt").write_text("hidden")
    out = docs / "spans.txt"
    for extra in ([], ["--overwrite"]):
        assert _run(model_dir, "--input", docs, "--output", out, "--skip-bad", *extra) == 0
        assert _ids(out) == ["a"]
    assert _run(model_dir, "--input", docs, "--output", docs / "a.txt", "--overwrite") == 2
    assert "is an article of an input folder" in _error_line(capsys)
    assert (docs / "a.txt").read_text() == "Kamal Pasha fell"


def test_output_paths_the_file_system_refuses_give_one_line(model_dir, tmp_path, monkeypatch, capsys):
    src = _jsonl(tmp_path / "in.jsonl", _docs(2) + ["{bad"])
    (tmp_path / "dir").mkdir()
    for args in (["--output", tmp_path / "dir"], ["--output", tmp_path / "dir", "--overwrite"],
                 ["--output", tmp_path / "o.jsonl", "--skip-bad", "--errors", tmp_path / "dir"]):
        assert _run(model_dir, "--input", src, *args) == 2
        assert "is a directory" in _error_line(capsys)
    assert (tmp_path / "dir").is_dir() and not list((tmp_path / "dir").iterdir())
    assert _run(model_dir, "--input", src, "--output", src / "o.jsonl") == 2  # under a file
    assert f"{src} is not a directory" in _error_line(capsys)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: refuse as the kernel would for anyone else
        def refuse(file, *args, **kw):
            if Path(file).parent == readonly:
                raise PermissionError(13, "Permission denied", str(file))
            return open(file, *args, **kw)

        monkeypatch.setattr(frontlines.inference.fileio, "open", refuse, raising=False)
    assert _run(model_dir, "--input", src, "--output", readonly / "o.jsonl") == 1
    assert "Permission denied" in _error_line(capsys)
    assert not list(readonly.iterdir())


# ---- item 16: shards and merge -------------------------------------------------


def test_shards_merge_into_the_single_process_output(model_dir, tmp_path, capsys):
    src = _jsonl(tmp_path / "in.jsonl", _docs(4) + ["\u3000", "{bad"] + _docs(5, "e"))  # a blank line of U+3000
    single = tmp_path / "single.jsonl"
    assert _run(model_dir, "--input", src, "--output", single, "--skip-bad", "--chunk-size", "2") == 0
    out = tmp_path / "o.jsonl"
    for index in (2, 0, 1):
        assert _run(model_dir, "--input", src, "--output", out, "--skip-bad", "--chunk-size", "2",
                    "--shard", f"{index}/3") == 0
        assert "python -m inference merge --output" in capsys.readouterr().err
    assert (tmp_path / "o.shard-1-of-3.jsonl").exists() and not out.exists()
    assert main(["merge", "--output", str(out), "--shards", "3"]) == 0
    assert _without_scores(out) == _without_scores(single)  # batches differ, so scores do in the last bits
    assert (tmp_path / "o.errors.jsonl").read_bytes() == (tmp_path / "single.errors.jsonl").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.jsonl", "o.errors.jsonl", "o.jsonl", "single.errors.jsonl", "single.jsonl"]


def test_merge_refuses_missing_unfinished_and_foreign_shards(model_dir, tmp_path, capsys):
    src = _jsonl(tmp_path / "in.jsonl", _docs(6))
    out = tmp_path / "o.jsonl"
    assert _run(model_dir, "--input", src, "--output", out, "--shard", "0/3") == 0
    assert main(["merge", "--output", str(out), "--shards", "3"]) == 2
    message = _error_line(capsys)
    assert "2 unfinished shard(s)" in message and "shard 1/3: missing" in message and "shard 2/3" in message
    bad = _jsonl(tmp_path / "bad.jsonl", _docs(2) + ["{bad"] + _docs(3, "z"))
    assert _run(model_dir, "--input", bad, "--output", out, "--shard", "1/3") == 1  # stops at its bad line
    capsys.readouterr()
    assert main(["merge", "--output", str(out), "--shards", "3"]) == 2
    assert "shard 1/3: not finished" in _error_line(capsys)
    assert _run(model_dir, "--input", bad, "--output", out, "--shard", "1/3", "--overwrite", "--skip-bad") == 0
    assert _run(model_dir, "--input", src, "--output", out, "--shard", "2/3") == 0
    assert main(["merge", "--output", str(out), "--shards", "3"]) == 2
    assert "shard 1/3 was run on other inputs" in _error_line(capsys)
    assert not out.exists()
    for spec in ("3/3", "x/2", "0/0", "-1/2"):
        with pytest.raises(SystemExit):
            _run(model_dir, "--input", src, "--output", out, "--shard", spec)
        assert "--shard" in capsys.readouterr().err


def test_rank_zero_gives_up_on_a_rank_that_never_finishes(model_dir, tmp_path, monkeypatch, capsys):
    src = _jsonl(tmp_path / "in.jsonl", _docs(4))
    out = tmp_path / "o.jsonl"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    started = time.monotonic()
    assert _run(model_dir, "--input", src, "--output", out, "--merge-timeout", "1.5") == 2
    assert time.monotonic() - started < 60
    message = _error_line(capsys)
    assert "after 1.5 s, 1 unfinished shard(s)" in message and "shard 1/2: missing" in message
    assert f"python -m inference merge --output {out} --shards 2" in message
    monkeypatch.setenv("RANK", "1")  # the late rank finishes; merging by hand then gives the whole output
    assert _run(model_dir, "--input", src, "--output", out) == 0
    assert main(["merge", "--output", str(out), "--shards", "2"]) == 0
    assert _ids(out) == [f"d{i}" for i in range(4)]
    monkeypatch.setenv("RANK", "x")
    assert _run(model_dir, "--input", src, "--output", tmp_path / "p.jsonl") == 2
    assert "must be integers" in _error_line(capsys)


def test_accelerate_launch_runs_two_ranks_and_rank_zero_merges(model_dir, tmp_path):
    src = _jsonl(tmp_path / "in.jsonl", _docs(7))
    assert _run(model_dir, "--input", src, "--output", tmp_path / "single.jsonl") == 0
    out = tmp_path / "o.jsonl"
    command = [sys.executable, "-m", "inference", "predict", "--model", str(model_dir), "--input", str(src),
               "--output", str(out), "--no-progress", "--merge-timeout", "120"]
    procs = [subprocess.Popen(command, cwd=ROOT, env={**os.environ, "RANK": str(r), "WORLD_SIZE": "2",
                                                      "LOCAL_RANK": str(r)}, stderr=subprocess.PIPE, text=True)
             for r in (0, 1)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert _without_scores(out) == _without_scores(tmp_path / "single.jsonl")
