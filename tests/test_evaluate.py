"""Evaluation: scores worked out by hand, prediction-file errors, reports, model evaluation, run comparison."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from frontlines.inference.fileio import write_jsonl_atomic
from frontlines.inference.labels import ID2TAG, LABELS, TAG2ID, TAGS
from frontlines.inference.spans import Example, Span
from frontlines.training.error_analysis import boundary_kind, sentence_context
from frontlines.training.evaluate import main
from frontlines.training.html_marks import text_direction
from frontlines.training.predictions import PredictionError, normalise_predictions, read_predictions
from frontlines.training.report_events import render_record
from frontlines.training.reports import write_report
from frontlines.training.scoring import bootstrap_ci, paired_bootstrap, score, score_tags

A, C, L, P = "ACTOR", "CONTROL_CHANGE", "LOCATION", "PERCENT"
TEXT1 = "Rebels seized Raqqa. The army lost 40% of Idlib."
TEXT2 = "Government forces entered Palmyra."
GOLD = [
    Example(
        "art-1",
        TEXT1,
        [Span(0, 6, A), Span(7, 13, C), Span(14, 19, L), Span(21, 29, A), Span(30, 34, C), Span(35, 38, P), Span(42, 47, L)],
    ),
    Example("art-2", TEXT2, [Span(0, 17, A), Span(18, 25, C), Span(26, 33, L)]),
]
#: 4 exact matches out of 9 predicted and 10 gold spans: Raqqa has the wrong type, "army" and "40" are too
#: short, "Idlib." is too long, "of" is spurious, "lost" and "entered" are missed.
PRED = {
    "art-1": [
        Span(0, 6, A), Span(7, 13, C), Span(14, 19, A), Span(25, 29, A), Span(35, 37, P), Span(39, 41, L), Span(42, 48, L),
    ],
    "art-2": [Span(0, 17, A), Span(26, 33, L)],
}


def close(value, fraction):
    return value == pytest.approx(float(Fraction(fraction)), abs=1e-9)


def test_seqeval_scores_match_hand_computed_values():
    r = score(GOLD, PRED)
    assert r["counts"] == {"true_positives": 4, "predicted": 9, "gold": 10}
    assert close(r["precision"], "4/9") and close(r["recall"], "4/10") and close(r["micro_f1"], "8/19")
    per = r["per_label"]
    assert close(per[A]["precision"], "1/2") and close(per[A]["recall"], "2/3") and close(per[A]["f1"], "4/7")
    assert close(per[C]["precision"], "1") and close(per[C]["recall"], "1/3") and close(per[C]["f1"], "1/2")
    assert close(per[L]["f1"], "1/3") and per[P]["f1"] == 0.0
    assert [per[x]["support"] for x in LABELS] == [3, 3, 3, 1]
    assert close(r["macro_f1"], "59/168")  # (4/7 + 1/2 + 1/3 + 0) / 4
    assert close(r["token_accuracy"], "9/17")  # 5 of 12 words right in art-1, 4 of 5 in art-2
    assert r["strict"]["micro_f1"] == r["micro_f1"]
    assert r["default"]["micro_f1"] == r["micro_f1"]  # spans always encode to clean IOB2
    assert r["n_articles"] == 2 and r["n_words"] == 17 and "ci95" not in r
    json.dumps(r)  # JSON-ready for metrics.jsonl


def test_nervaluate_span_schemes_match_hand_computed_values():
    s = score(GOLD, PRED)["spans"]
    assert {k: s["strict"][k] for k in ("correct", "incorrect", "partial", "missed", "spurious")} == {
        "correct": 4, "incorrect": 4, "partial": 0, "missed": 2, "spurious": 1,
    }
    assert close(s["strict"]["f1"], "8/19")
    assert (s["exact"]["correct"], s["exact"]["incorrect"]) == (5, 3) and close(s["exact"]["f1"], "10/19")
    assert (s["partial"]["correct"], s["partial"]["partial"]) == (5, 3)
    assert close(s["partial"]["precision"], "13/18") and close(s["partial"]["f1"], "13/19")  # half credit
    assert (s["type"]["correct"], s["type"]["incorrect"]) == (7, 1) and close(s["type"]["f1"], "14/19")
    assert set(s["strict"]["per_label"]) == set(LABELS)


def test_strict_and_default_modes_differ_on_an_entity_opening_with_I():
    gold = [["B-ACTOR", "I-ACTOR", "O", "B-LOCATION"]]
    pred = [["I-ACTOR", "I-ACTOR", "O", "B-LOCATION"]]
    r = score_tags(gold, pred)
    # conlleval: the stray I- opens an ACTOR entity that matches the gold one.
    assert r["default"]["micro_f1"] == 1.0 and r["default"]["per_label"][A]["f1"] == 1.0
    # strict IOB2: no ACTOR entity is predicted at all, so only LOCATION is found.
    assert close(r["strict"]["precision"], "1") and close(r["strict"]["recall"], "1/2")
    assert close(r["micro_f1"], "2/3") and r["per_label"][A] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["counts"] == {"true_positives": 1, "predicted": 1, "gold": 2}
    assert close(r["token_accuracy"], "3/4")


def test_score_tags_rejects_unknown_tags_and_ragged_sequences():
    with pytest.raises(ValueError, match="unknown tag"):
        score_tags([["B-PER"]], [["O"]])
    with pytest.raises(ValueError, match="2 gold tags but 1"):
        score_tags([["O", "O"]], [["O"]])


@pytest.mark.filterwarnings("error")
def test_perfect_is_one_and_empty_is_zero_without_warnings():
    perfect = score(GOLD, {ex.id: ex.spans for ex in GOLD}, bootstrap=50)
    assert perfect["micro_f1"] == perfect["macro_f1"] == perfect["token_accuracy"] == 1.0
    assert all(perfect["spans"][s]["f1"] == 1.0 for s in ("strict", "exact", "partial", "type"))
    assert perfect["ci95"] == [1.0, 1.0]
    empty = score(GOLD, {})
    assert empty["micro_f1"] == empty["macro_f1"] == empty["precision"] == empty["recall"] == 0.0
    assert all(empty["spans"][s]["f1"] == 0.0 for s in ("strict", "exact", "partial", "type"))
    nothing = score([Example("x", "No fighting today.")], {})
    assert nothing["micro_f1"] == nothing["macro_f1"] == 0.0 and nothing["token_accuracy"] == 1.0
    assert score([], {})["micro_f1"] == 0.0
    assert score_tags([["I-ACTOR", "O"]], [["O", "O"]])["macro_f1"] == 0.0  # strict mode sees no entity at all


def test_bootstrap_interval_and_paired_test():
    r = score(GOLD, PRED, bootstrap=200, seed=3)
    lo, hi = r["ci95"]
    assert 0.0 <= lo <= r["micro_f1"] <= hi <= 1.0 and r["bootstrap"]["samples"] == 200
    assert score(GOLD, PRED, bootstrap=200, seed=3)["ci95"] == r["ci95"]  # seeded
    same = np.array([[1, 2, 2]] * 5)
    assert bootstrap_ci(same, 100) == [0.5, 0.5]  # every resample has the same F1
    tie = paired_bootstrap(same, same, samples=200)
    assert tie["delta"] == 0.0 and tie["p_value"] == 1.0 and not tie["significant"]
    worse, good = np.array([[0, 2, 2]] * 30), np.array([[1, 2, 2]] * 30)
    better = paired_bootstrap(worse, good, samples=200)
    assert better["delta"] == 0.5 and better["p_value"] == 0.0 and better["significant"]


def test_error_analysis_confusion_boundaries_and_lists():
    from frontlines.training.error_analysis import analyse_errors

    e = analyse_errors(GOLD, PRED)
    m = e["confusion"]["matrix"]
    assert (m[A][A], m[L][A], m[L][L], m[C][C], m[C]["O"], m[P][P], m["O"][L]) == (3, 1, 2, 1, 2, 1, 1)
    assert [sum(m[g].values()) for g in LABELS] == [3, 3, 3, 1]  # each row sums to the gold count
    assert e["boundary"]["total"] == {"too long": 1, "too short": 2, "shifted": 0}
    assert e["boundary"]["per_label"][A]["too short"] == 1 and e["boundary"]["per_label"][L]["too long"] == 1
    fp = {(x["text"], x["error"]) for items in e["false_positives"].values() for x in items}
    assert fp == {("Raqqa", "wrong type"), ("army", "too short"), ("of", "spurious"), ("Idlib.", "too long"), ("40", "too short")}
    fn = e["false_negatives"]
    assert sum(map(len, fn.values())) == 6 and [x["text"] for x in fn[C]] == ["lost", "entered"]
    lost = fn[C][0]
    assert lost["error"] == "missed" and lost["context"] == {"left": "The army ", "span": "lost", "right": " 40% of Idlib."}
    assert boundary_kind(Span(5, 10, A), Span(7, 12, A)) == "shifted"
    assert sentence_context(TEXT1, Span(0, 6, A))["right"] == " seized Raqqa."


def test_unaligned_predictions_are_widened_to_words():
    preds = normalise_predictions(GOLD, {"art-1": [Span(15, 18, L)]})  # "aqq" inside "Raqqa"
    assert preds["art-1"] == [Span(14, 19, L)] and preds["art-2"] == []
    with pytest.raises(PredictionError, match="unknown article id 'nope'"):
        normalise_predictions(GOLD, {"nope": []})
    with pytest.raises(ValueError, match="does not start at a word boundary"):
        score(GOLD, {"art-1": [Span(15, 19, L)]})  # score() itself expects checked spans


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_prediction_file_errors_name_file_and_line(tmp_path):
    good = json.dumps({"id": "art-1", "spans": [{"start": 0, "end": 6, "label": A}]})
    cases = {
        "unknown id": (json.dumps({"id": "nope", "spans": []}), "unknown article id 'nope'"),
        "out of range": (json.dumps({"id": "art-2", "spans": [{"start": 30, "end": 99, "label": L}]}), "out of range"),
        "bad label": (json.dumps({"id": "art-2", "spans": [{"start": 0, "end": 17, "label": "PER"}]}), "unknown label 'PER'"),
        "overlap": (
            json.dumps({"id": "art-2", "spans": [{"start": 0, "end": 17, "label": A}, {"start": 11, "end": 25, "label": C}]}),
            "overlaps span [0, 17) ACTOR",
        ),
        "invalid json": ('{"id": "art-2", "spans": [', "invalid JSON"),
    }
    for name, (bad, message) in cases.items():
        path = _write(tmp_path / f"{name.replace(' ', '_')}.jsonl", [good, "", bad])
        with pytest.raises(PredictionError) as info:
            read_predictions(path, GOLD)
        assert f"{path}:3" in str(info.value) and message in str(info.value), name
    widened = _write(tmp_path / "wide.jsonl", [json.dumps({"id": "art-1", "spans": [{"start": 15, "end": 18, "label": L}]})])
    preds, n = read_predictions(widened, GOLD)
    assert preds == {"art-1": [Span(14, 19, L)]} and n == 1


def _gold_file(tmp_path):
    path = tmp_path / "gold.jsonl"
    write_jsonl_atomic(path, (ex.to_dict() for ex in GOLD))
    return path


def _pred_file(path, preds):
    write_jsonl_atomic(path, ({"id": k, "spans": [s.to_dict() for s in v]} for k, v in preds.items()))
    return path


def test_write_report_files_and_marked_html(tmp_path):
    paths = write_report(tmp_path / "rep", GOLD, PRED, title="Fixture", extra={"model": "hand"}, bootstrap=100)
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "report.html", "predictions.jsonl"}
    report = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert report["micro_f1"] == pytest.approx(8 / 19) and report["extra"] == {"model": "hand"} and report["ci95"]
    assert [json.loads(x)["id"] for x in paths["predictions"].read_text().splitlines()] == ["art-1", "art-2"]
    md = paths["md"].read_text(encoding="utf-8")
    assert "# Fixture" in md and "| ACTOR | 0.5000 | 0.6667 | 0.5714 | 3 |" in md and "**[lost]**" in md
    page = paths["html"].read_text(encoding="utf-8")
    assert page.count('<mark class="entity') >= len(GOLD[0].spans) + len(GOLD[1].spans) + 9
    assert 'data-label="ACTOR" data-start="0" data-end="6" title="ACTOR: correct">Rebels<bdi class="label">ACTOR' in page
    assert 'class="entity fp"' in page and 'data-label="ACTOR" data-start="14" data-end="19" title="false positive: wrong type' in page
    assert 'class="entity fn"' in page and "false negative: missed" in page
    with pytest.raises(FileExistsError):
        write_report(tmp_path / "rep", GOLD, PRED)
    write_report(tmp_path / "rep", GOLD, {}, overwrite=True, bootstrap=0)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["micro_f1"] == 0.0


def test_cli_score(tmp_path, capsys):
    gold, pred = _gold_file(tmp_path), _pred_file(tmp_path / "pred.jsonl", {"art-1": PRED["art-1"]})
    out = tmp_path / "out"
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--out", str(out), "--bootstrap", "50"]) == 0
    captured = capsys.readouterr()
    # art-2 has no line, so it predicts nothing: 2 right of 7 predicted and 10 gold spans, F1 = 4/17
    assert "micro-F1 0.2353" in captured.out and "1 gold article(s) have no line" in captured.err
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--out", str(out)]) == 2  # no silent overwrite
    bad = _write(tmp_path / "bad.jsonl", [json.dumps({"id": "art-1", "spans": [{"start": 0, "end": 6, "label": "X"}]})])
    assert main(["score", "--gold", str(gold), "--pred", str(bad), "--out", str(tmp_path / "o2")]) == 2
    assert f"{bad}:1 [art-1] span [0, 6) X: unknown label 'X'" in capsys.readouterr().err


AR_TEXT = "قالت قوات الدعم السريع (RSF) إنها سيطرت على نيالا."  # "the RSF said it took Nyala"
AR = Example("ar-1", AR_TEXT, [Span(5, 22, A), Span(34, 39, C), Span(44, 49, L)])
LATIN = Example("en-1", "Rebels seized Raqqa.", [Span(0, 6, A), Span(7, 13, C), Span(14, 19, L)])


def test_html_report_marks_low_confidence_spans_offline_and_right_to_left(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    write_jsonl_atomic(gold, (ex.to_dict() for ex in (AR, LATIN)))
    pred = _write(tmp_path / "pred.jsonl", [
        json.dumps({"id": "ar-1", "spans": [{"start": 5, "end": 22, "label": A, "score": 0.41},
                                            {"start": 34, "end": 39, "label": C, "score": 0.55},
                                            {"start": 44, "end": 49, "label": L, "score": 0.97}]}, ensure_ascii=False),
        # another system's line: Rebels without a score, "aqq" widened to Raqqa keeping its score
        json.dumps({"id": "en-1", "spans": [{"start": 0, "end": 6, "label": A},
                                            {"start": 15, "end": 18, "label": L, "score": 0.3}]}),
    ])
    out = tmp_path / "out"
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--out", str(out), "--low", "0.5",
                 "--bootstrap", "0"]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    # 4 scored spans, 2 below 0.5 (0.41, 0.3); 0.55 would be low at the default 0.6 but not here
    assert report["low_confidence"] == {"threshold": 0.5, "scored_spans": 4, "below": 2}
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [s.get("score") for s in lines[0]["spans"]] == [0.41, 0.55, 0.97]
    assert lines[1]["spans"] == [{"start": 0, "end": 6, "label": A}, {"start": 14, "end": 19, "label": L, "score": 0.3}]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">')
    assert not any(s in page for s in ("http", "src=", "href=", "<script", "<link", "@import", "url("))
    # each article's gold and predicted blocks take the direction of the text, RTL though it holds "RSF"
    assert page.count('<div class="entities" dir="rtl">') == 2 and page.count('<div class="entities" dir="ltr">') == 2
    assert ('<mark class="entity low" style="background: #7aecec" data-label="ACTOR" data-start="5" data-end="22" '
            'data-score="0.4100" title="ACTOR: correct; score 0.410 (low confidence)">قوات الدعم السريع'
            '<bdi class="label">ACTOR</bdi></mark>') in page
    assert ('<mark class="entity" style="background: #c887fb" data-label="CONTROL_CHANGE" data-start="34" '
            'data-end="39" data-score="0.5500" title="CONTROL_CHANGE: correct; score 0.550">') in page
    assert 'data-start="44" data-end="49" data-score="0.9700" title="LOCATION: correct; score 0.970">' in page
    assert 'class="entity low" style="background: #feca74" data-label="LOCATION" data-start="14" data-end="19" ' \
           'data-score="0.3000" title="LOCATION: correct; score 0.300 (low confidence)">Raqqa' in page
    assert 'data-start="0" data-end="6" title="ACTOR: correct">Rebels' in page  # no score, no mark
    assert page.count('class="entity low"') == 3  # the two low spans and the legend's sample
    assert "scored below 0.5 (low confidence; 2 of 4 scored spans)" in page and "score &lt; 0.5</mark>" in page
    assert "3 gold, 3 predicted (1 below 0.5)" in page
    capsys.readouterr()
    bad = _write(tmp_path / "bad.jsonl", [json.dumps({"id": "en-1", "spans": [{"start": 0, "end": 6, "label": A,
                                                                                "score": "high"}]})])
    assert main(["score", "--gold", str(gold), "--pred", str(bad), "--out", str(tmp_path / "o2")]) == 2
    assert f"{bad}:1 [en-1]: span [0, 6) ACTOR: score must be a finite number, got 'high'" in capsys.readouterr().err


def test_text_direction_and_low_score_event_records():
    assert text_direction(AR_TEXT) == "rtl" and text_direction("ISIS قالت إنها سيطرت على الباغوز") == "rtl"
    assert text_direction(LATIN.text) == "ltr" and text_direction("2024 — 40%") == "ltr"
    text = "Rebels seized Raqqa."
    record = {"trigger": [7, 13], "taker": [0, 6], "loser": None, "extent": None, "places": [[14, 19]],
              "status": "asserted"}
    sure, unsure = (render_record(text, {**record, "score": v}, [(0, len(text))], low=0.6) for v in (0.9, 0.59))
    assert sure.startswith('<div class="record" dir="ltr">') and ", score 0.90" in sure
    assert unsure.startswith('<div class="record low" dir="ltr">') and ", score 0.59" in unsure


def _tiny_model(path, tokenizer, seed=0):
    import torch
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=len(TAGS), id2label=ID2TAG, label2id=TAG2ID,
    )
    BertForTokenClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_cli_model_evaluates_a_tiny_model(tmp_path, tokenizer):
    model = _tiny_model(tmp_path / "run", tokenizer)
    out = tmp_path / "eval"
    argv = ["model", "--model", str(model), "--corpus", str(_gold_file(tmp_path)), "--split", "all", "--out", str(out)]
    assert main([*argv, "--bootstrap", "20"]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["art-1", "art-2"] and report["extra"]["split"] == "all"
    assert report["counts"]["predicted"] == sum(len(x["spans"]) for x in lines)
    # every span the tagger predicts keeps its score, in the file and the report's count
    assert all(0 <= s["score"] <= 1 for x in lines for s in x["spans"])
    assert report["low_confidence"]["scored_spans"] == report["counts"]["predicted"]
    assert report["low_confidence"]["threshold"] == 0.6 and report["counts"]["predicted"] > 0
    preds, _ = read_predictions(out / "predictions.jsonl", GOLD)  # the written file rescores to the same numbers
    assert score(GOLD, preds)["micro_f1"] == report["micro_f1"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count('<div class="layer">gold</div>') == 2 and "Government forces" in page


def test_compare_two_runs(tmp_path, tokenizer):
    gold = _gold_file(tmp_path)
    runs = []
    for name, preds, lr, losses in (
        ("base", PRED, 0.0005, [1.2, 0.8]),
        ("better", {ex.id: ex.spans for ex in GOLD}, 0.0003, [1.0, 0.5]),
    ):
        run = _tiny_model(tmp_path / name, tokenizer)
        (run / "config.yaml").write_text(f"model: embedded:minilm\noptim:\n  lr: {lr}\n  weight_decay: 0.01\n")
        rows = [
            {"epoch": i + 1, "step": 10 * (i + 1), "train_loss": loss, "dev": {"micro_f1": 0.3 * (i + 1)}}
            for i, loss in enumerate(losses)
        ]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (run / "report").mkdir()
        _pred_file(run / "report" / "predictions.jsonl", preds)
        runs.append(str(run))
    out = tmp_path / "cmp"
    assert main(["compare", *runs, "--corpus", str(gold), "--out", str(out), "--bootstrap", "200"]) == 0
    for name in ("compare.md", "compare.html", "compare.json"):
        assert (out / name).stat().st_size > 0
    for name in ("per_label_f1.png", "learning_curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert result["config_differences"] == [{"key": "optim.lr", "values": [0.0005, 0.0003]}]
    test = result["paired_bootstrap"][1]
    assert test["delta"] == pytest.approx(1 - 8 / 19) and 0.0 <= test["p_value"] <= 1.0
    micro = result["metrics"][0]
    assert micro["values"] == [pytest.approx(8 / 19), 1.0] and micro["deltas"][1] == pytest.approx(11 / 19)
    md = (out / "compare.md").read_text(encoding="utf-8")
    assert "optim.lr" in md and "(+0.5789)" in md and "![per-label F1](per_label_f1.png)" in md
    assert "0.6000 (2)" in md  # best dev micro-F1 and its epoch
    assert "With only 2 article(s)" in md
    assert '<img src="learning_curves.png"' in (out / "compare.html").read_text(encoding="utf-8")
    assert main(["compare", *runs, "--corpus", str(gold), "--out", str(out)]) == 2  # outputs exist


def _run_dir(path, preds, lr=0.001):
    """A run directory as compare reads it: config, learning curve, test predictions (no model needed)."""
    (path / "report").mkdir(parents=True)
    (path / "config.yaml").write_text(f"optim:\n  lr: {lr}\n")
    (path / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "step": 5, "train_loss": 1.0, "dev": {"micro_f1": 0.5}}) + "\n")
    _pred_file(path / "report" / "predictions.jsonl", preds)
    return str(path)


def test_compare_scores_the_articles_every_run_predicted(tmp_path):
    gold = _gold_file(tmp_path)
    base = _run_dir(tmp_path / "base", PRED)  # both articles
    only_one = _run_dir(tmp_path / "one", {"art-1": GOLD[0].spans}, lr=0.002)  # art-1 only, all right
    out = tmp_path / "cmp"
    assert main(["compare", base, only_one, "--corpus", str(gold), "--out", str(out), "--bootstrap", "50"]) == 0
    result = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert result["articles"] == ["art-1"] and result["articles_not_in_every_run"] == ["art-2"]
    # On art-1 the baseline gets Rebels and seized exactly: 2 right of 7 predicted and 7 gold, F1 = 4/14.
    micro = result["metrics"][0]
    assert micro["values"] == [pytest.approx(2 / 7), 1.0] and micro["deltas"][1] == pytest.approx(5 / 7)
    assert result["paired_bootstrap"][1]["delta"] == pytest.approx(5 / 7)
    assert [s["n_articles"] for s in result["scores"]] == [1, 1]
    assert "Left out (not predicted by every run): art-2." in (out / "compare.md").read_text(encoding="utf-8")


def test_one_bootstrap_loop_serves_the_interval_the_paired_test_and_per_label_rows():
    from frontlines.training.scoring import bootstrap_values, f1_from_counts, span_counts

    counts = span_counts(GOLD, PRED)
    assert counts.tolist() == [[2, 7, 7], [2, 2, 3]]  # art-1: Rebels, seized right; art-2: Government forces, Palmyra
    # Two articles resample to {1,1}, {1,2} or {2,2}: micro-F1 8/28, 8/19 or 8/10, nothing else.
    values = bootstrap_values(counts, f1_from_counts, 300, 5)
    assert set(np.round(values, 12)) <= {round(2 / 7, 12), round(8 / 19, 12), round(4 / 5, 12)} and len(values) == 300
    # Against a system that finds nothing, the paired differences are the resampled F1s themselves.
    assert paired_bootstrap(np.zeros_like(counts), counts, samples=300, seed=5)["ci95"] == bootstrap_ci(counts, 300, 5)
    # Rows of any trailing shape (here two "labels" per article) are resampled together.
    per_label = bootstrap_values(np.stack([counts, counts], axis=1), f1_from_counts, 300, 5)
    assert per_label.shape == (300, 2) and (per_label[:, 0] == values).all() and (per_label[:, 1] == values).all()


def test_compare_lines_up_each_runs_event_scores(tmp_path):
    gold = _gold_file(tmp_path)
    runs = [_run_dir(tmp_path / "a", PRED), _run_dir(tmp_path / "b", PRED, lr=0.002)]
    events = {"linker/end_to_end": {"record_f1": 0.25, "taker_f1": 0.5, "place_f1": 0.75, "status_accuracy": 0.8}}
    (Path(runs[1]) / "run.json").write_text(json.dumps({"splits": {"test": {"events": events}}}))
    out = tmp_path / "cmp"
    assert main(["compare", *runs, "--corpus", str(gold), "--out", str(out), "--bootstrap", "20"]) == 0
    result = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert result["events"] == [None, events]  # the first run has no run.json
    md = (out / "compare.md").read_text(encoding="utf-8")
    assert "## Event records (each run's test split, from its run.json)" in md
    assert "| linker/end\\_to\\_end | record F1 | — | 0.2500 |" in md  # the run without events shows a dash
