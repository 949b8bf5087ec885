"""The label set: the one place that names the span labels and their BIO tags.

Every other module (corpus validation, alignment, training, evaluation,
inference) imports from here, so adding a label is a one-line change.
"""

from __future__ import annotations

LABELS: tuple[str, ...] = ("ACTOR", "LOCATION", "CONTROL_CHANGE", "PERCENT")

OUTSIDE = "O"

#: BIO (IOB2) tags in a fixed order: O first, then B-/I- per label.
TAGS: tuple[str, ...] = (OUTSIDE,) + tuple(
    f"{prefix}-{label}" for label in LABELS for prefix in ("B", "I")
)

TAG2ID: dict[str, int] = {tag: i for i, tag in enumerate(TAGS)}
ID2TAG: dict[int, str] = dict(enumerate(TAGS))

#: Label id used by PyTorch's cross-entropy to ignore a token.
IGNORE_INDEX = -100


def is_label(name: str) -> bool:
    """True if ``name`` is one of the span labels."""
    return name in LABELS
