"""The learned event linker: scores and decodes (trigger, candidate span, role) pairs from the tagger's word states.

The pairs and their features come from :mod:`inference.link_pairs`. A small
MLP gives each pair a distribution over ``none/taker/loser/place/extent``
(masked by the candidate's label), and a second MLP gives the trigger's
status; linkers trained as an ensemble average the distributions of several
seeds' MLPs (``member{i}.*`` weights). Decoding keeps, per role, the
likeliest candidate over a dev-chosen cut.

Inference is numpy only (weights in ``linker/linker.safetensors``, settings
in ``linker/linker.json``), so it runs beside either backend;
``training/train_linker.py`` trains it with torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from frontlines.inference.labels import STATUSES
from frontlines.inference.link_pairs import ROLE_CLASSES, Pairs, build_pairs
from frontlines.inference.spans import Event, Span

LINKER_DIR = "linker"


def _mlp(x: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    for i, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


def _masked_softmax(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    z = np.where(mask, logits, -np.inf)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def decode_pairs(pairs: Pairs, role_probs: np.ndarray, status_probs: np.ndarray,
                 threshold: float | dict[str, float] = 0.5) -> tuple[Event, float]:
    """The event of one trigger from its pairs' role distributions and its status distribution."""
    cut = threshold if isinstance(threshold, dict) else dict.fromkeys(("taker", "loser", "place", "extent"), threshold)
    chosen: dict[str, Span | None] = {"taker": None, "loser": None, "extent": None}
    confidences = [float(status_probs.max())]
    for role in ("taker", "loser", "extent"):
        k = ROLE_CLASSES.index(role)
        if len(pairs.candidates) == 0:
            continue
        order = np.argsort(-role_probs[:, k])
        for j in order:
            if role_probs[j, k] < cut[role]:
                break
            cand = pairs.candidates[int(j)]
            if cand in chosen.values():
                continue
            chosen[role] = cand
            confidences.append(float(role_probs[j, k]))
            break
    # Places: every candidate over the place cut, and the likeliest one over a lower cut of its own
    # ("place_top"): most events have exactly one place, so the best candidate needs less evidence than a
    # second or third one (dev, gold spans: place F1 .64 -> .73 with the default run's linker).
    place_probs = role_probs[:, ROLE_CLASSES.index("place")] if len(pairs.candidates) else np.zeros(0)
    top_cut = cut.get("place_top", cut["place"])
    best = int(place_probs.argmax()) if len(place_probs) else -1
    keep = {j for j, p in enumerate(place_probs) if p >= cut["place"] or (j == best and p >= top_cut)}
    # A list shares its fate: a LOCATION listed next to a kept place ("took Sabratha and Surman") needs only
    # the "place_list" cut (dev-chosen; none in older linkers, where it stays off).
    list_cut = cut.get("place_list", math.inf)
    grown = True
    while grown:
        grown = False
        for i, j in pairs.lists:
            for have, other in ((i, j), (j, i)):
                if have in keep and other not in keep and place_probs[other] >= list_cut:
                    keep.add(other)
                    grown = True
    keep = sorted(keep, key=lambda j: pairs.candidates[j].start)
    places = tuple(pairs.candidates[j] for j in keep)
    confidences += [float(place_probs[j]) for j in keep]
    status = STATUSES[int(status_probs.argmax())]
    event = Event(trigger=pairs.trigger, status=status, taker=chosen["taker"], loser=chosen["loser"],
                  places=places, extent=chosen["extent"])
    return event, float(np.mean(confidences))


