"""Compile the reviewable article sources into the corpus JSON lines.

    python scripts/compile_corpus.py            # write annotations/corpus.jsonl
    python scripts/compile_corpus.py --check    # fail if it is stale or sources have problems
    python scripts/compile_corpus.py --check annotations/articles/yemen   # check some sources only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frontlines.inference.fileio import write_jsonl_atomic  # noqa: E402
from frontlines.training.corpus import DEFAULT_CORPUS, check_record  # noqa: E402
from frontlines.training.markup import parse_article  # noqa: E402

ARTICLES = ROOT / "annotations" / "articles"


def compile_sources(paths: list[Path]) -> tuple[list[dict], list[str]]:
    """Parse every source file; return the records (sorted by id) and all problems."""
    files = sorted(p for base in paths for p in ([base] if base.is_file() else base.rglob("*.md")))
    records, problems, seen = [], [], {}
    for path in files:
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        example, errors = parse_article(rel if not rel.is_absolute() else path, path.read_text(encoding="utf-8"))
        problems.extend(str(e) for e in errors)
        if example is None:
            continue
        if example.id in seen:
            problems.append(f"{rel}: duplicate article id {example.id!r} (also {seen[example.id]})")
            continue
        seen[example.id] = rel
        record = example.to_dict()
        _, found = check_record(record, str(rel), 0)
        problems.extend(f"{rel}: {p.message}" + (f" at span [{p.span.start}, {p.span.end}) {p.span.label}" if p.span else "") for p in found)
        records.append(record)
    records.sort(key=lambda r: r["id"])
    return records, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*", type=Path, default=[ARTICLES])
    parser.add_argument("--output", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--check", action="store_true", help="write nothing; fail on problems or a stale corpus")
    args = parser.parse_args(argv)

    sources = [p.resolve() for p in args.sources]
    records, problems = compile_sources(sources)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"FAILED: {len(problems)} problem(s) in {len(records)} article(s)", file=sys.stderr)
        return 1
    rendered = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if args.check:
        if sources == [ARTICLES.resolve()]:
            current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
            if current != rendered:
                print(f"{args.output} is stale: run python scripts/compile_corpus.py", file=sys.stderr)
                return 1
        print(f"ok: {len(records)} article(s), {sum(len(r['spans']) for r in records)} span(s)")
        return 0
    write_jsonl_atomic(args.output, records)
    print(f"wrote {args.output}: {len(records)} article(s), {sum(len(r['spans']) for r in records)} span(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
