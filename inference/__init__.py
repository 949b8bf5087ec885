"""The slim inference package: label set, span data model, alignment and :class:`SpanTagger`.

It needs torch (or onnxruntime) and the ``tokenizers`` library, never the
training stack, and transformers only for model directories that are not a
BERT saved as ``model.safetensors`` (see :mod:`inference.model_dir`); ``SpanTagger`` is imported lazily so that ``import frontlines.inference`` (and the
label set, spans and alignment modules the training code shares) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from frontlines.inference.tagger import SpanTagger

__all__ = ["SpanTagger"]


def __getattr__(name: str) -> Any:
    if name == "SpanTagger":
        from frontlines.inference.tagger import SpanTagger

        return SpanTagger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
