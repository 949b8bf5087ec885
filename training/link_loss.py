"""An event-linking loss beside the tagger's during fine-tuning (``train.link_loss_weight``).

The learned linker (:mod:`inference.linker`) read the tagger's last hidden
states when this loss was written and measured (it shapes the last layer's;
linkers now read a middle layer, ``state_layer``, which has not been measured
with it). Fine-tuned for tags alone, those states say what a word is (a place, a
party) but little about which trigger it belongs to, or in which role: with
frozen states the linker's place F1 stayed under 0.70 even on gold spans. This
module adds, to every training window, the gold (trigger, candidate, role)
pairs and trigger statuses that fit inside it, and a small head that scores
them from the encoder's states; its loss is added to the tagger's, so the
encoder learns to put the links into the states the linker reads. The head is
thrown away after training: prediction stays one forward pass of a plain token
classifier, and the linker stage (training/train_linker.py) trains on the
states as before.

The candidates of a trigger are its window's gold ACTOR, LOCATION and PERCENT
spans in the trigger's sentence and the :data:`~inference.link_pairs.CONTEXT_SENTENCES`
before it, as the linker sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from frontlines.inference.events import sentence_of, sentences
from frontlines.inference.labels import STATUSES, TRIGGER_LABEL
from frontlines.inference.link_pairs import ALLOWED, CONTEXT_SENTENCES, ROLE_CLASSES, role_class
from frontlines.inference.spans import Example, Span

CANDIDATE_LABELS = tuple(ALLOWED)  # ACTOR, LOCATION, PERCENT: a pair's label index
#: Columns a window carries for this loss (empty lists where it has no event or the corpus has none).
LINK_KEYS = ("link_pairs", "link_triggers")


def trains_links(config: dict[str, Any], train: Sequence[Example]) -> bool:
    """Whether a run adds the linking loss: a positive ``train.link_loss_weight`` and event links to learn."""
    return config["train"]["link_loss_weight"] > 0 and any(ex.events for ex in train)


def _token_range(span: Span, offsets: Sequence[Sequence[int]], sequence_ids: Sequence[int | None]) -> tuple[int, int] | None:
    """``[lo, hi)`` of the window's tokens that cover ``span`` exactly, or None if the window cuts it."""
    inside = [i for i, ((s, e), q) in enumerate(zip(offsets, sequence_ids, strict=True))
              if q == 0 and e > s and s >= span.start and e <= span.end]
    if not inside or offsets[inside[0]][0] != span.start or offsets[inside[-1]][1] != span.end:
        return None
    return inside[0], inside[-1] + 1


def window_links(example: Example, offsets: Sequence[Sequence[int]],
                 sequence_ids: Sequence[int | None], roles: bool = True) -> dict[str, list[list[int]]]:
    """The window's link targets: ``link_pairs`` rows ``[t_lo, t_hi, c_lo, c_hi, label, role]`` (none
    without ``roles``) and ``link_triggers`` rows ``[t_lo, t_hi, status]`` (token ranges of this window)."""
    pairs: list[list[int]] = []
    triggers: list[list[int]] = []
    if not example.events:
        return {"link_pairs": pairs, "link_triggers": triggers}
    bounds = sentences(example.text) or [(0, len(example.text))]
    ranges = {s: _token_range(s, offsets, sequence_ids) for s in example.spans}
    cands = [s for s in example.spans if s.label in ALLOWED and ranges[s] is not None]
    for event in example.events:
        trig = event.trigger
        if trig.label != TRIGGER_LABEL or ranges.get(trig) is None:
            continue
        t_lo, t_hi = ranges[trig]
        triggers.append([t_lo, t_hi, STATUSES.index(event.status)])
        if not roles:
            continue
        t_sent = sentence_of(bounds, trig.start)
        for cand in cands:
            if 0 <= t_sent - sentence_of(bounds, cand.start) <= CONTEXT_SENTENCES:
                c_lo, c_hi = ranges[cand]
                pairs.append([t_lo, t_hi, c_lo, c_hi, CANDIDATE_LABELS.index(cand.label), role_class(event, cand)])
    return {"link_pairs": pairs, "link_triggers": triggers}


