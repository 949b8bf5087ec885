"""Event links in a corpus record: read ``"events"`` and check them against the article's spans.

An event is one CONTROL_CHANGE span (its trigger) with the spans that fill
its roles, each given as ``[start, end]`` of a span of the same article
(see :class:`inference.spans.Event`). The checks are the validator's: every
reference must be a span of the right label, one event per trigger, and when
an article has an ``events`` list, every CONTROL_CHANGE span has its event.
Problems come back as ``(message, span)`` pairs for :mod:`training.corpus`
to locate with file, line and article id.
"""

from __future__ import annotations

from typing import Any

from frontlines.inference.labels import EVENT_ROLES, STATUSES, TRIGGER_LABEL
from frontlines.inference.spans import Event, Span

EventProblem = tuple[str, Span | None]


def _ref(raw: Any, what: str, by_offsets: dict[tuple[int, int], Span], label: str) -> tuple[Span | None, str | None]:
    """The span a ``[start, end]`` reference names, or why it names none."""
    if (not isinstance(raw, list) or len(raw) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)):
        return None, f"{what} must be [start, end] of a span, not {raw!r}"
    span = by_offsets.get((raw[0], raw[1]))
    if span is None:
        return None, f"{what} [{raw[0]}, {raw[1]}) is not a span of this article"
    if span.label != label:
        return None, f"{what} [{raw[0]}, {raw[1]}) is a {span.label} span, expected {label}"
    return span, None


def parse_events(raw_events: Any, spans: list[Span]) -> tuple[list[Event] | None, list[EventProblem]]:
    """Events from a record's ``"events"`` value (``None`` if absent) and the problems found."""
    if raw_events is None:
        return None, []
    if not isinstance(raw_events, list):
        return [], [("'events' must be a list", None)]
    by_offsets = {(s.start, s.end): s for s in spans}
    events: list[Event] = []
    problems: list[EventProblem] = []
    seen: set[Span] = set()
    for i, raw in enumerate(raw_events):
        where = f"event #{i}"
        if not isinstance(raw, dict):
            problems.append((f"{where} must be an object", None))
            continue
        unknown = set(raw) - {"trigger", "status", *EVENT_ROLES}
        if unknown:
            problems.append((f"{where}: unknown field(s) {', '.join(sorted(unknown))}", None))
        trigger, err = _ref(raw.get("trigger"), f"{where} trigger", by_offsets, TRIGGER_LABEL)
        if trigger is None:
            problems.append((err or f"{where} has no trigger", None))
            continue
        where = f"event on {trigger.start}-{trigger.end}"
        if trigger in seen:
            problems.append((f"{where}: a second event for the same trigger (one event per trigger)", trigger))
            continue
        seen.add(trigger)
        status = raw.get("status")
        if status not in STATUSES:
            problems.append((f"{where}: status {status!r} is not one of {', '.join(STATUSES)}", trigger))
            continue
        roles: dict[str, Any] = {}
        bad = False
        for role, label in EVENT_ROLES.items():
            value = raw.get(role)
            if role == "places":
                value = [] if value is None else value
                if not isinstance(value, list):
                    problems.append((f"{where}: places must be a list of [start, end]", trigger))
                    bad = True
                    continue
                places = []
                for j, item in enumerate(value):
                    span, err = _ref(item, f"{where} place #{j}", by_offsets, label)
                    if span is None:
                        problems.append((err or "", trigger))
                        bad = True
                    elif span in places:
                        problems.append((f"{where}: place {span.start}-{span.end} given twice", trigger))
                        bad = True
                    else:
                        places.append(span)
                roles[role] = tuple(places)
            elif value is None:
                roles[role] = None
            else:
                span, err = _ref(value, f"{where} {role}", by_offsets, label)
                if span is None:
                    problems.append((err or "", trigger))
                    bad = True
                roles[role] = span
        if roles.get("taker") is not None and roles.get("taker") == roles.get("loser"):
            problems.append((f"{where}: taker and loser are the same span", trigger))
            bad = True
        if not bad:
            events.append(Event(trigger=trigger, status=status, **roles))
    for span in spans:
        if span.label == TRIGGER_LABEL and span not in seen:
            problems.append(("CONTROL_CHANGE span has no event (every trigger needs one when 'events' is given)", span))
    events.sort(key=lambda e: e.trigger)
    return events, problems
