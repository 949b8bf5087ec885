"""Training data: corpus windows as a ``datasets.Dataset``, batching and decoding.

Articles are tokenized once (``inference.alignment.encode_examples``); the
windows keep what the decoder needs (offsets, sequence ids, article index)
beside the model inputs, so dev and test predictions are turned back into
character spans without tokenizing again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from torch.utils.data import DataLoader, Sampler
from transformers import DataCollatorForTokenClassification

from frontlines.inference.alignment import decode_text, encode_examples
from frontlines.inference.spans import Example, Span
from frontlines.training.link_loss import LINK_KEYS, LinkCollator, add_link_targets, trains_links

MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids", "labels", *LINK_KEYS)


def build_dataset(
    tokenizer: Any, examples: Sequence[Example], max_length: int, stride: int, label_all_tokens: bool = False,
    links: bool = False, link_roles: bool = True,
) -> Dataset:
    """One row per window: model inputs, ``length``, the decoding fields and, with ``links``, the
    event-link targets of :mod:`training.link_loss` (``link_roles``: the role pairs too, not only statuses)."""
    features = encode_examples(tokenizer, examples, max_length, stride, label_all_tokens)
    if links:
        add_link_targets(features, examples, link_roles)
    for f in features:
        f["length"] = len(f["input_ids"])
        f["sequence_ids"] = [-1 if s is None else s for s in f["sequence_ids"]]
    return Dataset.from_list(features)


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of windows of similar length, in a seeded random order.

    Shuffle, cut into mega-batches of ``batch_size * group`` windows, sort each
    by length and slice it into batches, then shuffle the batches: padding
    stays small and the order is a pure function of ``(seed, epoch)``, which
    makes a resumed run see exactly the batches it would have seen. (Written
    here rather than taken from transformers' LengthGroupedSampler because that
    one yields indices, not batches, and is internal to the Trainer.)
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True, group: int = 50):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.group = group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable")
            return [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        mega = self.batch_size * self.group
        batches = []
        for i in range(0, n, mega):
            chunk = order[i : i + mega]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[j : j + self.batch_size].tolist() for j in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


def repeat_windows(dataset: Dataset, weights: Sequence[float], seed: int) -> Dataset:
    """The windows of ``dataset`` repeated by their article's weight (``weights[example_index]``).

    A weight ``w`` keeps each window ``floor(w)`` times, plus, among the windows
    sharing that weight, ``round(frac(w) · n)`` of them once more, drawn without
    replacement from ``seed``: the same data always gives the same windows (a
    resumed run sees what the first one saw). Weight 1 everywhere is ``dataset``.
    """
    per_window = np.asarray(weights, dtype=float)[np.asarray(dataset["example_index"], dtype=np.int64)]
    if np.all(per_window == 1.0):
        return dataset
    whole = np.floor(per_window).astype(np.int64)
    picked = [np.repeat(np.arange(len(per_window)), whole)]
    rng = np.random.default_rng(seed)
    for w in np.unique(per_window):  # sorted: the draws do not depend on window order
        frac = w - np.floor(w)
        if frac > 0:
            rows = np.flatnonzero(per_window == w)
            picked.append(rng.choice(rows, size=int(round(frac * len(rows))), replace=False))
    return dataset.select(np.sort(np.concatenate(picked)).tolist())


def model_columns(dataset: Dataset) -> Dataset:
    """The dataset restricted to the model's inputs, as the collator wants it."""
    return dataset.select_columns([k for k in MODEL_KEYS if k in dataset.column_names])


def build_loaders(
    tokenizer: Any, splits: dict[str, Sequence[Example]], config: dict[str, Any], pad_to_multiple_of: int | None,
    train_weights: Sequence[float] | None = None,
) -> tuple[dict[str, Dataset], LengthGroupedBatchSampler, dict[str, DataLoader]]:
    """Window datasets, the train sampler and one loader per split (train, then the others sorted by length).

    ``train_weights`` (one per train article, from ``data.corpus_weights``)
    repeats the train windows (:func:`repeat_windows`). With ``train.link_loss_weight`` the train windows
    carry the event-link targets (where the corpus has event links). The held-out test and
    stress splits are not windowed here: the run evaluates them at the end with
    :class:`inference.SpanTagger`, as users do.
    """
    dcfg, tcfg = config["data"], config["train"]
    links = trains_links(config, splits["train"])
    data = {
        s: build_dataset(tokenizer, exs, dcfg["max_length"], dcfg["stride"], dcfg["label_all_tokens"],
                         links=links and s == "train", link_roles=tcfg["link_loss_roles"])
        for s, exs in splits.items()
    }
    if train_weights is not None:
        data["train"] = repeat_windows(data["train"], train_weights, tcfg["seed"])
    for s in data:
        if s != "train":
            data[s] = data[s].sort("length")
    collator = LinkCollator(DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=pad_to_multiple_of))
    sampler = LengthGroupedBatchSampler(
        data["train"]["length"], tcfg["batch_size"], tcfg["seed"], shuffle=True, group=50 if tcfg["group_by_length"] else 1
    )
    # Each loader gets its own generator: creating an iterator then draws no number from the
    # global RNG, so a run resumed mid-epoch sees the same dropout masks as an uninterrupted one.
    def generator() -> torch.Generator:
        return torch.Generator().manual_seed(tcfg["seed"])

    loaders = {"train": DataLoader(model_columns(data["train"]), batch_sampler=sampler, collate_fn=collator, generator=generator())}
    for s in (s for s in data if s != "train"):
        loaders[s] = DataLoader(
            model_columns(data[s]), batch_size=tcfg["eval_batch_size"], collate_fn=collator, generator=generator()
        )
    return data, sampler, loaders


def predict(model: torch.nn.Module, loader: DataLoader, accelerator: Any) -> list[np.ndarray]:
    """Per-window tag probabilities for every window of ``loader``, in order, gathered from every process."""
    model.eval()
    probs: list[np.ndarray] = []
    with torch.inference_mode():
        for batch in loader:
            for key in ("labels", *LINK_KEYS):
                batch.pop(key, None)
            logits = model(**batch).logits
            logits = accelerator.pad_across_processes(logits, dim=1)
            mask = accelerator.pad_across_processes(batch["attention_mask"], dim=1)
            logits, mask = accelerator.gather_for_metrics((logits, mask))
            probs += softmax_rows(logits, mask.sum(dim=1).tolist())
    model.train()
    return probs


def decode_dataset(
    examples: Sequence[Example], dataset: Dataset, probs: Sequence[np.ndarray]
) -> dict[str, list[Span]]:
    """Spans per article id from per-window probabilities (in dataset order)."""
    windows: dict[int, list[tuple[Any, Any, np.ndarray]]] = {}
    rows = dataset.select_columns(["example_index", "offset_mapping", "sequence_ids"])
    for row, p in zip(rows, probs, strict=True):
        seq = [None if s < 0 else s for s in row["sequence_ids"]]
        windows.setdefault(row["example_index"], []).append((row["offset_mapping"], seq, p))
    return {
        ex.id: [span for span, _ in decode_text(ex.text, windows.get(i, []))] for i, ex in enumerate(examples)
    }


def softmax_rows(logits: torch.Tensor, lengths: Sequence[int]) -> list[np.ndarray]:
    """Per-window probabilities with the padding cut off."""
    probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return [probs[i, :n] for i, n in enumerate(lengths)]
