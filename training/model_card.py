"""The model card (README.md) written into every run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from frontlines.inference.fileio import atomic_write_text
from frontlines.inference.labels import LABELS

_LABEL_TEXT = {
    "ACTOR": "a party to the conflict: forces, armed groups, governments acting, coalitions, their named leaders",
    "LOCATION": "a named place: country, province, city, village, river, base, crossing",
    "CONTROL_CHANGE": "the words saying a place changed hands (retook, fell to, withdrew from, capture)",
    "PERCENT": "a percentage with its approximator or range (more than 40 percent, 30-40%)",
}


def _ci(ci: Any) -> str:
    return f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "-"


def _splits_table(summaries: dict[str, dict[str, Any]]) -> str:
    """Test and stress side by side: micro-F1 with CI, per label, and the argmax decoder for comparison."""
    names = [s for s in ("test", "stress") if s in summaries]
    if not names:
        return "(no held-out split was evaluated)"
    rows = ["| | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    rows.append("| articles | " + " | ".join(str(summaries[s]["n_articles"]) for s in names) + " |")
    rows.append("| micro-F1 (95% CI) | " + " | ".join(
        f"**{summaries[s]['micro_f1']:.3f}** ({_ci(summaries[s]['ci95'])})" for s in names) + " |")
    for label in LABELS:
        rows.append(f"| {label} F1 | " + " | ".join(f"{summaries[s]['per_label'].get(label, 0):.3f}" for s in names) + " |")
    if all((summaries[s].get("decoding") or {}).get("argmax") for s in names):
        rows.append("| micro-F1 with argmax decoding | " + " | ".join(
            f"{summaries[s]['decoding']['argmax']['micro_f1']:.3f}" for s in names) + " |")
        rows.append("| fragment rate (used decoder / argmax) | " + " | ".join(
            f"{summaries[s]['decoding'][summaries[s]['decoding']['used']]['rate']:.4f} / "
            f"{summaries[s]['decoding']['argmax']['rate']:.4f}" for s in names) + " |")
    return "\n".join(rows)


def _events_table(summaries: dict[str, dict[str, Any]]) -> str:
    names = [s for s in ("test", "stress") if summaries.get(s, {}).get("events")]
    if not names:
        return "No event annotation in the evaluated splits."
    rows = ["| split | system | record F1 (95% CI) | taker F1 (95% CI) | loser F1 | place F1 (95% CI) | extent F1 | status acc. |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in names:
        for system, e in summaries[s]["events"].items():
            rows.append(f"| {s} | {system} | {e['record_f1']:.3f} ({_ci(e['record_ci95'])}) | {e['taker_f1']:.3f} "
                        f"({_ci(e['taker_ci95'])}) | {e['loser_f1']:.3f} | {e['place_f1']:.3f} ({_ci(e['place_ci95'])}) "
                        f"| {e['extent_f1']:.3f} | {e['status_accuracy']:.3f} |")
    return "\n".join(rows)


def _linker_corpus(meta: dict[str, Any]) -> str:
    """A sentence when the linker was retrained on another revision of the corpus than the tagger's."""
    linker = meta.get("linker", {}).get("corpus_sha256")
    if not linker or linker == meta.get("corpus_sha256"):
        return ""
    return (f" The event linker was retrained later, on another revision of the corpus (sha256 `{linker[:16]}...`),"
            " and the held-out figures below are scored against that revision.")


def _members(meta: dict[str, Any]) -> str:
    n = meta.get("linker", {}).get("members", 1)
    return f"the mean of {n} seeds' linkers" if n > 1 else "one seed"


def write_model_card(
    out: Path, config: dict[str, Any], test_scores: dict[str, Any], summaries: dict[str, dict[str, Any]],
    split_sizes: dict[str, int], meta: dict[str, Any],
) -> Path:
    """Write ``out/README.md`` describing use, labels, data, scores (test and stress, spans and events) and limits."""
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
from frontlines.inference import SpanTagger            # frontlines' slim inference package
SpanTagger.from_pretrained("path/to/{out.name}").predict(["Daesh retook more than 40 percent of Albu Kamal."])

from transformers import pipeline            # or plain transformers
pipeline("token-classification", model="path/to/{out.name}", aggregation_strategy="simple")
```

## Training data

The frontlines corpus (`annotations/corpus.jsonl`, sha256
`{meta.get("corpus_sha256", "?")[:16]}...`): original English articles about
armed conflicts, in the genres real reporting comes in (wire copy, press
releases and briefings, communiqués, monitoring updates, encyclopedia pages,
noisy scraped and social text), annotated by the project's guidelines, with
event links on every control change. Split by a stable hash of the article
id: {split_sizes.get("train", 0)} train, {split_sizes.get("dev", 0)} dev, {split_sizes.get("test", 0)} test
articles, and {split_sizes.get("stress", 0)} stress articles held out for the hardest
phenomena (long, noisy, no change of control, press releases), on which
nothing is trained or selected.{_linker_corpus(meta)}

Backbone `{config["model"]}`{" (randomly initialised)" if config["random_init"] else ""}; max length
{config["data"]["max_length"]} tokens with stride {config["data"]["stride"]}; lr {config["optim"]["lr"]},
{config["train"]["epochs"]} epochs at most, batch {config["train"]["batch_size"]} x
{config["train"]["grad_accum"]} accumulation; best dev epoch {meta.get("best_epoch")}.

## Scores on the test split (seqeval details)

seqeval, strict IOB2, entity level, on the corpus's words: micro-F1
**{test_scores.get("micro_f1", 0):.3f}**{ci_text}.

| label | precision | recall | F1 | support |
| --- | --- | --- | --- | --- |
{rows}

## Test and stress splits side by side

Tagged by `SpanTagger` from this directory, decoder `{config["eval"]["decoding"]}`.

{_splits_table(summaries)}

## Event records (who took which place from whom)

`linker`: the learned linker saved in `linker/` (trained after the tagger on
its frozen word states; {_members(meta)}); `rules`: the rule baseline. `gold_spans` links the
gold spans; `end_to_end` the tagger's own. Exact-record F1 needs trigger,
taker, loser, places, extent and status all right.

{_events_table(summaries)}

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
