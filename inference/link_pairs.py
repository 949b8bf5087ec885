"""The learned linker's candidate pairs: for each trigger, the spans that may fill its roles, and their features.

For every CONTROL_CHANGE span, the candidates are the ACTOR, LOCATION and
PERCENT spans of its sentence and the sentences just before it (a pronoun's
party or "the town" is named earlier). Each pair is described by the
encoder's hidden states (of the linker's ``state_layer``: trigger, candidate, their product), a few
position and cue features, and the rule baseline's choice
(:mod:`inference.event_rules`), so the linker learns where the rules are
right and where context says otherwise. The pair's vector is ``[trigger,
candidate, trigger * candidate, mean of the words between them, hand
features]``; newer linkers append article-level features (:func:`_context`:
is the place only pointed back to, how often and how early a candidate is
named). Each trigger also gets its status features. :mod:`inference.linker`
scores and decodes them; ``training/train_linker.py`` and
``training/link_loss.py`` build their targets from the same roles.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import regex

from frontlines.inference.event_rules import rule_events
from frontlines.inference.events import sentence_of, sentences
from frontlines.inference.labels import STATUSES, TRIGGER_LABEL
from frontlines.inference.spans import Event, Span

ROLE_CLASSES = ("none", "taker", "loser", "place", "extent")
#: Which role classes a candidate of each label may take.
ALLOWED = {"ACTOR": (0, 1, 2), "LOCATION": (0, 3), "PERCENT": (0, 4)}
CUES = ("by", "from", "to", "of", "in", "(", "said", "says", "against", "for")
#: Sentences before the trigger's that give all their spans as candidates; before them, only the last
#: few parties and places (where a pronoun's party or "the town" is named).
CONTEXT_SENTENCES = 2
FAR_ACTORS, FAR_PLACES = 3, 2
#: Words before and after the trigger whose mean state the status classifier reads ("denied that", "vowed to").
STATUS_LEFT, STATUS_RIGHT = 6, 4
#: The opening words whose mean state the status classifier reads beside the whole article's (``document``):
#: a party's own communiqué or press release makes every change in it claimed (GUIDELINES, "claimed").
STATUS_LEAD = 40
#: What stands for a place already named ("the town fell", "retook it"): the place is then a named mention
#: further back (GUIDELINES, "places").
ANAPHOR = regex.compile(r"\b(it|the (town|city|village|base|port|airport|area|region|enclave|district|province|site|"
                        r"camp|capital|settlement|hill|mountain|locality|stronghold|territory|zone|island|strip|county|"
                        r"state|complex|neighbou?rhoods?|villages|towns|areas))\b", regex.IGNORECASE)
#: Width of :func:`_context`.
N_CONTEXT = 15


def n_hand_features(context: bool = False) -> int:
    """Width of :func:`_hand` (and :func:`_context` after it when ``context``), kept in one place for the trainer."""
    return 12 + 2 * len(CUES) + 4 + 3 + 3 + (N_CONTEXT if context else 0)


@dataclass
class Pairs:
    """The candidates of one trigger and their features."""

    trigger: Span
    candidates: list[Span]
    features: np.ndarray  # (n_candidates, d)
    mask: np.ndarray  # (n_candidates, n_role_classes) True where allowed
    status_features: np.ndarray  # (d_status,)
    rule: Event
    #: ``(i, j)`` candidate indices of two LOCATIONs next to each other in one list ("Sabratha and Surman")
    lists: tuple[tuple[int, int], ...] = ()


def span_vectors(word_vecs: np.ndarray, words: Sequence[tuple[int, int]], spans: Sequence[Span]) -> dict[Span, np.ndarray]:
    """Mean word state of each span (words as ``(start, end)``)."""
    starts = np.asarray([s for s, _ in words], dtype=np.int64)
    out = {}
    for span in spans:
        lo = int(np.searchsorted(starts, span.start, side="left"))
        hi = max(int(np.searchsorted(starts, span.end, side="left")), lo + 1)
        out[span] = word_vecs[lo:hi].mean(0)
    return out


def _bucket(n: int) -> float:
    return math.log1p(max(n, 0)) / 5.0


def _hand(text: str, trig: Span, cand: Span, sent_gap: int, between_same: int, nearest: bool,
          rule_role: int, direction: str) -> np.ndarray:
    """Position, cue and rule features of one pair (:func:`n_hand_features` wide)."""
    after = cand.start >= trig.end
    gap_text = text[trig.end : cand.start] if after else text[cand.end : trig.start]
    gap_words = gap_text.lower().split()
    before_cand = text[max(0, cand.start - 30) : cand.start].lower().split()[-2:]
    f = [
        float(after), float(not after), _bucket(len(gap_words)), float(sent_gap == 0), float(sent_gap == 1),
        float(sent_gap >= 2), _bucket(between_same), float(nearest), float(len(gap_words) <= 2),
        float(cand.label == "ACTOR"), float(cand.label == "LOCATION"), float(cand.label == "PERCENT"),
    ]
    f += [float(c in gap_words or (c == "(" and "(" in gap_text)) for c in CUES]
    f += [float(c in before_cand) for c in CUES]
    f += [float(rule_role == r) for r in range(1, 5)]
    f += [float(direction == d) for d in ("gain", "loss", "fall")]
    trig_text = text[trig.start : trig.end].lower()
    f += [float(trig_text.endswith(("ure", "ion", "all", "oss", "over"))), float(trig_text.endswith("ed")),
          float(trig_text.endswith("ing"))]
    return np.asarray(f, dtype=np.float32)


def role_class(event: Event, cand: Span) -> int:
    """The index in :data:`ROLE_CLASSES` of the role ``cand`` fills in ``event`` (0: none). One home for the
    rule feature, the linker's gold labels and the training loss's targets."""
    if cand == event.taker:
        return ROLE_CLASSES.index("taker")
    if cand == event.loser:
        return ROLE_CLASSES.index("loser")
    if cand in event.places:
        return ROLE_CLASSES.index("place")
    return ROLE_CLASSES.index("extent") if cand == event.extent else 0


class _Article:
    """Article-wide facts the pair features read: how often each party or place is named, which is named first
    and most, and what the rule baseline made of the earlier triggers (who took a place before is who loses it)."""

    def __init__(self, text: str, spans: Sequence[Span], rules: dict[Span, Event],
                 bounds: Sequence[tuple[int, int]]) -> None:
        self.text = text
        #: Each (label, name)'s mentions in text order.
        self.mentions: dict[tuple[str, str], list[Span]] = {}
        for s in sorted(spans):
            self.mentions.setdefault((s.label, self.name(s)), []).append(s)
        self.top = {label: max((len(v) for (lab, _), v in self.mentions.items() if lab == label), default=0)
                    for label in ("ACTOR", "LOCATION")}
        self.first: dict[str, str] = {}
        for s in sorted(spans):
            self.first.setdefault(s.label, self.name(s))
        self.lead_end = bounds[0][1] if bounds else len(text)
        self.rules = [rules[t] for t in sorted(rules)]

    def name(self, span: Span | None) -> str:
        return "" if span is None else " ".join(self.text[span.start : span.end].lower().split())

    def shadowed(self, cand: Span, trig: Span) -> bool:
        """Whether another mention of ``cand``'s name lies wholly between it and the trigger."""
        lo, hi = (cand.end, trig.start) if cand.end <= trig.start else (trig.end, cand.start)
        same = self.mentions.get((cand.label, self.name(cand)), [])
        i = bisect.bisect_left([m.start for m in same], lo)
        return any(m != cand and m.end <= hi for m in itertools.takewhile(lambda m: m.start < hi, same[i:]))

    def trigger_facts(self, trig: Span, sentence: tuple[int, int], spans: Sequence[Span]) -> tuple[np.ndarray, tuple]:
        """What :func:`_context` reads of one trigger: whether its sentence names a place and a party, whether
        something points back before or after it ("the town fell", "retook it"), and the names of the rule
        baseline's takers, losers and places of the triggers before it (and the places of the one just before)."""
        in_sent = [s for s in spans if sentence[0] <= s.start < sentence[1] and s != trig]
        before = " ".join(self.text[sentence[0] : trig.start].split()[-6:])
        after = " ".join(self.text[trig.end : sentence[1]].split()[:8])
        flags = np.asarray([any(s.label == "LOCATION" for s in in_sent), any(s.label == "ACTOR" for s in in_sent),
                            bool(ANAPHOR.search(before)), bool(ANAPHOR.search(after))], dtype=np.float32)
        takers, losers, places, last = set(), set(), set(), set()
        for e in self.rules:
            if e.trigger >= trig:
                break
            takers.add(self.name(e.taker))
            losers.add(self.name(e.loser))
            last = {self.name(p) for p in e.places}
            places |= last
        return flags, (takers - {""}, losers - {""}, places, last)


