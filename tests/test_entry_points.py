"""The ``frontlines`` console command: every subcommand is its module's own program, and pyproject points at it."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from frontlines.inference.fileio import write_jsonl_atomic
from frontlines.training.frontlines_cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
#: One option each program's own help lists (beyond -h).
OPTIONS = {"predict": "--keep-text", "merge": "--shards", "export-events": "--input", "export-onnx": "--quantize",
           "train": "--resume", "train-linker": "--run", "evaluate": "compare", "convert": "import",
           "select": "--diversity", "validate": "paths"}


def test_every_subcommand_is_listed_and_the_top_level_help_loads_no_model_code():
    code = ("import sys\nfrom frontlines.training.frontlines_cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert set(COMMANDS) == set(OPTIONS)
    for name, command in COMMANDS.items():
        assert f"frontlines {name}" in done.stdout and command.program in done.stdout


@pytest.mark.parametrize("name", list(OPTIONS))
def test_each_subcommands_help_is_its_programs_own(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {COMMANDS[name].program}") and OPTIONS[name] in out


def test_arguments_and_exit_status_pass_through(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    write_jsonl_atomic(bad, [{"id": "a", "text": "Rebels took Kidal.", "spans": [{"start": 0, "end": 6, "label": "X"}]}])
    assert main(["validate", str(bad)]) == 1
    assert f"{bad}:1 [a] span [0, 6) X: unknown label 'X'" in capsys.readouterr().err
    assert main(["train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--output-dir", str(tmp_path / "r"),
                 "--set", "data.corpus_weights=[1, 2]"]) == 2
    assert "data.corpus_weights' has 2 weight(s)" in capsys.readouterr().err


def test_no_command_or_an_unknown_one_is_a_usage_error(capsys):
    for argv in ([], ["nonsense"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


def test_the_console_script_target_imports():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, _, attr = scripts["frontlines"].partition(":")
    assert getattr(importlib.import_module(module), attr) is main


def test_the_documented_programs_still_run(tmp_path):
    for argv, cwd in (([sys.executable, "-m", "inference", "predict", "--help"], ROOT),
                      ([sys.executable, "-m", "training.frontlines_cli", "validate", "--help"], ROOT)):
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "usage:" in done.stdout, done.stderr
