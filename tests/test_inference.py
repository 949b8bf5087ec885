"""SpanTagger, the predict/export CLI and the ONNX backend, on tiny models built here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import BertConfig, BertForTokenClassification

from frontlines.inference import SpanTagger
from frontlines.inference.alignment import Words, encode_texts, read_tokens
from frontlines.inference.cli import main
from frontlines.inference.labels import ID2TAG, LABELS, TAG2ID, TAGS
from frontlines.inference.spans import word_offsets
from frontlines.inference.tagger import TorchForward

ROOT = Path(__file__).resolve().parent.parent
#: The keyword model's vocabulary: these single-token words get these tags, every other token O.
KEYWORDS = {"kamal": "B-LOCATION", "pasha": "I-LOCATION", "taliban": "B-ACTOR"}


def _tiny_config(tokenizer, **kw) -> BertConfig:
    return BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=len(TAGS), id2label=ID2TAG, label2id=TAG2ID, **kw,
    )


def _save(model, tokenizer, directory: Path) -> Path:
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_dir(tokenizer, tmp_path_factory) -> Path:
    """A randomly initialised two-layer BERT with the project's tags."""
    torch.manual_seed(0)
    return _save(BertForTokenClassification(_tiny_config(tokenizer)).eval(), tokenizer, tmp_path_factory.mktemp("tiny"))


def keyword_model(tokenizer) -> BertForTokenClassification:
    """A BERT whose predictions we control: each token's tag depends on its id only.

    Every layer's residual branches are zeroed so each hidden state stays its
    word embedding; embeddings are orthogonal +-1 (Hadamard) rows, so the
    classifier's row for a keyword's tag fires on that keyword alone, and O
    (bias 16, half a keyword's score of 32) wins everywhere else.
    """
    model = BertForTokenClassification(_tiny_config(tokenizer, hidden_dropout_prob=0.0)).eval()
    hadamard = np.array([[1.0]])
    while len(hadamard) < 32:
        hadamard = np.block([[hadamard, hadamard], [hadamard, -hadamard]])
    rows = torch.tensor(hadamard, dtype=torch.float32)
    with torch.no_grad():
        emb = model.bert.embeddings
        emb.word_embeddings.weight[:] = rows[1]
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        for layer in model.bert.encoder.layer:
            for dense in (layer.attention.output.dense, layer.output.dense):
                dense.weight.zero_()
                dense.bias.zero_()
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[TAG2ID["O"]] = 16.0
        for k, (word, tag) in enumerate(KEYWORDS.items()):
            token = tokenizer.convert_tokens_to_ids(word)
            assert token != tokenizer.unk_token_id, word
            emb.word_embeddings.weight[token] = rows[2 + k]
            model.classifier.weight[TAG2ID[tag]] = rows[2 + k]
    return model


@pytest.fixture(scope="session")
def keyword_dir(tokenizer, tmp_path_factory) -> Path:
    return _save(keyword_model(tokenizer), tokenizer, tmp_path_factory.mktemp("keyword"))


@pytest.fixture(scope="session")
def keyword_tagger(keyword_dir) -> SpanTagger:
    return SpanTagger.from_pretrained(keyword_dir, device="cpu", max_length=32, stride=8)


@pytest.fixture(scope="session")
def tiny_tagger(tiny_dir) -> SpanTagger:
    return SpanTagger.from_pretrained(tiny_dir, device="cpu", max_length=16, stride=4)


def _plain(spans):
    return [(s["start"], s["end"], s["label"]) for s in spans]


# ---- SpanTagger -------------------------------------------------------------


