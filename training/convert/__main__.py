"""``python -m training.convert``: the corpus to an annotation tool's format and back.

    python -m training.convert export FORMAT --output OUT [--corpus PATH ...] [--split SPLIT]
    python -m training.convert import FORMAT INPUT --output corpus.jsonl [--texts TEXTS.jsonl]

FORMAT is label-studio (tasks JSON plus ``<OUT stem>.label_config.xml``),
doccano, prodigy (JSON lines), conll (BIO columns) or hf (a folder with a
``datasets`` DatasetDict and Parquet files). Import checks every record and
writes nothing unless all are good; problems are listed one per line with
file, line, article id and span, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from frontlines.inference.fileio import same_file, write_jsonl_atomic
from frontlines.training.convert import FORMATS, WORD_FORMATS, read, write
from frontlines.training.convert.conll import read_texts
from frontlines.training.corpus import DEFAULT_CORPUS, SPLITS, CorpusError, load_corpus, split_examples

FORMAT_HELP = ("label-studio: tasks JSON (+ <stem>.label_config.xml on export); doccano, prodigy: JSON lines; "
               "conll: BIO columns; hf: a folder with dataset/ (load_from_disk) and parquet/")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.convert", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export", help="write corpus files in a tool's format")
    exp.add_argument("format", choices=list(FORMATS), help=FORMAT_HELP)
    exp.add_argument("--corpus", nargs="+", default=[str(DEFAULT_CORPUS)], help="corpus JSON-lines file(s)")
    exp.add_argument("--split", choices=SPLITS, help="only this split (default: every article)")
    exp.add_argument("--output", required=True, help="file to write (a folder for hf)")
    imp = sub.add_parser("import", help="read a tool's export into a corpus file")
    imp.add_argument("format", choices=list(FORMATS), help=FORMAT_HELP)
    imp.add_argument("input", help="the tool's export (a folder for hf)")
    imp.add_argument("--output", required=True, help="corpus JSON-lines file to write")
    imp.add_argument("--texts", help="conll/hf: JSON lines of {id, text} (e.g. the exported corpus) for offsets "
                                     "into the original texts; without it texts are rebuilt with single spaces")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "export":
            examples = load_corpus(args.corpus)
            if args.split:
                examples = split_examples(examples, args.split)
            write(args.format, args.output, examples)
            print(f"ok: {len(examples)} articles -> {args.output} ({args.format})")
            return 0
        if same_file(args.input, args.output):
            print(f"error: --output {args.output} is the input file", file=sys.stderr)
            return 1
        texts = None
        if args.format in WORD_FORMATS:
            if args.texts:
                texts = read_texts(args.texts)
            else:
                print("note: no --texts: texts rebuilt from the words (single spaces between words, a line break "
                      "between sentences); offsets refer to the rebuilt texts", file=sys.stderr)
        examples, skipped = read(args.format, args.input, texts)
    except CorpusError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"FAILED: {len(exc.problems)} problem(s); nothing written", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not examples:
        print(f"error: {args.input}: no annotated record ({skipped} skipped: no annotation, or not accepted); "
              "nothing written", file=sys.stderr)
        return 1
    write_jsonl_atomic(args.output, (ex.to_dict() for ex in examples))
    n_spans = sum(len(ex.spans) for ex in examples)
    note = f", {skipped} skipped (no annotation, or not accepted)" if skipped else ""
    print(f"ok: {len(examples)} articles, {n_spans} spans{note} -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
