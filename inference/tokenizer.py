"""A run's ``tokenizer.json`` read with the ``tokenizers`` library alone, for prediction without transformers.

transformers' fast tokenizer is a wrapper around the same ``tokenizers``
object, and importing it costs about a second at start-up (its import pulls
in much of transformers). :class:`WindowTokenizer` is the part of that wrapper
that :func:`inference.alignment.encode_texts` and :class:`inference.SpanTagger`
use: the same ``encode_batch`` call with the same truncation (``max_length``,
``stride``, ``longest_first``, the config's ``truncation_side``) and no
padding, giving the same ids, offsets, sequence ids and overflowing windows.

transformers also edits the backend on loading when ``tokenizer_config.json``
asks for more than ``tokenizer.json`` holds (special tokens missing from it,
``add_bos_token``/``add_eos_token``, tokens in ``added_tokens_decoder`` that
differ); :func:`plain_config` spots those directories and
:func:`inference.model_dir.load_tokenizer` leaves them to transformers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
#: The named special tokens of a tokenizer config, and its lists of further special tokens.
NAMED_SPECIALS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
EXTRA_SPECIALS = ("extra_special_tokens", "additional_special_tokens")
#: transformers' default inputs of a tokenizer whose config names none.
DEFAULT_INPUT_NAMES = ("input_ids", "attention_mask")
#: Above this vocabulary size transformers may patch the pre-tokenizer's regex (Mistral's); left to it.
MAX_PLAIN_VOCAB = 100_000


class Windows(dict):
    """``{"input_ids", "offset_mapping", "overflow_to_sample_mapping", ...}`` of a batch, one list per window.

    The subset of transformers' ``BatchEncoding`` that the alignment reads,
    with :meth:`sequence_ids` per window.
    """

    def __init__(self, data: dict[str, list[Any]], encodings: list[Any]) -> None:
        super().__init__(data)
        self.encodings = encodings

    def sequence_ids(self, index: int) -> list[int | None]:
        """Which sequence each token of window ``index`` belongs to (``None`` for special tokens)."""
        return self.encodings[index].sequence_ids


def _content(token: Any) -> str | None:
    """A special token's text in a tokenizer config: a string, or a serialized ``AddedToken`` dict."""
    if isinstance(token, str):
        return token
    if isinstance(token, dict) and isinstance(token.get("content"), str):
        return token["content"]
    return None


def plain_config(config: dict[str, Any], backend: Any) -> str | None:
    """Why transformers would load ``tokenizer.json`` into something else under ``config``; None if it would not."""
    added = {token.content: (index, token) for index, token in backend.get_added_tokens_decoder().items()}
    if "add_bos_token" in config or "add_eos_token" in config:
        return "the config sets add_bos_token or add_eos_token (transformers rewrites the post-processor)"
    if backend.post_processor is None:
        return "tokenizer.json has no post-processor (transformers writes one)"
    if backend.get_vocab_size() > MAX_PLAIN_VOCAB:
        return f"a vocabulary of over {MAX_PLAIN_VOCAB} tokens (transformers may patch its pre-tokenizer)"
    specials = [config.get(key) for key in NAMED_SPECIALS]
    for key in EXTRA_SPECIALS:
        value = config.get(key)
        specials.extend(value if isinstance(value, list) else [value] if value else [])
    for token in specials:
        if token is None:
            continue
        content = _content(token)
        if content is None or content not in added or not added[content][1].special:
            return f"special token {token!r} is not a special token of tokenizer.json (transformers adds it)"
    for index, token in (config.get("added_tokens_decoder") or {}).items():
        content = _content(token)
        mine = added.get(content) if content is not None else None
        flags = ("lstrip", "rstrip", "single_word", "normalized", "special")
        if (mine is None or str(mine[0]) != str(index) or not isinstance(token, dict)
                or any(key in token and token[key] != getattr(mine[1], key) for key in flags)):
            return f"added token {index}: {token!r} differs from tokenizer.json's (transformers adds it)"
    return None


def read_backend(model_dir: str | Path) -> Any:
    """``model_dir/tokenizer.json`` as a ``tokenizers.Tokenizer`` (raises what ``tokenizers`` raises for a bad file)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(Path(model_dir) / TOKENIZER_FILE))


def read_config(model_dir: str | Path) -> dict[str, Any]:
    """``model_dir/tokenizer_config.json`` ({} if there is none); a ``ValueError`` if it is not a JSON object."""
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    config = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(config, dict):
        raise ValueError("not a JSON object")
    return config


class WindowTokenizer:
    """``tokenizer.json`` through the ``tokenizers`` library, called as :func:`inference.alignment.encode_texts` calls
    transformers' fast tokenizer: ``tokenizer(texts, truncation=True, max_length=..., stride=...,
    return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)``."""

    #: Offsets come from the Rust tokenizer, as with transformers' fast tokenizers.
    is_fast = True

    def __init__(self, backend: Any, config: dict[str, Any] | None = None) -> None:
        config = config or {}
        self.backend = backend
        self.backend.no_padding()
        self.backend.no_truncation()
        self.backend.encode_special_tokens = bool(config.get("split_special_tokens", False))
        self.truncation_side = config.get("truncation_side", "right")
        if self.truncation_side not in ("right", "left"):
            raise ValueError(f"truncation_side {self.truncation_side!r}: expected right or left")
        self.model_input_names = list(config.get("model_input_names") or DEFAULT_INPUT_NAMES)
        pad = _content(config.get("pad_token"))
        self.pad_token_id = None if pad is None else backend.token_to_id(pad)
        if pad is not None and self.pad_token_id is None:  # transformers maps an unknown token to [UNK]'s id
            unk = _content(config.get("unk_token"))
            self.pad_token_id = backend.token_to_id(unk) if unk is not None else None

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """Special tokens the post-processor adds to one sequence (or a pair)."""
        return self.backend.num_special_tokens_to_add(pair)

    def __call__(
        self,
        texts: Sequence[str],
        truncation: bool = False,
        max_length: int | None = None,
        stride: int = 0,
        return_overflowing_tokens: bool = False,
        return_offsets_mapping: bool = False,
        padding: bool = False,
        add_special_tokens: bool = True,
    ) -> Windows:
        """Encode a batch of texts (a list, as transformers' batch call); windows of overflowing texts follow
        their first window, and ``overflow_to_sample_mapping`` gives each window's text."""
        if isinstance(texts, str) or padding:
            raise ValueError("WindowTokenizer encodes a list of texts, without padding")
        if truncation:
            if max_length is None:
                raise ValueError("truncation needs max_length")
            self.backend.enable_truncation(max_length, stride=stride, strategy="longest_first",
                                           direction=self.truncation_side)
        else:
            self.backend.no_truncation()
        encoded = self.backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        encodings: list[Any] = []
        owners: list[int] = []
        for i, enc in enumerate(encoded):
            windows = [enc, *enc.overflowing] if return_overflowing_tokens else [enc]
            encodings.extend(windows)
            owners.extend([i] * len(windows))
        data: dict[str, list[Any]] = {"input_ids": [e.ids for e in encodings]}
        if "token_type_ids" in self.model_input_names:
            data["token_type_ids"] = [e.type_ids for e in encodings]
        if "attention_mask" in self.model_input_names:
            data["attention_mask"] = [e.attention_mask for e in encodings]
        if return_offsets_mapping:
            data["offset_mapping"] = [e.offsets for e in encodings]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = owners
        return Windows(data, encodings)
