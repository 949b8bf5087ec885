"""SpanTagger against the Hugging Face pipeline on a corpus split, span by span.

    .venv/bin/python scripts/compare_pipeline.py --model runs/default [--split test]

Both read the same articles with the same trained model and windows:
``SpanTagger.predict`` and ``transformers.pipeline("token-classification",
aggregation_strategy="simple", stride=...)``. A prediction is right when it
equals a gold span exactly (start, end, label). The script counts, over the
split's gold spans, where both are right and where only one is, shows
examples of each, and counts the pipeline's spans that start or end inside a
word (SpanTagger's spans are whole words by construction).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frontlines.inference.spans import word_offsets  # noqa: E402
from frontlines.inference.tagger import SpanTagger  # noqa: E402
from frontlines.training.corpus import DEFAULT_CORPUS, load_corpus, split_examples  # noqa: E402

Key = tuple[str, int, int, str]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="trained run directory")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"))
    parser.add_argument("--show", type=int, default=10, help="examples of each disagreement to print")
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer, pipeline

    try:
        examples = split_examples(load_corpus([args.corpus]), args.split)
        tagger = SpanTagger.from_pretrained(args.model)
    except (ValueError, FileNotFoundError) as exc:  # CorpusError names each file, line and span
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.model_max_length = tagger.max_length  # the same windows as SpanTagger
    pipe = pipeline("token-classification", model=args.model, tokenizer=tokenizer, aggregation_strategy="simple",
                    stride=tagger.stride, device=-1)
    texts = [ex.text for ex in examples]
    ours: set[Key] = {
        (ex.id, s["start"], s["end"], s["label"]) for ex, spans in zip(examples, tagger.predict(texts), strict=True)
        for s in spans
    }
    theirs: set[Key] = set()
    pipeline_errors: Counter[str] = Counter()
    for ex, entities in zip(examples, pipe(texts, batch_size=16), strict=True):
        words = word_offsets(ex.text)
        starts, ends = {a for a, _ in words}, {b for _, b in words}
        for e in entities:
            theirs.add((ex.id, e["start"], e["end"], e["entity_group"]))
            if e["start"] not in starts or e["end"] not in ends:
                pipeline_errors["span starts or ends inside a word"] += 1
    gold: set[Key] = {(ex.id, s.start, s.end, s.label) for ex in examples for s in ex.spans}
    texts_by_id = {ex.id: ex.text for ex in examples}

    both, only_ours, only_theirs = gold & ours & theirs, (gold & ours) - theirs, (gold & theirs) - ours
    print(f"{args.split} split: {len(examples)} articles, {len(gold)} gold spans")
    print(f"right in both:             {len(both)}")
    print(f"right in SpanTagger only:  {len(only_ours)}")
    print(f"right in the pipeline only: {len(only_theirs)}")
    print(f"predicted spans: SpanTagger {len(ours)}, pipeline {len(theirs)}; identical predictions {len(ours & theirs)}")
    for kind, n in pipeline_errors.items():
        print(f"pipeline spans that {kind}: {n}")
    for title, keys in (("right in SpanTagger only", only_ours), ("right in the pipeline only", only_theirs)):
        for doc, start, end, label in sorted(keys)[: args.show]:
            print(f"  {title}: {doc} [{start}, {end}) {label} {texts_by_id[doc][start:end]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
