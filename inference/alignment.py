"""Span-to-token alignment: the one bridge between character spans and tokens.

Training uses it to turn gold spans into per-token label ids; inference and
evaluation use it to turn per-token predictions back into character spans.
Both directions go through the corpus's own words (:func:`word_offsets`):

* spans -> word IOB2 tags -> token labels: the first sub-token of each word
  gets the word's tag, the others ``-100`` (or, with ``label_all_tokens``,
  the ``I-`` form of the tag, as in Hugging Face's ``run_ner``);
* token predictions -> word tags (taken from each word's first sub-token)
  -> spans, with the BIO decoder of :mod:`inference.spans`.

Long texts are cut into windows of at most ``max_length`` tokens overlapping
by ``stride`` tokens, so no token is dropped; a word seen in several windows
takes the prediction of the window where it sits furthest from an edge.

A fast tokenizer's offset mapping is required. Every mapping is computed with
numpy over whole windows, not per token in Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from frontlines.inference.decoding import decode_tags
from frontlines.inference.labels import ID2TAG, IGNORE_INDEX, OUTSIDE, TAG2ID
from frontlines.inference.spans import Example, Span, spans_to_word_tags, word_offsets, word_tags_to_spans


@dataclass(frozen=True)
class Words:
    """A text's word offsets as arrays, for vectorised lookups."""

    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, text: str) -> Words:
        offsets = word_offsets(text)
        if not offsets:
            return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        arr = np.asarray(offsets, dtype=np.int64)
        return cls(arr[:, 0].copy(), arr[:, 1].copy())

    def __len__(self) -> int:
        return len(self.starts)

    def pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.starts.tolist(), self.ends.tolist(), strict=False))


@dataclass(frozen=True)
class WindowAlignment:
    """How the tokens of one window map onto words.

    ``word`` is the index of the word holding each token's first character
    (-1 for special and padding tokens); ``first`` marks the token that opens
    its word (its first sub-token); ``last_word`` is the last word the token
    touches, which is beyond ``word`` only for a token that swallows several
    words (an ``[UNK]`` over ``5€😀``, say).
    """

    word: np.ndarray
    first: np.ndarray
    last_word: np.ndarray


def check_tokenizer(tokenizer: Any) -> None:
    """Fail early, and clearly, for a tokenizer without offset mappings."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            f"{type(tokenizer).__name__} is not a fast tokenizer; character offsets "
            "need a tokenizers-backed (fast) tokenizer"
        )


def encode_texts(tokenizer: Any, texts: Sequence[str], max_length: int, stride: int) -> Any:
    """Tokenize ``texts`` into windows of at most ``max_length`` tokens.

    Returns the tokenizer's ``BatchEncoding`` with ``offset_mapping`` and
    ``overflow_to_sample_mapping`` (window -> text index).
    """
    check_tokenizer(tokenizer)
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    if not 0 <= stride < max_length - specials:
        raise ValueError(
            f"stride ({stride}) must be >= 0 and smaller than max_length ({max_length}) "
            f"minus the {specials} special tokens"
        )
    return tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )


def align_window(offsets: np.ndarray, sequence_ids: Sequence[int | None], words: Words) -> WindowAlignment:
    """Map one window's tokens (offsets ``(n, 2)``) onto ``words``."""
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    seq = np.fromiter((-1 if s is None else s for s in sequence_ids), dtype=np.int64, count=len(offsets))
    valid = (seq == 0) & (offsets[:, 1] > offsets[:, 0])
    if len(words) == 0:
        none = np.full(len(offsets), -1, dtype=np.int64)
        return WindowAlignment(none, np.zeros(len(offsets), dtype=bool), none)
    word = np.searchsorted(words.starts, offsets[:, 0], side="right") - 1
    # A token starting in white space before the first word belongs to none.
    inside = (word >= 0) & (offsets[:, 0] < words.ends[np.clip(word, 0, None)])
    valid &= inside
    word = np.where(valid, word, -1)
    first = valid & (offsets[:, 0] == words.starts[np.clip(word, 0, None)])
    last_word = np.where(valid, np.searchsorted(words.starts, offsets[:, 1], side="left") - 1, -1)
    return WindowAlignment(word, first, last_word)


def _i_tag_id(tag_ids: np.ndarray) -> np.ndarray:
    """Map each tag id to the id of its ``I-`` form (``O`` stays ``O``)."""
    table = np.array(
        [TAG2ID[f"I-{t[2:]}"] if t != OUTSIDE else TAG2ID[OUTSIDE] for t in (ID2TAG[i] for i in range(len(ID2TAG)))]
    )
    return table[tag_ids]


