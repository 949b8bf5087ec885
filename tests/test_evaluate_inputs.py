"""Hostile inputs to ``python -m training.evaluate``: each ends with a located one-line error, or is read correctly."""

from __future__ import annotations

import json

import pytest

from frontlines.inference.fileio import write_jsonl_atomic
from frontlines.training.evaluate import main

TEXT = "Rebels seized Raqqa."
GOLD = [
    {"id": "a", "text": TEXT, "spans": [{"start": 0, "end": 6, "label": "ACTOR"}, {"start": 14, "end": 19, "label": "LOCATION"}]},
    {"id": "b", "text": "The army left.", "spans": [{"start": 4, "end": 8, "label": "ACTOR"}]},
]


def _gold(tmp_path):
    path = tmp_path / "gold.jsonl"
    write_jsonl_atomic(path, GOLD)
    return path


def _score(tmp_path, pred_bytes: bytes, *extra: str) -> int:
    pred = tmp_path / "pred.jsonl"
    pred.write_bytes(pred_bytes)
    return main(["score", "--gold", str(_gold(tmp_path)), "--pred", str(pred), "--out", str(tmp_path / "out"),
                 "--bootstrap", "0", *extra])


def test_raw_line_separators_inside_strings_are_one_line(tmp_path, capsys):
    # JSON allows raw U+2028/U+2029/U+0085 in strings; str.splitlines() would cut the line in three.
    line = '{"id": "a", "note": "x\u2028y\u0085z", "spans": [{"start": 0, "end": 6, "label": "ACTOR"}]}\n'
    assert _score(tmp_path, line.encode("utf-8")) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    # 1 right of 1 predicted and 3 gold spans: F1 = 2/4
    assert report["counts"] == {"true_positives": 1, "predicted": 1, "gold": 3} and report["micro_f1"] == 0.5


def test_invalid_utf8_is_reported_on_its_line_and_reading_goes_on(tmp_path, capsys):
    good = b'{"id": "a", "spans": []}\n'
    bad_bytes = b'{"id": "b", "note": "\xff", "spans": []}\n'
    bad_label = b'{"id": "x", "spans": []}\n'
    assert _score(tmp_path, good + bad_bytes + bad_label) == 2
    err = capsys.readouterr().err
    pred = tmp_path / "pred.jsonl"
    assert "2 prediction problem(s)" in err
    assert f"{pred}:2: invalid UTF-8" in err and f"{pred}:3: unknown article id 'x'" in err


def test_lone_surrogate_is_a_located_error(tmp_path, capsys):
    assert _score(tmp_path, b'{"id": "a", "spans": [{"start": 0, "end": 6, "label": "\\ud800"}]}\n') == 2
    assert f"{tmp_path / 'pred.jsonl'}:1: invalid text: lone surrogate U+D800" in capsys.readouterr().err


def test_deeply_nested_line_is_a_located_error(tmp_path, capsys):
    assert _score(tmp_path, b"[" * 100_000 + b"\n") == 2
    assert f"{tmp_path / 'pred.jsonl'}:1: invalid JSON" in capsys.readouterr().err


def test_output_under_a_file_is_a_clean_error(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory\n")
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "a", "spans": []}\n')
    argv = ["score", "--gold", str(_gold(tmp_path)), "--pred", str(pred), "--out", str(blocker / "out"), "--bootstrap", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(blocker) in err and "Traceback" not in err


def _run(path, **files):
    (path / "report").mkdir(parents=True)
    (path / "report" / "predictions.jsonl").write_text('{"id": "a", "spans": []}\n{"id": "b", "spans": []}\n')
    for name, text in files.items():
        (path / name.replace("_", ".")).write_text(text, encoding="utf-8")
    return str(path)


def _compare(tmp_path, run) -> int:
    return main(["compare", run, "--corpus", str(_gold(tmp_path)), "--out", str(tmp_path / "cmp"), "--bootstrap", "0"])


def test_compare_reads_metrics_with_raw_line_separators(tmp_path):
    rows = '{"epoch": 1, "step": 2, "train_loss": 0.5, "note": "a\u2028b", "dev": {"micro_f1": 0.25}}\n'
    assert _compare(tmp_path, _run(tmp_path / "r", metrics_jsonl=rows)) == 0
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text(encoding="utf-8"))
    assert result["best_dev"] == [{"micro_f1": 0.25, "epoch": 1}]


def test_compare_bad_run_files_name_the_file(tmp_path, capsys):
    cases = {
        "bad_yaml": ({"config_yaml": "optim: [lr: 1\n"}, "config.yaml: not valid YAML"),
        "yaml_list": ({"config_yaml": "- 1\n- 2\n"}, "config.yaml: expected a YAML mapping, got list"),
        "bad_json": ({"run_json": "{not json"}, "run.json: not valid JSON"),
        "json_list": ({"run_json": "[1, 2]"}, "run.json: expected a JSON object"),
        "bad_metrics": ({"metrics_jsonl": '{"epoch": 1}\n[1]\n{oops\n'}, "2 metrics problem(s)"),
    }
    for name, (files, message) in cases.items():
        run = _run(tmp_path / name, **files)
        assert _compare(tmp_path, run) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, (name, err)
    assert _compare(tmp_path, str(tmp_path / "bad_metrics")) == 2
    err_lines = capsys.readouterr().err.splitlines()
    metrics = tmp_path / "bad_metrics" / "metrics.jsonl"
    assert f"{metrics}:2: a line must be a JSON object" in err_lines and any(f"{metrics}:3: invalid JSON" in x for x in err_lines)


def test_out_that_is_a_file_says_so(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me\n")
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "a", "spans": []}\n')
    assert main(["score", "--gold", str(_gold(tmp_path)), "--pred", str(pred), "--out", str(blocker)]) == 2
    assert f"error: output directory {blocker} exists and is not a directory" in capsys.readouterr().err
    assert blocker.read_text() == "keep me\n"


def test_negative_counts_are_refused_by_the_parser(tmp_path, capsys):
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "a", "spans": []}\n')
    base = ["score", "--gold", str(_gold(tmp_path)), "--pred", str(pred), "--out", str(tmp_path / "out")]
    for flag, value, message in (("--bootstrap", "-5", "must be 0 or more, got -5"), ("--seed", "-1", "must be 0 or more"),
                                 ("--seed", "x", "expected a whole number, got 'x'")):
        with pytest.raises(SystemExit) as info:
            main([*base, flag, value])
        assert info.value.code == 2 and f"argument {flag}: {message}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
