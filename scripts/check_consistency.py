"""Annotation consistency: surface strings labelled one way here and another way there.

    python scripts/check_consistency.py [--corpus annotations/corpus.jsonl] [--all] [--strict-names]

For every string that is labelled somewhere in the corpus it lists, with
context, (1) the places where the same string carries another label, and (2)
the places where it stands outside any span. An inconsistency is explained
when the unlabelled occurrence lies inside one of the article's declared
``hard_negatives``, or when ``annotations/consistency.yaml`` gives a reason
for that string (a country as the state acting versus as the territory, say).
Exits 1 if anything is left unexplained; ``--all`` prints explained ones too.

Two report-only sections follow. "unlabelled name-like strings": strings that
look like names (capitalised multi-word sequences, possibly with ``of``/``for``/
``the``/``to`` inside, and ALL-CAPS acronyms) that are labelled nowhere in the
corpus, ranked by frequency with file:line (``--strict-names`` makes
unexplained ones fail too; reasons go under ``name-like`` in the exceptions
file). "event links to review": a taker that is its own loser, places far
from their trigger, an extent outside the trigger's sentence.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import regex  # noqa: E402
import yaml  # noqa: E402

from inference.events import sentence_of, sentences  # noqa: E402
from inference.spans import Example, Span, word_offsets  # noqa: E402
from training.corpus import DEFAULT_CORPUS, CorpusError, load_corpus  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phenomena import FIELD_LINE, HTML, URL  # noqa: E402

EXCEPTIONS = ROOT / "annotations" / "consistency.yaml"
KINDS = ("label conflict", "unlabelled", "name-like")


def context(text: str, start: int, end: int, width: int = 50) -> str:
    left = text[max(0, start - width) : start].replace("\n", " ")
    right = text[end : end + width].replace("\n", " ")
    return f"...{left}[{text[start:end]}]{right}..."


def find_inconsistencies(examples: list[Example]) -> list[dict]:
    """All label conflicts and unlabelled occurrences of labelled strings."""
    labels_of: dict[str, dict[str, list[tuple[Example, int]]]] = defaultdict(lambda: defaultdict(list))
    for ex in examples:
        for s in ex.spans:
            labels_of[ex.text[s.start : s.end]][s.label].append((ex, s.start))
    found = []
    for surface, by_label in sorted(labels_of.items()):
        if len(by_label) > 1:
            counts = {label: len(v) for label, v in by_label.items()}
            found.append(
                {
                    "surface": surface,
                    "kind": "label conflict",
                    "detail": ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())),
                    "contexts": [f"{label} {ex.id}: {context(ex.text, i, i + len(surface))}" for label, occ in sorted(by_label.items()) for ex, i in occ[:3]],
                    "explained_by": None,
                }
            )
    # unlabelled occurrences: the surface on word boundaries, overlapping no span
    for ex in examples:
        words = word_offsets(ex.text)
        starts = {s for s, _ in words}
        ends = {e for _, e in words}
        covered = sorted((s.start, s.end) for s in ex.spans)
        negatives = [
            (i, i + len(p))
            for p in ex.meta.get("hard_negatives") or []
            for i in _all_indices(ex.text, p)
        ]
        for surface, by_label in labels_of.items():
            if surface not in ex.text:
                continue
            for i in _all_indices(ex.text, surface):
                j = i + len(surface)
                if i not in starts or j not in ends or any(a < j and i < b for a, b in covered):
                    continue
                label = max(by_label, key=lambda k: len(by_label[k]))
                explained = "hard negative" if any(a <= i and j <= b for a, b in negatives) else None
                found.append(
                    {
                        "surface": surface,
                        "kind": "unlabelled",
                        "detail": f"labelled {label} x{len(by_label[label])} elsewhere",
                        "contexts": [f"{ex.id}: {context(ex.text, i, j)}"],
                        "explained_by": explained,
                    }
                )
    return found


def _all_indices(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def load_exceptions(path: Path = EXCEPTIONS) -> dict[str, dict[str, str]]:
    """``{kind: {surface: reason}}`` from the exceptions file."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {kind: {str(k): str(v) for k, v in (data.get(kind) or {}).items()} for kind in KINDS}


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
        negatives = [(i, i + len(p)) for p in ex.meta.get("hard_negatives") or [] for i in _all_indices(text, p)]
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


# --- event links the validator cannot judge -------------------------------------------------


