"""Model-assisted labelling: the unlabelled articles a label would teach the model most, pre-annotated.

    python -m training.select --model RUN --input unlabelled.jsonl --format label-studio --limit 25 --output tasks.json

The model (``inference.SpanTagger``) tags every article; each span has a
score ``p``, the mean probability of its words' tags. An article's
uncertainty is

    u = ½·mean(1 − p) + ½·max(1 − p)     over its predicted spans,
    u = EMPTY (default 0.5)               if the model predicts no span.

The mean rewards articles the model is unsure of throughout, the max one
span it can barely decide (a coin toss, p ≈ 0.5, gives 1 − p = 0.5); an
article with nothing predicted is either truly empty or all misses, and is
ranked like a half-sure span. Articles are then picked greedily: each step
takes the article with the highest

    score = u − DIVERSITY · max cos(v, v_picked)

over those already picked, ``v`` being the article's TF-IDF vector over the
project's words (lower-cased, sublinear term frequency, L2-normed), so that a
near-duplicate of a picked article (cosine ≈ 1) loses ``DIVERSITY`` (default
0.5) and the next different article goes first. Ties go to input order.

Writes ``--limit`` tasks in pick order, with the model's spans as
pre-annotations (Label Studio ``predictions`` with scores, doccano labels, or
Prodigy spans with scores) and the selection facts under ``selection``; plus
``<output stem>.preview.html`` beside them (:mod:`training.preview`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from frontlines.inference.fileio import atomic_write_text
from frontlines.inference.spans import Example, Span, word_offsets
from frontlines.training.convert import TASK_FORMATS, write
from frontlines.training.convert.common import Item, read_jsonl_items, stable_id, validate
from frontlines.training.corpus import CorpusError, Problem
from frontlines.training.html_marks import LOW_CONFIDENCE, threshold_arg
from frontlines.training.preview import render_preview

DIVERSITY = 0.5
EMPTY = 0.5


class Tagger(Protocol):
    def predict(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class Pick:
    """One chosen article: its input index and why it was chosen."""

    index: int
    uncertainty: float
    max_similarity: float
    score: float


def uncertainty(scores: Sequence[float], empty: float = EMPTY) -> float:
    """``½·mean(1 − p) + ½·max(1 − p)`` over span scores ``p``; ``empty`` with no span."""
    if not scores:
        return empty
    doubt = 1.0 - np.asarray(scores, dtype=float)
    return float(0.5 * doubt.mean() + 0.5 * doubt.max())


def tfidf(texts: Sequence[str]) -> Any:
    """L2-normed TF-IDF rows (a sparse matrix) over the project's lower-cased words."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    def words(text: str) -> list[str]:
        return [text[s:e].lower() for s, e in word_offsets(text)]

    return TfidfVectorizer(analyzer=words, sublinear_tf=True).fit_transform(texts)


def rank(uncertainties: Sequence[float], vectors: Any, limit: int, diversity: float = DIVERSITY) -> list[Pick]:
    """Greedy picks: each the highest ``u − diversity · max cosine to the picked ones`` (rows of ``vectors`` L2-normed)."""
    u = np.asarray(uncertainties, dtype=float)
    max_sim = np.zeros(len(u))
    free = np.ones(len(u), dtype=bool)
    picks: list[Pick] = []
    for _ in range(min(limit, len(u))):
        score = np.where(free, u - diversity * max_sim, -np.inf)
        i = int(np.argmax(score))  # first of equals: input order
        picks.append(Pick(i, float(u[i]), float(max_sim[i]), float(score[i])))
        free[i] = False
        row = vectors[i].toarray().ravel() if hasattr(vectors, "toarray") else np.asarray(vectors[i]).ravel()
        max_sim = np.maximum(max_sim, np.asarray(vectors @ row).ravel())
    return picks