def test_spans_have_exact_offsets_text_and_scores(keyword_tagger):
    text = "Taliban fighters took Kamal Pasha,\r\nthen 😀 kamal-pasha fell; Kamalabad did not."
    (spans,) = keyword_tagger.predict([text])
    assert [(s["text"], s["label"]) for s in spans] == [
        ("Taliban", "ACTOR"), ("Kamal Pasha", "LOCATION"), ("kamal-pasha", "LOCATION"),
        ("Kamalabad", "LOCATION"),  # a sub-word entity: 'kamal' '##abad' tags the whole word
    ]
    for s in spans:
        assert text[s["start"] : s["end"]] == s["text"]
        assert 0.9 < s["score"] <= 1.0 or s["text"] == "kamal-pasha"  # the '-' inside it is not a keyword
    # Viterbi: 'pasha' is I- after the O-ish '-', so the hyphen joins the entity; argmax (as conlleval
    # repairs it) gives two spans
    argmax = SpanTagger(keyword_tagger.tokenizer, keyword_tagger.forward, max_length=32, stride=8, decoding="argmax")
    assert [s["text"] for s in argmax.predict([text])[0]][2:4] == ["kamal", "pasha"]
    assert keyword_tagger.predict([]) == [] and keyword_tagger.predict(["", " \r\n\t "]) == [[], []]


def test_a_re_checking_forward_is_told_which_tokens_decoding_reads(keyword_tagger):
    seen = []

    class Recording:  # a forward with a bf16 re-check: it gets ``read``
        recheck = 0.02

        def __call__(self, ids, mask, token_types, read=None):
            seen.append((ids, mask, read))
            return keyword_tagger.forward(ids, mask, token_types)

    text = ("Taliban fighters took Kamal Pasha on Monday, then the road north of kamal-pasha fell; "
            "Kamalabad did not, said a resident who had fled to Aleppo with her two sons and their goats.")
    tokenizer = keyword_tagger.tokenizer
    checked = SpanTagger(tokenizer, Recording(), max_length=32, stride=8)
    plain = SpanTagger(tokenizer, keyword_tagger.forward, max_length=32, stride=8)
    assert checked.predict([text]) == plain.predict([text])
    enc = encode_texts(tokenizer, [text], 32, 8)
    windows = range(len(enc["input_ids"]))
    assert len(windows) >= 2  # overlapping windows: a word is read in one of them
    expected = read_tokens(((enc["offset_mapping"][w], enc.sequence_ids(w)) for w in windows), Words.of(text))
    got = {tuple(ids[r][mask[r] == 1]): read[r][mask[r] == 1] for ids, mask, read in seen for r in range(len(ids))}
    assert len(got) == len(windows)
    for w in windows:
        assert got[tuple(enc["input_ids"][w])].tolist() == expected[w].tolist()
    assert sum(int(m.sum()) for m in expected) == len(Words.of(text))  # every word read once


def test_entity_twenty_thousand_characters_in_is_found(keyword_dir):
    filler = "Shelling continued near the river while residents fled. " * 400
    text = filler + "Then Kamal Pasha fell to the Taliban. " + filler[:3000]
    start = text.index("Kamal Pasha")
    assert start > 20_000
    for max_length, stride in ((512, 128), (32, 8)):
        tagger = SpanTagger.from_pretrained(keyword_dir, device="cpu", max_length=max_length, stride=stride)
        spans = tagger.predict([text, "short Kamal"])[0]
        assert _plain(spans) == [(start, start + 11, "LOCATION"), (text.index("Taliban"), text.index("Taliban") + 7,
                                                                   "ACTOR")]


def test_windows_batches_and_input_order_do_not_change_spans(keyword_dir, tiny_dir):
    words = ["Kamal", "Pasha", "taliban", "the", "road", "é", "😀", ",", "\r\n", "Aleppo"]
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(0, 300, size=12)]
    whole = SpanTagger.from_pretrained(keyword_dir, device="cpu", max_length=512, stride=128).predict(texts)
    windowed = SpanTagger.from_pretrained(keyword_dir, device="cpu", max_length=24, stride=6)
    assert [_plain(s) for s in windowed.predict(texts, batch_size=3)] == [_plain(s) for s in whole]
    assert any(whole)
    tiny = SpanTagger.from_pretrained(tiny_dir, device="cpu", max_length=32, stride=8)
    batched = tiny.predict(texts, batch_size=5, chunk_size=4)
    one_by_one = [tiny.predict([t], batch_size=1)[0] for t in texts]
    assert [_plain(s) for s in batched] == [_plain(s) for s in one_by_one]
    for a, b in zip(batched, one_by_one, strict=True):
        assert np.allclose([s["score"] for s in a], [s["score"] for s in b], atol=1e-5)