def token_label_ids(alignment: WindowAlignment, word_tag_ids: np.ndarray, label_all_tokens: bool = False) -> list[int]:
    """Per-token training labels for one window (``-100`` where ignored)."""
    labels = np.full(len(alignment.word), IGNORE_INDEX, dtype=np.int64)
    if len(word_tag_ids) == 0:
        return labels.tolist()
    tags = word_tag_ids[np.clip(alignment.word, 0, None)]
    labels[alignment.first] = tags[alignment.first]
    if label_all_tokens:
        rest = (alignment.word >= 0) & ~alignment.first
        labels[rest] = _i_tag_id(tags[rest])
    return labels.tolist()


def encode_examples(
    tokenizer: Any,
    examples: Sequence[Example],
    max_length: int,
    stride: int,
    label_all_tokens: bool = False,
) -> list[dict[str, Any]]:
    """Training features: one dict per window, with ``input_ids``, ``labels`` etc.

    Each feature also carries ``example_index``, ``offset_mapping`` and
    ``sequence_ids`` so that its predictions can be decoded back to spans of
    its article with :func:`decode_text` without tokenizing again.
    """
    enc = encode_texts(tokenizer, [ex.text for ex in examples], max_length, stride)
    words = [Words.of(ex.text) for ex in examples]
    word_tags = [
        np.array([TAG2ID[t] for t in spans_to_word_tags(w.pairs(), ex.spans)], dtype=np.int64)
        for w, ex in zip(words, examples, strict=False)
    ]
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    features = []
    for w, sample in enumerate(enc["overflow_to_sample_mapping"]):
        alignment = align_window(enc["offset_mapping"][w], enc.sequence_ids(w), words[sample])
        feature = {k: enc[k][w] for k in keys}
        feature["labels"] = token_label_ids(alignment, word_tags[sample], label_all_tokens)
        feature["example_index"] = sample
        feature["offset_mapping"] = enc["offset_mapping"][w]
        feature["sequence_ids"] = enc.sequence_ids(w)
        features.append(feature)
    return features


def _centrality(sequence_ids: Sequence[int | None]) -> np.ndarray:
    """Distance of each content token from its window's nearer edge."""
    positions = np.array([i for i, s in enumerate(sequence_ids) if s == 0])
    cent = np.full(len(sequence_ids), -1, dtype=np.int64)
    if len(positions):
        lo, hi = positions[0], positions[-1]
        cent[positions] = np.minimum(positions - lo, hi - positions)
    return cent


def _owners(alignments: Sequence[tuple[WindowAlignment, np.ndarray]], n_words: int) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Per word: ``(centrality, window, token)`` of its first sub-token in the window where it sits most centrally.

    ``alignments`` pairs each window's :class:`WindowAlignment` with its
    :func:`_centrality`; the earliest window wins a tie. -1 for a word no
    window saw.
    """
    best = np.full(n_words, -1, dtype=np.int64)
    window = np.full(n_words, -1, dtype=np.int64)
    token = np.full(n_words, -1, dtype=np.int64)
    for w, (al, cent) in enumerate(alignments):
        idx = np.nonzero(al.first)[0]
        word = al.word[idx]
        better = cent[idx] > best[word]
        idx, word = idx[better], word[better]
        best[word], window[word], token[word] = cent[idx], w, idx
    return best, window, token


def read_tokens(windows: Iterable[tuple[np.ndarray, Sequence[int | None]]], words: Words) -> list[np.ndarray]:
    """Per window ``(offsets, sequence_ids)``, a mask of the tokens whose rows :func:`best_rows` reads.

    Those are each word's first sub-token in the window where it sits most
    centrally: no other row reaches the spans, which is where bf16
    prediction's fp32 re-check (:class:`inference.torch_forward.TorchForward`)
    looks for near ties.
    """
    alignments = [(align_window(o, s, words), _centrality(s)) for o, s in windows]
    _, window, token = _owners(alignments, len(words))
    masks = [np.zeros(len(al.word), dtype=bool) for al, _ in alignments]
    for w, t in zip(window[window >= 0].tolist(), token[window >= 0].tolist(), strict=True):
        masks[w][t] = True
    return masks


def best_rows(
    windows: Iterable[tuple[np.ndarray, Sequence[int | None], np.ndarray]], words: Words
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """Each word's row (of probabilities or hidden states) from the window where it sits most centrally.

    ``windows`` yields ``(offsets, sequence_ids, rows)`` with ``rows`` of shape
    ``(n_tokens, d)``; a word takes its first sub-token's row. Returns
    ``(rows (n_words, d), centrality, has_token, continues)``: ``centrality``
    is -1 for a word no window saw, ``has_token`` marks words some token
    touches, ``continues`` lists ``(first word, last word, word whose row it
    is)`` for tokens that swallow several words. Words no window saw get zeros.
    """
    windows = [(o, s, np.asarray(r)) for o, s, r in windows]
    n = len(words)
    if not windows:
        return np.zeros((n, 0), dtype=np.float32), np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=bool), []
    first_rows = windows[0][2]
    out = np.zeros((n, first_rows.shape[-1]), dtype=np.float64 if first_rows.dtype == np.float64 else np.float32)
    has_token = np.zeros(n, dtype=bool)
    continues: list[tuple[int, int, int]] = []
    if n == 0:
        return out, np.full(0, -1, dtype=np.int64), has_token, continues
    alignments = [(align_window(o, s, words), _centrality(s)) for o, s, _ in windows]
    best, window, token = _owners(alignments, n)
    for w, ((al, _), (_, _, rows)) in enumerate(zip(alignments, windows, strict=True)):
        has_token[al.word[al.word >= 0]] = True
        mine = window == w
        out[mine] = rows[token[mine]]
        for i in np.nonzero(al.first & (al.last_word > al.word))[0]:
            if window[al.word[i]] == w:
                continues.append((int(al.word[i]), int(al.last_word[i]), int(al.word[i])))
    return out, best, has_token, continues


def word_states(text: str, windows: Iterable[tuple[np.ndarray, Sequence[int | None], np.ndarray]],
                words: Words | None = None) -> np.ndarray:
    """Each word's hidden state ``(n_words, hidden)``, chosen like its tag distribution (for the event linker)."""
    words = Words.of(text) if words is None else words
    rows, _, _, continues = best_rows(windows, words)
    for first, last, src in continues:
        rows[first + 1 : last + 1] = rows[src]
    return rows


