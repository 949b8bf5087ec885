"""The model card (README.md) written into every run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference.fileio import atomic_write_text
from inference.labels import LABELS

_LABEL_TEXT = {
    "ACTOR": "a party to the conflict: forces, armed groups, governments acting, coalitions, their named leaders",
    "LOCATION": "a named place: country, province, city, village, river, base, crossing",
    "CONTROL_CHANGE": "the words saying a place changed hands (retook, fell to, withdrew from, capture)",
    "PERCENT": "a percentage with its approximator or range (more than 40 percent, 30-40%)",
}


def write_model_card(
    out: Path, config: dict[str, Any], test_scores: dict[str, Any], split_sizes: dict[str, int], meta: dict[str, Any]
) -> Path:
    """Write ``out/README.md`` describing use, labels, data, scores and limits."""
    per_label = test_scores.get("per_label", {})
    rows = "\n".join(
        f"| {label} | {per_label.get(label, {}).get('precision', 0):.3f} | {per_label.get(label, {}).get('recall', 0):.3f} "
        f"| {per_label.get(label, {}).get('f1', 0):.3f} | {per_label.get(label, {}).get('support', 0)} |"
        for label in LABELS
    )
    ci = test_scores.get("ci95")
    ci_text = f" (95% bootstrap CI {ci[0]:.3f}-{ci[1]:.3f})" if ci else ""
    labels = "\n".join(f"- `{label}`: {_LABEL_TEXT[label]}" for label in LABELS)
    text = f"""---
library_name: transformers
pipeline_tag: token-classification
language: en
tags: [token-classification, ner, conflict-news, frontlines]
---

# frontlines span tagger: {out.name}

Finds who is fighting, where, that a place changed hands, and how much of
it, as character spans in English conflict news.

## Intended use

Tagging news reports so analysts can count, map and compare reported changes
of territorial control. The spans are a first layer: they say *that* a text
reports a change, not whether it happened (claims, denials and plans are
tagged alike), nor who holds a place now.

## Labels (IOB2 tags in `config.id2label`)

{labels}

## Use

```python
from inference import SpanTagger            # frontlines' slim inference package
SpanTagger.from_pretrained("path/to/{out.name}").predict(["Daesh retook more than 40 percent of Albu Kamal."])

from transformers import pipeline            # or plain transformers
pipeline("token-classification", model="path/to/{out.name}", aggregation_strategy="simple")
```

## Training data

The frontlines corpus v1 (`annotations/corpus.jsonl`, sha256
`{meta.get("corpus_sha256", "?")[:16]}...`): original English articles about
armed conflicts in several regions and five styles, annotated by the project's
guidelines. Split by a stable hash of the article id: {split_sizes.get("train", 0)} train,
{split_sizes.get("dev", 0)} dev, {split_sizes.get("test", 0)} test articles.

Backbone `{config["model"]}`{" (randomly initialised)" if config["random_init"] else ""}; max length
{config["data"]["max_length"]} tokens with stride {config["data"]["stride"]}; lr {config["optim"]["lr"]},
{config["train"]["epochs"]} epochs at most, batch {config["train"]["batch_size"]} x
{config["train"]["grad_accum"]} accumulation; best dev epoch {meta.get("best_epoch")}.

## Scores on the test split

seqeval, strict IOB2, entity level, on the corpus's words: micro-F1
**{test_scores.get("micro_f1", 0):.3f}**{ci_text}.

| label | precision | recall | F1 | support |
| --- | --- | --- | --- | --- |
{rows}

## Limits

- A small corpus written for the project; scores on other outlets, translated
  text or other conflicts will be lower.
- English only; the backbone is uncased, so capitalisation cues are lost.
- Entities are flat and whole words; nested mentions are not represented.
- Trained on {meta.get("device", "?")} in {meta.get("wall_seconds", "?")} s
  at commit `{meta.get("git_commit") or "unknown"}`.
"""
    path = out / "README.md"
    atomic_write_text(path, text)
    return path