def test_streams_and_kernels_do_not_change_spans_or_scores(tiny_dir):
    rng = np.random.default_rng(2)
    words = ["Kamal", "Pasha", "taliban", "the", "road", "Aleppo", ",", "fell"]
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(1, 200, size=20)]
    reference = SpanTagger.from_pretrained(tiny_dir, device="cpu", max_length=32, stride=8, streams=1,
                                           linear_kernel="default")
    expected = reference.predict(texts, batch_size=2)
    assert reference.batch_size == 8 and any(expected)
    for streams, kernel in ((2, "default"), (3, "onednn"), (1, "auto")):
        tagger = SpanTagger.from_pretrained(tiny_dir, device="cpu", max_length=32, stride=8, streams=streams,
                                            linear_kernel=kernel)
        got = tagger.predict(texts, batch_size=2)
        assert [_plain(s) for s in got] == [_plain(s) for s in expected]
        for a, b in zip(got, expected, strict=True):
            assert np.allclose([s["score"] for s in a], [s["score"] for s in b], atol=1e-5)
    threads = torch.get_num_threads()
    SpanTagger.from_pretrained(tiny_dir, device="cpu", streams=2).predict(texts)
    assert torch.get_num_threads() == threads  # the workers' share of threads is theirs alone
    with pytest.raises(ValueError, match="streams"):
        SpanTagger.from_pretrained(tiny_dir, device="cpu", streams=0)


UNICODE_PIECES = st.sampled_from(
    ["Kamal", "pasha", "Taliban", " ", "  ", "\r\n", "\n", "\t", "\u200b", "😀", "🇸🇾", "e\u0301", "ال", "قَ", "中",
     "ß", "-", ",", "'", "%", "42", "\u2028", "\x00", "\ufeff"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.one_of(st.text(max_size=200), st.text(" \t\r\n\u00a0\u3000", max_size=20),
                                 st.lists(UNICODE_PIECES, max_size=80).map("".join)), max_size=5))
def test_any_text_gives_valid_spans(tiny_tagger, keyword_tagger, texts):
    for tagger in (tiny_tagger, keyword_tagger):
        results = tagger.predict(texts, batch_size=2)
        assert len(results) == len(texts)
        for text, spans in zip(texts, results, strict=True):
            words = word_offsets(text)
            starts, ends = {a for a, _ in words}, {b for _, b in words}
            previous_end = 0
            for s in spans:
                assert set(s) == {"start", "end", "label", "text", "score"}
                assert previous_end <= s["start"] < s["end"] <= len(text)
                assert s["text"] == text[s["start"] : s["end"]] and s["label"] in LABELS
                assert s["start"] in starts and s["end"] in ends and 0.0 <= s["score"] <= 1.0
                previous_end = s["end"]


def test_windows_default_to_the_runs_own_config(tiny_dir, tmp_path, tokenizer):
    tagger = SpanTagger.from_pretrained(tiny_dir, device="cpu")
    assert (tagger.max_length, tagger.stride) == (512, 128)
    run = _save(BertForTokenClassification(_tiny_config(tokenizer)), tokenizer, tmp_path / "run")
    (run / "config.yaml").write_text("model: embedded:minilm\ndata:\n  max_length: 64\n  stride: 16\n")
    tagger = SpanTagger.from_pretrained(run, device="cpu")
    assert (tagger.max_length, tagger.stride) == (64, 16)
    assert SpanTagger.from_pretrained(run, device="cpu", max_length=40, stride=4).max_length == 40


