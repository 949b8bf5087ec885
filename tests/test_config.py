"""Config checks: every bad value fails in load_config, with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontlines.training.config import ConfigError, load_config

TINY = Path(__file__).parent.parent / "configs" / "tiny.yaml"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lr=.inf", "optim.lr"),
        ("optim.lr=1e999", "optim.lr"),
        ("optim.lr=.nan", "optim.lr"),
        ("optim.weight_decay=.nan", "optim.weight_decay"),
        ("optim.max_grad_norm=.inf", "optim.max_grad_norm"),
        ("optim.warmup_ratio=-.inf", "optim.warmup_ratio"),
        ("model_overrides.layer_norm_eps=.nan", "model_overrides.layer_norm_eps"),
    ],
)
def test_non_finite_numbers_are_refused(override, key):
    with pytest.raises(ConfigError, match=f"'{key}' must be a finite number"):
        load_config(TINY, [override])


def test_non_finite_number_in_a_file_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: .inf\n")
    with pytest.raises(ConfigError, match="'optim.lr' must be a finite number, got inf"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.seed=-1", "'train.seed' must be >= 0"),
        ("train.seed=4294967296", "'train.seed' must be <= 4294967295"),
        ("optim.adam_eps=-1", "'optim.adam_eps' must be > 0"),
        ("optim.adam_eps=0", "'optim.adam_eps' must be > 0"),
        ("model_overrides=3", "'model_overrides' must be dict"),
        ("model_overrides={1: 2}", "'model_overrides' must map names to values"),
        ("train.link_loss_roles=3", "'train.link_loss_roles' must be bool, got 3"),
    ],
)
def test_out_of_range_values_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TINY, [override])


def test_one_model_override_keeps_the_files_others():
    config = load_config(TINY, ["model_overrides.hidden_size=48"])
    assert config["model_overrides"]["hidden_size"] == 48
    assert config["model_overrides"]["num_hidden_layers"] == 2


def test_good_values_pass():
    config = load_config(TINY, ["optim.lr=3e-5", "train.seed=0", "optim.adam_eps=1e-6"])
    assert config["optim"]["lr"] == 3e-5 and config["train"]["seed"] == 0