def add_link_targets(features: list[dict[str, Any]], examples: Sequence[Example], roles: bool = True) -> None:
    """Give every window of :func:`inference.alignment.encode_examples` its :data:`LINK_KEYS` (in place);
    without ``roles`` (``train.link_loss_roles: false``) only the triggers' statuses."""
    for f in features:
        f.update(window_links(examples[f["example_index"]], f["offset_mapping"], f["sequence_ids"], roles))


def collate_links(features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Batch tensors of the windows' link rows, each row prefixed with its window's index in the batch."""
    out = {}
    for key, width in (("link_pairs", 6), ("link_triggers", 3)):
        rows = [[b, *row] for b, f in enumerate(features) for row in f[key]]
        out[key] = torch.tensor(rows, dtype=torch.long).reshape(-1, width + 1)
    return out


class LinkCollator:
    """The token-classification collator plus the link rows (kept from the tokenizer, which cannot pad them)."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        links = collate_links(features) if LINK_KEYS[0] in features[0] else {}
        return {**self.base([{k: v for k, v in f.items() if k not in LINK_KEYS} for f in features]), **links}


class LinkHead(nn.Module):
    """Scores (trigger, candidate) pairs over ``none/taker/loser/place/extent`` and a trigger's status.

    A span is the mean of its tokens' states; a pair is ``[trigger, candidate, trigger * candidate]``
    through a one-hidden-layer MLP, masked to the roles its candidate's label allows.
    """

    def __init__(self, hidden_size: int, inner: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.role = nn.Sequential(nn.Linear(3 * hidden_size, inner), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(inner, len(ROLE_CLASSES)))
        self.status = nn.Sequential(nn.Linear(hidden_size, inner // 2), nn.ReLU(), nn.Dropout(dropout),
                                    nn.Linear(inner // 2, len(STATUSES)))
        allowed = torch.zeros(len(CANDIDATE_LABELS), len(ROLE_CLASSES), dtype=torch.bool)
        for i, label in enumerate(CANDIDATE_LABELS):
            allowed[i, list(ALLOWED[label])] = True
        self.register_buffer("allowed", allowed, persistent=False)

    def forward(self, states: torch.Tensor, link_pairs: torch.Tensor, link_triggers: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the pairs' roles plus that of the triggers' statuses (0 without any)."""
        loss = states.new_zeros(())
        if len(link_triggers) == 0:
            return loss
        batch, length = states.shape[:2]
        flat = states.reshape(batch * length, -1)
        positions = torch.arange(length, device=states.device)

        def mean(b: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
            """Mean state of tokens ``[lo, hi)`` of window ``b``: one (spans x tokens) weight matrix product."""
            inside = (positions >= lo[:, None]) & (positions < hi[:, None])
            weights = inside.to(states.dtype) / (hi - lo)[:, None].to(states.dtype)
            full = states.new_zeros(len(b), batch, length)
            full[torch.arange(len(b), device=states.device), b] = weights
            return full.reshape(len(b), -1) @ flat

        b, t_lo, t_hi, status = link_triggers.unbind(1)
        loss = loss + nn.functional.cross_entropy(self.status(mean(b, t_lo, t_hi)), status)
        if len(link_pairs):
            b, t_lo, t_hi, c_lo, c_hi, label, role = link_pairs.unbind(1)
            trig, cand = mean(b, t_lo, t_hi), mean(b, c_lo, c_hi)
            logits = self.role(torch.cat([trig, cand, trig * cand], dim=-1))
            logits = logits.masked_fill(~self.allowed[label], -1e4)
            loss = loss + nn.functional.cross_entropy(logits, role)
        return loss