def test_a_model_with_other_labels_is_refused(tokenizer, tmp_path):
    config = _tiny_config(tokenizer)
    config.id2label = {i: f"L{i}" for i in range(len(TAGS))}
    config.label2id = {v: k for k, v in config.id2label.items()}
    run = _save(BertForTokenClassification(config), tokenizer, tmp_path / "other")
    with pytest.raises(ValueError, match="not the project's tags"):
        SpanTagger.from_pretrained(run)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        SpanTagger.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="unknown backend"):
        SpanTagger.from_pretrained(run, backend="tensorrt")


def test_tagger_rejects_non_strings(tiny_tagger):
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        tiny_tagger.predict(["ok", None])


def test_same_spans_as_the_pipeline_where_it_is_right_and_whole_words_where_it_is_not(keyword_dir, keyword_tagger):
    from transformers import AutoTokenizer, pipeline

    pipe = pipeline("token-classification", model=str(keyword_dir), tokenizer=AutoTokenizer.from_pretrained(keyword_dir),
                    aggregation_strategy="simple", device=-1)
    agree = ["Taliban fighters took Kamal Pasha.", "kamal, pasha and 😀 Kamal\r\nPasha", "no entity here"]
    # The pipeline takes each token's argmax; so does the tagger with decoding="argmax". (With Viterbi,
    # the keyword model's certain I- on "pasha" pulls the comma into "kamal, pasha": see test_decoding.py.)
    argmax = SpanTagger.from_pretrained(keyword_dir, device="cpu", max_length=32, stride=8, decoding="argmax")
    for text, ours in zip(agree, argmax.predict(agree), strict=True):
        theirs = [(e["start"], e["end"], e["entity_group"]) for e in pipe(text)]
        assert _plain(ours) == theirs
    (ours,) = keyword_tagger.predict(["Kamalabad fell"])
    (theirs,) = [[(e["start"], e["end"]) for e in pipe("Kamalabad fell")]]
    assert _plain(ours) == [(0, 9, "LOCATION")] and theirs == [(0, 5)]  # the pipeline cuts the word


# ---- CLI --------------------------------------------------------------------


def _write_jsonl(path: Path, records) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _records(n: int) -> list[dict]:
    rng = np.random.default_rng(n)
    words = ["Kamal", "Pasha", "Taliban", "took", "the", "town", "😀", "\r\n"]
    return [{"id": f"r{i}", "text": " ".join(rng.choice(words, size=int(rng.integers(0, 60)))), "source": i}
            for i in range(n)]


def test_cli_keeps_input_order_and_extra_fields(keyword_dir, keyword_tagger, tmp_path):
    records = _records(9)
    src = _write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    args = ["predict", "--model", str(keyword_dir), "--input", str(src), "--output", str(out), "--no-progress",
            "--max-length", "32", "--stride", "8", "--chunk-size", "4", "--batch-size", "3"]
    assert main(args) == 0
    got = _read_jsonl(out)
    assert [r["id"] for r in got] == [r["id"] for r in records]
    assert all(set(r) == {"id", "source", "spans"} and r["source"] == i for i, r in enumerate(got))
    expected = keyword_tagger.predict([r["text"] for r in records])
    assert [_plain(r["spans"]) for r in got] == [_plain(s) for s in expected]
    assert main(args) == 2  # never replaced without --overwrite
    assert main(args + ["--overwrite", "--keep-text"]) == 0
    assert [r["text"] for r in _read_jsonl(out)] == [r["text"] for r in records]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_malformed_line_is_named_and_skip_bad_records_it(tiny_dir, tmp_path, capsys):
    src = _write_jsonl(tmp_path / "in.jsonl", [
        {"id": "a", "text": "Kamal fell"}, "", '{"id": "b", "text": ', {"id": "c", "text": 5}, ["x"],
        {"text": "no id"}, {"id": "d", "text": "fine"},
    ])
    out = tmp_path / "out.jsonl"
    base = ["predict", "--model", str(tiny_dir), "--input", str(src), "--output", str(out), "--no-progress"]
    assert main(base) == 1
    assert f"{src}:3: invalid JSON" in capsys.readouterr().err
    assert not out.exists()
    errors = tmp_path / "bad.jsonl"
    assert main(base + ["--overwrite", "--skip-bad", "--errors", str(errors)]) == 0
    assert [r["id"] for r in _read_jsonl(out)] == ["a", "d"]
    bad = _read_jsonl(errors)
    assert [(e["line"], e["source"]) for e in bad] == [(3, str(src)), (4, str(src)), (5, str(src)), (6, str(src))]
    assert "'text' must be a string" in bad[1]["error"] and "JSON object" in bad[2]["error"]
    assert "'id'" in bad[3]["error"]


