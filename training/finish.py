"""The end of a run, on the main process: train the event linker, then evaluate test and stress as users would.

Both splits are tagged by :class:`inference.SpanTagger` loaded from the run
directory (the served code path, windows and decoder), so the numbers in
``report/``, ``report-stress/``, ``run.json`` and the model card are what
``python -m inference predict`` gives. The stress split is only ever
evaluated here: nothing trains or selects on it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from frontlines.inference.spans import Example
from frontlines.training.corpus import split_of_example
from frontlines.training.model_card import write_model_card
from frontlines.training.reports import report_paths, write_report_files
from frontlines.training.run_eval import evaluate_tagger
from frontlines.training.rundir import corpus_sha256, write_run_json

#: Report directory of each evaluated split inside a run.
REPORT_DIRS = {"test": "report", "stress": "report-stress"}


def split_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What run.json keeps of a split's report: micro-F1 and CI, per label, the decoders, the events."""
    out: dict[str, Any] = {
        "micro_f1": report["micro_f1"], "ci95": report.get("ci95"), "n_articles": report["n_articles"],
        "per_label": {k: v["f1"] for k, v in report["per_label"].items()},
        "decoding": report.get("decoding"),
    }
    events = report.get("events")
    if events:
        out["events"] = {name: {"record_f1": s["record"]["f1"], "record_ci95": s["record"]["ci95"],
                                "taker_f1": s["taker"]["f1"], "taker_ci95": s["taker"]["ci95"],
                                "loser_f1": s["loser"]["f1"], "place_f1": s["place"]["f1"],
                                "place_ci95": s["place"]["ci95"], "extent_f1": s["extent"]["f1"],
                                "status_accuracy": s["status"]["accuracy"]}
                         for name, s in events["systems"].items()}
    return out


def finish_run(out: Path, config: dict[str, Any], examples: Sequence[Example], meta: dict[str, Any],
               split_sizes: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Linker, evaluation of every held-out split, run.json and the model card; returns the split summaries."""
    from frontlines.inference.tagger import SpanTagger
    from frontlines.training.train_linker import train_linker

    annotated = {split_of_example(ex) for ex in examples if ex.events is not None}
    if config["events"]["linker"] and not {"train", "dev"} <= annotated:
        print("note: no event-annotated train and dev articles: no event linker (events use the rules)",
              file=sys.stderr)
    elif config["events"]["linker"]:
        settings = train_linker(out, examples, split_of_example, seed=config["train"]["seed"],
                                corpus_sha256=corpus_sha256(config["data"]["corpus"]))
        meta["linker"] = {k: settings[k] for k in ("epoch", "threshold", "n_train_triggers", "corpus_sha256")}
        meta["linker"]["members"] = settings.get("members", 1)
        meta["linker"]["state_layer"] = settings["state_layer"]
        meta["linker"]["dev_gold_spans_record_f1"] = settings["dev_gold_spans"]["record"]["f1"]
        print(f"event linker: dev record F1 (gold spans) {meta['linker']['dev_gold_spans_record_f1']:.3f}",
              file=sys.stderr)
    # fp32: the reference numbers (bf16 is checked against them in precision.json)
    tagger = SpanTagger.from_pretrained(out, decoding=config["eval"]["decoding"], precision="fp32")
    summaries: dict[str, dict[str, Any]] = {}
    for split, folder in REPORT_DIRS.items():
        part = [ex for ex in examples if split_of_example(ex) == split]
        if not part:
            continue
        built = evaluate_tagger(tagger, part, title=f"{out.name}: {split} split", extra={"run": meta},
                                bootstrap=config["eval"]["bootstrap"], seed=config["train"]["seed"])
        report = built.report
        write_report_files(out / folder, report, part, built.spans, built.scores)
        summaries[split] = split_summary(report)
        print(f"{split}: micro-F1 {report['micro_f1']:.4f} ({len(part)} articles); report in {out / folder}",
              file=sys.stderr)
    meta["splits"] = summaries
    meta["test_micro_f1"] = summaries.get("test", {}).get("micro_f1")
    meta["stress_micro_f1"] = summaries.get("stress", {}).get("micro_f1")
    write_run_json(out, meta)
    test_report = json.loads(report_paths(out / REPORT_DIRS["test"])["json"].read_text(encoding="utf-8"))
    write_model_card(out, config, test_report, summaries, split_sizes, meta)
    return summaries
