"""Several corpus files in one run: which articles train, at what weight, and whose held-out splits count.

``data.corpus`` lists the files (say the shipped corpus and a user's own
articles), ``data.corpus_weights`` how many times each file's train windows
are seen per epoch (:func:`training.data.repeat_windows`), and
``data.eval_corpus`` the file whose dev split selects the model and whose
test and stress splits are reported (``"all"``: every file's). A run works on
one list of articles, its *view*: every file's train articles, and the dev,
test and stress articles of the evaluated file(s), in file order. The other
files' held-out articles are not used at all, so a user's own dev and test
articles stay apart, and they are what the run's reports, ``run.json``, model
card and event linker's threshold are about. Splits come from each article
(:func:`training.corpus.split_of_example`: a hash of the id, or the split
that ``meta.split`` pins), the same way in every file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frontlines.inference.spans import Example
from frontlines.training.config import ConfigError
from frontlines.training.corpus import CorpusError, read_corpus, split_of_example


@dataclass(frozen=True)
class RunCorpus:
    """The run's view of its corpus files and the weight of each train article."""

    examples: list[Example]
    weights: dict[str, float]  #: train article id -> the weight of its file

    def train_weights(self, train: Sequence[Example]) -> list[float]:
        """The weight of each of ``train``'s articles (the view's train split), in order."""
        return [self.weights[ex.id] for ex in train]


def load_corpora(paths: Sequence[str | Path]) -> list[list[Example]]:
    """Each file's articles, in order; :class:`CorpusError` lists every problem, ids shared by two files included."""
    per_file, problems = [], []
    for path in paths:
        examples, found = read_corpus([path])
        per_file.append(examples)
        problems += found
    ids = [ex.id for examples in per_file for ex in examples]
    if len(set(ids)) < len(ids):  # read them together: the validator locates each duplicate (file, line, first seen)
        problems = read_corpus(paths)[1]
    if problems:
        raise CorpusError(problems)
    return per_file


def view(corpora: Sequence[Sequence[Example]], names: Sequence[str], weights: Sequence[float],
         eval_corpus: str | int) -> RunCorpus:
    """The run's articles: every file's train split, plus the held-out splits of ``eval_corpus`` (or all files).

    :class:`ConfigError` if no train article has a weight above 0, or if the
    evaluated file has no dev or no test article (nothing would select or
    report the model).
    """
    examples: list[Example] = []
    train_weights: dict[str, float] = {}
    for i, part in enumerate(corpora):
        for ex in part:
            if split_of_example(ex) == "train":
                train_weights[ex.id] = float(weights[i])
                examples.append(ex)
            elif eval_corpus == "all" or eval_corpus == i:
                examples.append(ex)
    if not any(w > 0 for w in train_weights.values()):
        raise ConfigError(f"config key 'data.corpus_weights' {list(weights)!r}: no train article of "
                          f"{list(names)} has a weight above 0")
    if eval_corpus != "all":
        name = names[int(eval_corpus)]
        counts = {s: sum(split_of_example(ex) == s for ex in corpora[int(eval_corpus)]) for s in ("dev", "test")}
        missing = [s for s, n in counts.items() if not n]
        if missing:
            raise ConfigError(
                f"config key 'data.eval_corpus' ({eval_corpus}): {name} has no article in the {' or '.join(missing)} "
                f"split, which would select and report the model (an article's split comes from a hash of its id, "
                f"about 1 in 10 each to dev and test, unless its meta.split pins one; the file has "
                f"{len(corpora[int(eval_corpus)])} article(s))")
    return RunCorpus(examples, train_weights)


def run_corpus(paths: Sequence[str | Path], data: Mapping[str, Any]) -> RunCorpus:
    """Load ``paths`` (``data.corpus``, resolved) and take the view of ``data``'s weights and eval corpus."""
    return view(load_corpora(paths), [str(p) for p in paths], data["corpus_weights"], data["eval_corpus"])