def test_interrupted_run_resumes_without_repeating_or_losing_lines(keyword_dir, tmp_path, monkeypatch):
    records = _records(23)
    src = _write_jsonl(tmp_path / "in.jsonl", records)
    args = ["predict", "--model", str(keyword_dir), "--input", str(src), "--no-progress", "--chunk-size", "4",
            "--max-length", "32", "--stride", "8"]
    assert main(args + ["--output", str(tmp_path / "clean.jsonl")]) == 0
    out = tmp_path / "out.jsonl"
    original = SpanTagger.predict
    seen: list[str] = []

    def crash_on_third_chunk(self, texts, **kw):
        if len(seen) >= 8:
            raise KeyboardInterrupt
        seen.extend(texts)
        return original(self, texts, **kw)

    monkeypatch.setattr(SpanTagger, "predict", crash_on_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        main(args + ["--output", str(out)])
    assert not out.exists()
    partial = tmp_path / ".out.jsonl.partial"
    with partial.open("ab") as fh:  # a line half written when the process died
        fh.write(b'{"id": "r8", "spa')
    assert main(args + ["--output", str(out)]) == 2  # neither --resume nor --overwrite: refuse

    def counting(self, texts, **kw):
        seen.extend(texts)
        return original(self, texts, **kw)

    monkeypatch.setattr(SpanTagger, "predict", counting)
    seen.clear()
    assert main(args + ["--output", str(out), "--resume"]) == 0
    assert seen == [r["text"] for r in records[8:]]
    assert out.read_bytes() == (tmp_path / "clean.jsonl").read_bytes()


def test_plain_text_files_keep_crlf_offsets(keyword_dir, tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "one.txt").write_bytes("Taliban\r\ntook Kamal Pasha 😀.".encode())
    (docs / "sub" / "two.txt").write_bytes(b"nothing here")
    (docs / "skip.md").write_text("Kamal")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", str(keyword_dir), "--input", str(docs), "--output", str(out),
                 "--no-progress"]) == 0
    got = _read_jsonl(out)
    assert [r["id"] for r in got] == ["one", "sub/two"]
    text = (docs / "one.txt").read_bytes().decode()
    assert [(s["text"], text[s["start"] : s["end"]]) for s in got[0]["spans"]] == [
        ("Taliban", "Taliban"), ("Kamal Pasha", "Kamal Pasha")
    ]


def test_processes_split_the_input_and_rank_zero_merges_in_order(keyword_dir, tmp_path, monkeypatch):
    records = _records(11)
    src = _write_jsonl(tmp_path / "in.jsonl", records)
    args = ["predict", "--model", str(keyword_dir), "--input", str(src), "--no-progress", "--max-length", "32",
            "--stride", "8", "--chunk-size", "2"]
    assert main(args + ["--output", str(tmp_path / "single.jsonl")]) == 0
    out = tmp_path / "multi.jsonl"
    monkeypatch.setenv("WORLD_SIZE", "3")
    for rank in (2, 1, 0):  # rank 0 merges, so it must come last here; under a launcher it waits
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        assert main(args + ["--output", str(out)]) == 0
        assert out.exists() == (rank == 0)
    assert out.read_bytes() == (tmp_path / "single.jsonl").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "multi.jsonl", "single.jsonl"]


def test_python_dash_m_inference_runs(tiny_dir, tmp_path):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "Kamal"}, {"id": 2, "text": ""}])
    result = subprocess.run(
        [sys.executable, "-m", "inference", "predict", "--model", str(tiny_dir), "--input", str(src), "--output",
         str(tmp_path / "out.jsonl"), "--no-progress"], cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in _read_jsonl(tmp_path / "out.jsonl")] == [1, 2]