def decode_text(
    text: str,
    windows: Iterable[tuple[np.ndarray, Sequence[int | None], np.ndarray]],
    words: Words | None = None,
    decoding: str = "viterbi",
) -> list[tuple[Span, float]]:
    """Spans (with scores) of one text from its windows' predictions.

    ``windows`` yields ``(offsets, sequence_ids, probs)`` per window, ``probs``
    being ``(n_tokens, n_tags)`` probabilities (or one-hot label rows). Each
    word takes the distribution of its first sub-token in the window where it
    sits furthest from an edge (:func:`best_rows`); ``decoding``
    (:data:`inference.decoding.DECODINGS`) turns the words' distributions into
    tags. The score of a span is the mean probability of its words' tags.
    """
    words = Words.of(text) if words is None else words
    n = len(words)
    n_tags = len(ID2TAG)
    rows, best, has_token, continues = best_rows(
        ((o, s, np.asarray(p, dtype=np.float64)) for o, s, p in windows), words)
    dist = np.zeros((n, n_tags), dtype=np.float64)
    dist[:, TAG2ID[OUTSIDE]] = 1.0
    seen = best >= 0
    if rows.shape[1] == n_tags:
        dist[seen] = rows[seen]
    # Words swallowed by one token continue its entity: their distribution is
    # the token's, moved onto the I- tags.
    i_of = _i_tag_id(np.arange(n_tags))
    for first, last, src in continues:
        moved = np.zeros(n_tags)
        np.add.at(moved, i_of, dist[src])
        dist[first + 1 : last + 1] = moved
        best[first + 1 : last + 1] = np.maximum(best[first + 1 : last + 1], 0)
    tag = decode_tags(dist, text, words.pairs(), decoding)
    tags = [ID2TAG[int(t)] for t in tag]
    # A word the tokenizer dropped (a zero-width or control character) joins
    # the entity around it when both neighbours agree; otherwise it stays outside.
    for i in np.nonzero(~has_token & (best < 0))[0]:
        prev = tags[i - 1] if i > 0 else OUTSIDE
        nxt = next((tags[j] for j in range(i + 1, n) if has_token[j] or best[j] >= 0), OUTSIDE)
        if prev != OUTSIDE and nxt == f"I-{prev[2:]}":
            tags[i] = nxt
        elif decoding == "argmax":
            tags[i] = OUTSIDE
    spans = word_tags_to_spans(words.pairs(), tags)
    if not spans:
        return []
    score = dist[np.arange(n), [TAG2ID[t] for t in tags]]
    word_index = {s: i for i, s in enumerate(words.starts.tolist())}
    end_index = {e: i for i, e in enumerate(words.ends.tolist())}
    return [(s, float(score[word_index[s.start] : end_index[s.end] + 1].mean())) for s in spans]


def round_trip(tokenizer: Any, example: Example, max_length: int = 512, stride: int = 128) -> list[Span]:
    """Spans of ``example`` that do not survive spans -> token labels -> spans.

    An empty list means the gold spans come back exactly. A span is lost when
    the tokenizer drops the characters of its first or last word, or merges
    its boundary with a neighbour word into a single token.
    """
    eye = np.eye(len(ID2TAG))
    windows = []
    for feature in encode_examples(tokenizer, [example], max_length, stride):
        labels = np.asarray(feature["labels"])
        onehot = eye[np.where(labels < 0, 0, labels)]
        windows.append((feature["offset_mapping"], feature["sequence_ids"], onehot))
    # argmax: this checks the alignment itself, not the decoder's span constraints.
    decoded = {span for span, _ in decode_text(example.text, windows, decoding="argmax")}
    return [s for s in example.spans if s not in decoded]
