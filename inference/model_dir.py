"""Reading a run directory for prediction, checking each part before it is used.

``config.json`` must carry the project's tags, the tokenizer must be there
(transformers would otherwise build one of five special tokens, and every
text would come out as ``[UNK]``), the windows must fit the model's position
embeddings, the device must exist; files the libraries cannot read (truncated
weights, a corrupt ``tokenizer.json``) become one-line errors naming them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from frontlines.inference.labels import TAGS

#: Vocabulary files from which transformers builds a tokenizer when there is no ``tokenizer.json``.
VOCAB_FILES = ("vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


@contextlib.contextmanager
def loading(what: str | Path) -> Iterator[None]:
    """Turn a library's failure to read ``what`` (truncated weights, a corrupt ``tokenizer.json``) into a
    one-line ``ValueError`` naming it; tokenizers, safetensors and ONNX Runtime raise bare ``Exception``."""
    try:
        yield
    except Exception as exc:
        detail = " ".join(str(exc).split())
        raise ValueError(f"{what}: cannot be loaded ({type(exc).__name__}: {detail[:300]})") from exc


def check_device(device: str) -> None:
    """Fail clearly for a device string torch does not know, or a GPU this machine does not have."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"device {device!r}: {exc}") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (dev.index or 0) >= count:
            raise ValueError(f"device {device!r}: this machine has {count} CUDA GPU(s)")


def default_device() -> str:
    """The GPU of this process (``LOCAL_RANK`` under a launcher) if there is one, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count()}"
    return "cpu"


def check_tags(id2label: Any, where: str) -> None:
    """Fail clearly if a model's labels (``id2label``) are not this project's BIO tags in order."""
    if not isinstance(id2label, dict):
        raise ValueError(f"{where}: no id2label mapping of the project's tags {list(TAGS)}")
    try:
        labels = [id2label[k] for k in sorted(id2label, key=int)]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: id2label keys {list(id2label)[:10]} are not tag ids") from None
    if tuple(labels) != TAGS:
        raise ValueError(f"{where}: the model's labels {labels} are not the project's tags {list(TAGS)}")


def load_tokenizer(model_dir: str | Path) -> Any:
    """The run's fast tokenizer.

    Read straight from ``tokenizer.json`` with the ``tokenizers`` library
    (:class:`inference.tokenizer.WindowTokenizer`) when there is one and its
    ``tokenizer_config.json`` asks for nothing more: the same ids, offsets and
    windows as transformers' fast tokenizer, without importing transformers
    (about a second) or torch. Other directories get transformers' tokenizer.
    A directory with neither ``tokenizer.json`` nor a vocabulary file is
    refused: transformers would quietly build a tokenizer of five special
    tokens and every text would come out as ``[UNK]``.
    """
    model_dir = Path(model_dir)
    if (model_dir / "tokenizer.json").is_file():
        from frontlines.inference.tokenizer import CONFIG_FILE, WindowTokenizer, plain_config, read_backend, read_config

        with loading(model_dir / "tokenizer.json"):
            backend = read_backend(model_dir)
        with loading(model_dir / CONFIG_FILE):
            config = read_config(model_dir)
        if plain_config(config, backend) is None:
            return WindowTokenizer(backend, config)
        from transformers import PreTrainedTokenizerFast

        with loading(model_dir / "tokenizer.json"):
            return PreTrainedTokenizerFast.from_pretrained(model_dir)
    if not any((model_dir / name).is_file() for name in VOCAB_FILES):
        raise FileNotFoundError(
            f"{model_dir}: no tokenizer: tokenizer.json is missing, and so is any vocabulary file "
            f"({', '.join(VOCAB_FILES)}); save the tokenizer with the model (tokenizer.save_pretrained)")
    from transformers import AutoTokenizer

    with loading(f"{model_dir} (tokenizer)"):
        return AutoTokenizer.from_pretrained(model_dir)


def load_torch_model(model_dir: str | Path, config: dict[str, Any]) -> Any:
    """The run's token classifier for the torch backend, on the CPU, in eval mode.

    A BERT saved as one ``model.safetensors`` (what training writes) is built
    by :mod:`inference.bert` from ``config.json`` (``config``) and the file's
    tensors, without importing transformers (about two seconds of start-up);
    anything else (another architecture, ``pytorch_model.bin``, sharded
    weights) is loaded by ``AutoModelForTokenClassification``. Weights that
    cannot be read are a one-line error naming the directory.
    """
    from frontlines.inference.bert import WEIGHTS_FILE, bert_from_tensors, unsupported

    model_dir = Path(model_dir)
    if unsupported(config, model_dir) is None:
        from safetensors.torch import load_file

        with loading(f"{model_dir} (model weights)"):
            tensors = load_file(str(model_dir / WEIGHTS_FILE))
        return bert_from_tensors(config, tensors, model_dir / WEIGHTS_FILE)
    from transformers import AutoModelForTokenClassification

    with loading(f"{model_dir} (model weights)"):
        return AutoModelForTokenClassification.from_pretrained(model_dir).eval()


def run_windows(model_dir: Path) -> tuple[int | None, int | None]:
    """``(max_length, stride)`` the run was trained with, from its ``config.yaml`` (``None`` if absent)."""
    path = model_dir / "config.yaml"
    if not path.is_file():
        return None, None
    import yaml  # only for run directories written by training

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict):
        return None, None
    length, stride = data.get("max_length"), data.get("stride")

    def whole(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return whole(length), whole(stride)


def check_positions(config: dict[str, Any], max_length: int, where: str) -> None:
    """Fail clearly for windows longer than the model has position embeddings (it would crash mid-run)."""
    limit = config.get("max_position_embeddings")
    if isinstance(limit, int) and max_length > limit:
        raise ValueError(f"{where}: windows of {max_length} tokens exceed the model's max_position_embeddings "
                         f"({limit})")
