"""The seed article's event records from the command line, with the trained default model.

Slow and needs a trained run: ``make train`` writes ``runs/default`` (or point
``FRONTLINES_RUN`` at another run directory). Without one the test is skipped
(CI trains no model); the closing note of each training session reports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from frontlines.training.markup import parse_article

ROOT = Path(__file__).resolve().parent.parent
RUN = Path(os.environ.get("FRONTLINES_RUN", ROOT / "runs" / "default"))
SEED = ROOT / "annotations" / "articles" / "syria" / "albu-kamal-seed.md"

pytestmark = [
    pytest.mark.slow,
    # The target for the linker; the default run of 2026-12-01 misses it (the first record loses its
    # place "it" -> al-Qaim, among others): kept as a non-strict xfail so that meeting it shows as XPASS.
    pytest.mark.xfail(strict=False, reason="the learned linker does not yet get every seed record right"),
    pytest.mark.skipif(not (RUN / "linker" / "linker.safetensors").is_file(), reason=f"no trained run with a linker at {RUN}"),
]


def _text(ref):
    return None if ref is None else ref["text"]


def test_seed_records_come_out_of_the_cli(tmp_path):
    gold, errors = parse_article(SEED)
    assert not errors
    src = tmp_path / "seed.jsonl"
    src.write_text(json.dumps({"id": "albu-kamal-seed", "text": gold.text}) + "\n", encoding="utf-8")
    out = tmp_path / "events.jsonl"
    subprocess.run([sys.executable, "-m", "inference", "predict", "--model", str(RUN), "--input", str(src),
                    "--output", str(out), "--events", "--no-progress"], cwd=ROOT, check=True)
    (line,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    got = {(r["trigger"]["start"], r["trigger"]["end"]): r for r in line["events"]}
    t = gold.text
    # Every gold trigger is found, with its places and status; takers and losers as the worked table says.
    for ev in gold.events:
        rec = got.get((ev.trigger.start, ev.trigger.end))
        assert rec is not None, f"trigger {t[ev.trigger.start:ev.trigger.end]!r} at {ev.trigger.start} not found"
        assert [p["text"] for p in rec["places"]] == [t[p.start:p.end] for p in ev.places], rec
        assert rec["status"] == ev.status, rec
        assert _text(rec["taker"]) == (t[ev.taker.start:ev.taker.end] if ev.taker else None), rec
        assert _text(rec["loser"]) == (t[ev.loser.start:ev.loser.end] if ev.loser else None), rec
    forty = got[(next(e for e in gold.events if e.extent).trigger.start, next(e for e in gold.events if e.extent).trigger.end)]
    assert forty["extent"] == {**forty["extent"], "text": "more than 40 percent", "low": 40.0, "high": None}
