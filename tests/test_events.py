"""Event layer: markup links, validation, percentage bounds, the rule baseline, scoring, the linker and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForTokenClassification

from frontlines.inference import SpanTagger
from frontlines.inference.alignment import Words
from frontlines.inference.cli import main as cli_main
from frontlines.inference.event_rules import rule_events
from frontlines.inference.events import event_record, percent_bounds, sentences
from frontlines.inference.labels import ID2TAG, TAG2ID, TAGS
from frontlines.inference.link_pairs import N_CONTEXT, STATUS_LEAD, Pairs, build_pairs
from frontlines.inference.linker import EventLinker
from frontlines.inference.spans import Event, Example, Span
from frontlines.training.corpus import check_record
from frontlines.training.event_links import parse_events
from frontlines.training.event_scoring import article_counts, counts_to_scores
from frontlines.training.markup import parse_article
from frontlines.training.train_linker import train_linker

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "annotations" / "articles" / "syria" / "albu-kamal-seed.md"


def seed() -> Example:
    example, errors = parse_article(SEED)
    assert errors == [] and example is not None
    return example


def text_of(ex: Example, span: Span | None) -> str | None:
    return None if span is None else ex.text[span.start : span.end]


@pytest.mark.parametrize("text,bounds", [
    ("more than 40 percent", (40.0, None)), ("30 to 40 percent", (30.0, 40.0)), ("about 30 percent", (30.0, 30.0)),
    ("up to 40%", (None, 40.0)), ("30-40%", (30.0, 40.0)), ("nearly 90 per cent", (None, 90.0)),
    ("forty percent", (40.0, 40.0)), ("seventy-five pct", (75.0, 75.0)), ("between 30 and 40 percent", (30.0, 40.0)),
    ("at least 12.5%", (12.5, None)), ("nearly half", (None, None)),
])
def test_percent_bounds(text, bounds):
    assert percent_bounds(text) == bounds


def test_sentences_skip_titles_and_abbreviations():
    text = "Maj. Gen. Amina Dauda said U.S. forces retook it. The U.N. said so.\nCol. Ben Ortiz spoke on Jan. 5. Then X."
    assert [text[s:e] for s, e in sentences(text)] == [
        "Maj. Gen. Amina Dauda said U.S. forces retook it.", "The U.N. said so.", "Col. Ben Ortiz spoke on Jan. 5.",
        "Then X."]


def test_seed_markup_gives_the_worked_records():
    ex = seed()
    assert len(ex.events) == 11 == sum(s.label == "CONTROL_CHANGE" for s in ex.spans)
    forty = next(e for e in ex.events if e.extent is not None)
    assert (text_of(ex, forty.trigger), text_of(ex, forty.taker), text_of(ex, forty.extent), forty.status) == (
        "retook", "IS", "more than 40 percent", "asserted")
    lost = [e for e in ex.events if len(e.places) == 3][0]
    assert [text_of(ex, p) for p in lost.places] == ["Mosul", "Raqqa", "Deir Ezzor"] and text_of(ex, lost.loser) == "IS"
    assert [e.status for e in ex.events].count("planned") == 2


def test_markup_link_errors_are_located(tmp_path):
    head = "---\nregion: syria\nstyle: wire\ntitle: t\n---\n"
    cases = {
        "[IS](ACTOR#a) [retook](CONTROL_CHANGE status=asserted taker=b) it.": "no span is named #b",
        "[IS](ACTOR#a) [retook](CONTROL_CHANGE status=won taker=a) it.": "status 'won' is not one of",
        "[IS](ACTOR#a) [Raqqa](LOCATION#r) [retook](CONTROL_CHANGE status=asserted taker=r) it.": "is a LOCATION span, expected ACTOR",
        "[IS](ACTOR#a status=asserted) retook it.": "event attributes on a ACTOR span",
        "[IS](ACTOR#a) [IS](ACTOR#a) [took](CONTROL_CHANGE status=asserted) it.": "#a is used twice",
        "[IS](ACTOR#a) [took](CONTROL_CHANGE status=asserted) and [lost](CONTROL_CHANGE) it.": "has no event",
        "[took](CONTROL_CHANGE status=asserted colour=red) it.": "unknown event attribute 'colour'",
    }
    for body, message in cases.items():
        _, errors = parse_article(tmp_path / "a.md", head + body + "\n")
        assert any(message in str(e) for e in errors), (body, [str(e) for e in errors])
        assert all(str(e).startswith(str(tmp_path / "a.md") + ":6:") for e in errors if message in str(e))


def test_validator_checks_event_references():
    spans = [{"start": 0, "end": 2, "label": "ACTOR"}, {"start": 3, "end": 9, "label": "CONTROL_CHANGE"},
             {"start": 10, "end": 15, "label": "LOCATION"}]
    record = {"id": "x", "text": "IS retook Raqqa", "spans": spans, "events": [
        {"trigger": [3, 9], "taker": [10, 15], "places": [[0, 2]], "status": "asserted"},
        {"trigger": [3, 9], "status": "asserted"}, {"trigger": [0, 2], "status": "asserted"}]}
    _, problems = check_record(record, "c.jsonl", 7)
    messages = [str(p) for p in problems]
    assert any("c.jsonl:7 [x]" in m and "taker [10, 15) is a LOCATION span, expected ACTOR" in m for m in messages)
    assert any("place #0 [0, 2) is a ACTOR span, expected LOCATION" in m for m in messages)
    assert any("a second event for the same trigger" in m for m in messages)
    assert any("trigger [0, 2) is a ACTOR span, expected CONTROL_CHANGE" in m for m in messages)
    events, problems = parse_events([{"trigger": [3, 9], "taker": [0, 2], "places": [[10, 15]], "status": "claimed"}],
                                    [Span(**s) for s in spans])
    assert problems == [] and events == [Event(Span(3, 9, "CONTROL_CHANGE"), "claimed", taker=Span(0, 2, "ACTOR"),
                                               places=(Span(10, 15, "LOCATION"),))]


def test_rule_baseline_on_hand_written_sentences():
    text = "Rebels seized Kutum and Tawila from the RSF. The army denied that Marte had fallen to ISWAP."
    spans = [Span(0, 6, "ACTOR"), Span(7, 13, "CONTROL_CHANGE"), Span(14, 19, "LOCATION"), Span(24, 30, "LOCATION"),
             Span(40, 43, "ACTOR"), Span(49, 53, "ACTOR"), Span(66, 71, "LOCATION"), Span(76, 85, "CONTROL_CHANGE"),
             Span(86, 91, "ACTOR")]
    assert [text[s.start:s.end] for s in spans] == ["Rebels", "seized", "Kutum", "Tawila", "RSF", "army", "Marte",
                                                    "fallen to", "ISWAP"]
    (first, _), (second, _) = rule_events(text, spans)
    assert (first.taker, first.loser, first.places, first.status) == (
        spans[0], spans[4], (spans[2], spans[3]), "asserted")
    # "fell to": the place before, the taker after "to"; "denied" before the trigger.
    assert (second.taker, second.places, second.status) == (spans[8], (spans[6],), "denied")


def test_event_scores_hand_worked():
    t, a, b, p, q = Span(3, 9, "CONTROL_CHANGE"), Span(0, 2, "ACTOR"), Span(20, 22, "ACTOR"), Span(10, 15, "LOCATION"), \
        Span(30, 35, "LOCATION")
    t2 = Span(40, 44, "CONTROL_CHANGE")
    gold = [Event(t, "asserted", taker=a, places=(p, q)), Event(t2, "claimed", loser=b)]
    pred = [Event(t, "asserted", taker=b, places=(p,)), Event(Span(50, 54, "CONTROL_CHANGE"), "denied", taker=a)]
    counts = article_counts(gold, pred)
    scores = counts_to_scores(counts)
    # taker: pred b vs gold a on t (fp 1, fn 1), a on an unmatched trigger (fp 1): tp 0.
    assert (counts["taker_tp"], counts["taker_fp"], counts["taker_fn"]) == (0, 2, 1)
    # places: {p} vs {p, q}: tp 1, fn 1; precision 1, recall 1/2, F1 2/3. loser: gold b on t2, no pred (fn 1).
    assert scores["place"]["f1"] == pytest.approx(2 / 3) and scores["loser"]["recall"] == 0.0
    # status: only t matches (same status): 1/1. No record is exact: record F1 0.
    assert scores["status"] == {"accuracy": 1.0, "support": 1} and scores["record"]["f1"] == 0.0
    assert article_counts(gold, gold)["record_tp"] == 2


def test_event_record_shape():
    ex = seed()
    ev = next(e for e in ex.events if e.extent is not None)
    rec = event_record(ex.text, ev, 0.93)
    assert rec["extent"] == {"start": ev.extent.start, "end": ev.extent.end, "text": "more than 40 percent",
                             "low": 40.0, "high": None}
    assert rec["places"] == [{"start": ev.places[0].start, "end": ev.places[0].end, "text": "Albu Kamal"}]
    s, e = rec["sentence"]["start"], rec["sentence"]["end"]
    assert ex.text[s:e].startswith("“IS (Daesh) started") and rec["score"] == 0.93 and rec["status"] == "asserted"


# ---- the learned linker, trained on a tiny model ------------------------------


def _tiny_run(tokenizer, directory: Path) -> Path:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=len(TAGS), id2label=ID2TAG, label2id=TAG2ID)
    BertForTokenClassification(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_linker_trains_saves_loads_and_serves(tokenizer, tmp_path):
    run = _tiny_run(tokenizer, tmp_path / "run")
    ex = seed()
    # The seed as train and as dev (a tiny model learns something from 11 events; the test checks the plumbing).
    examples = [Example("a", ex.text, ex.spans, {}, ex.events), Example("b", ex.text, ex.spans, {}, ex.events)]
    settings = train_linker(run, examples, lambda e: "train" if e.id == "a" else "dev", seed=0)
    assert (run / "linker" / "linker.safetensors").is_file() and settings["n_train_triggers"] == 11
    assert 0.0 <= settings["dev_gold_spans"]["record"]["f1"] <= 1.0
    linker = EventLinker.from_dir(run)
    tagger = SpanTagger.from_pretrained(run, device="cpu", max_length=64, stride=16)
    (states, words), = tagger.word_states([ex.text])
    assert states.shape == (len(words), 32)
    linked = linker.link(ex.text, ex.spans, states, words)
    assert [e.trigger for e, _ in linked] == [e.trigger for e in ex.events]
    assert all(e.status in ("asserted", "claimed", "denied", "attempted", "planned") and 0 <= s <= 1 for e, s in linked)
    # new linkers read the article's mean states for status and the article-level pair features, and say so;
    # the status MLP is that much wider; five seeds are averaged
    assert settings["status_document"] and linker.document and settings["pair_context"] and linker.context
    assert settings["members"] == 5 and len(linker.members) == 5 and len(settings["epoch"]) == 5
    assert settings["status_dropout"] == 0.5  # the status MLP is regularised harder than the role MLP (0.2)
    assert settings["hand_features"] == linker.members[0][0][0][0].shape[1] - 4 * 32
    assert linker.status_layers[0][0].shape[1] == len(build_pairs(ex.text, ex.spans, states, words, True)[0].status_features)
    # The linker reads a middle layer: half way up, layer 1 of this 2-layer model (not the last, 2),
    # and the states it is served are that layer's.
    assert settings["state_layer"] == linker.state_layer == 1
    (states1, _), = tagger.word_states([ex.text], layer=1)
    assert states1.shape == states.shape and not np.allclose(states1, states)  # states: the last layer's
    (out,) = tagger.predict_events([ex.text], linker="model", with_states=True)
    np.testing.assert_array_equal(out["states"], states1)
    # The tagger's own forward pass gives the same spans as predict (one pass for spans and events).
    assert out["spans"] == tagger.predict([ex.text])[0]
    (out,) = tagger.predict_events([ex.text], linker="model")
    assert set(out) == {"spans", "events"}


def test_state_layer_is_half_way_up_the_encoder():
    from frontlines.training.train_linker import state_layer

    # 6 / 2 = 3 (the default backbone), 12 / 2 = 6, 2 / 2 = 1, round(1.5) = 2; never the embeddings (1 / 2 -> 1)
    assert [state_layer(n) for n in (1, 2, 3, 6, 12)] == [1, 1, 2, 3, 6]


def test_train_linker_command_records_the_corpus_it_read(tokenizer, tmp_path):
    import hashlib

    from frontlines.inference.fileio import write_jsonl_atomic
    from frontlines.training.corpus import load_corpus, split_of_example
    from frontlines.training.train_linker import main as train_linker_main

    run = _tiny_run(tokenizer, tmp_path / "run")
    picked = {"train": [], "dev": []}
    for ex in load_corpus():
        part = picked.get(split_of_example(ex))
        if part is not None and ex.events and len(part) < 2:
            part.append(ex)
    corpus = tmp_path / "links-v2.jsonl"
    write_jsonl_atomic(corpus, [ex.to_dict() for part in picked.values() for ex in part])
    args = ["--run", str(run), "--corpus", str(corpus), "--members", "1"]
    assert train_linker_main(args) == 0
    settings = json.loads((run / "linker" / "linker.json").read_text())
    # a linker retrained after the tagger says which revision of the links it learnt from
    assert settings["corpus_sha256"] == hashlib.sha256(corpus.read_bytes()).hexdigest()
    assert train_linker_main(args) == 2  # an existing linker is kept unless --overwrite


def test_cli_events_and_table(tokenizer, tmp_path):
    run = _tiny_run(tokenizer, tmp_path / "run")
    ex = seed()
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "seed", "text": ex.text}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert cli_main(["predict", "--model", str(run), "--input", str(src), "--output", str(out), "--no-progress",
                     "--events", "rules", "--max-length", "64", "--stride", "16"]) == 0
    (line,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert isinstance(line["events"], list) and isinstance(line["spans"], list)
    assert cli_main(["predict", "--model", str(run), "--input", str(src), "--output", str(tmp_path / "o2.jsonl"),
                     "--no-progress", "--events", "model"]) == 2  # no linker in this run: a clear refusal
    # export-events: a record with two places gives two rows; a line without events is a located error.
    rec = event_record(ex.text, [e for e in ex.events if len(e.places) == 3][0])
    events_file = tmp_path / "events.jsonl"
    events_file.write_text(json.dumps({"id": "seed", "spans": [], "events": [rec]}) + "\n", encoding="utf-8")
    table = tmp_path / "events.csv"
    assert cli_main(["export-events", "--input", str(events_file), "--output", str(table)]) == 0
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [r["place"] for r in rows] == ["Mosul", "Raqqa", "Deir Ezzor"] and {r["loser"] for r in rows} == {"IS"}
    assert cli_main(["export-events", "--input", str(events_file), "--output", str(table)]) == 2  # exists
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "spans": []}\n', encoding="utf-8")
    assert cli_main(["export-events", "--input", str(bad), "--output", str(tmp_path / "t.csv")]) == 1
    assert not (tmp_path / "t.csv").exists()


def test_rule_events_never_point_outside_the_spans():
    ex = seed()
    spans = set(ex.spans)
    for event, _ in rule_events(ex.text, ex.spans):
        for s in (event.taker, event.loser, event.extent, *event.places):
            assert s is None or s in spans
    assert np.isfinite([score for _, score in rule_events(ex.text, ex.spans)]).all()


def test_decode_pairs_takes_the_best_place_over_its_own_lower_cut():
    """Hand-worked: three LOCATION candidates with place probabilities .35, .25 and .72 and one ACTOR (.6 taker)."""
    from frontlines.inference.link_pairs import ROLE_CLASSES
    from frontlines.inference.linker import decode_pairs

    trig = Span(10, 16, "CONTROL_CHANGE")
    actor, a, b, c = Span(0, 5, "ACTOR"), Span(20, 25, "LOCATION"), Span(30, 35, "LOCATION"), Span(40, 45, "LOCATION")
    probs = np.zeros((4, len(ROLE_CLASSES)))
    probs[0, [0, 1]] = 0.4, 0.6
    for row, p in ((1, 0.35), (2, 0.25), (3, 0.72)):
        probs[row, [0, 3]] = 1 - p, p
    pairs = Pairs(trig, [actor, a, b, c], np.zeros((4, 1)), np.ones((4, 5), bool), np.zeros(1), Event(trigger=trig, status="asserted"))
    status = np.asarray([0.9, 0.05, 0.05, 0.0, 0.0])
    cuts = {"taker": 0.5, "loser": 0.5, "extent": 0.5, "place": 0.8, "place_top": 0.3}
    event, score = decode_pairs(pairs, probs, status, cuts)
    assert event.taker == actor and event.places == (c,)  # .72 < .8 but it is the best place and over .3
    assert score == pytest.approx((0.9 + 0.6 + 0.72) / 3)
    event, _ = decode_pairs(pairs, probs, status, {**cuts, "place": 0.3})
    assert event.places == (a, c)  # every place over the main cut, in text order
    event, _ = decode_pairs(pairs, probs, status, {**cuts, "place_top": 0.75})
    assert event.places == ()
    older, _ = decode_pairs(pairs, probs, status, 0.3)  # one cut for all (linkers saved before place_top)
    assert older.places == (a, c) and older.taker == actor


def test_a_place_listed_next_to_a_kept_one_needs_only_the_list_cut():
    """Hand-worked: "took Sabratha and Surman, then Zuwara": Surman is listed with Sabratha, Zuwara is not."""
    from frontlines.inference.link_pairs import ROLE_CLASSES, place_lists
    from frontlines.inference.linker import decode_pairs

    text = "GNA troops took Sabratha and Surman, then Zuwara."
    trig = Span(11, 15, "CONTROL_CHANGE")
    sab, sur, zuw = Span(16, 24, "LOCATION"), Span(29, 35, "LOCATION"), Span(42, 48, "LOCATION")
    actor = Span(0, 3, "ACTOR")
    cands = [actor, zuw, sab, sur]  # candidate order is not text order
    assert [text[s.start:s.end] for s in (sab, sur, zuw)] == ["Sabratha", "Surman", "Zuwara"]
    assert place_lists(text, cands) == ((2, 3),)  # ", then " is no list gap
    probs = np.zeros((4, len(ROLE_CLASSES)))
    for row, p in ((1, 0.3), (2, 0.9), (3, 0.35)):
        probs[row, [0, 3]] = 1 - p, p
    pairs = Pairs(trig, cands, np.zeros((4, 1)), np.ones((4, 5), bool), np.zeros(1),
                  Event(trigger=trig, status="asserted"), place_lists(text, cands))
    status = np.asarray([0.9, 0.05, 0.05, 0.0, 0.0])
    cuts = {"taker": 0.5, "loser": 0.5, "extent": 0.5, "place": 0.6, "place_top": 0.6}
    assert decode_pairs(pairs, probs, status, cuts)[0].places == (sab,)  # no list cut: lists stay off
    event, score = decode_pairs(pairs, probs, status, {**cuts, "place_list": 0.3})
    assert event.places == (sab, sur)  # Surman (.35) joins; Zuwara (.3) is not in the list
    assert score == pytest.approx((0.9 + 0.9 + 0.35) / 3)
    assert decode_pairs(pairs, probs, status, {**cuts, "place_list": 0.4})[0].places == (sab,)


def test_document_status_features_are_the_article_and_lead_means():
    ex = seed()
    words = Words.of(ex.text).pairs()
    rng = np.random.default_rng(0)
    states = rng.normal(size=(len(words), 4)).astype(np.float32)
    plain = build_pairs(ex.text, ex.spans, states, words)
    documented = build_pairs(ex.text, ex.spans, states, words, document=True)
    assert len(words) > STATUS_LEAD
    expected = np.concatenate([states.mean(0), states[:STATUS_LEAD].mean(0)])
    for a, b in zip(plain, documented, strict=True):
        assert np.array_equal(b.status_features[: len(a.status_features)], a.status_features)
        assert np.allclose(b.status_features[len(a.status_features):], expected, atol=1e-6)
        assert np.array_equal(a.features, b.features)  # the role features do not change
    # linkers saved before (no "status_document" in linker.json) keep the old layout
    assert not EventLinker({"role.0.weight": np.zeros((1, 1)), "role.0.bias": np.zeros(1),
                            "status.0.weight": np.zeros((1, 1)), "status.0.bias": np.zeros(1)}, {}).document


def test_context_features_say_what_the_article_around_the_pair_says():
    source = ("---\nregion: yemen\nstyle: wire\ntitle: T\n---\n"
              "[Houthi fighters](ACTOR) [took](CONTROL_CHANGE) [Marib](LOCATION) in March. The [army](ACTOR) "
              "[retook](CONTROL_CHANGE) the town from [Houthi fighters](ACTOR) in May. [Houthi fighters](ACTOR) "
              "[lost](CONTROL_CHANGE) it again.\n")
    ex, errors = parse_article(Path("yemen-t.md"), source)
    assert errors == [] and ex is not None
    text, spans = ex.text, sorted(ex.spans)
    words = Words.of(text).pairs()
    states = np.random.default_rng(0).normal(size=(len(words), 4)).astype(np.float32)
    plain = build_pairs(text, spans, states, words)
    pairs = {text[p.trigger.start : p.trigger.end]: p for p in build_pairs(text, spans, states, words, context=True)}
    for a in plain:  # the context features are appended: the rest of each row is as before
        b = pairs[text[a.trigger.start : a.trigger.end]]
        assert np.array_equal(b.features[:, :-N_CONTEXT], a.features) and b.features.shape[1] == a.features.shape[1] + N_CONTEXT
    # the rule baseline's first event (what the "earlier trigger" features read): Houthi fighters took Marib
    (first, _), *_ = rule_events(text, spans)
    assert (text_of(ex, first.taker), [text_of(ex, p) for p in first.places]) == ("Houthi fighters", ["Marib"])

    def ctx(trigger: str, cand: int) -> list[float]:
        p = pairs[trigger]
        return [round(float(v), 4) for v in p.features[p.candidates.index(spans[cand]), -N_CONTEXT:]]

    b1, b2 = round(float(np.log1p(1) / 5), 4), round(float(np.log1p(3) / 5), 4)
    # "retook the town": no place in its sentence, a party there, "the town" after the trigger. Marib: named once
    # (the most named place, the first, in the opening sentence), nothing between, the rules' place of "took".
    #        loc  act  ana< ana> count most >=2 first lead shadow taker loser place last same-sentence
    assert ctx("retook", 2) == [0, 1, 0, 1, b1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0]
    # the first Houthi fighters: named three times (the most), first and in the lead; the rules' taker of "took"
    assert ctx("retook", 0) == [0, 1, 0, 1, b2, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    # "lost it": the first and second mentions have a nearer one of the same name between them and the trigger
    # (shadowed); the third, just before the trigger, is the nearest
    assert ctx("lost", 0)[9] == 1 and ctx("lost", 5)[9] == 1 and ctx("lost", 6)[9] == 0
    assert ctx("lost", 6)[14] == 1 and ctx("lost", 6)[3] == 1  # in the trigger's sentence; "it" after "lost"


def test_an_ensemble_linker_averages_its_members_distributions():
    def member(prefix: str, role_bias: list[float], status_bias: list[float]) -> dict[str, np.ndarray]:
        return {f"{prefix}role.0.weight": np.zeros((5, 3), np.float32), f"{prefix}role.0.bias": np.asarray(role_bias, np.float32),
                f"{prefix}status.0.weight": np.zeros((5, 2), np.float32),
                f"{prefix}status.0.bias": np.asarray(status_bias, np.float32)}

    trig, cand = Span(0, 4, "CONTROL_CHANGE"), Span(5, 10, "ACTOR")
    mask = np.asarray([[True, True, True, False, False]])
    pairs = Pairs(trig, [cand], np.zeros((1, 3), np.float32), mask, np.zeros(2, np.float32), Event(trigger=trig, status="asserted"))
    ln3, ln4 = float(np.log(3)), float(np.log(4))
    single = EventLinker(member("", [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]), {})
    assert len(single.members) == 1  # bare role.* / status.* names: one linker (as saved before ensembles)
    role, status = single.score_pairs(pairs)
    assert np.allclose(role, [[1 / 3, 1 / 3, 1 / 3, 0, 0]]) and np.allclose(status, [0.2] * 5)
    both = EventLinker({**member("member0.", [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]),
                        **member("member1.", [ln3, 0, 0, 9, 9], [ln4, 0, 0, 0, 0])}, {})
    assert len(both.members) == 2
    role, status = both.score_pairs(pairs)
    # member 1: none 3/5, taker 1/5, loser 1/5 (place and extent masked for an ACTOR); status 4/8, then 1/8 each
    assert np.allclose(role, [[(1 / 3 + 3 / 5) / 2, (1 / 3 + 1 / 5) / 2, (1 / 3 + 1 / 5) / 2, 0, 0]])
    assert np.allclose(status, [(0.2 + 0.5) / 2, *[(0.2 + 0.125) / 2] * 4])

def test_a_linker_with_a_member_missing_its_layers_is_refused_naming_the_file(tmp_path):
    from safetensors.numpy import save_file

    (tmp_path / "linker").mkdir()
    layer = {"0.weight": np.zeros((5, 2), np.float32), "0.bias": np.zeros(5, np.float32)}
    weights = {f"member{i}.{head}.{k}": v for i in (0, 1) for head in ("role", "status") for k, v in layer.items()}
    del weights["member1.status.0.weight"], weights["member1.status.0.bias"]
    save_file(weights, str(tmp_path / "linker" / "linker.safetensors"))
    (tmp_path / "linker" / "linker.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match=r"linker\.safetensors: not an event linker's weights.*member1\.status"):
        EventLinker.from_dir(tmp_path)