class EventLinker:
    """Loads ``<run>/linker`` and links events for one article at a time (numpy)."""

    def __init__(self, weights: dict[str, np.ndarray], settings: dict[str, Any]) -> None:
        self.settings = settings
        #: Whether the status features carry the article's mean states (:func:`build_pairs`'s ``document``).
        self.document = bool(settings.get("status_document", False))
        #: Whether the pair features carry :func:`_context` (:func:`build_pairs`'s ``context``).
        self.context = bool(settings.get("pair_context", False))
        #: The hidden state whose word states the pairs are built from (an index into the encoder's
        #: ``hidden_states``; -1, the last layer, in linkers older than ``state_layer``).
        self.state_layer = int(settings.get("state_layer", -1))
        # One probability cut per role (chosen on dev by the trainer), or one for all in older linkers.
        raw = settings.get("threshold", 0.5)
        self.threshold = {k: float(v) for k, v in raw.items()} if isinstance(raw, dict) else float(raw)
        #: ``(role layers, status layers)`` of each member: ``member{i}.role.*`` in linkers trained as an
        #: ensemble of seeds, the bare ``role.*`` / ``status.*`` of a single one (older linkers).
        self.members = [(_layers(weights, prefix + "role"), _layers(weights, prefix + "status"))
                        for prefix in _member_prefixes(weights)]
        # Feature standardisation fitted on the training pairs (hidden states have a few huge dimensions).
        self.norm = {k: (weights.get(f"norm.{k}.mean"), weights.get(f"norm.{k}.std")) for k in ("role", "status")}

    @property
    def status_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The first member's status MLP (its input width is the status features')."""
        return self.members[0][1]

    def _z(self, x: np.ndarray, key: str) -> np.ndarray:
        mean, std = self.norm[key]
        return x if mean is None or std is None else (x - mean) / std

    def score_pairs(self, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
        """``(role distributions (n_candidates, 5), status distribution (5,))`` of one trigger's pairs: the
        mean of the members' distributions."""
        role_x = self._z(pairs.features, "role") if len(pairs.candidates) else None
        status_x = self._z(pairs.status_features[None], "status")
        role_probs = np.zeros((len(pairs.candidates), len(ROLE_CLASSES)))
        status_probs = np.zeros(len(STATUSES))
        for role_layers, status_layers in self.members:
            if role_x is not None:
                role_probs += _masked_softmax(_mlp(role_x, role_layers), pairs.mask)
            logits = _mlp(status_x, status_layers)[0]
            e = np.exp(logits - logits.max())
            status_probs += e / e.sum()
        return role_probs / len(self.members), status_probs / len(self.members)

    @classmethod
    def from_dir(cls, run_dir: str | Path) -> EventLinker:
        """Read ``linker.json`` and ``linker.safetensors`` (tensors only: no code can run from them)."""
        from safetensors.numpy import load_file

        path = Path(run_dir) / LINKER_DIR
        settings_file, weights_file = path / "linker.json", path / "linker.safetensors"
        missing = [p.name for p in (settings_file, weights_file) if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{path}: no event linker ({', '.join(missing)} missing); "
                                    "train one with training/train_linker.py or use --events rules")
        try:
            settings = json.loads(settings_file.read_text(encoding="utf-8"))
            weights = load_file(str(weights_file))
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: unreadable event linker: {exc}") from exc
        try:
            return cls(weights, settings)
        except (ValueError, KeyError, AttributeError) as exc:  # a member without its layers, settings not a mapping
            raise ValueError(f"{weights_file}: not an event linker's weights and settings: {exc}") from exc

    def link(self, text: str, spans: Sequence[Span], word_vecs: np.ndarray,
             words: Sequence[tuple[int, int]]) -> list[tuple[Event, float]]:
        """Events (with scores) of one article from its spans and word states."""
        return [decode_pairs(p, *self.score_pairs(p), self.threshold)
                for p in build_pairs(text, spans, word_vecs, words, self.document, self.context)]


def _member_prefixes(weights: dict[str, np.ndarray]) -> list[str]:
    """``["member0.", "member1.", ...]`` for an ensemble's weights, ``[""]`` for a single linker's."""
    idx = sorted({int(k.split(".")[0][len("member"):]) for k in weights if k.startswith("member")})
    return [f"member{i}." for i in idx] or [""]


def _layers(weights: dict[str, np.ndarray], prefix: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``{prefix}.{i}.weight/bias`` tensors in order (the torch ``Sequential`` naming of the trainer)."""
    idx = sorted({int(k[len(prefix) + 1 :].split(".")[0]) for k in weights if k.startswith(prefix + ".")})
    if not idx:
        raise ValueError(f"event linker weights have no {prefix!r} layers")
    return [(weights[f"{prefix}.{i}.weight"].astype(np.float32), weights[f"{prefix}.{i}.bias"].astype(np.float32))
            for i in idx]
