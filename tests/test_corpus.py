import json
from pathlib import Path

import pytest

from frontlines.inference.labels import LABELS, TAGS
from frontlines.training.corpus import (
    DEFAULT_CORPUS,
    CorpusError,
    load_corpus,
    main,
    read_corpus,
    split_examples,
    split_of,
)

BROKEN = Path(__file__).parent / "fixtures" / "broken"

# file -> (line, article id, fragment of the one expected message)
EXPECTED = {
    "out_of_range.jsonl": (2, "b", "offsets out of range"),
    "reversed.jsonl": (1, "a", "reversed or empty offsets"),
    "overlap.jsonl": (1, "a", "overlaps span [13, 23) LOCATION"),
    "unknown_label.jsonl": (1, "a", "unknown label 'PERSON'"),
    "whitespace.jsonl": (1, "a", "starts or ends with white space"),
    "empty_text.jsonl": (1, "a", "empty text"),
    "duplicate_id.jsonl": (2, "a", "duplicate id"),
    "invalid_json.jsonl": (2, None, "invalid JSON"),
    "mid_word.jsonl": (1, "a", "does not start at a word boundary"),
    "bad_split.jsonl": (1, "a", "'meta.split' must be one of train, dev, test, stress (it pins the article's split), "
                                "got 'validation'"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validator_reports_each_kind_once(name):
    line, art_id, fragment = EXPECTED[name]
    _, problems = read_corpus([BROKEN / name])
    assert len(problems) == 1, [str(p) for p in problems]
    problem = problems[0]
    assert problem.line == line and problem.article_id == art_id
    assert fragment in str(problem)
    assert str(problem).startswith(f"{BROKEN / name}:{line}")


def test_every_fixture_kind_is_covered():
    assert sorted(p.name for p in BROKEN.glob("*.jsonl")) == sorted(EXPECTED)


def test_validator_collects_all_problems_and_exits_nonzero(capsys):
    paths = [str(p) for p in sorted(BROKEN.glob("*.jsonl"))]
    assert main(["validate", *paths]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    for name, (line, _, fragment) in EXPECTED.items():  # ids repeat across files: more lines than kinds
        assert any(m.startswith(f"{BROKEN / name}:{line}") and fragment in m for m in lines), name


def test_load_corpus_raises_with_every_problem():
    with pytest.raises(CorpusError) as info:
        load_corpus(sorted(BROKEN.glob("*.jsonl")))
    found = {(Path(p.path).name, p.line) for p in info.value.problems}
    assert {(name, line) for name, (line, _, _) in EXPECTED.items()} <= found


def test_span_of_wrong_type_is_reported(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "x", "text": "Mosul fell.", "spans": [{"start": "0", "end": 5, "label": "LOCATION"}]}) + "\n")
    _, problems = read_corpus([path])
    assert [p.message for p in problems] == ["span #0 offsets must be integers"]


def test_shipped_corpus_is_valid():
    assert main(["validate", str(DEFAULT_CORPUS)]) == 0
    examples = load_corpus()
    assert {s.label for ex in examples for s in ex.spans} <= set(LABELS)


def test_label_set_is_defined_once_in_bio_order():
    assert TAGS[0] == "O" and len(TAGS) == 2 * len(LABELS) + 1


def test_splits_are_deterministic_disjoint_and_pin_the_seed():
    examples = load_corpus()
    parts = {s: {ex.id for ex in split_examples(examples, s)} for s in ("train", "dev", "test", "stress")}
    assert sum(len(p) for p in parts.values()) == len(examples)
    names = list(parts)
    assert not any(parts[a] & parts[b] for i, a in enumerate(names) for b in names[i + 1:])
    assert len(parts["stress"]) >= 50  # the held-out stress split of corpus v2
    assert split_of("albu-kamal-seed") == "test"
    shares = [split_of(f"article-{i}") for i in range(2000)]
    assert 0.75 < shares.count("train") / 2000 < 0.85


# sha1(id) % 10, worked out with `printf %s ID | sha1sum`: 9 -> test, 8 -> dev, else train. Python's salted
# hash() would move these between runs; a changed hash function would move the corpus's articles between splits.
PINNED = {
    "article-0": "train",  # bucket 1
    "article-6": "test",  # bucket 9
    "article-8": "dev",  # bucket 8
    "afghanistan-district-control-tracker-2021": "dev",  # bucket 8
    "afghanistan-helmand-corps-clearance-statement": "test",  # bucket 9
}


def test_split_of_is_the_documented_sha1_bucket():
    assert {i: split_of(i) for i in PINNED} == PINNED


def _write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _record(art_id: str, text: str) -> bytes:
    return json.dumps({"id": art_id, "text": text, "spans": []}, ensure_ascii=False).encode("utf-8")


def test_validator_reports_a_deeply_nested_line_and_goes_on(tmp_path, capsys):
    path = _write_lines(tmp_path / "deep.jsonl", [_record("a", "Mosul fell."), b"[" * 100_000, _record("b", "Raqqa fell.")])
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [f"{path}:2: invalid JSON: nested too deeply"]
    assert "2 articles" in captured.out


def test_validator_reports_an_invalid_utf8_line_and_goes_on(tmp_path, capsys):
    path = _write_lines(tmp_path / "bytes.jsonl", [_record("a", "Mosul fell."), b'{"id": "b", "text": "\xff"}', _record("c", "Raqqa fell.")])
    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [f"{path}:2: invalid UTF-8 at byte 22 of the line"]
    assert "2 articles" in captured.out


def test_validator_rejects_a_lone_surrogate(tmp_path):
    path = _write_lines(tmp_path / "sur.jsonl", [b'{"id": "a", "text": "Mosul \\ud800 fell.", "spans": []}'])
    examples, problems = read_corpus([path])
    assert not examples
    assert [str(p) for p in problems] == [f"{path}:1: invalid text: lone surrogate U+D800 (not a character)"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])
