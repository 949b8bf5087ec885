"""Model-assisted selection: the uncertainty formula, the order it gives, the diversity term, the CLI and its preview."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForTokenClassification

from frontlines.inference.labels import ID2TAG, TAG2ID, TAGS
from frontlines.inference.spans import Example, Span
from frontlines.training.convert import labelstudio, prodigy
from frontlines.training.preview import render_preview
from frontlines.training.select import main, preview_path, rank, select, tfidf, uncertainty

# Two near-duplicate wire reports (one word differs) and one different article.
WIRE = "Rebels seized the town of Kidal on Monday after the army withdrew, residents said."
WIRE_COPY = "Rebels seized the town of Kidal on Tuesday after the army withdrew, residents said."
OTHER = "The ministry denied that any district had been lost and said talks would resume."


class FakeTagger:
    """Predicts, for each text, one span at its first word with a score chosen per text."""

    def __init__(self, scores: dict[str, float | None]) -> None:
        self.scores = scores

    def predict(self, texts):
        out = []
        for text in texts:
            score = self.scores[text]
            end = text.index(" ")
            out.append([] if score is None else [{"start": 0, "end": end, "label": "ACTOR", "text": text[:end],
                                                  "score": score}])
        return out


def _examples(*texts: str) -> list[Example]:
    return [Example(f"a{i}", t) for i, t in enumerate(texts)]


def test_uncertainty_formula():
    assert uncertainty([0.9, 0.5]) == pytest.approx(0.5 * (0.1 + 0.5) / 2 + 0.5 * 0.5)
    assert uncertainty([1.0]) == 0.0
    assert uncertainty([]) == 0.5 and uncertainty([], empty=0.2) == 0.2


def test_order_is_by_uncertainty_then_diversity_pushes_a_near_duplicate_down():
    tagger = FakeTagger({WIRE: 0.30, WIRE_COPY: 0.35, OTHER: 0.60})  # u = 0.70, 0.65, 0.40
    examples = _examples(WIRE, WIRE_COPY, OTHER)
    plain = [ex.id for _, ex, _ in select(tagger, examples, limit=3, diversity=0.0)]
    assert plain == ["a0", "a1", "a2"]
    diverse = select(tagger, examples, limit=3, diversity=0.5)
    assert [ex.id for _, ex, _ in diverse] == ["a0", "a2", "a1"]
    copy = next(p for p, ex, _ in diverse if ex.id == "a1")
    assert copy.max_similarity > 0.5 and copy.score == pytest.approx(copy.uncertainty - 0.5 * copy.max_similarity)
    # --limit: the top picks only, each with the model's spans and scores.
    [(pick, ex, scores)] = select(tagger, examples, limit=1)
    assert pick.index == 0 and ex.spans == [Span(0, 6, "ACTOR")] and scores == {Span(0, 6, "ACTOR"): 0.30}


def test_empty_prediction_ranks_like_a_half_sure_span():
    tagger = FakeTagger({WIRE: 0.9, OTHER: None})
    assert [ex.id for _, ex, _ in select(tagger, _examples(WIRE, OTHER), limit=2)] == ["a1", "a0"]
    assert [ex.id for _, ex, _ in select(tagger, _examples(WIRE, OTHER), limit=2, empty=0.0)] == ["a0", "a1"]


def test_rank_ties_keep_input_order_and_vectors_are_unit():
    vectors = tfidf([WIRE, WIRE_COPY, OTHER])
    assert (vectors.multiply(vectors).sum(axis=1) == pytest.approx(1.0))
    assert [p.index for p in rank([0.5, 0.5, 0.5], vectors, 3, diversity=0.0)] == [0, 1, 2]


def test_preview_marks_low_confidence_and_works_offline():
    text = "قال المتحدث إن قوات الدعم السريع سيطرت على نيالا"
    low, high = Span(15, 32, "ACTOR"), Span(43, 48, "LOCATION")
    assert text[low.start:low.end] == "قوات الدعم السريع" and text[high.start:high.end] == "نيالا"
    page = render_preview([(Example("ar-1", text, [low, high]), {low: 0.41, high: 0.97}, {"uncertainty": 0.4})],
                          low=0.6)
    assert '<div class="entities" dir="rtl">' in page and "<bdi>ar-1</bdi>" in page
    assert 'class="entity low"' in page and ">ACTOR 0.41</bdi>" in page
    assert page.count('class="entity low"') == 2  # the span and the legend; the sure span is plain
    assert ">LOCATION 0.97</bdi>" in page and "dashed" in page
    assert not any(s in page for s in ("http:", "https:", "src=", "href=", "<script", "<link", "@import"))


@pytest.fixture(scope="module")
def tiny_run(tokenizer, tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=len(TAGS), id2label=ID2TAG, label2id=TAG2ID)
    run = tmp_path_factory.mktemp("run")
    BertForTokenClassification(config).eval().save_pretrained(run)
    tokenizer.save_pretrained(run)
    return run


def test_cli_writes_pre_annotated_tasks_and_preview(tiny_run, tmp_path, capsys):
    src = tmp_path / "unlabelled.jsonl"
    lines = [{"id": "w1", "text": WIRE}, {"text": WIRE_COPY, "meta": {"source": "wire"}}, {"id": "o", "text": OTHER},
             {"id": "ar", "text": "سيطرت قوات الدعم السريع على نيالا"}]
    src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "tasks.json"
    assert main(["--model", str(tiny_run), "--input", str(src), "--limit", "3", "--output", str(out),
                 "--device", "cpu"]) == 0
    tasks = json.loads(out.read_text())
    assert len(tasks) == 3 and [t["data"]["selection"]["rank"] for t in tasks] == [1, 2, 3]
    scores = [t["data"]["selection"]["score"] for t in tasks]
    assert scores == sorted(scores, reverse=True)  # greedy picks never score higher later
    for task in tasks:
        [pred] = task["predictions"]
        assert pred["model_version"] == tiny_run.name
        for r in pred["result"]:
            v = r["value"]
            assert task["data"]["text"][v["start"]:v["end"]] == v["text"] and 0 <= r["score"] <= 1
    assert labelstudio.config_path(out).is_file()
    page = preview_path(out).read_text(encoding="utf-8")
    assert page.count('<section class="article"') == 3 and page.count('<div class="entities" dir="') == 3
    # Prodigy output: pre-annotations read back as a valid corpus (ids generated stably where missing).
    out2 = tmp_path / "tasks.jsonl"
    assert main(["--model", str(tiny_run), "--input", str(src), "--format", "prodigy", "--limit", "4",
                 "--output", str(out2), "--device", "cpu"]) == 0
    examples, _ = prodigy.read(out2)
    ids = {ex.text: ex.id for ex in examples}
    assert len(examples) == 4 and ids[WIRE] == "w1" and ids[WIRE_COPY].startswith("article-")
    assert next(ex.meta for ex in examples if ex.text == WIRE_COPY) == {"source": "wire"}


def test_cli_bad_input_is_located_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "unlabelled.jsonl"
    src.write_text(json.dumps({"id": "ok", "text": "fine"}) + "\n" + json.dumps({"id": "x", "text": 3}) + "\n")
    out = tmp_path / "tasks.json"
    assert main(["--model", str(tmp_path / "no-such-run"), "--input", str(src), "--output", str(out)]) == 1
    assert f"{src}:2 [x]: 'text' must be a string" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unlabelled.jsonl"]


def test_cli_missing_model_is_one_line(tmp_path, capsys):
    src = tmp_path / "unlabelled.jsonl"
    src.write_text(json.dumps({"text": WIRE}) + "\n")
    assert main(["--model", str(tmp_path / "no-such-run"), "--input", str(src), "--output",
                 str(tmp_path / "t.json")]) == 1
    assert "not a model directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unlabelled.jsonl"]