def _context(art: _Article, facts: tuple[np.ndarray, tuple], trig: Span, cand: Span,
             sentence: tuple[int, int]) -> np.ndarray:
    """Article-level features of one pair (:data:`N_CONTEXT` wide): the trigger's facts
    (:meth:`_Article.trigger_facts`), how often and how early the candidate is named, whether a nearer mention
    of the same name stands between it and the trigger (GUIDELINES, "Which mention": the nearest), and whether
    the rules gave it a role in an earlier trigger."""
    flags, (takers, losers, places, last) = facts
    name = art.name(cand)
    n = len(art.mentions.get((cand.label, name), ())) or 1
    return np.concatenate([flags, np.asarray([
        _bucket(n), n == art.top.get(cand.label, -1), n >= 2, name == art.first.get(cand.label),
        cand.start < art.lead_end, art.shadowed(cand, trig),
        name in takers, name in losers, name in places, name in last, cand.start >= sentence[0],
    ], dtype=np.float32)])


def _status_cues(rule: Event) -> np.ndarray:
    return np.asarray([float(rule.status == s) for s in STATUSES], dtype=np.float32)


def _cue_flags(text: str, trig: Span, sentence: tuple[int, int], spans: Sequence[Span]) -> np.ndarray:
    """Status cue words (the rule baseline's lists) before and after the trigger in its sentence, and a party
    next to a reporting verb: what says a change is denied, attempted, planned or only claimed."""
    from frontlines.inference.event_rules import ATTEMPTED_CUES, CLAIM_CUES, DENIED_CUES, MODAL_CUES, PLANNED_CUES

    before = " ".join(text[sentence[0] : trig.start].split()[-10:])
    after = " ".join(text[trig.end : sentence[1]].split()[:6])
    flags = [float(bool(rx.search(part))) for part in (before, after)
             for rx in (DENIED_CUES, ATTEMPTED_CUES, PLANNED_CUES, MODAL_CUES, CLAIM_CUES)]
    claim = CLAIM_CUES.search(text, sentence[0], sentence[1])
    near = claim is not None and any(s.label == "ACTOR" and abs(s.end - claim.start()) < 40 for s in spans
                                     if sentence[0] <= s.start < sentence[1])
    return np.asarray([*flags, float(near)], dtype=np.float32)


