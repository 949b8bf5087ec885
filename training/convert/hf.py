"""A Hugging Face ``datasets`` DatasetDict in the layout of the standard NER datasets (CoNLL-2003, WikiANN).

One row per sentence (:func:`training.convert.common.sentence_rows`: the
project's words, sentences kept together where a span crosses them), so rows
fit the 512-token window of any Hugging Face token-classification script::

    {"id": "<article>:<n>", "article_id", "sentence": n, "tokens": [...], "ner_tags": [ClassLabel(names=TAGS)]}

Splits are the corpus's (:func:`training.corpus.split_examples`): ``train``,
``validation`` (the corpus's dev), ``test`` and ``stress``, each only if it
has articles (``datasets`` cannot load an empty split back from disk). The output folder holds ``dataset/`` (``load_from_disk``) and
``parquet/<split>.parquet`` (``load_dataset("parquet", ...)``). Import
reads either back, joining an article's rows in order; like CoNLL it needs
the original texts for offsets into them, else rebuilds the texts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from frontlines.inference.labels import TAGS
from frontlines.inference.spans import Example
from frontlines.training.convert.common import Item, atomic_dir, sentence_rows, tokens_to_record, validate
from frontlines.training.corpus import CorpusError, Problem, split_examples

#: Corpus split -> dataset split (Hugging Face scripts look for "validation").
SPLITS = {"train": "train", "dev": "validation", "test": "test", "stress": "stress"}
MARKER = "dataset/dataset_dict.json"


def features() -> Any:
    from datasets import ClassLabel, Features, Sequence, Value

    return Features({"id": Value("string"), "article_id": Value("string"), "sentence": Value("int32"),
                     "tokens": Sequence(Value("string")), "ner_tags": Sequence(ClassLabel(names=list(TAGS)))})


def build(examples: Sequence[Example]) -> Any:
    """The DatasetDict of ``examples``, one row per sentence."""
    from datasets import Dataset, DatasetDict

    out = {}
    for split, name in SPLITS.items():
        rows: dict[str, list[Any]] = {"id": [], "article_id": [], "sentence": [], "tokens": [], "ner_tags": []}
        for ex in split_examples(examples, split):
            for n, (words, tags) in enumerate(sentence_rows(ex)):
                for key, value in zip(rows, (f"{ex.id}:{n}", ex.id, n, words, tags), strict=True):
                    rows[key].append(value)
        if rows["id"]:  # an empty split is left out: datasets cannot load one back from disk
            out[name] = Dataset.from_dict(rows, features=features())
    return DatasetDict(out)


def write(path: str | Path, examples: Sequence[Example], **_: Any) -> None:
    """Save with ``save_to_disk`` and as Parquet into ``path`` (replaced whole, or not at all)."""
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    dataset = build(examples)
    with atomic_dir(path, MARKER) as tmp:
        dataset.save_to_disk(str(tmp / "dataset"))
        (tmp / "parquet").mkdir()
        for name, split in dataset.items():
            split.to_parquet(str(tmp / "parquet" / f"{name}.parquet"))


def _load(path: Path) -> dict[str, Any]:
    from datasets import Dataset, load_from_disk

    for candidate in (path / "dataset", path):
        if (candidate / "dataset_dict.json").is_file():
            return dict(load_from_disk(str(candidate)))
    files = sorted((path / "parquet").glob("*.parquet")) or sorted(path.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{path}: no dataset (dataset/dataset_dict.json or parquet/*.parquet)")
    return {f.stem: Dataset.from_parquet(str(f)) for f in files}


def _split_items(where: str, split: Any, texts: Mapping[str, Mapping[str, Any]] | None) -> Iterator[Item]:
    feature = split.features["ner_tags"]
    names = feature.feature.names if hasattr(getattr(feature, "feature", None), "names") else None
    docs: dict[str, tuple[int, list[tuple[list[str], list[str], list[int]]]]] = {}
    for row_no, row in enumerate(split, start=1):
        tags = [names[t] if names is not None else t for t in row["ner_tags"]]
        doc = docs.setdefault(str(row.get("article_id") or row["id"]), (row_no, []))
        doc[1].append((list(row["tokens"]), tags, [row_no] * len(tags)))
    for art_id, (row_no, rows) in docs.items():
        original = None if texts is None else texts.get(art_id)
        unknown = [(n, t) for _tokens, tags, lines in rows for t, n in zip(tags, lines, strict=True) if t not in TAGS]
        if unknown:
            yield unknown[0][0], None, [Problem(where, unknown[0][0], f"unknown tag {unknown[0][1]!r}", art_id)]
        elif texts is not None and original is None:
            yield row_no, None, [Problem(where, row_no, "no text for this article in the texts file", art_id)]
        else:
            record, found = tokens_to_record(art_id, rows, None if original is None else str(original["text"]),
                                             (where, row_no))
            if record is not None and original is not None:
                record["meta"] = original.get("meta", {})
            yield row_no, record, found


def read(path: str | Path, texts: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[list[Example], int]:
    """Examples from a saved dataset, split by split; "line" in messages is the row number in ``<path>/<split>``."""
    try:
        splits = _load(Path(path))
    except (OSError, ValueError) as exc:
        raise CorpusError([Problem(str(path), 0, f"cannot read dataset: {exc}")]) from None
    examples: list[Example] = []
    problems: list[Problem] = []
    skipped = 0
    for name, split in splits.items():
        where = f"{path}/{name}"
        try:
            found, n = validate(where, _split_items(where, split, texts))
        except CorpusError as exc:
            problems.extend(exc.problems)
            continue
        examples.extend(found)
        skipped += n
    if problems:
        raise CorpusError(problems)
    return examples, skipped
