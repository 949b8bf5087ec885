"""``frontlines``: one command for the project's programs (``frontlines COMMAND --help`` for each one's options).

    frontlines predict --model runs/default --input articles.jsonl --output spans.jsonl
    frontlines convert import label-studio export.json --output mine.jsonl
    frontlines train --set model=runs/default --set 'data.corpus=[annotations/corpus.jsonl, mine.jsonl]'
    frontlines evaluate compare runs/default runs/mine --corpus mine.jsonl --split test --out compare/

Each command is a module's own program, parser and all, handed the rest of
the command line: ``frontlines train ARGS`` runs ``python -m training.train
ARGS`` (``accelerate launch training/train.py ARGS`` keeps working, as does
``python -m inference predict ARGS``). A module is imported only when its
command runs, so ``frontlines --help`` is quick and ``frontlines predict``
loads no training code. This module lives in ``training`` because it
imports from both packages; ``inference`` imports nothing from ``training``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A subcommand: its one-line help, the program it runs, and how."""

    help: str
    program: str  #: the equivalent command line, shown in the help
    run: Callable[[list[str]], int]


def _main_of(module: str, *leading: str) -> Callable[[list[str]], int]:
    """Run ``module.main`` on ``leading`` + the given arguments (imported on use)."""
    def run(argv: list[str]) -> int:
        return importlib.import_module(module).main([*leading, *argv])
    return run


def _train(argv: list[str]) -> int:
    """training.train's program, stopping with a checkpoint if an ``accelerate launch`` parent dies (as its cli())."""
    from frontlines.training import train
    from frontlines.training.stopping import launched_by_accelerate, stop_with_parent

    if launched_by_accelerate():
        stop_with_parent()
    return train.main(argv)


COMMANDS: dict[str, Command] = {
    "predict": Command("tag articles with spans (and events)", "python -m inference predict",
                       _main_of("frontlines.inference.cli", "predict")),
    "merge": Command("join the --shard I/N outputs of a predict run", "python -m inference merge",
                     _main_of("frontlines.inference.cli", "merge")),
    "export-events": Command("a predict --events output as a CSV or Parquet table", "python -m inference export-events",
                             _main_of("frontlines.inference.cli", "export-events")),
    "export-onnx": Command("export a run to ONNX (optionally int8)", "python -m inference export-onnx",
                           _main_of("frontlines.inference.cli", "export-onnx")),
    "train": Command("fine-tune the tagger (a run directory)", "python -m training.train", _train),
    "train-linker": Command("(re)train a run's event linker", "python -m training.train_linker",
                            _main_of("frontlines.training.train_linker")),
    "evaluate": Command("score predictions or a model; compare runs", "python -m training.evaluate",
                        _main_of("frontlines.training.evaluate")),
    "convert": Command("the corpus to an annotation tool's format and back", "python -m training.convert",
                       _main_of("frontlines.training.convert.__main__")),
    "select": Command("pick and pre-annotate the articles worth labelling", "python -m training.select",
                      _main_of("frontlines.training.select")),
    "validate": Command("check corpus files, every problem located", "python -m training.corpus validate",
                        _main_of("frontlines.training.corpus", "validate")),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: it only names the command; the command's own parser reads the rest."""
    parser = argparse.ArgumentParser(
        prog="frontlines", description="The frontlines programs under one command; 'frontlines COMMAND --help' "
                                       "gives each one's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands and the programs they run:\n" + "\n".join(
            f"  frontlines {name:<14} = {c.program}" for name, c in COMMANDS.items()))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub.add_parser(name, help=command.help, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``frontlines COMMAND ARGS...``: the command's exit status (argparse exits itself on --help and usage errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = build_parser().parse_args(argv[:1]).command
    return COMMANDS[name].run(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