def test_raw_line_separators_inside_strings_are_text(tmp_path, separator):
    path = _write_lines(tmp_path / "sep.jsonl", [_record("a", f"Mosul{separator}fell."), b"{"])
    examples, problems = read_corpus([path])
    assert [ex.text for ex in examples] == [f"Mosul{separator}fell."]
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(2, "invalid JSON")]


def test_unreadable_path_is_one_problem(tmp_path):
    _, problems = read_corpus([tmp_path])
    assert len(problems) == 1 and problems[0].line == 0 and "cannot read file" in problems[0].message


def test_stress_articles_are_pinned_out_of_every_other_split():
    from frontlines.inference.spans import Example
    from frontlines.training.corpus import split_examples, split_of, split_of_example

    # "a" hashes to train (sha1 bucket): pinned to stress, it leaves train and joins stress.
    plain, pinned = Example("a", "x"), Example("a", "x", meta={"split": "stress"})
    assert split_of("a") == split_of_example(plain) == "train"
    assert split_of_example(pinned) == "stress"
    assert split_examples([plain, pinned], "stress") == [pinned]
    assert split_examples([plain, pinned], "train") == [plain]


def test_meta_split_pins_any_split_whatever_the_id_hashes_to():
    from frontlines.inference.spans import Example
    from frontlines.training.corpus import split_of_example

    # "a" hashes to train, "d" to dev, "f" to test (the sha1 buckets of test_split_of_is_the_documented_sha1_bucket)
    assert [split_of(i) for i in "adf"] == ["train", "dev", "test"]
    pinned = [Example("a", "x", meta={"split": "test"}), Example("d", "x", meta={"split": "train"}),
              Example("f", "x", meta={"split": "dev"}), Example("a2", "x", meta={"split": "stress"})]
    assert [split_of_example(ex) for ex in pinned] == ["test", "train", "dev", "stress"]
    assert split_examples(pinned, "test") == pinned[:1]
