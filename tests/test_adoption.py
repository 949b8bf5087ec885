"""The simulated adoption (issue #14): the held-out split, the subsets, the curve's data, and
scripts/adoption_curve.py end to end on a few short shipped articles with the tiny model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from frontlines.inference.fileio import iter_jsonl, write_jsonl_atomic
from frontlines.inference.labels import LABELS
from frontlines.inference.spans import Example
from frontlines.training.adoption import (
    curve_data,
    hold_out,
    parse_hold_out,
    random_order,
    read_adoption,
    write_adoption,
)
from frontlines.training.compare import compare_runs
from frontlines.training.config import load_config
from frontlines.training.corpus import load_corpus, split_of, split_of_example
from frontlines.training.frontlines_cli import main as frontlines
from frontlines.training.mixing import run_corpus

ROOT = Path(__file__).parent.parent
TINY = str(ROOT / "configs" / "tiny.yaml")
spec = importlib.util.spec_from_file_location("adoption_curve", ROOT / "scripts" / "adoption_curve.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)


# --- the held-out split, by hand ------------------------------------------------------------------------------


def test_a_hold_out_key_is_a_meta_key_and_a_value():
    assert parse_hold_out("style=statement") == ("style", "statement")
    assert parse_hold_out(" region = syria ") == ("region", "syria")
    for bad in ("style", "=statement", "style=", "split=test"):
        with pytest.raises(ValueError, match="expected META_KEY=VALUE"):
            parse_hold_out(bad)


def _example(art_id: str, style: str, **meta: str) -> Example:
    return Example(art_id, f"Rebels took the town {art_id}.", meta={"style": style, **meta})


@pytest.fixture()
def mixed() -> list[Example]:
    # sha1 buckets: a b c e -> train, d q -> dev, f p -> test; g is pinned to stress by its meta
    assert [split_of(i) for i in "abcedqfpg"] == ["train"] * 4 + ["dev"] * 2 + ["test"] * 2 + ["train"]
    return [_example("a", "s"), _example("b", "s"), _example("c", "w"), _example("d", "s"), _example("e", "w"),
            _example("f", "s"), _example("g", "s", split="stress"), _example("q", "w"), _example("p", "w")]


def test_the_held_out_source_becomes_a_pool_a_dev_and_a_test_of_its_test_and_stress_articles(mixed):
    held = hold_out(mixed, "style", "s")
    assert held.source == "style=s"
    assert [ex.id for ex in held.shipped] == ["c", "e", "q", "p"]
    assert ([ex.id for ex in held.pool], [ex.id for ex in held.dev], [ex.id for ex in held.test]) == (
        ["a", "b"], ["d"], ["f", "g"])
    assert held.ids() == {"a", "b", "d", "f", "g"}
    user = held.user_examples()
    assert [(ex.id, ex.meta["split"], split_of_example(ex)) for ex in user] == [
        ("a", "train", "train"), ("b", "train", "train"), ("d", "dev", "dev"), ("f", "test", "test"),
        ("g", "test", "test")]  # the stress article is the user's test now
    assert user[0].meta == {"style": "s", "split": "train"} and "split" not in mixed[0].meta  # a copy
    assert [ex.id for ex in held.user_examples([held.pool[1]])] == ["b", "d", "f", "g"]
    # the shipped part keeps its own splits: c e train, q dev, p test
    assert [split_of_example(ex) for ex in held.shipped] == ["train", "train", "dev", "test"]


def test_a_source_without_a_dev_or_test_article_or_with_no_article_is_refused(mixed):
    with pytest.raises(ValueError, match=r"style=s has 2 train, 0 dev and 2 test\+stress article\(s\): no dev \(dev\)"):
        hold_out([ex for ex in mixed if ex.id != "d"], "style", "s")
    with pytest.raises(ValueError, match=r"no article has meta style='x' \(values: s, w\)"):
        hold_out(mixed, "style", "x")
    with pytest.raises(ValueError, match="no article has a meta key 'region'"):
        hold_out(mixed, "region", "syria")


def test_the_random_subsets_are_prefixes_of_one_seeded_shuffle():
    ids = ["a", "b", "c", "d", "e"]
    assert random_order(ids, 0) == ["c", "e", "d", "a", "b"]  # numpy default_rng(0).permutation(5): 2 4 3 0 1
    assert random_order(ids, 1) == ["e", "a", "b", "c", "d"]  # 4 0 1 2 3
    assert random_order(ids, 0) == random_order(ids, 0)


def test_adoption_metadata_round_trips_and_a_bad_file_is_refused(tmp_path):
    assert read_adoption(tmp_path) is None
    write_adoption(tmp_path, {"source": "style=s", "strategy": "select", "n_user_articles": 10, "articles": ["a"]})
    assert read_adoption(tmp_path)["n_user_articles"] == 10
    with pytest.raises(ValueError, match="lacks n_user_articles"):
        write_adoption(tmp_path, {"source": "style=s", "strategy": "select"})
    (tmp_path / "adoption.json").write_text('{"strategy": "select", "n_user_articles": -1}')
    with pytest.raises(ValueError, match="n_user_articles \\(a whole number\\)"):
        read_adoption(tmp_path)


def test_the_curve_has_a_line_per_strategy_and_a_level_per_other_run():
    names = ["base", "select-4", "select-2", "random-2", "default"]
    info = [{"source": "style=s", "strategy": "base", "n_user_articles": 0},
            {"source": "style=s", "strategy": "select", "n_user_articles": 4},
            {"source": "style=s", "strategy": "select", "n_user_articles": 2},
            {"source": "style=s", "strategy": "random", "n_user_articles": 2}, None]
    scores = [{"micro_f1": 0.3, "ci95": [0.2, 0.4]}, {"micro_f1": 0.6}, {"micro_f1": 0.5, "ci95": [0.4, 0.55]},
              {"micro_f1": 0.4}, {"micro_f1": 0.7}]
    curve = curve_data(names, info, scores)
    assert curve.title == "Adapting to held-out style=s"
    assert curve.lines == {"select": [(2, 0.5, [0.4, 0.55]), (4, 0.6, None)], "random": [(2, 0.4, None)]}
    assert curve.references == [("base (0 user articles)", 0.3, [0.2, 0.4]), ("default", 0.7, None)]


def test_the_runs_command_lines():
    shipped, mine, base = Path("/x/shipped.jsonl"), Path("/x/sub.jsonl"), Path("/x/runs/base")
    assert script.train_argv("c.yaml", base, [shipped], 3, ["optim.lr=1e-4"]) == [
        "--config", "c.yaml", "--output-dir", "/x/runs/base", "--set", 'data.corpus=["/x/shipped.jsonl"]',
        "--set", "train.epochs=3", "--set", "events.linker=false", "--set", "data.corpus_weights=[]",
        "--set", "data.eval_corpus=all", "--set", "optim.lr=1e-4"]
    argv = script.train_argv("c.yaml", Path("/x/runs/select-10"), [shipped, mine], 2, [], [0.25, 3], start=base)
    assert argv[10:] == ["--set", 'model="/x/runs/base"', "--set", "random_init=false",
                        "--set", "data.corpus_weights=[0.25, 3.0]", "--set", "data.eval_corpus=1"]
    config = load_config(TINY, argv[5::2])  # the --set values only
    assert config["model"] == "/x/runs/base" and config["data"]["corpus"] == [str(shipped), str(mine)]
    assert config["data"]["corpus_weights"] == [0.25, 3.0] and config["data"]["eval_corpus"] == 1


def test_overwrite_removes_only_a_previous_experiment(tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="exists \\(pass --overwrite"):
        script.prepare_out(other, False, [])
    with pytest.raises(SystemExit, match="not a previous experiment's folder"):
        script.prepare_out(other, True, [])
    assert (other / "todo.txt").is_file()
    old = tmp_path / "old"
    (old / "runs" / "base").mkdir(parents=True)
    (old / "user.jsonl").write_text("")
    with pytest.raises(SystemExit, match="would remove .*base, inside"):
        script.prepare_out(old, True, [old / "runs" / "base"])
    script.prepare_out(old, True, [])
    assert old.is_dir() and not any(old.iterdir())


# --- the script end to end -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> dict[str, Path]:
    """The shortest shipped articles: statements (7 pool, 1 dev, 1 test, 1 stress) and others; the script run."""
    base = tmp_path_factory.mktemp("adoption")
    wanted = {True: {"train": 7, "dev": 1, "test": 1, "stress": 1}, False: {"train": 8, "dev": 2, "test": 1}}
    picked: list[Example] = []
    for ex in sorted(load_corpus(), key=lambda ex: len(ex.text)):
        who, split = ex.meta.get("style") == "statement", split_of_example(ex)
        if sum((e.meta.get("style") == "statement") == who and split_of_example(e) == split for e in picked) < \
                wanted[who].get(split, 0):
            picked.append(ex)
    corpus = base / "corpus.jsonl"
    write_jsonl_atomic(corpus, [ex.to_dict() for ex in picked])
    shipped_run = base / "default"  # a "shipped" model, trained on every style (without adoption metadata)
    assert frontlines(["train", "--config", TINY, "--output-dir", str(shipped_run), "--set", f"data.corpus=[{corpus}]",
                       "--set", "events.linker=false", "--set", "eval.bootstrap=0"]) == 0
    out = base / "exp"
    argv = ["--hold-out", "style=statement", "--corpus", str(corpus), "--config", TINY, "--out", str(out),
            "--sizes", "2", "4", "--base-epochs", "1", "--adapt-epochs", "1", "--bootstrap", "20",
            "--shipped-run", str(shipped_run), "--set", "eval.bootstrap=0"]
    assert script.main(argv) == 0
    return {"corpus": corpus, "out": out, "shipped_run": shipped_run, "argv": argv}


def _ids(path: Path) -> dict[str, list[str]]:
    by_split: dict[str, list[str]] = {}
    for ex in load_corpus([path]):
        by_split.setdefault(split_of_example(ex), []).append(ex.id)
    return by_split


def test_the_script_writes_the_held_out_files_runs_and_curve(experiment):
    out = experiment["out"]
    everything = load_corpus([experiment["corpus"]])
    statements = [ex for ex in everything if ex.meta["style"] == "statement"]
    by_split = {s: [ex.id for ex in statements if split_of_example(ex) == s] for s in ("train", "dev", "test", "stress")}
    assert [len(by_split[s]) for s in ("train", "dev", "test", "stress")] == [7, 1, 1, 1]
    assert sorted(ex.id for ex in load_corpus([out / "shipped.jsonl"])) == sorted(
        ex.id for ex in everything if ex.meta["style"] != "statement")
    user = _ids(out / "user.jsonl")
    assert user == {"train": by_split["train"], "dev": by_split["dev"], "test": by_split["test"] + by_split["stress"]}
    names = ["base", "select-2", "select-4", "random-2", "random-4"]
    for name in names:
        assert (out / "runs" / name / "model.safetensors").is_file()
        assert (out / "eval" / name / "report.json").is_file()
    assert (out / "eval" / "shipped" / "report.json").is_file()
    summary = json.loads((out / "adoption.json").read_text(encoding="utf-8"))
    assert [(r["name"], r["strategy"], r["n_user_articles"]) for r in summary["runs"]] == [
        ("base", "base", 0), ("select-2", "select", 2), ("select-4", "select", 4), ("random-2", "random", 2),
        ("random-4", "random", 4), ("shipped (default)", None, None)]
    for r in summary["runs"]:
        report = json.loads((Path(out / "eval" / (Path(r["path"]).name if r["strategy"] else "shipped"))
                             / "report.json").read_text(encoding="utf-8"))
        assert r["micro_f1"] == report["micro_f1"] and report["n_articles"] == 2 and len(r["ci95"]) == 2
        assert sorted(r["per_label"]) == sorted(LABELS)
    assert summary["user_articles"] == {"total": 10, "pool": 7, "dev": 1, "test": 2,
                                        "test_ids": by_split["test"] + by_split["stress"]}
    # the shipped model trained on the statements' train articles and chose on their dev, never their test
    assert summary["shipped_run_saw"] == {"train": 7, "dev": 1, "test": 0}
    assert (out / "adoption_curve.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "adoption.md").read_text(encoding="utf-8")
    assert "# Simulated adoption: style=statement" in md and "| select-4 | select | 4 |" in md
    assert "![adoption curve](adoption_curve.png)" in md


def test_no_user_test_article_trains_or_selects_any_run(experiment):
    out = experiment["out"]
    user_test = set(_ids(out / "user.jsonl")["test"])
    for run in sorted((out / "runs").iterdir()):
        config = load_config(run / "config.yaml")
        corpus = run_corpus(config["data"]["corpus"], config["data"])
        trained = {ex.id for ex in corpus.examples if split_of_example(ex) in ("train", "dev")}
        assert trained and not trained & user_test, run.name
    # the adapted runs start from the base, mix the shipped corpus at a fraction, and report the user's test
    config = yaml.safe_load((out / "runs" / "select-4" / "config.yaml").read_text(encoding="utf-8"))
    assert config["model"] == str(out / "runs" / "base") and config["random_init"] is False
    assert config["data"]["corpus"] == [str(out / "shipped.jsonl"), str(out / "subsets" / "select-4.jsonl")]
    assert config["data"]["corpus_weights"] == [0.25, 3.0] and config["data"]["eval_corpus"] == 1
    assert config["train"]["epochs"] == 1 and config["eval"]["bootstrap"] == 0  # --adapt-epochs, then --set
    stored = [r["id"] for _, r, _ in iter_jsonl(out / "runs" / "select-4" / "report" / "predictions.jsonl")]
    assert sorted(stored) == sorted(user_test)


def test_select_and_random_subsets_differ_and_grow_by_prefix(experiment):
    out = experiment["out"]
    picks = [r["id"] for _, r, _ in iter_jsonl(out / "select" / "picks.jsonl")]
    pool = _ids(out / "user.jsonl")["train"]
    assert len(picks) == 4 and set(picks) <= set(pool)
    subsets = {name: _ids(out / "subsets" / f"{name}.jsonl")["train"] for name in
               ("select-2", "select-4", "random-2", "random-4")}
    assert set(subsets["select-4"]) == set(picks) and set(subsets["select-2"]) == set(picks[:2])
    assert set(subsets["random-4"]) == set(random_order(pool, 0)[:4])
    assert set(subsets["select-2"]) <= set(subsets["select-4"]) and set(subsets["random-2"]) <= set(subsets["random-4"])
    assert set(subsets["select-4"]) != set(subsets["random-4"])
    info = read_adoption(out / "runs" / "random-4")
    assert info["strategy"] == "random" and info["articles"] == random_order(pool, 0)[:4] and info["seed"] == 0


def test_compare_draws_the_adoption_curve_only_for_adapted_runs(experiment, tmp_path):
    out = experiment["out"]
    compared = json.loads((out / "compare" / "compare.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in compared["runs"]] == ["base", "select-2", "select-4", "random-2", "random-4", "default"]
    assert [a and (a["strategy"], a["n_user_articles"]) for a in compared["adoption"]] == [
        ("base", 0), ("select", 2), ("select", 4), ("random", 2), ("random", 4), None]
    assert (out / "compare" / "adoption_curve.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "compare" / "compare.md").read_text(encoding="utf-8")
    assert "## Adoption" in md and "![adoption curve](adoption_curve.png)" in md
    assert 'src="adoption_curve.png"' in (out / "compare" / "compare.html").read_text(encoding="utf-8")
    # the same scores as the script's own evaluation: both tag the user's test articles with the runs' decoder
    summary = json.loads((out / "adoption.json").read_text(encoding="utf-8"))
    assert compared["metrics"][0]["values"] == pytest.approx([r["micro_f1"] for r in summary["runs"]])
    # runs without adoption metadata: no curve
    result, paths = compare_runs([experiment["shipped_run"]], tmp_path / "plain", corpus=out / "user.jsonl",
                                 split="test", bootstrap=0)
    assert result["adoption"] is None and "adoption_png" not in paths
    assert not (tmp_path / "plain" / "adoption_curve.png").exists()
    assert "adoption_curve" not in (tmp_path / "plain" / "compare.md").read_text(encoding="utf-8")


def test_the_script_refuses_its_folder_again_and_a_base_that_saw_the_source(experiment):
    argv = experiment["argv"]
    with pytest.raises(SystemExit, match="exists \\(pass --overwrite"):
        script.main(argv)
    with pytest.raises(SystemExit, match="trained or selected on 8 of the held-out style=statement articles"):
        script.main([*argv, "--overwrite", "--base-run", str(experiment["shipped_run"])])
    assert (experiment["out"] / "adoption.json").is_file()  # refused before anything was removed
    with pytest.raises(SystemExit, match="--sizes up to 8, but style=statement has a pool of 7"):
        script.main([*argv, "--overwrite", "--sizes", "8"])