def find_event_problems(examples: list[Example]) -> list[dict]:
    """Events to review: taker text equal to loser text, every place outside the trigger's sentence
    and the three before it, a PERCENT extent outside the trigger's sentence."""
    found = []
    for ex in examples:
        if not ex.events:
            continue
        bounds = sentences(ex.text)
        text = ex.text

        def where(span: Span, bounds: list[tuple[int, int]] = bounds) -> int:
            return sentence_of(bounds, span.start)

        for ev in ex.events:
            trigger = text[ev.trigger.start : ev.trigger.end]
            here = where(ev.trigger)
            issues = []
            if ev.taker and ev.loser and text[ev.taker.start : ev.taker.end].casefold() == text[ev.loser.start : ev.loser.end].casefold():
                issues.append(f"taker and loser are both {text[ev.taker.start : ev.taker.end]!r}")
            if ev.places and all(not here - 3 <= where(p) <= here for p in ev.places):
                issues.append("every place lies outside the trigger's sentence and the 3 before it: " + ", ".join(
                    repr(text[p.start : p.end]) for p in ev.places))
            if ev.extent and where(ev.extent) != here:
                issues.append(f"extent {text[ev.extent.start : ev.extent.end]!r} is outside the trigger's sentence")
            for issue in issues:
                found.append({"kind": "event", "surface": trigger, "article": ex, "offset": ev.trigger.start,
                              "detail": issue, "contexts": [f"{ex.id}: {context(text, ev.trigger.start, ev.trigger.end)}"],
                              "explained_by": None})
    return found


# --- locations ---------------------------------------------------------------------------------

_BODY_LINE: dict[str, int | None] = {}


def location(example: Example, offset: int) -> str:
    """``file:line`` of a text offset in the article's source (``id:line`` of the text without one)."""
    text_line = example.text.count("\n", 0, offset)
    source = example.meta.get("source")
    if source not in _BODY_LINE:
        _BODY_LINE[source] = _body_first_line(ROOT / source) if source else None
    first = _BODY_LINE[source]
    return f"{source}:{first + text_line}" if first is not None else f"{example.id}:{text_line + 1}"


def _body_first_line(path: Path) -> int | None:
    """Line number of the first body line in a Markdown source (after the front matter and blank lines)."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    close = source.find("\n---\n", 3)
    if not source.startswith("---\n") or close < 0:
        return None
    start = close + len("\n---\n")
    start += len(source[start:]) - len(source[start:].lstrip("\n"))
    return source.count("\n", 0, start) + 1


def print_ranked(title: str, items: list[dict], show: int = 5) -> None:
    """Findings grouped by surface, most frequent first, each with up to ``show`` file:line places."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        groups[item["surface"]].append(item)
    print(f"\n{title}: {len(groups)} strings, {len(items)} occurrences")
    for surface, occ in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        reason = next((o["explained_by"] for o in occ if o["explained_by"]), None)
        places = ", ".join(location(o["article"], o["offset"]) for o in occ[:show])
        more = f" (+{len(occ) - show} more)" if len(occ) > show else ""
        print(f"  {len(occ):>3}x {surface!r}: {places}{more}" + (f" (explained: {reason})" if reason else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--exceptions", type=Path, default=EXCEPTIONS)
    parser.add_argument("--all", action="store_true", help="also list explained inconsistencies")
    parser.add_argument("--strict-names", action="store_true", help="also fail on unexplained name-like strings")
    args = parser.parse_args(argv)
    exceptions = load_exceptions(args.exceptions)
    try:
        examples = load_corpus([args.corpus])
    except CorpusError as exc:
        print(f"{args.corpus}: {len(exc.problems)} problem(s), first: {exc.problems[0]}", file=sys.stderr)
        return 2
    found = find_inconsistencies(examples)
    names = find_name_like(examples)
    for item in found + names:
        if item["explained_by"] is None and item["surface"] in exceptions.get(item["kind"], {}):
            item["explained_by"] = exceptions[item["kind"]][item["surface"]]
    unexplained = [f for f in found if f["explained_by"] is None]
    for item in found if args.all else unexplained:
        reason = f" (explained: {item['explained_by']})" if item["explained_by"] else ""
        print(f"{item['kind']}: {item['surface']!r} {item['detail']}{reason}")
        for c in item["contexts"]:
            print(f"    {c}")
    bare = [n for n in names if n["explained_by"] is None]
    print_ranked("unlabelled name-like strings (labelled nowhere" + ("" if args.strict_names else "; report-only") + ")",
                 names if args.all else bare)
    events = find_event_problems(examples)
    print(f"\nevent links to review (report-only): {len(events)}")
    for item in events:
        print(f"  {location(item['article'], item['offset'])}: {item['surface']!r}: {item['detail']}")
    print(f"\n{len(found)} inconsistencies, {len(found) - len(unexplained)} explained, {len(unexplained)} unexplained; "
          f"{len(names)} name-like occurrences, {len(bare)} unexplained; {len(events)} event links to review")
    return 1 if unexplained or (args.strict_names and bare) else 0


if __name__ == "__main__":
    sys.exit(main())
