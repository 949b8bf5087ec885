"""Adapting the model to a user's own source: corpus weights, the evaluated corpus, starting from a run, and the
three commands end to end (import -> select -> train from a run -> compare on the user's test split)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from datasets import Dataset
from safetensors.torch import load_file

from frontlines.inference.fileio import write_jsonl_atomic
from frontlines.inference.labels import ID2TAG
from frontlines.training.backbone import build_model, resolve_backbone
from frontlines.training.config import ConfigError, load_config
from frontlines.training.corpus import CorpusError, load_corpus, split_of, split_of_example
from frontlines.training.data import build_dataset, repeat_windows
from frontlines.training.frontlines_cli import main as frontlines
from frontlines.training.mixing import load_corpora, run_corpus, view

ROOT = Path(__file__).parent.parent
TINY = str(ROOT / "configs" / "tiny.yaml")
#: The user's source in the end-to-end test: the translated communiqués, held out of the "shipped" corpus.
USER_STYLE = "communique"
FAST = ["--set", "events.linker=false", "--set", "eval.bootstrap=0"]


# --- data.corpus_weights and data.eval_corpus in the config --------------------------------------------------


def test_weights_default_to_one_per_corpus_file_and_are_recorded_as_numbers():
    assert load_config(TINY)["data"]["corpus_weights"] == [1.0]
    data = load_config(TINY, ["data.corpus=[a.jsonl, b.jsonl]", "data.corpus_weights=[1, 2.5]",
                              "data.eval_corpus=1"])["data"]
    assert data["corpus_weights"] == [1.0, 2.5] and data["eval_corpus"] == 1
    assert load_config(TINY, ["data.corpus=[a.jsonl, b.jsonl]"])["data"]["corpus_weights"] == [1.0, 1.0]
    assert load_config(TINY)["data"]["eval_corpus"] == "all"


@pytest.mark.parametrize(("override", "message"), [
    ("data.corpus_weights=[1, 2]", "has 2 weight\\(s\\) for the 1 file\\(s\\) of data.corpus"),
    ("data.corpus_weights=[-1]", "'data.corpus_weights\\[0\\]' must be a number >= 0, got -1"),
    ("data.corpus_weights=[true]", "'data.corpus_weights\\[0\\]' must be a number >= 0"),
    ("data.corpus_weights=[many]", "'data.corpus_weights\\[0\\]' must be a number >= 0"),
    ("data.corpus_weights=[0]", "at least one weight must be > 0"),
    ("data.corpus_weights=2", "'data.corpus_weights' must be a list of numbers"),
    ("data.corpus_weights=[.inf]", "'data.corpus_weights\\[0\\]' must be a finite number"),
    ("data.eval_corpus=1", "must be 'all' or an index into data.corpus \\(0 to 0\\), got 1"),
    ("data.eval_corpus=-1", "must be 'all' or an index"),
    ("data.eval_corpus=mine", "must be 'all' or an index"),
    ("data.eval_corpus=true", "must be 'all' or an index"),
])
def test_bad_weights_and_eval_corpus_are_refused_with_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(TINY, [override])


# --- repeating the train windows ------------------------------------------------------------------------------


def _windows(per_article: list[int]) -> Dataset:
    index = [i for i, n in enumerate(per_article) for _ in range(n)]
    return Dataset.from_dict({"example_index": index, "row": list(range(len(index)))})


def test_whole_weights_repeat_every_window_and_zero_drops_them():
    data = _windows([2, 3, 1])  # rows 0-1 article 0, rows 2-4 article 1, row 5 article 2
    out = repeat_windows(data, [2.0, 1.0, 0.0], seed=0)
    assert out["row"] == [0, 0, 1, 1, 2, 3, 4]
    assert repeat_windows(data, [1.0, 1.0, 1.0], seed=0) is data


def test_a_fraction_samples_that_share_of_the_windows_from_the_seed():
    data = _windows([10, 10])
    out = repeat_windows(data, [2.5, 0.5], seed=7)
    rows = out["row"]
    first = [r for r in rows if r < 10]
    assert len(first) == 25 and all(first.count(r) in (2, 3) for r in range(10))
    assert sum(first.count(r) == 3 for r in range(10)) == 5
    second = [r for r in rows if r >= 10]
    assert len(second) == 5 and len(set(second)) == 5
    assert repeat_windows(data, [2.5, 0.5], seed=7)["row"] == rows  # deterministic
    draws = {tuple(repeat_windows(data, [2.5, 0.5], seed=s)["row"]) for s in range(5)}
    assert len(draws) > 1  # and the seed chooses


# --- the run's view of several corpus files -------------------------------------------------------------------


def _ids(split: str, n: int, prefix: str) -> list[str]:
    found, i = [], 0
    while len(found) < n:
        if split_of(f"{prefix}{i}") == split:
            found.append(f"{prefix}{i}")
        i += 1
    return found


def _corpus(path: Path, ids: list[str]) -> Path:
    write_jsonl_atomic(path, [{"id": i, "text": f"Rebels took the town {i}.", "spans": []} for i in ids])
    return path


@pytest.fixture()
def two_files(tmp_path) -> tuple[Path, Path]:
    shipped = _corpus(tmp_path / "shipped.jsonl", _ids("train", 3, "s") + _ids("dev", 1, "s") + _ids("test", 1, "s"))
    mine = _corpus(tmp_path / "mine.jsonl", _ids("train", 2, "m") + _ids("dev", 1, "m") + _ids("test", 2, "m"))
    return shipped, mine


def test_the_evaluated_file_alone_gives_the_held_out_articles(two_files):
    shipped, mine = two_files
    corpus = run_corpus([shipped, mine], {"corpus_weights": [1.0, 3.0], "eval_corpus": 1})
    splits = {ex.id: split_of_example(ex) for ex in corpus.examples}
    assert sorted(i for i, s in splits.items() if s == "train") == sorted(_ids("train", 3, "s") + _ids("train", 2, "m"))
    assert sorted(i for i, s in splits.items() if s != "train") == sorted(_ids("dev", 1, "m") + _ids("test", 2, "m"))
    train = [ex for ex in corpus.examples if splits[ex.id] == "train"]
    assert corpus.train_weights(train) == [1.0] * 3 + [3.0] * 2
    # "all": every article of every file, in file order (what a one-file run always had)
    both = run_corpus([shipped, mine], {"corpus_weights": [1.0, 1.0], "eval_corpus": "all"})
    assert [ex.id for ex in both.examples] == [ex.id for ex in load_corpus([shipped]) + load_corpus([mine])]


def test_an_evaluated_file_without_dev_or_test_articles_is_refused(tmp_path, two_files):
    shipped, _ = two_files
    only_train = _corpus(tmp_path / "few.jsonl", _ids("train", 2, "f") + _ids("dev", 1, "f"))
    with pytest.raises(ConfigError, match=r"data.eval_corpus' \(1\): .*few.jsonl has no article in the test split"):
        run_corpus([shipped, only_train], {"corpus_weights": [1.0, 1.0], "eval_corpus": 1})
    with pytest.raises(ConfigError, match="no train article of .* has a weight above 0"):
        view(load_corpora([shipped, only_train]), ["shipped", "few"], [0.0, 0.0], "all")


def test_an_id_in_two_files_is_located_in_both(tmp_path, two_files):
    shipped, _ = two_files
    again = _corpus(tmp_path / "again.jsonl", ["x0", _ids("train", 1, "s")[0]])
    with pytest.raises(CorpusError, match=r"again.jsonl:2 \[s\d+\]: duplicate id \(first seen at .*shipped.jsonl:1\)"):
        load_corpora([shipped, again])


# --- starting from a run --------------------------------------------------------------------------------------


def _tagger_dir(path: Path, tags: list[str]) -> Path:
    path.mkdir()
    config = json.loads((Path(resolve_backbone("embedded:minilm")) / "config.json").read_text())
    config.update(architectures=["BertForTokenClassification"], id2label={str(i): t for i, t in enumerate(tags)},
                  label2id={t: i for i, t in enumerate(tags)})
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_a_tagger_for_other_tags_or_a_random_init_of_a_run_is_refused(tmp_path):
    tags = list(ID2TAG.values())
    other = _tagger_dir(tmp_path / "other", tags[::-1])  # the same nine tags in another order: a silent mix-up
    config = load_config(TINY, [f"model={other}", "random_init=false"])
    with pytest.raises(ConfigError, match="is a token classifier for the tags .* not frontlines'"):
        build_model(config, str(other))
    ours = _tagger_dir(tmp_path / "ours", tags)
    with pytest.raises(ConfigError, match="random_init' is true: it would throw away the trained weights"):
        build_model(load_config(TINY, [f"model={ours}"]), str(ours))


# --- the three commands, end to end ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adoption(tmp_path_factory) -> dict[str, Path]:
    """A "shipped" corpus without the communiqués, the communiqués as a user's source, and a run on the first."""
    base = tmp_path_factory.mktemp("adopt")
    examples = sorted(load_corpus(), key=lambda ex: len(ex.text))
    wanted = {"shipped": {"train": 12, "dev": 2, "test": 2}, "user": {"train": 6, "dev": 1, "test": 2}}
    picked: dict[str, list] = {"shipped": [], "user": []}
    for ex in examples:
        who = "user" if ex.meta.get("style") == USER_STYLE else "shipped"
        split = split_of_example(ex)
        if sum(split_of_example(e) == split for e in picked[who]) < wanted[who].get(split, 0):
            picked[who].append(ex)
    paths = {"base": base, "shipped": base / "shipped.jsonl", "gold": base / "user-gold.jsonl",
             "start": base / "runs" / "start"}
    write_jsonl_atomic(paths["shipped"], [ex.to_dict() for ex in picked["shipped"]])
    write_jsonl_atomic(paths["gold"], [ex.to_dict() for ex in picked["user"]])
    assert frontlines(["train", "--config", TINY, "--output-dir", str(paths["start"]),
                       "--set", f"data.corpus=[{paths['shipped']}]", *FAST]) == 0
    return paths


