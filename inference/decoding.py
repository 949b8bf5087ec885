"""From per-word tag distributions to IOB2 tags: BIO-constrained Viterbi (default) or plain argmax.

Per-word argmax can emit ``I-X`` after ``O`` or after another type, which the
lenient decoder (:func:`inference.spans.word_tags_to_spans`) repairs by
opening a new span, so multi-word names such as "Government of National
Accord" come out in pieces when one inner word dips below its neighbours.
Viterbi finds the most probable tag sequence that is valid IOB2, and it also
never cuts a white-space token where a span cannot start or end (a
*fragment*: ``U`` out of ``U.S.``, ``Sa`` out of ``Sa’dah``). A boundary
inside a token is allowed only

* between the token's letters/digits and punctuation at its edges (``Raqqa,``,
  ``(SDF)``, ``U.S.`` with or without its last period);
* at a hyphen, dash or slash joining words (``Shabaab-held``, ``30-40%``);
* before a possessive ``'s`` / ``’s`` (``Iraq’s``).

and a span starts on a letter or digit and ends on one, an abbreviation's
period or ``%`` (:func:`edges`), so ``-pasha`` or ``Raqqa,`` cannot come out.

The dynamic programme runs over 9 tags, so it costs O(words x 81) and is
written directly in numpy: no CRF library is needed for a fixed transition
mask and no learned transition scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import regex

from frontlines.inference.labels import LABELS, OUTSIDE, TAG2ID, TAGS
from frontlines.inference.spans import Span

DECODINGS = ("viterbi", "argmax")

_TOKEN_RE = regex.compile(r"\S+")
_ALNUM_RE = regex.compile(r"[\w\p{M}]")
_JOINERS = frozenset("-‐‑‒–—/")
_APOSTROPHES = frozenset("'’")


def _allowed_cuts(token: str) -> set[int]:
    """Offsets inside ``token`` (0 < i < len) where a span may start or end."""
    alnum = [i for i, ch in enumerate(token) if _ALNUM_RE.match(ch)]
    if not alnum:
        return set(range(1, len(token)))
    lo, hi = alnum[0], alnum[-1] + 1
    cuts = set(range(1, lo + 1)) | set(range(hi, len(token)))
    for i in range(lo + 1, hi):
        if token[i] in _JOINERS or token[i - 1] in _JOINERS:
            cuts.add(i)
        elif token[i] in _APOSTROPHES and token[i + 1 : i + 2].lower() == "s" and (
                i + 2 >= hi or not _ALNUM_RE.match(token[i + 2])):
            cuts.add(i)
    # Trailing punctuation may also be taken in part (``U.S.``'s last period, ``D.C.,``).
    return cuts


def glued(text: str, words: Sequence[tuple[int, int]]) -> np.ndarray:
    """``glued[i]`` is True when no span may start or end between word ``i`` and word ``i + 1``."""
    out = np.zeros(max(len(words) - 1, 0), dtype=bool)
    if len(words) < 2:
        return out
    starts = np.asarray([s for s, _ in words], dtype=np.int64)
    for m in _TOKEN_RE.finditer(text):
        lo, hi = m.span()
        first = int(np.searchsorted(starts, lo, side="left"))
        last = int(np.searchsorted(starts, hi, side="left")) - 1
        if last <= first:
            continue
        cuts = _allowed_cuts(m.group())
        for i in range(first, last):
            out[i] = (words[i + 1][0] - lo) not in cuts
    return out


def fragments(text: str, spans: Sequence[Span]) -> list[Span]:
    """The spans that start or end where :func:`glued` forbids it (the *fragment* rate's numerator)."""
    bad: list[Span] = []
    for span in spans:
        for pos in (span.start, span.end):
            tok = _token_at(text, pos)
            if tok is None:
                continue
            lo, token = tok
            if 0 < pos - lo < len(token) and (pos - lo) not in _allowed_cuts(token):
                bad.append(span)
                break
    return bad


def _token_at(text: str, pos: int) -> tuple[int, str] | None:
    """The white-space token that strictly contains offset ``pos`` between two of its characters."""
    if pos <= 0 or pos >= len(text) or text[pos - 1].isspace() or text[pos].isspace():
        return None
    lo = pos
    while lo > 0 and not text[lo - 1].isspace():
        lo -= 1
    hi = pos
    while hi < len(text) and not text[hi].isspace():
        hi += 1
    return lo, text[lo:hi]


def _masks() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Transition masks ``(free, glued, no_end, start)``: which tag may follow which (True = allowed).

    ``glued``: no boundary at all (O stays O, an entity continues); ``no_end``:
    an entity may not end here (it continues), but an O may be followed by anything.
    """
    n = len(TAGS)
    free = np.ones((n, n), dtype=bool)
    stick = np.zeros((n, n), dtype=bool)
    start = np.ones(n, dtype=bool)
    stick[TAG2ID[OUTSIDE], TAG2ID[OUTSIDE]] = True
    for label in LABELS:
        b, i = TAG2ID[f"B-{label}"], TAG2ID[f"I-{label}"]
        free[:, i] = False
        free[b, i] = free[i, i] = True
        stick[b, i] = stick[i, i] = True
        start[i] = False
    no_end = free.copy()
    entity = np.array([t != OUTSIDE for t in TAGS])
    no_end[entity] = stick[entity]
    return free, stick, no_end, start


_FREE, _GLUED, _NO_END, _START = _masks()
_B_TAGS = np.array([t.startswith("B-") for t in TAGS])
_ENTITY = np.array([t != OUTSIDE for t in TAGS])
#: Punctuation a span may end on: an abbreviation's period (``U.S.``) and the percent sign.
_END_PUNCT = frozenset(".%")


def edges(text: str, words: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(can_start, can_end)`` per word: spans start on a letter or digit and end on one, ``.`` or ``%``.

    (The contract: no span starts or ends with punctuation that is not part
    of the expression; in the corpus only ``%`` and abbreviation periods are.)
    """
    alnum = np.fromiter((bool(_ALNUM_RE.match(text[s])) for s, _ in words), dtype=bool, count=len(words))
    end_ok = np.fromiter((text[e - 1] in _END_PUNCT for _, e in words), dtype=bool, count=len(words))
    return alnum, alnum | end_ok


def viterbi(probs: np.ndarray, glue: np.ndarray | None = None,
            can_start: np.ndarray | None = None, can_end: np.ndarray | None = None) -> np.ndarray:
    """The most probable valid IOB2 tag ids for ``probs`` ``(n_words, n_tags)``.

    ``glue`` (from :func:`glued`) forbids a span boundary between two words:
    there the tag must continue (``O`` -> ``O``, ``B/I-X`` -> ``I-X``).
    ``can_start`` / ``can_end`` (from :func:`edges`) say which words may open
    and close a span.
    """
    n = len(probs)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(divide="ignore"):
        emit = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-30, None))
    neg = -np.inf
    if can_start is not None:
        emit[np.ix_(~can_start, _B_TAGS)] = neg
    score = np.where(_START, emit[0], neg)
    back = np.zeros((n, len(TAGS)), dtype=np.int64)
    for t in range(1, n):
        if glue is not None and glue[t - 1]:
            mask = _GLUED
        elif can_end is not None and not can_end[t - 1]:
            mask = _NO_END
        else:
            mask = _FREE
        cand = np.where(mask, score[:, None], neg)  # (prev, cur)
        back[t] = cand.argmax(0)
        score = cand[back[t], np.arange(len(TAGS))] + emit[t]
    if can_end is not None and not can_end[-1]:
        score = np.where(_ENTITY, neg, score)
    tags = np.zeros(n, dtype=np.int64)
    tags[-1] = int(score.argmax())
    for t in range(n - 1, 0, -1):
        tags[t - 1] = back[t, tags[t]]
    return tags


def decode_tags(probs: np.ndarray, text: str, words: Sequence[tuple[int, int]], method: str = "viterbi") -> np.ndarray:
    """Tag ids per word of ``text`` by ``method`` (one of :data:`DECODINGS`)."""
    if method == "viterbi":
        return viterbi(probs, glued(text, words), *edges(text, words))
    if method == "argmax":
        return np.asarray(probs).argmax(-1) if len(probs) else np.zeros(0, dtype=np.int64)
    raise ValueError(f"unknown decoding {method!r} (one of {', '.join(DECODINGS)})")
