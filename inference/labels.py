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

#: Event records (one per CONTROL_CHANGE span): the label each role points at.
#: ``places`` is a list; the others are one span or none.
EVENT_ROLES: dict[str, str] = {"taker": "ACTOR", "loser": "ACTOR", "places": "LOCATION", "extent": "PERCENT"}
TRIGGER_LABEL = "CONTROL_CHANGE"

#: How sure the report is of the change (GUIDELINES.md, "Events"): in the order
#: the status classifier numbers them.
STATUSES: tuple[str, ...] = ("asserted", "claimed", "denied", "attempted", "planned")
