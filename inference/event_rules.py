"""The rule baseline for event links: nearest candidates in the sentence and cue words.

It is the honest floor the learned linker (:mod:`inference.linker`) has to
beat, and the fallback when a run has no linker. For each CONTROL_CHANGE
span it reads the trigger's direction (``retook`` gains, ``lost`` /
``withdrew from`` loses, ``fell to`` names the taker after ``to``), voice
(``by X`` after a passive or a noun names the taker), the places listed after
the trigger, a PERCENT between trigger and place, and status cues before the
trigger (``denied``, ``a bid to``, ``vowed to``, ``X said``).
"""

from __future__ import annotations

from collections.abc import Sequence

import regex

from frontlines.inference.events import sentence_of, sentences
from frontlines.inference.labels import TRIGGER_LABEL
from frontlines.inference.spans import Event, Span

_LOSS = regex.compile(r"^(los[est]|losing|loss|withdr[ae]w|withdrawal|withdrawing|withdraws|pull(ed|s|ing)? (out|back)|"
                      r"pullout|retreat|cede|ced|abandon|surrender|evacuat|relinquish|gave up|give up|handed over|hand over|"
                      r"driven out|pushed out|ousted|expelled|retrograd)", regex.IGNORECASE)
_FALL = regex.compile(r"^(fell|fall|falls|fallen|falling)\b", regex.IGNORECASE)
_PASSIVE = regex.compile(r"\b(was|were|been|being|is|are|be|get|got)\s+(\w+ly\s+)?$", regex.IGNORECASE)
_NOUN = regex.compile(r"(ure|ion|al|ss|over|fall|gains?|advances?|seizure)$", regex.IGNORECASE)
DENIED_CUES = regex.compile(r"\b(den(y|ied|ies|ial)|false|untrue|never|not|n't|no truth|refut\w*|reject\w*|lies?|fabricat\w*)\b",
                        regex.IGNORECASE)
ATTEMPTED_CUES = regex.compile(r"\b(bid|attempt\w*|tr(y|ied|ies|ying) to|offensive|push(ed|ing)? to|repel\w*|repuls\w*|"
                           r"foil\w*|thwart\w*|sought to|seek(s|ing)? to|battl\w* to|fight(s|ing)? to|struggl\w* to)\b",
                           regex.IGNORECASE)
PLANNED_CUES = regex.compile(r"\b(will|would|could|may|might|shall|vow\w*|plan\w*|threat\w*|intend\w*|expect\w*|if|unless|"
                         r"aim\w*|prepar\w*|ready to|order\w*|pledg\w*|promis\w*|fear\w*|likely|poised|risk\w*|"
                         r"warn\w*|set to|going to|about to)\b", regex.IGNORECASE)
MODAL_CUES = regex.compile(r"\b(will|would|could|may|might|shall)\b", regex.IGNORECASE)
CLAIM_CUES = regex.compile(r"\b(sa(id|ys)|claim\w*|announc\w*|according to|statement|stat(ed|es)|declar\w*|insist\w*|"
                       r"report(ed|s)|communiqu\w*|told)\b", regex.IGNORECASE)
#: What stands between two LOCATIONs of one list ("Mosul, Raqqa and Deir Ezzor"); the linker uses it too.
LIST_GAP = regex.compile(r"^(,\s*|\s+and\s+|,\s*and\s+|\s+or\s+|\s*/\s*|\s+as well as\s+|\s*\(\s*|\s*\)\s*,?\s*)$")


def trigger_direction(trigger: str) -> str:
    """``gain``, ``loss`` or ``fall``: which side of the trigger the taker and the loser stand on."""
    if _FALL.match(trigger):
        return "fall"
    return "loss" if _LOSS.match(trigger) else "gain"


def _after_word(text: str, span: Span, word: str, limit: int = 4) -> bool:
    """Whether ``word`` is among the ``limit`` words just before ``span``."""
    before = text[max(0, span.start - 40) : span.start].lower().split()[-limit:]
    return word in before


