"""Shared fixtures: the real MiniLM tokenizer (fast to load) and a tiny model config."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from frontlines.training.backbone import resolve_backbone


@pytest.fixture(scope="session")
def tokenizer():
    """The embedded backbone's fast tokenizer: the one the corpus must survive."""
    return AutoTokenizer.from_pretrained(resolve_backbone("embedded:minilm"))
