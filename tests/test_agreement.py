"""scripts/agreement.py on two hand-made annotations of one text."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("agreement", ROOT / "scripts" / "agreement.py")
agreement = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agreement)

HEAD = "---\nregion: x\nstyle: wire\ntitle: t\n---\n"


def write(folder: Path, body: str) -> Path:
    folder.mkdir()
    (folder / "a.md").write_text(HEAD + body + "\n", encoding="utf-8")
    return folder


def test_span_and_event_agreement_hand_worked(tmp_path):
    first = write(tmp_path / "one", "[IS](ACTOR#i) [retook](CONTROL_CHANGE status=asserted taker=i places=r) "
                                    "[Raqqa](LOCATION#r) and [Tabqa](LOCATION).")
    second = write(tmp_path / "two", "[IS](ACTOR#i) [retook](CONTROL_CHANGE status=claimed taker=i places=r) "
                                     "[Raqqa](LOCATION#r) and Tabqa.")
    result = agreement.agreement(agreement.load(first), agreement.load(second))
    # LOCATION: first 2, second 1, both 1 -> F1 2/3; ACTOR and CONTROL_CHANGE agree; all: 2*3/(4+3) = 6/7.
    assert result["spans"]["LOCATION"]["f1"] == pytest.approx(2 / 3)
    assert result["spans"]["ACTOR"]["f1"] == 1.0 and result["spans_micro_f1"] == pytest.approx(6 / 7)
    # One shared trigger, same roles, other status: roles agree, the record does not.
    ev = result["events"]
    assert ev["shared_triggers"] == 1 and ev["taker"] == 1.0 and ev["place"] == 1.0
    assert ev["status_agreement"] == 0.0 and ev["record_f1"] == 0.0
    # Words: IS retook Raqqa and Tabqa . -> tags agree on 5 of 6 (Tabqa differs).
    assert 0 < result["word_kappa"] < 1


def test_texts_that_differ_are_skipped(tmp_path):
    first = write(tmp_path / "one", "[IS](ACTOR) left.")
    second = write(tmp_path / "two", "[IS](ACTOR) left!")
    result = agreement.agreement(agreement.load(first), agreement.load(second))
    assert result["articles"] == 0 and result["text_mismatch"] == ["a"]