def build_pairs(text: str, spans: Sequence[Span], word_vecs: np.ndarray,
                words: Sequence[tuple[int, int]], document: bool = False, context: bool = False) -> list[Pairs]:
    """The candidate pairs of every trigger of one article, with features.

    ``document`` (linkers trained since 2026-12-02, ``status_document`` in
    ``linker.json``) appends to each trigger's status features the mean state
    of the whole article and of its first :data:`STATUS_LEAD` words: what
    kind of text it is (a party's communiqué, a wire story) decides between
    claimed and asserted as much as the trigger's own sentence does.
    ``context`` (``pair_context`` in ``linker.json``) appends :func:`_context`'s
    article-level features to each pair.
    """
    from frontlines.inference.event_rules import trigger_direction  # one home for the trigger's direction

    spans = sorted(spans)
    bounds = sentences(text) or [(0, len(text))]
    starts = np.asarray([s for s, _ in words], dtype=np.int64)
    csum = np.vstack([np.zeros((1, word_vecs.shape[1]), np.float32), np.cumsum(word_vecs, 0, dtype=np.float32)])

    def between(a: Span, b: Span) -> np.ndarray:
        """Mean state of the words strictly between two spans (what links them: "fell to", "from", "said")."""
        lo_end, hi_start = (a.end, b.start) if a.end <= b.start else (b.end, a.start)
        lo = int(np.searchsorted(starts, lo_end, side="left"))
        hi = int(np.searchsorted(starts, hi_start, side="left"))
        return (csum[hi] - csum[lo]) / (hi - lo) if hi > lo else np.zeros(word_vecs.shape[1], np.float32)

    sent_of = {s: sentence_of(bounds, s.start) for s in spans}
    vec = span_vectors(word_vecs, words, spans)
    rules = {e.trigger: e for e, _ in rule_events(text, spans)}
    art = _Article(text, spans, rules, bounds) if context else None
    sentence_vecs: dict[int, np.ndarray] = {}
    doc_vecs = np.zeros(0, np.float32)
    if document:
        zero = np.zeros(word_vecs.shape[1], np.float32)
        doc_vecs = np.concatenate([word_vecs.mean(0) if len(word_vecs) else zero,
                                   word_vecs[:STATUS_LEAD].mean(0) if len(word_vecs) else zero])
    out = []
    for trig in (s for s in spans if s.label == TRIGGER_LABEL):
        t_sent = sent_of[trig]
        # Roles are filled from the trigger's sentence or the ones before it (GUIDELINES, "Which mention"),
        # and a pronoun or "the town" may reach further back: the last few parties and places before that too.
        cands = [s for s in spans if s.label in ALLOWED and 0 <= t_sent - sent_of[s] <= CONTEXT_SENTENCES]
        earlier = [s for s in spans if sent_of[s] < t_sent - CONTEXT_SENTENCES]
        cands = ([s for s in earlier if s.label == "ACTOR"][-FAR_ACTORS:]
                 + [s for s in earlier if s.label == "LOCATION"][-FAR_PLACES:] + cands)
        rule = rules[trig]
        direction = trigger_direction(text[trig.start : trig.end])
        facts = art.trigger_facts(trig, bounds[t_sent], spans) if art is not None else None
        rows, masks = [], []
        for cand in cands:
            same = [s for s in cands if s.label == cand.label]
            lo, hi = (trig.end, cand.start) if cand.start >= trig.end else (cand.end, trig.start)
            n_between = sum(1 for s in same if s.start >= lo and s.end <= hi)
            hand = _hand(text, trig, cand, t_sent - sent_of[cand], n_between, n_between == 0,
                         role_class(rule, cand), direction)
            if art is not None and facts is not None:
                hand = np.concatenate([hand, _context(art, facts, trig, cand, bounds[t_sent])])
            rows.append(np.concatenate([vec[trig], vec[cand], vec[trig] * vec[cand], between(trig, cand), hand]))
            m = np.zeros(len(ROLE_CLASSES), dtype=bool)
            m[list(ALLOWED[cand.label])] = True
            masks.append(m)
        if t_sent not in sentence_vecs:
            lo_w = [i for i, (s, _) in enumerate(words) if bounds[t_sent][0] <= s < bounds[t_sent][1]]
            sentence_vecs[t_sent] = word_vecs[lo_w].mean(0) if lo_w else np.zeros(word_vecs.shape[1], np.float32)
        t_lo = int(np.searchsorted(starts, trig.start, side="left"))
        t_hi = int(np.searchsorted(starts, trig.end, side="left"))
        left = word_vecs[max(0, t_lo - STATUS_LEFT) : t_lo]
        right = word_vecs[t_hi : t_hi + STATUS_RIGHT]
        zero = np.zeros(word_vecs.shape[1], np.float32)
        status = np.concatenate([vec[trig], sentence_vecs[t_sent], left.mean(0) if len(left) else zero,
                                 right.mean(0) if len(right) else zero, _status_cues(rule),
                                 _cue_flags(text, trig, bounds[t_sent], spans), doc_vecs])
        dim = 4 * word_vecs.shape[1] + n_hand_features(context)
        out.append(Pairs(trig, cands, np.asarray(rows, dtype=np.float32).reshape(-1, dim),
                         np.asarray(masks, dtype=bool).reshape(-1, len(ROLE_CLASSES)), status.astype(np.float32), rule,
                         place_lists(text, cands)))
    return out


def place_lists(text: str, cands: Sequence[Span]) -> tuple[tuple[int, int], ...]:
    """Index pairs of LOCATION candidates that follow each other in one list (``LIST_GAP`` between them)."""
    from frontlines.inference.event_rules import LIST_GAP

    locs = sorted((c.start, i) for i, c in enumerate(cands) if c.label == "LOCATION")
    return tuple((i, j) for (_, i), (_, j) in zip(locs, locs[1:], strict=False)
                 if cands[i].end <= cands[j].start and LIST_GAP.match(text[cands[i].end : cands[j].start]))
