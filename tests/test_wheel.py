"""The built wheel installs as ``frontlines.inference`` / ``frontlines.training`` and runs from outside the repository.

A top-level ``inference`` or ``training`` in site-packages would shadow (or be shadowed by) other distributions of
those names (``inference`` is a computer-vision library on PyPI), so the test installs the wheel into a fresh
virtualenv beside a stand-in ``inference`` package and checks that both import and that the console command works.
The fresh environment borrows this one's third-party packages (torch, transformers, ...) through a path file, never
its editable install of the project, so only the wheel can provide ``frontlines``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForTokenClassification

from frontlines.inference.labels import ID2TAG, TAG2ID, TAGS

ROOT = Path(__file__).resolve().parent.parent


def _run(argv: list, cwd: Path, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300, **kw)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools")
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", out,
          ROOT], cwd=out)
    (built,) = out.glob("frontlines-*.whl")
    return built


def test_the_wheel_holds_only_the_frontlines_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"frontlines"}, tops
    for module in ("frontlines/inference/tagger.py", "frontlines/inference/cli.py", "frontlines/training/train.py",
                   "frontlines/training/convert/labelstudio.py"):
        assert module in names


def test_the_installed_wheel_imports_and_predicts_outside_the_repository(wheel, tmp_path, tokenizer):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel],
         cwd=tmp_path)
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path)
                .stdout.strip())
    # torch, transformers and the rest from this environment, appended after the fresh one's own site-packages
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    (site / "inference").mkdir()  # a stand-in for the unrelated PyPI `inference` distribution
    (site / "inference" / "__init__.py").write_text("NAME = 'someone else'\n", encoding="utf-8")

    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=len(TAGS), id2label=ID2TAG, label2id=TAG2ID)
    model = tmp_path / "model"
    BertForTokenClassification(config).eval().save_pretrained(model)
    tokenizer.save_pretrained(model)
    work = tmp_path / "elsewhere"  # not the repository: nothing there can be imported by accident
    work.mkdir()
    code = ("import sys, inference, frontlines.inference as fi, frontlines.training.corpus as corpus\n"
            "from frontlines.inference import SpanTagger\n"
            "print(inference.NAME); print(fi.__file__); print(corpus.__file__)\n"
            "assert 'training' not in sys.modules\n")
    lines = _run([python, "-I", "-c", code], cwd=work).stdout.splitlines()
    assert lines[0] == "someone else"
    assert all(line.startswith(str(site)) for line in lines[1:]), lines

    (work / "in.jsonl").write_text(json.dumps({"id": "a", "text": "Daesh retook Albu Kamal."}) + "\n", encoding="utf-8")
    _run([venv / "bin" / "frontlines", "predict", "--model", model, "--input", "in.jsonl", "--output", "out.jsonl"],
         cwd=work)
    (record,) = [json.loads(line) for line in (work / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert record["id"] == "a" and isinstance(record["spans"], list)
    help_text = _run([python, "-I", "-m", "frontlines.inference", "predict", "--help"], cwd=work).stdout
    assert "--model" in help_text