def test_import_select_train_from_a_run_and_compare_on_the_users_test_split(adoption, tokenizer, capsys):
    base, start = adoption["base"], adoption["start"]
    gold = load_corpus([adoption["gold"]])
    user_test = sorted(ex.id for ex in gold if split_of_example(ex) == "test")

    # 0. the user's labelled articles as Label Studio exports them (what the tool gives back)
    export = base / "export.json"
    assert frontlines(["convert", "export", "label-studio", "--corpus", str(adoption["gold"]),
                       "--output", str(export)]) == 0
    # 1. import
    mine = base / "mine.jsonl"
    assert frontlines(["convert", "import", "label-studio", str(export), "--output", str(mine)]) == 0
    assert [(ex.id, ex.text, ex.spans) for ex in load_corpus([mine])] == [(ex.id, ex.text, ex.spans) for ex in gold]

    # model-assisted labelling of more of the user's articles, with the starting run
    unlabelled = base / "unlabelled.jsonl"
    write_jsonl_atomic(unlabelled, [{"id": ex.id, "text": ex.text} for ex in gold])
    tasks = base / "tasks.json"
    assert frontlines(["select", "--model", str(start), "--input", str(unlabelled), "--limit", "3",
                       "--output", str(tasks)]) == 0
    picked = json.loads(tasks.read_text(encoding="utf-8"))
    assert len(picked) == 3 and all("predictions" in t for t in picked)
    assert (base / "tasks.preview.html").is_file()

    # 2. train from the run on the shipped corpus and the user's, the user's train windows three times over
    adapted = base / "runs" / "adapted"
    assert frontlines(["train", "--config", TINY, "--output-dir", str(adapted), "--set", f"model={start}",
                       "--set", "random_init=false", "--set", f"data.corpus=[{adoption['shipped']}, {mine}]",
                       "--set", "data.corpus_weights=[1, 3]", "--set", "data.eval_corpus=1", *FAST]) == 0
    config = yaml.safe_load((adapted / "config.yaml").read_text(encoding="utf-8"))
    assert config["data"]["corpus_weights"] == [1.0, 3.0] and config["data"]["eval_corpus"] == 1
    assert config["model"] == str(start)
    run = json.loads((adapted / "run.json").read_text(encoding="utf-8"))
    assert run["splits"]["test"]["n_articles"] == len(user_test)
    stored = [json.loads(line)["id"] for line in (adapted / "report" / "predictions.jsonl").open(encoding="utf-8")]
    assert sorted(stored) == user_test  # the run reports the user's test split, not the shipped one's
    # each epoch saw the shipped train windows once and the user's three times
    windows = sum(len(build_dataset(tokenizer, [ex for ex in load_corpus([path]) if split_of_example(ex) == "train"],
                                    64, 16)) * w for path, w in ((adoption["shipped"], 1), (mine, 3)))
    metrics = [json.loads(line) for line in (adapted / "metrics.jsonl").open(encoding="utf-8")]
    assert metrics[0]["step"] == math.ceil(windows / 16)

    # 3. compare: both runs tag the user's test split afresh
    out = base / "compare"
    capsys.readouterr()
    assert frontlines(["evaluate", "compare", str(start), str(adapted), "--corpus", str(mine), "--split", "test",
                       "--out", str(out), "--bootstrap", "0"]) == 0
    result = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in result["runs"]] == ["start", "adapted"]
    assert result["split"] == "test" and result["corpus"] == str(mine) and sorted(result["articles"]) == user_test
    assert result["metrics"][0]["values"][1] == pytest.approx(run["test_micro_f1"])  # the run's own test report
    assert all((out / name).is_file() for name in ("compare.md", "compare.html", "per_label_f1.png"))
    assert f"tagged the test split of {mine}" in (out / "compare.md").read_text(encoding="utf-8")
    # without --split, each run's stored test predictions: the starting run's are of the shipped test split
    assert frontlines(["evaluate", "compare", str(start), str(adapted), "--corpus", str(mine),
                       "--out", str(base / "stored")]) == 2
    assert "start/report/predictions.jsonl:1: unknown article id" in capsys.readouterr().err


def test_a_run_as_model_starts_from_all_of_its_weights(adoption):
    start = adoption["start"]
    model = build_model(load_config(TINY, [f"model={start}", "random_init=false"]), resolve_backbone(str(start)))
    saved = load_file(str(start / "model.safetensors"))
    state = model.state_dict()
    assert "classifier.weight" in saved  # the head too, not a fresh one
    assert all(torch.equal(state[k], v) for k, v in saved.items())
