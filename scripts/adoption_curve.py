"""A simulated adoption: hold one source of the corpus out as a user's, adapt to 10, 25, 50 of its articles.

    .venv/bin/python scripts/adoption_curve.py --hold-out style=statement --shipped-run runs/default --out runs/adoption

The held-out articles (``meta[KEY] == VALUE``) are "a user's source"
(:mod:`training.adoption`): its train articles are the user's pool, its dev
articles select the adapted models, its test and stress articles are the
user's test, which nothing trains or selects on. With the project's own
commands, as a user would run them (each printed before it runs):

1. ``shipped.jsonl`` (the corpus without the source) and ``user.jsonl`` (the
   source, every split pinned by ``meta.split``);
2. a base run on the shipped corpus (``--base-epochs``), or ``--base-run``;
3. for each size n (``--sizes``) two subsets of the pool, the first n of
   ``training.select``'s ranking by the base run and the first n of a seeded
   shuffle; each as a user's file (+ the user's dev and test), trained from
   the base run on it and the shipped corpus (``data.corpus_weights``:
   ``--shipped-weight`` and ``--user-weight``, ``data.eval_corpus`` = the
   user's file) for ``--adapt-epochs``, with ``adoption.json`` beside it;
4. every run (base, adapted, ``--shipped-run``) scored on the user's test
   articles (``training.evaluate.evaluate_model``): ``adoption.json``,
   ``adoption.md`` and ``adoption_curve.png`` in ``--out``, and
   ``compare/`` (``training.compare``: paired bootstrap against the base, the
   same curve).

The defaults fit the 2-core CPU's budget of about 35 minutes for
``--hold-out style=statement``. Nothing in ``--out`` is replaced unless
``--overwrite`` (which removes a previous experiment's folder first).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from frontlines.inference.fileio import atomic_write_text, iter_jsonl, write_jsonl_atomic  # noqa: E402
from frontlines.inference.labels import LABELS  # noqa: E402
from frontlines.inference.spans import Example  # noqa: E402
from frontlines.training.adoption import (  # noqa: E402
    ADOPTION_FILE,
    BASE,
    HeldOut,
    curve_data,
    hold_out,
    parse_hold_out,
    random_order,
    write_adoption,
)
from frontlines.training.corpus import (  # noqa: E402
    DEFAULT_CORPUS,
    SPLITS,
    CorpusError,
    load_corpus,
    split_of_example,
)
from frontlines.training.md_table import md_escape, table  # noqa: E402

STRATEGIES = ("select", "random")
#: What --overwrite may remove: a folder this script wrote (or an empty one).
MARKERS = ("shipped.jsonl", "user.jsonl", "adoption.json")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hold-out", required=True, metavar="KEY=VALUE", help="the user's source, e.g. style=statement")
    parser.add_argument("--out", required=True, help="the experiment's folder (must not exist unless --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="remove a previous experiment's --out first")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="the whole corpus (default: the shipped one)")
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"), help="every run's config")
    parser.add_argument("--base-run", help="a run trained without the held-out source, instead of training one")
    parser.add_argument("--shipped-run", help="a run to draw as a level line too, e.g. runs/default")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 25, 50], help="user articles per adapted run")
    parser.add_argument("--seed", type=int, default=0, help="the random subsets' shuffle (default 0)")
    parser.add_argument("--base-epochs", type=int, default=3, help="the base run's epochs (default 3)")
    parser.add_argument("--adapt-epochs", type=int, default=2, help="each adapted run's epochs (default 2)")
    parser.add_argument("--shipped-weight", type=float, default=0.25,
                        help="share of the shipped train windows an adapted run sees per epoch (default 0.25)")
    parser.add_argument("--user-weight", type=float, default=3.0,
                        help="times an adapted run sees each of the user's train windows per epoch (default 3)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, every run")
    parser.add_argument("--adapt-set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override of the adapted runs only")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples of the 95%% intervals (default 1000)")
    args = parser.parse_args(argv)
    if min(args.sizes) < 1 or args.base_epochs < 1 or args.adapt_epochs < 1 or args.bootstrap < 0:
        parser.error("--sizes and the epochs must be at least 1, --bootstrap at least 0")
    if args.shipped_weight < 0 or args.user_weight <= 0:
        parser.error("--shipped-weight must be >= 0 and --user-weight > 0")
    args.sizes = sorted(set(args.sizes))
    return args


def trained_on(run: Path) -> set[str] | None:
    """Ids of the articles the run trained or selected on (its view's train and dev), None if its config is unread."""
    from frontlines.training.config import ConfigError, load_config
    from frontlines.training.mixing import run_corpus
    from frontlines.training.rundir import ROOT as RUN_ROOT

    try:
        config = load_config(run / "config.yaml")
        paths = [p if Path(p).is_absolute() else RUN_ROOT / p for p in config["data"]["corpus"]]
        corpus = run_corpus(paths, config["data"])
    except (ConfigError, CorpusError, OSError):
        return None
    return {ex.id for ex in corpus.examples if split_of_example(ex) in ("train", "dev")}


def check_run(path: str | None, what: str) -> Path | None:
    """The run directory, refused now (not after the base run) if it has no model."""
    if path is None:
        return None
    run = Path(path).resolve()
    if not (run / "config.json").is_file():
        raise SystemExit(f"error: {what} {path} has no model (config.json)")
    return run


def prepare_out(out: Path, overwrite: bool, keep: Sequence[Path | None]) -> None:
    """Create ``out``; an existing one only with ``overwrite``, and only if it is empty or a previous experiment's."""
    if out.exists():
        if not overwrite:
            raise SystemExit(f"error: {out} exists (pass --overwrite to replace a previous experiment)")
        if not out.is_dir() or (any(out.iterdir()) and not any((out / m).exists() for m in MARKERS)):
            raise SystemExit(f"error: {out} is not a previous experiment's folder (none of {', '.join(MARKERS)}); "
                             "not removing it")
        inside = [str(p) for p in keep if p is not None and p.is_relative_to(out)]
        if inside:
            raise SystemExit(f"error: --overwrite would remove {', '.join(inside)}, inside {out}: move it out first")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def split_counts(examples: Sequence[Example]) -> str:
    counts = {s: sum(split_of_example(ex) == s for ex in examples) for s in SPLITS}
    return ", ".join(f"{s} {n}" for s, n in counts.items())


def corpus_override(paths: Sequence[Path]) -> str:
    """``data.corpus=[...]`` as JSON (which is YAML), whatever characters the paths hold."""
    return "data.corpus=" + json.dumps([str(p) for p in paths])


def train_argv(config: str, out: Path, corpus: Sequence[Path], epochs: int, sets: Sequence[str],
               weights: Sequence[float] | None = None, start: Path | None = None) -> list[str]:
    """The ``training.train`` command line of one run: from scratch on ``corpus``, or from ``start`` on two files."""
    argv = ["--config", config, "--output-dir", str(out), "--set", corpus_override(corpus),
            "--set", f"train.epochs={epochs}", "--set", "events.linker=false"]
    if start is None:
        argv += ["--set", "data.corpus_weights=[]", "--set", "data.eval_corpus=all"]
    else:
        argv += ["--set", f"model={json.dumps(str(start))}", "--set", "random_init=false",
                 "--set", f"data.corpus_weights={json.dumps([float(w) for w in weights or ()])}",
                 "--set", f"data.eval_corpus={len(corpus) - 1}"]
    for item in sets:
        argv += ["--set", item]
    return argv


def run_command(module: str, argv: list[str]) -> None:
    """Print the command, then run its main in this process (one interpreter start for the experiment)."""
    import importlib

    print(f"\n$ python -m {module} {shlex.join(argv)}", flush=True)
    code = importlib.import_module(module).main(argv)
    if code:
        raise SystemExit(f"error: python -m {module} exited with status {code}")


def select_order(base: Path, held: HeldOut, out: Path, limit: int) -> list[str]:
    """The pool's ids in ``training.select``'s pick order (its first ``limit``): greedy, so each n is a prefix."""
    pool_file, picks = out / "select" / "pool.jsonl", out / "select" / "picks.jsonl"
    pool_file.parent.mkdir(exist_ok=True)
    write_jsonl_atomic(pool_file, [{"id": ex.id, "text": ex.text, "meta": ex.meta} for ex in held.pool])
    run_command("frontlines.training.select", ["--model", str(base), "--input", str(pool_file), "--output",
                                               str(picks), "--format", "prodigy", "--limit", str(limit)])
    return [record["id"] for _, record, _ in iter_jsonl(picks)]


def evaluate(name: str, run: Path, user_file: Path, out: Path, bootstrap: int) -> dict[str, Any]:
    """The run's scores on the user's test articles (``training.evaluate.evaluate_model``, report in ``out``)."""
    from frontlines.training.evaluate import evaluate_model

    print(f"\nevaluate {name} ({run}) on the user's test articles -> {out}", flush=True)
    report = evaluate_model(run, out, corpus=user_file, split="test", bootstrap=bootstrap,
                            title=f"{name} on the user's test articles").report
    return {"micro_f1": report["micro_f1"], "ci95": report.get("ci95"), "macro_f1": report["macro_f1"],
            "per_label": {label: report["per_label"][label]["f1"] for label in LABELS}}


def _ci(ci: Sequence[float] | None) -> str:
    return f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "—"


def render_markdown(summary: dict[str, Any]) -> str:
    """adoption.md: what was held out and trained, the table, the chart."""
    s, held = summary["settings"], summary["user_articles"]
    rows = [[md_escape(r["name"]), r["strategy"] or "—", "—" if r["n_user_articles"] is None else r["n_user_articles"],
             f"{r['micro_f1']:.3f}", _ci(r["ci95"]), *(f"{r['per_label'][label]:.3f}" for label in LABELS)]
            for r in summary["runs"]]
    shipped = summary.get("shipped_run_saw")
    note = (f"\nThe shipped run {summary['shipped_run']} trained on {shipped['train']} and selected on "
            f"{shipped['dev']} of the held-out articles (the shipped corpus includes the source), and on "
            f"{shipped['test']} of the user's test articles.\n" if shipped else "")
    return (f"# Simulated adoption: {summary['source']}\n\n"
            f"Held out of `{summary['corpus']}`: {held['total']} articles with meta {summary['source']}: a pool of "
            f"{held['pool']}, {held['dev']} dev and {held['test']} test (its test and stress articles). The base "
            f"run trained {s['base_epochs']} epoch(s) on the other articles' train split; each adapted run trained "
            f"{s['adapt_epochs']} epoch(s) from it on n of the pool's articles (each window x{s['user_weight']:g} "
            f"an epoch) and the shipped train windows (x{s['shipped_weight']:g}), selected on the user's dev "
            f"articles. *select*: the first n of `training.select`'s ranking by the base run; *random*: the first "
            f"n of a shuffle with seed {s['seed']}. Seqeval strict micro-F1 on the user's {held['test']} test "
            f"articles, 95% bootstrap interval over articles ({s['bootstrap']} resamples); with so few articles the "
            "intervals are wide: `compare/compare.md` has paired bootstrap tests against the base.\n"
            f"{note}\n"
            + table(["run", "strategy", "user articles", "micro-F1", "95% CI", *LABELS], rows)
            + "\n\n![adoption curve](adoption_curve.png)\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    corpus = Path(args.corpus).resolve()
    try:
        key, value = parse_hold_out(args.hold_out)
        held = hold_out(load_corpus([corpus]), key, value)
    except (ValueError, CorpusError) as exc:  # located messages, not a traceback
        raise SystemExit(f"error: {exc}") from None
    if args.sizes[-1] > len(held.pool):
        raise SystemExit(f"error: --sizes up to {args.sizes[-1]}, but {held.source} has a pool of {len(held.pool)}")
    base_given, shipped_run = check_run(args.base_run, "--base-run"), check_run(args.shipped_run, "--shipped-run")
    if base_given is not None:
        seen = trained_on(base_given)
        if seen is None:
            print(f"warning: cannot read what {base_given} trained on (config.yaml or its corpus files)",
                  file=sys.stderr)
        elif seen & held.ids():
            raise SystemExit(f"error: --base-run {base_given} trained or selected on {len(seen & held.ids())} of "
                             f"the held-out {held.source} articles; train the base without them")
    out = Path(args.out).resolve()
    prepare_out(out, args.overwrite, [base_given, shipped_run])
    shipped_file, user_file = out / "shipped.jsonl", out / "user.jsonl"
    print(f"adoption experiment: {held.source} held out of {corpus}\n"
          f"  shipped corpus: {len(held.shipped)} articles ({split_counts(held.shipped)}) -> {shipped_file}\n"
          f"  user's source: {len(held.ids())} articles: pool {len(held.pool)}, dev {len(held.dev)}, "
          f"test {len(held.test)} (test and stress) -> {user_file}\n"
          f"  base run: {f'given, {base_given}' if base_given else f'{args.base_epochs} epoch(s), {args.config}'}\n"
          f"  adapted runs: {len(args.sizes) * len(STRATEGIES)} = sizes {args.sizes} x {', '.join(STRATEGIES)} "
          f"(seed {args.seed}), {args.adapt_epochs} epoch(s) each from the base run, per epoch the shipped train "
          f"windows x{args.shipped_weight:g} and the user's x{args.user_weight:g}\n"
          f"  every run scored on the user's {len(held.test)} test articles"
          + (f", and the shipped run {shipped_run}" if shipped_run else ""), flush=True)
    write_jsonl_atomic(shipped_file, [ex.to_dict() for ex in held.shipped])
    write_jsonl_atomic(user_file, [ex.to_dict() for ex in held.user_examples()])
    seconds: dict[str, float] = {}
    tick = time.perf_counter()

    base = base_given or out / "runs" / "base"
    if base_given is None:
        run_command("frontlines.training.train", train_argv(args.config, base, [shipped_file], args.base_epochs,
                                                            args.set))
        write_adoption(base, {"source": held.source, "strategy": BASE, "n_user_articles": 0, "articles": [],
                              "base_run": None, "corpus": [str(shipped_file)]})
        seconds["base"] = time.perf_counter() - tick
    tick = time.perf_counter()
    orders = {"select": select_order(base, held, out, args.sizes[-1]),
              "random": random_order([ex.id for ex in held.pool], args.seed)}
    seconds["select"] = time.perf_counter() - tick
    by_id = {ex.id: ex for ex in held.pool}
    (out / "subsets").mkdir()

    runs: list[tuple[str, Path, dict[str, Any] | None]] = [("base", base, {"strategy": BASE, "n_user_articles": 0})]
    for strategy in STRATEGIES:
        for n in args.sizes:
            tick, name = time.perf_counter(), f"{strategy}-{n}"
            chosen = orders[strategy][:n]
            subset, run = out / "subsets" / f"{name}.jsonl", out / "runs" / name
            write_jsonl_atomic(subset, [ex.to_dict() for ex in held.user_examples([by_id[i] for i in chosen])])
            run_command("frontlines.training.train", train_argv(
                args.config, run, [shipped_file, subset], args.adapt_epochs, [*args.set, *args.adapt_set],
                weights=[args.shipped_weight, args.user_weight], start=base))
            info = {"source": held.source, "strategy": strategy, "n_user_articles": n, "articles": chosen,
                    "base_run": str(base), "corpus": [str(shipped_file), str(subset)], "user_test": str(user_file),
                    "seed": args.seed if strategy == "random" else None}
            write_adoption(run, info)
            runs.append((name, run, info))
            seconds[name] = time.perf_counter() - tick
    if shipped_run is not None:
        runs.append((f"shipped ({shipped_run.name})", shipped_run, None))

    tick = time.perf_counter()
    results = []
    for name, run, info in runs:
        scores = evaluate(name, run, user_file, out / "eval" / (run.name if info else "shipped"), args.bootstrap)
        results.append({"name": name, "path": str(run), "strategy": info["strategy"] if info else None,
                        "n_user_articles": info["n_user_articles"] if info else None, **scores})
    seconds["evaluate"] = time.perf_counter() - tick

    curve = curve_data([r["name"] for r in results], [i for _, _, i in runs], results)
    from frontlines.training.charts import plot_adoption_curve

    plot_adoption_curve(curve, out / "adoption_curve.png")
    summary: dict[str, Any] = {
        "source": held.source, "corpus": str(corpus), "user_corpus": str(user_file), "shipped_corpus": str(shipped_file),
        "user_articles": {"total": len(held.ids()), "pool": len(held.pool), "dev": len(held.dev),
                          "test": len(held.test), "test_ids": [ex.id for ex in held.test]},
        "settings": {k: getattr(args, k) for k in ("config", "sizes", "seed", "base_epochs", "adapt_epochs",
                                                   "shipped_weight", "user_weight", "set", "adapt_set", "bootstrap")},
        "base_run": str(base), "shipped_run": str(shipped_run) if shipped_run else None,
        "runs": results, "seconds": seconds,
    }
    seen = trained_on(shipped_run) if shipped_run is not None else None
    if seen is not None:  # what the shipped model had of the source (its test articles: none, ever)
        summary["shipped_run_saw"] = {"train": len(seen & {ex.id for ex in held.pool}),
                                      "dev": len(seen & {ex.id for ex in held.dev}),
                                      "test": len(seen & {ex.id for ex in held.test})}

    tick = time.perf_counter()
    from frontlines.training.compare import compare_runs

    print(f"\ncompare: every run tags the user's test articles afresh -> {out / 'compare'}", flush=True)
    compare_runs([r["path"] for r in results], out / "compare", corpus=user_file, split="test",
                 bootstrap=args.bootstrap)
    seconds["compare"] = time.perf_counter() - tick
    seconds["total"] = time.perf_counter() - started
    atomic_write_text(out / ADOPTION_FILE, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out / "adoption.md", render_markdown(summary))
    print("\n" + "\n".join(f"{r['name']:>20}: micro-F1 {r['micro_f1']:.4f}" for r in results))
    print(f"wrote {out / ADOPTION_FILE}, {out / 'adoption.md'}, {out / 'adoption_curve.png'}, {out / 'compare'} "
          f"in {seconds['total'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