def test_cli_refuses_non_positive_sizes(tiny_dir, tmp_path, capsys):
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "Kamal"}])
    base = ["predict", "--model", str(tiny_dir), "--input", str(src), "--output", str(tmp_path / "o.jsonl")]
    assert main([*base, "--streams", "0", "--batch-size", "0"]) == 2
    assert "--batch-size, --streams must be positive" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


# ---- ONNX -------------------------------------------------------------------


def test_onnx_export_and_int8_backend_match_torch(tiny_dir, keyword_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    texts = [" ".join(["Kamal Pasha took the Taliban road 😀"] * n) for n in (0, 1, 3, 40)]
    for model_dir, files in ((tiny_dir, ["model.onnx"]), (keyword_dir, ["model.onnx", "model.int8.onnx"])):
        out = tmp_path / model_dir.name
        assert main(["export-onnx", "--model", str(model_dir), "--output-dir", str(out), "--quantize", "int8"]) == 0
        assert main(["export-onnx", "--model", str(model_dir), "--output-dir", str(out)]) == 2  # no overwrite
        reference = SpanTagger.from_pretrained(model_dir, device="cpu", max_length=32, stride=8).predict(texts)
        for name in files:
            onnx = SpanTagger.from_pretrained(model_dir, backend="onnx", onnx_file=out / name, max_length=32,
                                              stride=8)
            got = onnx.predict(texts, batch_size=4)
            assert [_plain(s) for s in got] == [_plain(s) for s in reference], name
            scores = [s["score"] for spans in got for s in spans]
            expected = [s["score"] for spans in reference for s in spans]
            assert np.allclose(scores, expected, atol=1e-4 if name == "model.onnx" else 2e-2), name
    assert any(reference)
    # every layer's hidden state is exported, for linkers that read a middle one (state_layer): hidden_0 the
    # embeddings', hidden_1 the first layer's, "hidden" the last (layer 2 of 2); the states match torch's
    ours = SpanTagger.from_pretrained(tiny_dir, backend="onnx", onnx_file=tmp_path / tiny_dir.name / "model.onnx",
                                      max_length=32, stride=8)
    theirs = SpanTagger.from_pretrained(tiny_dir, device="cpu", max_length=32, stride=8)
    assert [ours.forward.state_output(i) for i in (-1, 0, 1, 2, 3)] == ["hidden", "hidden_0", "hidden_1", "hidden", None]
    got = {layer: ours.word_states(texts[2:3], layer=layer)[0][0] for layer in (1, -1)}
    for layer, states in got.items():
        assert np.allclose(states, theirs.word_states(texts[2:3], layer=layer)[0][0], atol=1e-4), layer
    assert not np.allclose(got[1], got[-1])
    import onnx

    from frontlines.inference.onnx_backend import feed_forward_outputs

    # the feed-forward output products (one per layer) stay fp32 in the int8 file
    kept = feed_forward_outputs(out / "model.onnx", intermediate_size=64)
    assert len(kept) == 2
    int8_nodes = {n.name: n.op_type for n in onnx.load(str(out / "model.int8.onnx")).graph.node}
    assert all(int8_nodes.get(name) == "MatMul" for name in kept)
    assert "MatMulInteger" in int8_nodes.values() or "DynamicQuantizeMatMul" in int8_nodes.values()


def test_onnx_backend_explains_a_missing_export(tiny_dir):
    with pytest.raises(FileNotFoundError, match="export-onnx"):
        SpanTagger.from_pretrained(tiny_dir, backend="onnx")


def test_torch_forward_returns_probabilities(tiny_dir):
    forward = TorchForward(BertForTokenClassification.from_pretrained(tiny_dir), "cpu")
    probs = forward(np.array([[101, 2000, 102]]), np.ones((1, 3), dtype=np.int64), None)
    assert probs.shape == (1, 3, len(TAGS)) and np.allclose(probs.sum(-1), 1.0, atol=1e-5)
