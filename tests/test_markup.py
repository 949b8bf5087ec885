import subprocess
import sys
from pathlib import Path

from frontlines.inference.spans import Span
from frontlines.training.markup import parse_article

ROOT = Path(__file__).parent.parent
HEAD = "---\nregion: syria\nstyle: wire\ntitle: T\n---\n"


def test_markup_compiles_to_offsets():
    ex, errors = parse_article(Path("syria-x.md"), HEAD + "[IS](ACTOR) \\[sic\\] [retook](CONTROL_CHANGE) [Mosul](LOCATION).\n")
    assert errors == []
    assert ex.id == "syria-x" and ex.text == "IS [sic] retook Mosul."
    assert ex.spans == [Span(0, 2, "ACTOR"), Span(9, 15, "CONTROL_CHANGE"), Span(16, 21, "LOCATION")]
    assert ex.meta["region"] == "syria"


def test_markup_errors_name_line_and_column():
    source = HEAD + "line one\n[IS](PERSON) and [ Mosul](LOCATION) [broken\n"
    _, errors = parse_article(Path("a.md"), source + "---\n")
    messages = [str(e) for e in errors]
    assert "a.md:7:1: unknown label 'PERSON' on 'IS'" in messages
    assert any(m.startswith("a.md:7:18:") and "white space" in m for m in messages)
    assert any(m.startswith("a.md:7:37:") and "malformed" in m for m in messages)


def test_front_matter_and_hard_negatives_are_checked():
    _, errors = parse_article(Path("b.md"), "no front matter")
    assert "missing YAML front matter" in str(errors[0])
    _, errors = parse_article(Path("b.md"), "---\nregion: x\nstyle: blog\nhard_negatives: [held the town]\n---\nText.")
    messages = " ".join(str(e) for e in errors)
    assert "lacks 'title'" in messages and "style 'blog'" in messages and "'held the town' does not occur" in messages


def test_compiled_corpus_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "scripts/compile_corpus.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
