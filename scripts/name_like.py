"""Strings that look like names but are labelled nowhere (a `General Staff` left bare), for check_consistency.py.

Capitalised multi-word runs (with `of`/`for`/`the`/`to` inside), ALL-CAPS
acronyms and names with a class word, skipping headings, transcript speaker
tags, bylines, page furniture, sentence-initial common words and offices.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import regex  # noqa: E402
from phenomena import FIELD_LINE, HTML, URL  # noqa: E402

from frontlines.inference.events import sentences  # noqa: E402
from frontlines.inference.spans import Example  # noqa: E402


def context(text: str, start: int, end: int, width: int = 50) -> str:
    left = text[max(0, start - width) : start].replace("\n", " ")
    right = text[end : end + width].replace("\n", " ")
    return f"...{left}[{text[start:end]}]{right}..."


def all_indices(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


# --- name-like strings labelled nowhere ----------------------------------------------------

#: Lower-case words that may stand inside an official name (`Ministry of Defence`, `Joint Force to Counter X`).
#: `and` is not one: a run is cut there, as coordinations (`Russian and Belarusian`) outnumber names with `and`.
CONNECTORS = frozenset("of for the to de del du des la le al el bin ibn – &".split())
_TOKEN = regex.compile(r"(?:\p{Lu}\.){2,}|[\p{L}\p{M}\d]+(?:['’\-][\p{L}\p{M}\d]+)*|\S")
_CAPITALISED = regex.compile(r"(?:(?:al|el|ad|ar|as|ash|at|az|an|ibn|bin|de|da|di|van|von)-)?\p{Lu}")
_ACRONYM = regex.compile(r"(?=(?:\d*\p{Lu}){2})[\p{Lu}\d]{2,8}")
_ORDINAL = regex.compile(r"\d+(?:st|nd|rd|th)")
_ROMAN = regex.compile(r"[IVXLC]+")
_OPENERS = frozenset("\"“‘([:;—–-•*|>")
#: Capitalised words that are not names (calendar words, units, time zones, interjections).
NOT_NAMES = frozenset(
    "January February March April May June July August September October November December Jan Feb Mar Apr Jun "
    "Jul Aug Sep Sept Oct Nov Dec Monday Tuesday Wednesday Thursday Friday Saturday Sunday Mon Tue Wed Thu Fri Sat "
    "Sun I OK TV AM PM GMT UTC BST CET CEST EET EEST EDT EST PDT PST CAT EAT WAT IST MSK AST ID PDF FAQ CEO GDP "
    "KM MW NB PS AD BC BCE CE No Nos God Allah Quran Koran Reply Like Share Retweet Repost Quote".split())
#: Ranks and titles: the capitalised words after them name a person, not a party.
TITLES = frozenset(
    "president vice prime minister deputy general gen lt lieutenant col colonel maj major capt captain cpt sgt "
    "sergeant brig brigadier adm admiral cmdr commander mr mrs ms dr sheikh king prince emir sultan pope senator "
    "sen rep gov governor ambassador secretary spokesman spokeswoman spokesperson chief judge justice envoy "
    "commissioner mayor pastor father bishop imam chair chairman chairwoman chairperson madam member ranking "
    "senior counsellor secretary-general".split())
#: Head nouns of institutions, units and places: a run holding one names no person (`General Staff`).
CLASS_WORDS = frozenset(
    "staff command ministry council force forces army navy police guard command office department headquarters "
    "directorate committee court assembly agency service mission front brigade battalion regiment division corps "
    "group movement party union alliance coalition authority government administration commission bureau centre "
    "center institute unit units dam river lake province airfield airport university state region district bridge "
    "base camp port valley mountains hills desert township oblast county municipality city town village".split())
_SPEECH_AFTER = regex.compile(
    r"\s*(?:,\s*(?:(?:the|a|an|its|his|her|their)\b)?[^,.;]{0,60}?\b(?:spokes\w+|minister|commander|officer|"
    r"director|chief|head|secretary|president|envoy|analyst|researcher|reporter|correspondent|official)\b"
    r"|,?\s+(?:said|says|told|added|wrote|stated|declared|explained|noted|argued))")
_SPEECH_BEFORE = regex.compile(r"\b(?:said|says|told|according to|wrote|added)\s*$")
_DEMONYM = regex.compile(r"(?:[iyec]an|ese|ish|[^aeiou\s]i|ien|ic)$")  # Russian, Libyan, Sudanese, Iraqi, Islamic
_SMALL = frozenset("a an the of for to and or in on at by as with from into over per vs via nor but".split())


def vocabulary(examples: list[Example]) -> tuple[dict[str, int], dict[str, int]]:
    """Counts of every word written lower-case and written capitalised, keyed by its lower-case form."""
    lower: dict[str, int] = defaultdict(int)
    upper: dict[str, int] = defaultdict(int)
    for ex in examples:
        for m in _TOKEN.finditer(ex.text):
            w = m.group()
            if w[:1].isalpha():
                (upper if w[0].isupper() else lower)[w.lower()] += 1
    return lower, upper


def heading_like(line: str) -> bool:
    """A heading or title-case headline: most words capitalised and the line not ending like a sentence.

    List items (``- Kajaki Dam``) are not headings: settlement and unit lists are annotated text.
    """
    if regex.match(r"\s*(?:[-*•]|\d+[.)])\s", line):
        return False
    words = [w for w in regex.findall(r"\p{L}[\p{L}\p{M}'’.\-]*", line) if w.lower() not in _SMALL]
    if not words:
        return False
    share = sum(w[0].isupper() for w in words) / len(words)
    return share > 0.5 and not line.rstrip().endswith((".", "!", "?", ";", ",", "\"", "”", "’"))


_SPEAKER = regex.compile(r"[ \t]*\p{Lu}[\p{Lu}\p{M}\s.'’-]*:")
_MOJIBAKE = regex.compile(r"\S*(?:Ã|Â|â€)\S*")
_BYLINE = regex.compile(r"\bBy\s+(?:\p{Lu}[\p{L}\p{M}'’-]*\.?(?:\s|&nbsp;)?){1,4}")


def _furniture_ranges(text: str) -> list[tuple[int, int]]:
    """Text a name is never looked for in: front-matter fields, bylines (`By A. Name`), headings,
    transcript speaker tags (`GEN. THORNE:`), URLs, HTML residue and mojibake."""
    blocked = [m.span() for pattern in (URL, HTML, _MOJIBAKE, _BYLINE) for m in pattern.finditer(text)]
    pos = 0
    for line in text.split("\n"):
        if FIELD_LINE.match(line) or regex.match(r"\s*By\s+\p{Lu}[^.!?]*$", line) or heading_like(line):
            blocked.append((pos, pos + len(line)))
        elif speaker := _SPEAKER.match(line):
            blocked.append((pos, pos + speaker.end()))
        pos += len(line) + 1
    return blocked


def _is_name_part(word: str) -> bool:
    return bool(_CAPITALISED.match(word) or _ORDINAL.fullmatch(word) or (word[:1].isdigit() and _ACRONYM.fullmatch(word)))


def _runs(text: str, blocked: list[tuple[int, int]]) -> list[list[regex.Match]]:
    """Maximal sequences of name parts, joined by at most two connectors, outside blocked ranges."""
    runs: list[list[regex.Match]] = []
    current: list[regex.Match] = []
    pending: list[regex.Match] = []
    last_end = -1
    for m in _TOKEN.finditer(text):
        word = m.group()
        free = not any(a < m.end() and m.start() < b for a, b in blocked)
        adjacent = last_end >= 0 and text[last_end : m.start()] in ("", " ", "\u00a0")
        if free and _is_name_part(word) and word not in NOT_NAMES:
            if current and adjacent and len(pending) <= 2:
                current.extend(pending)
            elif current:
                runs.append(current)
                current = []
            current.append(m)
            pending = []
        elif free and current and adjacent and word in CONNECTORS and len(pending) < 2:
            pending.append(m)
        else:
            if current:
                runs.append(current)
            current, pending = [], []
        last_end = m.end()
    if current:
        runs.append(current)
    return runs


def _sentence_initial(text: str, starts: set[int], offset: int) -> bool:
    if offset in starts:
        return True
    before = text[max(0, offset - 3) : offset].rstrip(" \t")
    return not before or before[-1] in _OPENERS or before[-1] == "\n"


def find_name_like(examples: list[Example], labelled: set[str] | None = None) -> list[dict]:
    """Strings that look like names and are labelled nowhere, one finding per occurrence.

    A candidate is a run of capitalised words (two or more, up to two of ``of``/``for``/``the``/
    ``to``/dashes at a time inside; ``and`` cuts a run) or a single ALL-CAPS acronym of 2-6 letters,
    outside every span, URL, HTML residue, front-matter field, byline, transcript speaker tag and
    heading line. A capitalised first word of a sentence is dropped when the corpus mostly writes
    it lower-case, and a trailing demonym before a common noun (``South African troops``); months,
    days, units, Roman numerals, offices (``Prime Minister``) and people named after a title or
    with a speech verb (spokespeople who only speak) are left out.
    """
    labelled = {ex.text[s.start : s.end] for ex in examples for s in ex.spans} if labelled is None else labelled
    lower, upper = vocabulary(examples)

    def common(word: str) -> bool:
        return lower.get(word.lower(), 0) > upper.get(word.lower(), 0)

    found = []
    for ex in examples:
        text = ex.text
        blocked = sorted((s.start, s.end) for s in ex.spans) + _furniture_ranges(text)
        starts = {s for s, _ in sentences(text)}
        negatives = [(i, i + len(p)) for p in ex.meta.get("hard_negatives") or [] for i in all_indices(text, p)]
        for run in _runs(text, blocked):
            if len(run) > 1 and _sentence_initial(text, starts, run[0].start()) and common(run[0].group()):
                run = run[1:]
            while run and run[0].group() in CONNECTORS:
                run = run[1:]
            if len(run) > 1 and _DEMONYM.search(run[-1].group()) and regex.match(r" \p{Ll}", text[run[-1].end() :]):
                run = run[:-1]  # an adjective before a common noun (`South African troops`)
            candidate = _candidate(text, run, common)
            if candidate is None:
                continue
            i, j = candidate
            surface = text[i:j]
            if surface in labelled:
                continue
            found.append(
                {
                    "surface": surface,
                    "kind": "name-like",
                    "article": ex,
                    "offset": i,
                    "detail": "labelled nowhere",
                    "contexts": [f"{ex.id}: {context(text, i, j)}"],
                    "explained_by": "hard negative" if any(a <= i and j <= b for a, b in negatives) else None,
                }
            )
    return found


def _candidate(text: str, run: list[regex.Match], common: Callable[[str], bool]) -> tuple[int, int] | None:
    """The ``(start, end)`` a run proposes as a name, or ``None`` when it does not look like one."""
    parts = [m for m in run if m.group() not in CONNECTORS]
    if not parts:
        return None
    if len(parts) == 1:
        word = parts[0].group()
        if not (_ACRONYM.fullmatch(word) and sum(c.isalpha() for c in word) in range(2, 7)) or _ROMAN.fullmatch(word):
            return None
        if common(word):  # an ALL-CAPS common word (`WAR`, `NOT`)
            return None
        return parts[0].span()
    if all(_ORDINAL.fullmatch(m.group()) or m.group()[:1].isdigit() for m in parts):
        return None
    i, j = run[0].start(), run[-1].end()
    words = [m.group().lower() for m in parts]
    if words[-1] in TITLES:  # an office (`Prime Minister`, `Israeli Prime Minister`)
        return None
    if any(len(m.group()) == 1 and text[m.end() : m.end() + 1] == "." for m in parts):
        return None  # a person with an initial (`Sara M.`, `A. B. Smith`)
    last_title = max((k for k, w in enumerate(words) if w in TITLES), default=-1)
    title_before = regex.search(r"\b(\w+)\.?\s*$", text[max(0, i - 20) : i])
    titled = last_title >= 0 or bool(title_before and title_before.group(1).lower() in TITLES)
    personal = [m.group() for m in parts[last_title + 1 :]]
    person = bool(personal) and not any(
        common(w) or _ACRONYM.fullmatch(w) or w.lower() in CLASS_WORDS for w in personal)
    if person and (titled or _SPEECH_AFTER.match(text, j) or _SPEECH_BEFORE.search(text[max(0, i - 30) : i])):
        return None
    return i, j
