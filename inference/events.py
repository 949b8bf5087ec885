"""Event records: sentences, percentage bounds and the JSON shape of one change of control.

The span tagger finds CONTROL_CHANGE triggers and the ACTOR, LOCATION and
PERCENT spans around them; a linker (:mod:`inference.event_rules` or the
learned :mod:`inference.linker`) turns them into :class:`inference.spans.Event`
objects, and :func:`event_record` writes each as the record analysts read::

    {"trigger": {"start", "end", "text"}, "taker": {...} | null, "loser": ..., "places": [...],
     "extent": {"start", "end", "text", "low", "high"} | null, "status": "asserted",
     "sentence": {"start", "end"}, "score": 0.93}
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

import regex

from frontlines.inference.spans import Event, Span

# A sentence ends at . ! ? … (and closing quotes/brackets after it) before white
# space and an opening capital, digit or quote, or at a line break; a period after
# a title or a short abbreviation ("Maj.", "Gen.", "U.S.", "No.") is not an end.
_SENT_END_RE = regex.compile(r"(?<=[.!?…][\"”’)\]]*)\s+(?=[\"“‘(\[]?[\p{Lu}\d])|\n+")
_LAST_WORD_RE = regex.compile(r"(\S+?)[\"”’)\]]*$")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof gen lt col maj capt cpt sgt brig adm cmdr cdr rep sen gov pres st no nos vol "
    "jan feb mar apr jun jul aug sep sept oct nov dec mt ft inc ltd co corp dept est approx vs".split())


def _is_abbreviation(before: str) -> bool:
    """Whether the text before a candidate sentence end finishes with an abbreviation's period."""
    m = _LAST_WORD_RE.search(before)
    if m is None or not m.group(1).endswith("."):
        return False
    word = m.group(1).rstrip(".").lstrip("(\"“‘")
    return word.lower() in _ABBREVIATIONS or bool(regex.fullmatch(r"(?:\p{Lu}\.)*\p{Lu}", word))


def sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` (white space between sentences belongs to none)."""
    out: list[tuple[int, int]] = []
    pos = 0
    for m in _SENT_END_RE.finditer(text):
        if "\n" not in m.group() and _is_abbreviation(text[max(pos, m.start() - 40) : m.start()]):
            continue
        if m.start() > pos:
            out.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        out.append((pos, len(text)))
    return [(s, e) for s, e in out if text[s:e].strip()]


def sentence_of(bounds: Sequence[tuple[int, int]], offset: int) -> int:
    """Index of the sentence holding character ``offset`` (the nearest before it, between sentences)."""
    starts = [s for s, _ in bounds]
    return max(bisect.bisect_right(starts, offset) - 1, 0)


_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
_NUM_RE = regex.compile(r"\d+(?:[.,]\d+)*|[a-z]+(?:-[a-z]+)?", regex.IGNORECASE)
_LOWER_CUES = ("more than", "over", "at least", "above", "upwards of", "in excess of", "no less than")
_UPPER_CUES = ("up to", "less than", "fewer than", "under", "below", "nearly", "almost", "close to",
               "no more than", "not more than", "just under", "at most")


def _number(token: str) -> float | None:
    token = token.lower().replace(",", ".") if regex.fullmatch(r"\d+,\d{1,2}", token) else token.lower().replace(",", "")
    try:
        return float(token)
    except ValueError:
        pass
    parts = regex.split(r"[- ]", token)
    if all(p in _NUMBER_WORDS for p in parts):
        return float(sum(_NUMBER_WORDS[p] for p in parts))
    return None


def percent_bounds(text: str) -> tuple[float | None, float | None]:
    """``(low, high)`` of a PERCENT span's text: ``more than 40 percent`` -> (40, None),
    ``30 to 40 percent`` -> (30, 40), ``about 30 percent`` -> (30, 30), ``up to 40%`` -> (None, 40).

    Unparseable text gives ``(None, None)``: the record keeps the text.
    """
    lowered = " ".join(text.lower().split())
    values = [v for v in (_number(m.group()) for m in _NUM_RE.finditer(lowered)) if v is not None]
    if not values:
        return None, None
    if len(values) >= 2:
        return min(values[:2]), max(values[:2])
    value = values[0]
    if any(lowered.startswith(cue) for cue in _LOWER_CUES):
        return value, None
    if any(lowered.startswith(cue) for cue in _UPPER_CUES):
        return None, value
    return value, value


def _ref(text: str, span: Span | None) -> dict[str, Any] | None:
    if span is None:
        return None
    return {"start": span.start, "end": span.end, "text": text[span.start : span.end]}


def event_record(text: str, event: Event, score: float | None = None,
                 bounds: Sequence[tuple[int, int]] | None = None) -> dict[str, Any]:
    """The JSON record of one event of ``text`` (see the module docstring)."""
    bounds = sentences(text) if bounds is None else bounds
    sentence = bounds[sentence_of(bounds, event.trigger.start)] if bounds else (0, len(text))
    extent = _ref(text, event.extent)
    if extent is not None:
        extent["low"], extent["high"] = percent_bounds(extent["text"])
    return {
        "trigger": _ref(text, event.trigger),
        "taker": _ref(text, event.taker),
        "loser": _ref(text, event.loser),
        "places": [_ref(text, p) for p in event.places],
        "extent": extent,
        "status": event.status,
        "sentence": {"start": sentence[0], "end": sentence[1]},
        "score": None if score is None else round(float(score), 4),
    }


def event_rows(article_id: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat table rows of one event record: one per place (one row with empty place if none)."""
    def field(ref: dict[str, Any] | None, key: str) -> Any:
        return None if ref is None else ref.get(key)

    base = {
        "article_id": article_id,
        "trigger": record["trigger"]["text"], "trigger_start": record["trigger"]["start"],
        "trigger_end": record["trigger"]["end"],
        "taker": field(record["taker"], "text"), "taker_start": field(record["taker"], "start"),
        "taker_end": field(record["taker"], "end"),
        "loser": field(record["loser"], "text"), "loser_start": field(record["loser"], "start"),
        "loser_end": field(record["loser"], "end"),
        "extent": field(record["extent"], "text"), "extent_low": field(record["extent"], "low"),
        "extent_high": field(record["extent"], "high"),
        "status": record["status"], "score": record.get("score"),
    }
    places = record["places"] or [None]
    return [{**base, "place": field(p, "text"), "place_start": field(p, "start"), "place_end": field(p, "end")}
            for p in places]
