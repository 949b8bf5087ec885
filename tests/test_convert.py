"""Converters: corpus -> tool format -> corpus gives the same spans (whole corpus and generated unicode texts);
bad imports get the validator's located messages and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontlines.inference.labels import LABELS, TAGS
from frontlines.inference.spans import Example, Span, word_offsets
from frontlines.training import convert
from frontlines.training.convert import conll, hf, labelstudio
from frontlines.training.convert.__main__ import main
from frontlines.training.corpus import DEFAULT_CORPUS, CorpusError, check_record, load_corpus

SUFFIX = {"label-studio": "tasks.json", "doccano": "out.jsonl", "prodigy": "out.jsonl", "conll": "out.conll",
          "hf": "out.hf"}


def _key(examples: list[Example]) -> list[tuple]:
    return sorted((ex.id, ex.text, tuple(ex.spans), json.dumps(ex.meta, sort_keys=True)) for ex in examples)


def _round_trip(fmt: str, examples: list[Example], tmp: Path) -> list[Example]:
    out = tmp / SUFFIX[fmt]
    convert.write(fmt, out, examples)
    texts = {ex.id: ex.to_dict() for ex in examples} if fmt in convert.WORD_FORMATS else None
    back, skipped = convert.read(fmt, out, texts)
    assert skipped == 0
    return back


@pytest.fixture(scope="module")
def corpus() -> list[Example]:
    return load_corpus()


@pytest.mark.parametrize("fmt", list(convert.FORMATS))
def test_whole_corpus_round_trips(fmt, corpus, tmp_path):
    assert _key(_round_trip(fmt, corpus, tmp_path)) == _key(corpus)


def test_cli_round_trip_and_rebuilt_texts(tmp_path, corpus):
    assert main(["export", "conll", "--output", str(tmp_path / "c.conll")]) == 0
    assert main(["import", "conll", str(tmp_path / "c.conll"), "--texts", str(DEFAULT_CORPUS),
                 "--output", str(tmp_path / "back.jsonl")]) == 0
    assert _key(load_corpus([tmp_path / "back.jsonl"])) == _key(corpus)
    # Without the texts: rebuilt with single spaces; the same words carry the same labels.
    assert main(["import", "conll", str(tmp_path / "c.conll"), "--output", str(tmp_path / "rebuilt.jsonl")]) == 0
    rebuilt = {ex.id: ex for ex in load_corpus([tmp_path / "rebuilt.jsonl"])}

    def words(ex: Example) -> list[tuple[str, list[str]]]:
        out = []
        for span in ex.spans:
            sub = ex.text[span.start : span.end]
            out.append((span.label, [sub[a:b] for a, b in word_offsets(sub)]))
        return out

    assert all(words(rebuilt[ex.id]) == words(ex) for ex in corpus)
    assert rebuilt[corpus[0].id].text.startswith(" ".join(ex for ex in corpus[0].text.split()[:3]))


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=60)
_ID = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=10).filter(
    lambda s: s not in ("O", "-X-"))


@st.composite
def _example(draw, art_id: str) -> Example:
    text = draw(_TEXT.filter(word_offsets))
    words = word_offsets(text)
    spans, i = [], 0
    while i < len(words):
        if draw(st.booleans()):
            j = draw(st.integers(i, min(len(words) - 1, i + 3)))
            spans.append(Span(words[i][0], words[j][1], draw(st.sampled_from(LABELS))))
            i = j + 1
        else:
            i += 1
    meta = draw(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2))
    return Example(art_id, text, spans, meta)


@st.composite
def _examples(draw) -> list[Example]:
    ids = draw(st.lists(_ID, min_size=1, max_size=3, unique=True))
    examples = [draw(_example(i)) for i in ids]
    for ex in examples:  # only what the corpus validator accepts (e.g. not a text of U+001C alone)
        if check_record(ex.to_dict(), "x", 1)[1]:
            from hypothesis import reject

            reject()
    return examples


@pytest.mark.parametrize("fmt", list(convert.FORMATS))
def test_generated_unicode_round_trips(fmt, tmp_path_factory):
    @settings(max_examples=8 if fmt == "hf" else 40, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(_examples())
    def check(examples):
        assert _key(_round_trip(fmt, examples, tmp_path_factory.mktemp(fmt))) == _key(examples)

    check()


def _problems(capsys) -> str:
    return capsys.readouterr().err


def _ls_task(text, *results, art_id="a1", **annotation):
    value = [{"type": "labels", "value": {"start": s, "end": e, "text": text[s:e] if t is None else t, "labels": [lab]}}
             for s, e, lab, t in results]
    return {"id": 7, "data": {"text": text, "id": art_id}, "annotations": [{"result": value, **annotation}]}


def test_bad_label_studio_export_is_located_and_writes_nothing(tmp_path, capsys):
    text = "Taliban fighters took Kunduz on Monday."
    tasks = [
        _ls_task(text, (0, 7, "ACTOR", None), (22, 28, "LOCATION", None)),  # fine
        _ls_task(text, (0, 7, "ACTOR", None), (0, 16, "ACTOR", None), art_id="overlap"),
        _ls_task(text, (22, 28, "LOCATION", "Kabul!"), art_id="mismatch"),
        _ls_task(text, (22, 28, "CITY", None), art_id="unknown"),
        {"data": {"id": "no-text"}, "annotations": [{"result": []}]},
    ]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks, indent=2), encoding="utf-8")
    out = tmp_path / "corpus.jsonl"
    out.write_text("old contents\n")
    assert main(["import", "label-studio", str(export), "--output", str(out)]) == 1
    err = _problems(capsys)
    lines = export.read_text().splitlines()
    starts = [n for n, text_line in enumerate(lines, start=1) if text_line == "  {"]
    assert f"{export}:{starts[1]} [overlap] span [0, 16) ACTOR: overlaps span [0, 7) ACTOR" in err
    assert f"{export}:{starts[2]} [mismatch] span [22, 28) LOCATION: span text 'Kabul!' does not match" in err
    assert f"{export}:{starts[3]} [unknown] span [22, 28) CITY: unknown label 'CITY'" in err
    assert f"{export}:{starts[4]} [no-text]: 'text' must be a string" in err
    assert "nothing written" in err
    assert out.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl", "export.json"]


def test_label_studio_latest_annotation_utf16_and_skips(tmp_path):
    text = "😀 ISIS left Raqqa"
    older = {"result": [{"type": "labels", "value": {"start": 2, "end": 6, "text": "ISIS", "labels": ["ACTOR"]}}],
             "updated_at": "2024-01-01T00:00:00Z"}
    newer = {"result": [{"type": "labels", "value": {"start": 13, "end": 18, "text": "Raqqa", "labels": ["LOCATION"]}},
                        {"type": "relation", "from_id": "x", "to_id": "y"}],
             "updated_at": "2024-02-01T00:00:00Z"}
    cancelled = {"result": [], "was_cancelled": True, "updated_at": "2024-03-01T00:00:00Z"}
    tasks = [{"id": 1, "data": {"text": text, "source": "bulletin"}, "annotations": [older, newer, cancelled]},
             {"id": 2, "data": {"text": "not labelled yet"}, "annotations": []}]
    (tmp_path / "e.json").write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    examples, skipped = labelstudio.read(tmp_path / "e.json")
    assert skipped == 1
    # Raqqa is at code points 12-17 but UTF-16 units 13-18 (the emoji is two units): converted.
    assert examples == [Example("label-studio-1", text, [Span(12, 17, "LOCATION")], {"source": "bulletin"}, None)]


def test_label_studio_tasks_and_config(tmp_path, corpus):
    out = tmp_path / "tasks.json"
    labelstudio.write(out, corpus[:2], scores=[{s: 0.5 for s in corpus[0].spans}, {s: 0.9 for s in corpus[1].spans}])
    tasks = json.loads(out.read_text())
    result = tasks[0]["predictions"][0]["result"][0]
    span = corpus[0].spans[0]
    assert result["value"] == {"start": span.start, "end": span.end, "text": corpus[0].text[span.start:span.end],
                               "labels": [span.label]}
    assert result["score"] == 0.5 and tasks[1]["predictions"][0]["score"] == pytest.approx(0.9)
    config = labelstudio.config_path(out).read_text()
    assert all(f'<Label value="{lab}"' in config for lab in LABELS) and 'value="$text"' in config


@pytest.mark.parametrize("fmt, line, expected", [
    ("doccano", {"id": 3, "text": "Kunduz fell.", "label": [[0, 6, "LOCATION"], [0, 11, "ACTOR"]]},
     "[doccano-3] span [0, 11) ACTOR: overlaps span [0, 6) LOCATION"),
    ("doccano", {"id": "k", "text": "Kunduz fell.", "label": [[0, 6]]},
     "[k]: label #0 must be [start, end, label] (got [0, 6])"),
    ("doccano", {"id": "k", "text": "Kunduz fell.", "label": [[0, 5, "LOCATION"]]},
     "[k] span [0, 5) LOCATION: does not end at a word boundary"),
    ("prodigy", {"id": "p", "text": "Kunduz fell.", "spans": [{"start": 0, "end": 6, "label": "LOCATION", "text": "Kabul"}]},
     "[p] span [0, 6) LOCATION: span text 'Kabul' does not match the text at its offsets ('Kunduz')"),
    ("prodigy", {"id": "p", "spans": []}, "[p]: 'text' must be a string"),
])
def test_jsonl_imports_are_located(fmt, line, expected, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "fine", "id": "ok"}) + "\n\n" + json.dumps(line) + "\n", encoding="utf-8")
    assert main(["import", fmt, str(src), "--output", str(tmp_path / "out.jsonl")]) == 1
    assert f"{src}:3 {expected}" in _problems(capsys)
    assert not (tmp_path / "out.jsonl").exists()


def test_conll_import_needs_matching_texts(tmp_path, capsys):
    src = tmp_path / "in.conll"
    src.write_text("-DOCSTART- a\n\nTaliban B-ACTOR\ntook O\nKunduz B-LOCATION\n\n-DOCSTART- b\n\nx B-PLACE\n")
    texts = tmp_path / "texts.jsonl"
    texts.write_text(json.dumps({"id": "a", "text": "Taliban seized Kunduz"}) + "\n")
    assert main(["import", "conll", str(src), "--texts", str(texts), "--output", str(tmp_path / "o.jsonl")]) == 1
    err = _problems(capsys)
    assert f"{src}:4 [a]: token 'took' does not match the text here ('seiz')" in err
    assert f"{src}:9 [b]: unknown tag 'B-PLACE'" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_failed_export_leaves_nothing(tmp_path):
    good = Example("good", "Kunduz fell.", [Span(0, 6, "LOCATION")])
    bad = Example("bad\nid", "Kabul fell.", [])
    with pytest.raises(ValueError, match="cannot be written"):
        conll.write(tmp_path / "out.conll", [good, bad])
    assert list(tmp_path.iterdir()) == []


def test_hf_layout_and_refusals(tmp_path, corpus):
    out = tmp_path / "ds"
    hf.write(out, corpus)
    from datasets import load_from_disk

    ds = load_from_disk(str(out / "dataset"))
    assert set(ds) == {"train", "validation", "test", "stress"}  # the shipped corpus has a stress split
    assert ds["train"].features["ner_tags"].feature.names == list(TAGS)
    row = ds["train"][0]
    assert row["id"] == f"{row['article_id']}:0" and len(row["tokens"]) == len(row["ner_tags"])
    table = pq.read_table(out / "parquet" / "test.parquet")
    assert table.num_rows == len(ds["test"]) and table.column_names == ds["test"].column_names
    # An existing folder that is not an earlier export is never replaced.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        hf.write(other, corpus[:3])
    assert (other / "notes.txt").read_text() == "keep me"
    hf.write(out, corpus[:3])  # an earlier export is replaced whole
    assert sum(len(s) for s in load_from_disk(str(out / "dataset")).values()) < sum(len(s) for s in ds.values())
    with pytest.raises(CorpusError, match="no text for this article"):
        hf.read(out, {})


def test_truncated_label_studio_export_names_the_line(tmp_path, capsys):
    export = tmp_path / "export.json"
    export.write_text('[\n  {"data": {"text": "Kunduz fell.", "id": "a"}, "annotations": []},\n  {"data": {"text": "x"\n')
    assert main(["import", "label-studio", str(export), "--output", str(tmp_path / "out.jsonl")]) == 1
    assert f"{export}:4: invalid JSON: " in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def test_an_export_with_nothing_annotated_is_refused(tmp_path, capsys):
    export = tmp_path / "export.json"
    export.write_text(json.dumps([{"data": {"text": "Kunduz fell."}, "predictions": [{"result": []}]}]))
    assert main(["import", "label-studio", str(export), "--output", str(tmp_path / "out.jsonl")]) == 1
    assert "no annotated record (1 skipped" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()
