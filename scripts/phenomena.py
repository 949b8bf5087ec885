"""Real-report phenomena measured on the corpus: styles, page furniture and CONTROL_CHANGE forms.

Shared by ``corpus_stats.py`` (the v2 distribution figures) and
``check_consistency.py`` (which skips furniture lines when it looks for bare
names). Every detector is a plain heuristic; :data:`HEURISTICS` states each in
one line so that the statistics page can print how a figure was measured.
"""

from __future__ import annotations

from collections.abc import Iterable

import regex

from frontlines.inference.events import sentence_of, sentences
from frontlines.inference.spans import Event, Example, Span

# --- words and sentences -----------------------------------------------------------------

_WORD = regex.compile(r"(?:\p{L}\.){2,}(?!\w)|[\w\p{M}]+(?:[-'’][\w\p{M}]+)*")


def n_words(text: str) -> int:
    """Words as a reader counts them (hyphenated and elided forms and `U.S.` count once)."""
    return len(_WORD.findall(text))


def sentence_lengths(text: str) -> list[int]:
    """Words per sentence (``inference.events.sentences``), sentences without a word left out."""
    return [n for n in (n_words(text[s:e]) for s, e in sentences(text)) if n]


# --- styles ------------------------------------------------------------------------------

_AMERICAN_ABBREVIATION = regex.compile(r"(?<![\w.])(?:U\.S\.|U\.N\.|D\.C\.|U\.K\.|U\.S\.A\.)")
_AMERICAN_SPELLING = regex.compile(
    r"\b(?:defense|offense|centers?|neighborhoods?|honor(?:ed|s)?|labor|favor(?:ed|s)?|rumors?|armor(?:ed)?|"
    r"harbors?|colors?|organiz(?:e|ed|es|ing|ation|ations)|mobiliz(?:e|ed|es|ing|ation)|"
    r"stabiliz(?:e|ed|es|ing|ation)|recogniz(?:e|ed|es|ing)|authoriz(?:e|ed|es|ing|ation)|"
    r"realiz(?:e|ed|es|ing)|prioritiz(?:e|ed|es|ing)|traveled|canceled|fueled|gray)\b",
    regex.IGNORECASE,
)


def american(text: str) -> bool:
    """American spelling: an abbreviation with periods (``U.S.``, ``D.C.``) or two American spellings."""
    return bool(_AMERICAN_ABBREVIATION.search(text)) or len(_AMERICAN_SPELLING.findall(text)) >= 2


_AGENCY = regex.compile(
    r"\b(?:AFP|Agence France-Presse|Reuters|Associated Press|AP|dpa|Anadolu|Xinhua|TASS|Interfax|EFE|ANSA|"
    r"Kyodo|Bernama|PTI|IRNA|SANA|Ukrinform|Bloomberg)\b|\((?:AA|AP|AFP)\)"
)


def agencies(text: str) -> bool:
    """A news agency named (AFP, Reuters, AP, dpa, Anadolu/(AA), Xinhua, TASS, Interfax, ...)."""
    return bool(_AGENCY.search(text))


_NON_LATIN_IN_PARENS = regex.compile(r"\([^()\n]*[\p{Arabic}\p{Cyrillic}\p{Hebrew}\p{Ethiopic}\p{Myanmar}][^()\n]*\)")
_LOWER_START = regex.compile(r"[\"“‘(]?\p{Ll}")


def noisy(example: Example) -> bool:
    """Noisy text: a social post, names followed by Arabic/Cyrillic/... script in parentheses,
    or a fifth of the sentences starting lower-case."""
    if example.meta.get("style") == "social":
        return True
    text = example.text
    if _NON_LATIN_IN_PARENS.search(text):
        return True
    starts = [text[s:e] for s, e in sentences(text)]
    return bool(starts) and sum(bool(_LOWER_START.match(s)) for s in starts) >= 0.2 * len(starts)


# --- page furniture ----------------------------------------------------------------------

