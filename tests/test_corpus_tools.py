"""The corpus statistics and consistency scripts, on fixtures and on the shipped corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from frontlines.inference.spans import Event, Example, Span

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_consistency  # noqa: E402
import corpus_stats  # noqa: E402
import phenomena  # noqa: E402


def test_consistency_finds_conflicts_and_unlabelled_occurrences():
    a = Example("a", "Russia struck Kharkiv. Troops lost Izium.", [Span(0, 6, "ACTOR"), Span(30, 34, "CONTROL_CHANGE")])
    b = Example(
        "b",
        "Fighting in Russia. The army lost 40 soldiers.",
        [Span(12, 18, "LOCATION")],
        {"hard_negatives": ["lost 40 soldiers"]},
    )
    c = Example("c", "They lost Lyman.", [])
    found = check_consistency.find_inconsistencies([a, b, c])
    kinds = {(f["kind"], f["surface"], f["explained_by"]) for f in found}
    assert ("label conflict", "Russia", None) in kinds
    assert ("unlabelled", "lost", "hard negative") in kinds  # b: inside a declared hard negative
    assert ("unlabelled", "lost", None) in kinds  # c: a real miss
    assert not any(f["surface"] == "Kharkiv" for f in found)


def test_stats_count_labels_per_group():
    exs = [
        Example("x", "Daesh retook 40% of Albu Kamal.", [Span(0, 5, "ACTOR"), Span(13, 16, "PERCENT")], {"region": "syria", "style": "wire"}),
        Example("y", "Calm day.", [], {"region": "iraq", "style": "monitor", "hard_negatives": ["Calm"]}),
    ]
    text = corpus_stats.render(exs)
    assert "| all | 2 | 8 | 1 | 0 | 0 | 1 | 1 |" in text
    assert "| syria | 1 | 6 | 1 | 0 | 0 | 1 | 0 |" in text


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)


def test_shipped_statistics_are_current():
    result = run("scripts/corpus_stats.py", "--check", "annotations/README.md")
    assert result.returncode == 0, result.stderr


def test_shipped_corpus_has_no_unexplained_inconsistency():
    result = run("scripts/check_consistency.py")
    assert result.returncode == 0, result.stdout[-4000:]


def test_shipped_corpus_meets_the_v1_targets():
    from collections import Counter

    from frontlines.training.corpus import load_corpus

    examples = load_corpus()
    counts = Counter(s.label for ex in examples for s in ex.spans)
    assert len(examples) >= 201
    assert counts["ACTOR"] >= 1500 and counts["LOCATION"] >= 1500
    assert counts["CONTROL_CHANGE"] >= 500 and counts["PERCENT"] >= 300
    assert sum(len(ex.meta.get("hard_negatives") or []) for ex in examples) >= 150
    assert sum(corpus_stats.n_words(ex.text) for ex in examples) / len(examples) >= 200
    assert len({ex.meta["region"] for ex in examples}) >= 12 and len({ex.meta["style"] for ex in examples}) >= 5


# --- name-like strings labelled nowhere -------------------------------------------------------------


def _spans(text: str, *marks: tuple[str, str, int]) -> list[Span]:
    """Spans from ``(surface, label, occurrence)``: the n-th occurrence of the surface in the text."""
    out = []
    for surface, label, nth in marks:
        i = -1
        for _ in range(nth + 1):
            i = text.index(surface, i + 1)
        out.append(Span(i, i + len(surface), label))
    return sorted(out)


NAMES_TEXT = (
    "Heavy Fighting Near Kajaki\n"
    "The General Staff said on Monday that the Ministry of Defence had sent troops. "
    "Col. Ben Ortiz, the task force spokesperson, said the Joint Force to Counter Piracy reached Kajaki Dam in March. "
    "ISWAP denied it. Fighting went on near Kajaki, where Russian and Belarusian troops and the army waited.\n"
    "Reply   Share"
)


def _names_example() -> Example:
    return Example("n", NAMES_TEXT, _spans(NAMES_TEXT, ("troops", "ACTOR", 0), ("Kajaki", "LOCATION", 2), ("army", "ACTOR", 0)))


def test_name_like_strings_are_found_with_precision():
    found = check_consistency.find_name_like([_names_example()])
    # not: the headline, `The`, `Monday`/`March`, the titled spokesperson, sentence-initial `Fighting`,
    # the coordinated demonyms, social buttons spaced apart
    assert [f["surface"] for f in found] == [
        "General Staff", "Ministry of Defence", "Joint Force to Counter Piracy", "Kajaki Dam", "ISWAP"]
    assert all(f["explained_by"] is None for f in found)


def test_name_like_strings_labelled_elsewhere_or_hard_negatives_are_not_bare():
    text = "Later the Joint Force to Counter Piracy left. The Security Council met."
    other = Example("o", text, _spans(text, ("Joint Force to Counter Piracy", "ACTOR", 0)),
                    {"hard_negatives": ["The Security Council met"]})
    found = check_consistency.find_name_like([_names_example(), other])
    surfaces = [f["surface"] for f in found]
    assert "Joint Force to Counter Piracy" not in surfaces  # labelled in `o`: the unlabelled check's business
    assert [f["explained_by"] for f in found if f["surface"] == "Security Council"] == ["hard negative"]


def test_heading_lines_are_recognised():
    assert check_consistency.heading_like("Russian Forces Advance On Key Town")
    assert check_consistency.heading_like("PRESS RELEASE")
    assert not check_consistency.heading_like("The General Staff said that the Ministry of Defence had sent troops.")
    assert not check_consistency.heading_like("Ukraine's General Staff said.")


def test_name_like_locations_are_source_lines(tmp_path):
    source = tmp_path / "a.md"
    source.write_text("---\nregion: x\nstyle: wire\ntitle: t\n---\n\nFirst line.\nThe General Staff spoke.\n", encoding="utf-8")
    text = "First line.\nThe General Staff spoke."
    ex = Example("a", text, [], {"source": str(source)})
    (found,) = check_consistency.find_name_like([ex])
    assert check_consistency.location(ex, found["offset"]) == f"{source}:8"
    assert check_consistency.location(Example("b", text), text.index("General")) == "b:2"


def _write_corpus(path: Path, examples: list[Example]) -> Path:
    path.write_text("".join(json.dumps(ex.to_dict()) + "\n" for ex in examples), encoding="utf-8")
    return path


def test_strict_names_fails_on_bare_names_unless_a_reason_is_given(tmp_path, capsys):
    corpus = _write_corpus(tmp_path / "c.jsonl", [_names_example()])
    none = tmp_path / "none.yaml"  # explains the fixture's unlabelled `troops` and `Kajaki`, no name
    none.write_text("unlabelled:\n  troops: a reason\n  Kajaki: a reason\n", encoding="utf-8")
    assert check_consistency.main(["--corpus", str(corpus), "--exceptions", str(none)]) == 0  # report-only
    out = capsys.readouterr().out
    assert "unlabelled name-like strings (labelled nowhere; report-only): 5 strings, 5 occurrences" in out
    assert f"'Kajaki Dam': n:{NAMES_TEXT.count(chr(10), 0, NAMES_TEXT.index('Kajaki Dam')) + 1}" in out
    assert check_consistency.main(["--corpus", str(corpus), "--exceptions", str(none), "--strict-names"]) == 1
    reasons = tmp_path / "reasons.yaml"
    reasons.write_text(
        none.read_text(encoding="utf-8") + "name-like:\n" + "".join(f"  {s}: a reason\n" for s in (
            "General Staff", "Ministry of Defence", "Joint Force to Counter Piracy", "Kajaki Dam", "ISWAP")),
        encoding="utf-8")
    assert check_consistency.main(["--corpus", str(corpus), "--exceptions", str(reasons), "--strict-names"]) == 0


# --- event links the validator cannot judge ---------------------------------------------------------

EVENTS_TEXT = (
    "Aba is a town. Rain fell. Rain fell. Rain fell. Rain fell. "
    "Rebels seized it from rebels. About 30 percent was lost. Militants retook it."
)


def test_event_problems_are_reported():
    t = EVENTS_TEXT
    sp = {name: s for name, s in zip(
        ("aba", "rebels", "seized", "rebels2", "pct", "lost", "militants", "retook"),
        _spans(t, ("Aba", "LOCATION", 0), ("Rebels", "ACTOR", 0), ("seized", "CONTROL_CHANGE", 0),
               ("rebels", "ACTOR", 0), ("About 30 percent", "PERCENT", 0), ("lost", "CONTROL_CHANGE", 0),
               ("Militants", "ACTOR", 0), ("retook", "CONTROL_CHANGE", 0)), strict=True)}
    events = [
        Event(sp["seized"], "asserted", taker=sp["rebels"], loser=sp["rebels2"], places=(sp["aba"],)),
        Event(sp["lost"], "asserted", places=(sp["aba"],), extent=sp["pct"]),  # place 6 sentences back; extent here
        Event(sp["retook"], "asserted", taker=sp["militants"], extent=sp["pct"]),  # extent in the sentence before
    ]
    ex = Example("e", t, sorted(sp.values()), {}, events)
    found = check_consistency.find_event_problems([ex])
    assert [(f["surface"], f["detail"].split(":")[0]) for f in found] == [
        ("seized", "taker and loser are both 'Rebels'"),
        ("seized", "every place lies outside the trigger's sentence and the 3 before it"),
        ("lost", "every place lies outside the trigger's sentence and the 3 before it"),
        ("retook", "extent 'About 30 percent' is outside the trigger's sentence"),
    ]
    near = Example("f", t, ex.spans, {}, [Event(sp["lost"], "asserted", places=(sp["aba"],))])
    assert len(check_consistency.find_event_problems([near])) == 1
    shifted = "Aba is a town. Rain fell. Rain fell. " + t[t.index("Rebels"):]
    assert check_consistency.find_event_problems([Example("g", shifted, [], {}, [])]) == []


def test_an_implicit_party_outside_the_trigger_sentence_is_reported():
    t = "Militants entered Aba in May. The town was retaken in June. They lost it again."
    sp = {name: s for name, s in zip(("mil", "aba", "retaken", "lost"), _spans(
        t, ("Militants", "ACTOR", 0), ("Aba", "LOCATION", 0), ("retaken", "CONTROL_CHANGE", 0),
        ("lost", "CONTROL_CHANGE", 0)), strict=True)}
    events = [Event(sp["retaken"], "asserted", loser=sp["mil"], places=(sp["aba"],)),  # no word for the militants
              Event(sp["lost"], "asserted", loser=sp["mil"], places=(sp["aba"],))]  # "They": the nearest named mention
    found = check_consistency.find_event_problems([Example("i", t, sorted(sp.values()), {}, events)])
    assert [(f["surface"], f["detail"].split(",")[0]) for f in found] == [
        ("retaken", "loser 'Militants' is outside the trigger's sentence")]


# --- v2 distribution figures ------------------------------------------------------------------------

CC_TEXT = (
    "Rebels captured Aba. The fall of Aba shocked the army. Bor was retaken by the army. "
    "The army denied losing Kuda. It vowed to recapture Aba. The Shabaab-held town of Jowhar is calm."
)


def _cc_example() -> Example:
    t = CC_TEXT
    names = ("r", "captured", "aba1", "fall", "aba2", "a1", "bor", "retaken", "a2", "a3", "losing", "kuda",
             "recapture", "aba3", "shabaab", "jowhar")
    marks = (("Rebels", "ACTOR", 0), ("captured", "CONTROL_CHANGE", 0), ("Aba", "LOCATION", 0),
             ("fall", "CONTROL_CHANGE", 0), ("Aba", "LOCATION", 1), ("army", "ACTOR", 0), ("Bor", "LOCATION", 0),
             ("retaken", "CONTROL_CHANGE", 0), ("army", "ACTOR", 1), ("army", "ACTOR", 2),
             ("losing", "CONTROL_CHANGE", 0), ("Kuda", "LOCATION", 0), ("recapture", "CONTROL_CHANGE", 0),
             ("Aba", "LOCATION", 2), ("Shabaab", "ACTOR", 0), ("Jowhar", "LOCATION", 0))
    sp = dict(zip(names, _spans(t, *marks), strict=True))
    events = [
        Event(sp["captured"], "asserted", taker=sp["r"], places=(sp["aba1"],)),
        Event(sp["fall"], "asserted", taker=sp["r"], places=(sp["aba2"],)),  # taker one sentence back
        Event(sp["retaken"], "asserted", taker=sp["a2"], places=(sp["bor"],)),
        Event(sp["losing"], "denied", loser=sp["a3"], places=(sp["kuda"],)),
        Event(sp["recapture"], "planned", taker=sp["a3"], places=(sp["aba3"],)),  # `It` -> the army before
    ]
    return Example("cc", t, sorted(sp.values()), {"region": "somalia", "style": "wire"}, events)


def test_control_change_forms_are_counted_per_100_spans():
    fig = corpus_stats.control_change_figures([_cc_example()])
    assert fig["CONTROL_CHANGE spans"] == "5"
    assert fig["noun triggers (per 100 spans)"] == "1 (20.0)"  # the fall of; `to recapture` is a verb
    assert fig["passives (per 100 spans)"] == "1 (20.0)"  # was retaken by the army
    assert fig["denied (per 100 spans)"] == "1 (20.0)"
    assert fig["planned or hypothetical (per 100 spans)"] == "1 (20.0)"
    assert fig["attempted (per 100 spans)"] == "0 (0.0)"
    assert fig["taker or loser outside the trigger's sentence (per 100 spans)"] == "2 (40.0)"
    assert fig["`X-held` / `X-controlled` / `X-occupied` compounds (count)"] == "1"
    assert fig["status asserted"] == "3 (60.0%)"
    assert fig["events with taker"] == "4 (80.0%)" and fig["events with loser"] == "1 (20.0%)"
    assert fig["events with places"] == "5 (100.0%)" and fig["events with extent"] == "0 (0.0%)"
    assert fig["articles with CONTROL_CHANGE spans whose events are linked"] == "1 (100.0%)"


def test_noun_and_passive_heuristics():
    def first(text: str, word: str) -> Span:
        return Span(text.index(word), text.index(word) + len(word), "CONTROL_CHANGE")

    for text, word, noun in [
        ("after the capture of Aba", "capture", True), ("they tried to capture Aba", "capture", False),
        ("Aba could fall soon", "fall", False), ("ISWAP claims capture of base", "capture", True),
        ("the withdrawal was quick", "withdrawal", True), ("rebels seized Aba", "seized", False),
    ]:
        assert phenomena.is_noun_trigger(text, first(text, word)) is noun, text
    for text, word, passive in [
        ("Aba had been swiftly retaken", "retaken", True), ("Aba was the capture", "capture", False),
        ("rebels had retaken Aba", "retaken", False), ("Aba got overrun", "overrun", True),
    ]:
        assert phenomena.is_passive(Example("p", text), first(text, word)) is passive, text


def test_style_and_furniture_detectors():
    assert phenomena.american("U.S. forces struck")
    assert phenomena.american("the defense ministry and the operations center")
    assert not phenomena.american("the defense ministry")  # one spelling is not enough
    assert not phenomena.american("US forces and the defence ministry")
    assert phenomena.agencies("KABUL (AA) - Fighting") and phenomena.agencies("told Reuters")
    assert not phenomena.agencies("a map of the area")
    assert phenomena.furniture("Title: X\nDate: 1 May\n\nBody &#8220;quoted&#8221; at https://example.com/x") == {
        "front-matter fields", "HTML entities or tags", "URLs"}
    assert phenomena.furniture("Mosul [edit]\n@highlight\nItâ€™s") == {"[edit]", "@highlight", "mojibake"}
    assert phenomena.furniture("The title of the report: no fields here.") == set()
    assert phenomena.noisy(Example("s", "fine.", meta={"style": "social"}))
    assert phenomena.noisy(Example("x", "Fighting in Sanaa (صنعاء) went on."))
    assert phenomena.noisy(Example("y", "fighting again. they left. Calm now. more shelling."))
    assert not phenomena.noisy(Example("z", "Fighting again. They left. Calm now. More shelling."))


def test_distribution_figures_split_all_from_new():
    long_text = "Fighting went on in the hills near the town for a week. " * 130  # 12 words x 130 = 1560
    exs = [
        Example("old", "Rebels took Aba.", [Span(7, 11, "CONTROL_CHANGE")], {"style": "wire"}),
        Example("brief", "U.S. forces said the area was calm.", [], {"style": "briefing"}),
        Example("wire", "Title: Calm\nURL: https://example.com/a\n\nKABUL (AFP) - Calm returned.", [], {"style": "wire"}),
        Example("long", long_text, [], {"style": "analysis", "split": "stress"}),
    ]
    fig_all = corpus_stats.distribution_figures(exs)
    fig_new = corpus_stats.distribution_figures(exs[1:])
    assert fig_all["articles without a CONTROL_CHANGE"] == "3 (75.0%)"
    assert fig_new["articles without a CONTROL_CHANGE"] == "3 (100.0%)"
    assert fig_new["long documents (1,500-5,000 words)"] == "1 (33.3%)"
    assert fig_new["briefings and statements in American spelling"] == "1 (33.3%)"
    assert fig_all["wire stories naming a news agency"] == "1 (25.0%)"  # `old` is a wire story without one
    assert fig_new["articles with page furniture"] == "1 (33.3%)"
    assert fig_new["page furniture: URLs"] == "1 (33.3%)" and fig_new["page furniture: mojibake"] == "0 (0.0%)"
    assert fig_new["articles in stress"] == "1 (33.3%)"
    # sentences (words): `U.S. forces said the area was calm.` (7), `Title: Calm` (2), `URL: https://example.com/a`
    # (URL https example com a: 5), `KABUL (AFP) - Calm returned.` (4), 130 x 12: 1578 words / 134 sentences
    assert fig_new["mean sentence length (words)"] == "11.8"
    assert corpus_stats.n_words("U.S. forces said the area was calm.") == 7


def test_render_reports_all_and_new_with_how_measured(tmp_path):
    exs = [
        Example("old", "Rebels took Aba.", [Span(7, 11, "CONTROL_CHANGE")], {"style": "wire"}),
        Example("new", "Calm day in Aba.", [], {"style": "humanitarian"}),
    ]
    ids = tmp_path / "v1.txt"
    ids.write_text("# v1\nold\n\n", encoding="utf-8")
    text = corpus_stats.render(exs, corpus_stats.read_ids(ids))
    assert "| articles | all (2) | new (1) |" in text
    assert "| articles without a CONTROL_CHANGE | 1 (50.0%) | 1 (100.0%) |" in text
    assert "| CONTROL_CHANGE spans | 1 | 0 |" in text
    assert all(f"- {line}" in text for line in phenomena.HEURISTICS)
    assert text.startswith(corpus_stats.BEGIN) and text.endswith(corpus_stats.END)


def test_list_items_and_name_heavy_sentences_are_not_headings():
    assert not check_consistency.heading_like("- Joint Force to Counter Piracy")
    assert not check_consistency.heading_like("Later the Joint Force to Counter Piracy left. The Security Council met.")