def rule_events(text: str, spans: Sequence[Span]) -> list[tuple[Event, float]]:
    """One event (with a flat score of 0.5: rules have no calibrated confidence) per CONTROL_CHANGE span."""
    bounds = sentences(text)
    spans = sorted(spans)
    by_sentence: dict[int, list[Span]] = {}
    for span in spans:
        by_sentence.setdefault(sentence_of(bounds, span.start), []).append(span)
    actors = [s for s in spans if s.label == "ACTOR"]
    out: list[tuple[Event, float]] = []
    for trig in (s for s in spans if s.label == TRIGGER_LABEL):
        idx = sentence_of(bounds, trig.start)
        sent = by_sentence.get(idx, [])
        s_lo = bounds[idx][0] if bounds else 0
        before = text[s_lo : trig.start]
        direction = trigger_direction(text[trig.start : trig.end])
        passive = bool(_PASSIVE.search(before)) or bool(_NOUN.search(text[trig.start : trig.end]))
        left = [s for s in sent if s.label == "ACTOR" and s.end <= trig.start]
        right = [s for s in sent if s.label == "ACTOR" and s.start >= trig.end]
        agent = next((s for s in right if _after_word(text, s, "by")), None)
        source = next((s for s in right if _after_word(text, s, "from", 3)), None)
        to = next((s for s in right if _after_word(text, s, "to", 2)), None)
        if len(left) >= 2 and text[left[-2].end : left[-1].start].strip() == "(":
            left = left[:-1]  # "IS (Daesh)": the first of two names for one party
        subject = left[-1] if left else None
        if subject is None and not passive:
            earlier = [a for a in actors if a.end <= s_lo]
            subject = earlier[-1] if earlier else None
        taker = loser = None
        if direction == "gain":
            taker = agent if agent is not None else (None if passive else subject)
            loser = source
        elif direction == "loss":
            loser = subject
            taker = to if to is not None else agent
        else:
            taker = to if to is not None else agent
            loser = source
        if taker is not None and taker == loser:
            loser = None
        places = _places(text, trig, sent, direction) or _earlier_place(spans, s_lo)
        extent = next((s for s in sent if s.label == "PERCENT" and trig.end <= s.start
                       and (not places or s.end <= places[0].start) and s.start - trig.end <= 30), None)
        out.append((Event(trigger=trig, status=_status(text, trig, sent, before), taker=taker, loser=loser,
                          places=tuple(places), extent=extent), 0.5))
    return out


def _places(text: str, trig: Span, sent: list[Span], direction: str) -> list[Span]:
    """The LOCATION list after the trigger (or, for ``fell``/passives, the nearest one before it)."""
    locs_after = [s for s in sent if s.label == "LOCATION" and s.start >= trig.end]
    locs_before = [s for s in sent if s.label == "LOCATION" and s.end <= trig.start]
    if direction == "fall" and locs_before:
        return [locs_before[-1]]
    places: list[Span] = []
    for loc in locs_after:
        gap = text[(places[-1].end if places else trig.end) : loc.start]
        if places and not LIST_GAP.match(gap):
            break
        if not places and len(gap.split()) > 8:
            break
        places.append(loc)
    if not places and locs_before:
        places = [locs_before[-1]]
    return places


def _earlier_place(spans: Sequence[Span], before: int) -> list[Span]:
    """The nearest LOCATION before offset ``before`` (``the town``, ``it``: the place named last)."""
    earlier = [s for s in spans if s.label == "LOCATION" and s.end <= before]
    return earlier[-1:]


def _status(text: str, trig: Span, sent: list[Span], before: str) -> str:
    """The first status whose cues occur before the trigger in its sentence (GUIDELINES order)."""
    near = " ".join(before.split()[-8:])
    if DENIED_CUES.search(near):
        return "denied"
    if MODAL_CUES.search(near):
        return "planned"
    if ATTEMPTED_CUES.search(near):
        return "attempted"
    if PLANNED_CUES.search(near):
        return "planned"
    claim = CLAIM_CUES.search(text[trig.start - len(before) : trig.start + 200])
    if claim and any(s.label == "ACTOR" and abs(s.end - (trig.start - len(before) + claim.start())) < 40
                     for s in sent):
        return "claimed"
    return "asserted"