FIELD_LINE = regex.compile(
    r"^[ \t]*(?:Title|Date|Tags|Author|URL|Source|Keywords|Published|Updated|Category|Byline|Slug)[ \t]*:",
    regex.MULTILINE | regex.IGNORECASE,
)
URL = regex.compile(r"\b(?:https?://|www\.)[^\s<>\"]+")
HTML = regex.compile(r"&#\d+;|&#x[0-9a-fA-F]+;|&(?:amp|nbsp|quot|lt|gt|middot|mdash|ndash|rsquo|lsquo|ldquo|rdquo|hellip);"
                     r"|</?(?:p|div|span|h[1-6]|br|a|li|ul|ol|strong|em|b|i|figure|figcaption|img)\b[^<>\n]*>")
#: Page-furniture markers: name -> pattern (the order the statistics page lists them in).
FURNITURE: dict[str, regex.Pattern] = {
    "front-matter fields": FIELD_LINE,
    "URLs": URL,
    "@highlight": regex.compile(r"@highlight\b"),
    "mojibake": regex.compile(r"Â|â€"),
    "HTML entities or tags": HTML,
    "[edit]": regex.compile(r"\[edit\]"),
}


def furniture(text: str) -> set[str]:
    """The page-furniture markers present in ``text`` (names from :data:`FURNITURE`)."""
    return {name for name, pattern in FURNITURE.items() if pattern.search(text)}


# --- CONTROL_CHANGE forms ----------------------------------------------------------------

#: First words of a noun trigger. Those that are also verbs count only in a noun's context.
NOUN_TRIGGERS = frozenset(
    "fall capture captures recapture recaptures seizure seizures loss losses withdrawal withdrawals takeover "
    "take-over takeovers liberation gains gain advances advance retreat handover hand-over pullout pull-out pullback "
    "pull-back conquest reconquest recovery occupation annexation evacuation abandonment clearance surrender "
    "reoccupation re-capture re-taking retaking".split()
)
_AMBIGUOUS_NOUNS = frozenset(
    "fall capture captures recapture recaptures gain advance retreat surrender re-capture retaking re-taking".split())
_NOUN_BEFORE = frozenset(
    "the a an its their his her our this that these those whose any each after before since following despite "
    "upon amid with without of for by on in into about over claims claim claimed announced announces confirmed "
    "denied denies completed made".split())
_WORD_BEFORE = regex.compile(r"([\w’'-]+)\W*$")
_WORD_AFTER = regex.compile(r"[^\w]*?([\w’'-]+)")


def _first_word(text: str, span: Span) -> str:
    return regex.split(r"\s+", text[span.start : span.end].strip(), maxsplit=1)[0].lower()


def _word_before(text: str, offset: int) -> str:
    m = _WORD_BEFORE.search(text[max(0, offset - 60) : offset])
    return m.group(1).lower() if m else ""


def is_noun_trigger(text: str, span: Span) -> bool:
    """A noun trigger (``the fall of``): its first word is a listed noun; an ambiguous one (``fall``,
    ``capture``, ``retreat``) also needs a determiner, possessive or preposition before it or ``of`` after it."""
    first = _first_word(text, span)
    if first not in NOUN_TRIGGERS:
        return False
    if first not in _AMBIGUOUS_NOUNS:
        return True
    before = _word_before(text, span.start)
    after = _WORD_AFTER.match(text, span.start + len(first))
    return before in _NOUN_BEFORE or before.endswith(("'s", "’s")) or bool(after and after.group(1).lower() == "of")


_BE = frozenset("is are was were be been being get gets got gotten getting".split())
_ADVERB = frozenset("already now still not never reportedly allegedly fully quickly finally just also all soon "
                    "eventually partly partially effectively largely completely briefly again since once".split())
_PARTICIPLE = regex.compile(r"(?:ed|en|wn|lost|overrun|won|held|left|regained|retaken|taken)$")


