"""Converters between the corpus (JSON lines of :class:`inference.spans.Example`) and annotation tools' formats.

Each format is one module with ``write(path, examples, ...)`` and ``read(path[, texts])``;
``read`` validates every record with :func:`training.corpus.check_record` and
raises :class:`training.corpus.CorpusError` listing every located problem, and
every ``write`` is atomic. Event links are not carried (no tool here has them).
Command line: ``python -m training.convert`` (see its ``--help``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from frontlines.inference.spans import Example
from frontlines.training.convert import conll, doccano, hf, labelstudio, prodigy

FORMATS: dict[str, ModuleType] = {
    "label-studio": labelstudio, "doccano": doccano, "prodigy": prodigy, "conll": conll, "hf": hf}
#: Formats that hold pre-annotations (with scores where the tool has a place for them).
TASK_FORMATS = ("label-studio", "doccano", "prodigy")
#: Formats that keep words only: import needs the original texts for offsets into them.
WORD_FORMATS = ("conll", "hf")


def read(fmt: str, path: str | Path, texts: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[list[Example], int]:
    """``(examples, records skipped)`` from a file in ``fmt``; raises ``CorpusError`` with every problem."""
    module = FORMATS[fmt]
    return module.read(path, texts) if fmt in WORD_FORMATS else module.read(path)


def write(fmt: str, path: str | Path, examples: Sequence[Example], **kwargs: Any) -> None:
    """Write ``examples`` in ``fmt`` (atomically); task formats take ``scores``, ``extras``, ``model_version``."""
    FORMATS[fmt].write(path, examples, **kwargs)