def select(tagger: Tagger, examples: Sequence[Example], limit: int, diversity: float = DIVERSITY,
           empty: float = EMPTY) -> list[tuple[Pick, Example, dict[Span, float]]]:
    """Tag ``examples``, rank them, and return the picks with the model's spans and their scores."""
    predicted = tagger.predict([ex.text for ex in examples])
    scored = [{Span(d["start"], d["end"], d["label"]): float(d["score"]) for d in spans} for spans in predicted]
    u = [uncertainty(list(s.values()), empty) for s in scored]
    picks = rank(u, tfidf([ex.text for ex in examples]), limit, diversity)
    return [(p, Example(examples[p.index].id, examples[p.index].text, sorted(scored[p.index]), examples[p.index].meta),
             scored[p.index]) for p in picks]


def _items(path: str | Path) -> Iterator[Item]:
    for line, record, problem in read_jsonl_items(path):
        if problem is not None or not isinstance(record, dict):
            yield line, None, [problem or Problem(str(path), line, "a line must be a JSON object")]
            continue
        art_id = record.get("id")
        if isinstance(art_id, int) and not isinstance(art_id, bool):
            art_id = str(art_id)
        elif art_id is None:
            art_id = stable_id("article", record.get("text"))
        yield line, {"id": art_id, "text": record.get("text"), "spans": [], "meta": record.get("meta", {})}, []


def read_unlabelled(path: str | Path) -> list[Example]:
    """Articles to choose from: JSON lines of ``{"text", "id"?, "meta"?}`` (spans, if any, are ignored).

    A missing id becomes ``article-<hash of the text>``; bad lines raise
    :class:`training.corpus.CorpusError` with the validator's messages.
    """
    return validate(str(path), _items(path))[0]


def preview_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f"{output.stem}.preview.html")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.select", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--model", required=True, help="run directory (or any saved model) to pre-annotate with")
    parser.add_argument("--input", required=True, help="JSON lines of unlabelled articles: {text, id?, meta?}")
    parser.add_argument("--output", required=True, help="tasks file to write")
    parser.add_argument("--format", choices=TASK_FORMATS, default="label-studio")
    parser.add_argument("--limit", type=int, default=25, help="how many articles to pick (default 25)")
    parser.add_argument("--diversity", type=float, default=DIVERSITY, help=f"weight of the near-duplicate "
                        f"penalty (default {DIVERSITY}; 0 ranks by uncertainty alone)")
    parser.add_argument("--empty", type=float, default=EMPTY, help=f"uncertainty of an article with no "
                        f"predicted span (default {EMPTY})")
    parser.add_argument("--low", type=threshold_arg, default=LOW_CONFIDENCE,
                        help=f"preview: mark spans scored below this (default {LOW_CONFIDENCE})")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        examples = read_unlabelled(args.input)
    except CorpusError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"FAILED: {len(exc.problems)} problem(s); nothing written", file=sys.stderr)
        return 1
    from frontlines.inference import SpanTagger

    try:
        tagger = SpanTagger.from_pretrained(args.model, device=args.device)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    chosen = select(tagger, examples, args.limit, args.diversity, args.empty)
    facts = [{"rank": n, "uncertainty": p.uncertainty, "max_similarity": p.max_similarity, "score": p.score}
             for n, (p, _, _) in enumerate(chosen, start=1)]
    version = Path(args.model).resolve().name
    note = (f"{len(chosen)} of {len(examples)} articles from {args.input}, pre-annotated by {version}, in the order "
            f"to label them (uncertainty u minus {args.diversity:g} x similarity to an earlier pick).")
    page = render_preview([(ex, s, {"uncertainty": p.uncertainty, "similarity": p.max_similarity})
                           for p, ex, s in chosen], args.low, title=f"Articles to label: {Path(args.output).name}",
                          note=note)
    write(args.format, args.output, [ex for _, ex, _ in chosen], scores=[s for _, _, s in chosen],
          extras=[{"selection": f} for f in facts], model_version=version)
    atomic_write_text(preview_path(args.output), page)
    print(f"ok: {len(chosen)} of {len(examples)} articles -> {args.output} ({args.format}), "
          f"preview {preview_path(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