def is_passive(example: Example, span: Span) -> bool:
    """A passive trigger: a participle after a form of be/get (one adverb may stand between),
    or a trigger followed by ``by`` and an ACTOR span."""
    text = example.text
    after = regex.match(r"\s+by\s+(?:the\s+)?", text[span.end : span.end + 12])
    if after and any(s.label == "ACTOR" and s.start == span.end + after.end() for s in example.spans):
        return True
    if not _PARTICIPLE.search(_first_word(text, span)):
        return False
    words = regex.findall(r"[\w’'-]+", text[max(0, span.start - 60) : span.start])[-2:]
    words = [w.lower() for w in words]
    if words and words[-1] in _BE:
        return True
    return len(words) == 2 and words[0] in _BE and (words[1] in _ADVERB or words[1].endswith("ly"))


_COMPOUND = regex.compile(r"-(?:held|controlled|occupied)\b")


def held_compounds(example: Example) -> int:
    """``X-held`` / ``X-controlled`` / ``X-occupied``: an ACTOR span directly followed by the suffix."""
    return sum(1 for s in example.spans if s.label == "ACTOR" and _COMPOUND.match(example.text, s.end))


def _sentence_index(bounds: list[tuple[int, int]], span: Span) -> int:
    return sentence_of(bounds, span.start)


def implicit_party(example: Example, event: Event, bounds: list[tuple[int, int]] | None = None) -> bool:
    """The taker or the loser is a span outside the trigger's sentence (a pronoun, ``the group`` or an
    implicit party resolved to an earlier mention)."""
    bounds = sentences(example.text) if bounds is None else bounds
    here = _sentence_index(bounds, event.trigger)
    return any(p is not None and _sentence_index(bounds, p) != here for p in (event.taker, event.loser))


#: One line per heuristic, printed under the figures they measure.
HEURISTICS: tuple[str, ...] = (
    "new: articles whose id is not in `annotations/v1_ids.txt` (the ids of corpus v1, commit 4c3d05b).",
    "long: 1,500 to 5,000 words (runs of letters and digits; hyphenated and elided forms and `U.S.` count once).",
    "American spelling: `U.S.`/`U.N.`/`D.C.`/`U.K.` or at least two American spellings (defense, center, "
    "neighborhood, -ize verbs, ...).",
    "agency names: AFP, Agence France-Presse, Reuters, AP, Associated Press, dpa, Anadolu or `(AA)`, Xinhua, TASS, "
    "Interfax, EFE, ANSA, Kyodo, Bernama, PTI, IRNA, SANA, Ukrinform, Bloomberg.",
    "noisy: style `social`, names followed by Arabic/Cyrillic/Hebrew/Ethiopic/Myanmar script in parentheses, or at "
    "least a fifth of the sentences starting lower-case.",
    "page furniture: a `Title:`/`Date:`/`Tags:`/`Author:`/`URL:`/`Source:`/... line, a URL, `@highlight`, mojibake "
    "(`Â`, `â€`), an HTML entity or tag, or `[edit]`.",
    "sentences: `inference.events.sentences`; mean length = words in all sentences / number of sentences.",
    "noun trigger: first word of the span in a noun list (fall, capture, seizure, loss, withdrawal, takeover, "
    "liberation, gains, advances, retreat, handover, pullout, conquest, recovery, ...); those that are also verbs "
    "(fall, capture, retreat, ...) only after a determiner, possessive, preposition or `claims`/`announced`/..., "
    "or before `of`.",
    "passive: a participle trigger after a form of be/get (one adverb may stand between), or a trigger followed by "
    "`by` and an ACTOR span.",
    "denied / planned / attempted: the event's status.",
    "implicit party: the event's taker or loser is a span outside the trigger's sentence.",
    "`X-held` compounds: an ACTOR span directly followed by `-held`, `-controlled` or `-occupied`.",
)


def rate(count: int, total: int) -> str:
    """``count`` and its share per 100 of ``total``, for a table cell."""
    return f"{count} ({100 * count / total:.1f})" if total else f"{count} (-)"


def events_of(examples: Iterable[Example]) -> list[tuple[Example, Event]]:
    """Every annotated event with its article."""
    return [(ex, ev) for ex in examples for ev in ex.events or ()]
