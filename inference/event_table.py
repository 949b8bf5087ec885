"""``python -m inference export-events``: predict ``--events`` output as a CSV or Parquet table.

One row per event and place (an event about three places gives three rows,
one with no place gives one row with an empty place), with the article id,
trigger, taker, loser, extent bounds, status, score and every offset
(:func:`inference.events.event_rows`). Written atomically; an existing table
is kept unless ``overwrite``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from frontlines.inference.errors import InputError, UsageError
from frontlines.inference.events import event_rows
from frontlines.inference.fileio import atomic_path, iter_jsonl

COLUMNS = ("article_id", "trigger", "trigger_start", "trigger_end", "taker", "taker_start", "taker_end",
           "loser", "loser_start", "loser_end", "place", "place_start", "place_end", "extent", "extent_low",
           "extent_high", "status", "score")


def read_rows(path: Path) -> list[dict]:
    """Table rows of every event of a predict ``--events`` file; a line without events is a located error."""
    rows: list[dict] = []
    for lineno, record, error in iter_jsonl(path):
        where = f"{path}:{lineno}"
        if error is not None:
            raise InputError(f"{where}: {error}")
        if not isinstance(record, dict) or not isinstance(record.get("events"), list):
            raise InputError(f"{where}: no 'events' list (write the file with predict --events)")
        for i, event in enumerate(record["events"]):
            try:
                rows.extend(event_rows(str(record.get("id")), event))
            except (KeyError, TypeError, AttributeError) as exc:
                raise InputError(f"{where}: event #{i} is not an event record ({exc})") from None
    return rows


def export_events(src: Path, dst: Path, overwrite: bool = False) -> int:
    """Write the table of ``src`` to ``dst`` (``.csv`` or ``.parquet``); return the number of rows."""
    if dst.suffix not in (".csv", ".parquet"):
        raise UsageError(f"{dst}: the table must be a .csv or .parquet file")
    if dst.exists() and not overwrite:
        raise UsageError(f"{dst} already exists; pass --overwrite to replace it")
    if not src.is_file():
        raise UsageError(f"{src}: no such file")
    rows = read_rows(src)
    with atomic_path(dst, suffix=dst.suffix) as tmp:
        if dst.suffix == ".csv":
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
        else:
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError as exc:
                raise UsageError("Parquet output needs pyarrow (pip install pyarrow); or write a .csv") from exc
            pq.write_table(pa.Table.from_pylist(rows, schema=_schema(pa)), str(tmp))
    return len(rows)


def _schema(pa):  # noqa: ANN001, ANN202 - pyarrow is optional
    text, offset, number = pa.string(), pa.int64(), pa.float64()
    types = {"article_id": text, "trigger": text, "taker": text, "loser": text, "place": text, "extent": text,
             "status": text, "extent_low": number, "extent_high": number, "score": number}
    return pa.schema([(c, types.get(c, offset)) for c in COLUMNS])
