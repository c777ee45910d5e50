"""The training and dev queries ``pyserini-qpeft train`` chooses, from the library's parts, for the experiments that
must see the very queries a training run saw (``zeroshot_fusion.py`` picks a fusion weight on its dev queries,
``merge_beir.py`` merges several collections' choices into one training folder).

It follows ``train`` step for step: the first ``--max-queries`` judged queries of ``--split`` with their BM25
negatives; the dev split's queries when its qrels exist, else a ``--seed``-ed ``--dev-fraction`` of them held back
(at most ``--max-dev-queries``); then the first ``--max-train-queries`` of the rest. ``selection_parser`` has
``train``'s flags and defaults for these choices (``tests/test_benchmarks.py`` checks both against ``train``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm.auto import tqdm

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.config import TrainingConfig
from pyserini_qpeft.runs.beir import first_queries, load_qrels, load_queries, qrels_path

logger = logging.getLogger(__name__)


def add_selection_flags(parser: argparse.ArgumentParser, **defaults) -> argparse.ArgumentParser:
    """``train``'s flags that choose the training and dev queries, with its defaults unless ``defaults`` says."""
    flags = {
        "--split": dict(default="train"),
        "--dev-split": dict(default="dev", help="as train's: used if the BEIR folder has its qrels"),
        "--dev-fraction": dict(type=float, default=0.1),
        "--max-dev-queries": dict(type=int, default=50),
        "--max-queries": dict(type=int, default=None),
        "--max-train-queries": dict(type=int, default=None, help="as train's (does not change dev)"),
        "--negative-depth": dict(type=int, default=30),
        "--threads": dict(type=int, default=1),
        "--seed": dict(type=int, default=TrainingConfig().seed),
    }
    for flag, spec in flags.items():
        name = flag[2:].replace("-", "_")
        parser.add_argument(flag, **{**spec, "default": defaults.get(name, spec["default"])})
    return parser


def selection_parser() -> argparse.ArgumentParser:
    """A parser of just those flags (``train``'s other flags are refused)."""
    return add_selection_flags(argparse.ArgumentParser(prog="train flags", add_help=False))


def open_first_stage(args: argparse.Namespace):
    """The Lucene index (``args.index``), or a :class:`~pyserini_qpeft.runs.run_searcher.RunSearcher` over
    ``args.first_stage_run`` with the texts of the corpus documents it and the qrels name (as ``train``)."""
    if getattr(args, "index", None):
        from pyserini_qpeft.lucene.index import open_searcher

        return open_searcher(args.index, what="--index")
    from pyserini_qpeft.runs.run_searcher import RunSearcher

    if not Path(args.first_stage_run).is_file():
        raise InputError(f"--first-stage-run {args.first_stage_run}: no such file")
    splits = [args.split]
    if (Path(args.beir) / "qrels" / f"{args.dev_split}.tsv").is_file():
        splits.append(args.dev_split)
    topics, judged = {}, set()
    for split in splits:
        topics.update(load_queries(args.beir, split))
        judged.update(docid for docs in load_qrels(qrels_path(args.beir, split)).values() for docid in docs)
    return RunSearcher.from_files(args.first_stage_run, args.beir, topics, judged)


def training_queries(args: argparse.Namespace, searcher, quiet: bool = False) -> tuple[list, list, dict]:
    """(train, dev, qrels of both) as ``train`` chooses them from ``args`` (see :func:`add_selection_flags`)."""
    from pyserini_qpeft.training.data import build_training_queries, split_dev

    queries = first_queries(load_queries(args.beir, args.split), args.max_queries, minimum=2)
    qrels = load_qrels(qrels_path(args.beir, args.split))
    with tqdm(total=len(queries), desc="bm25 negatives", unit="query", disable=quiet, dynamic_ncols=True) as bar:
        examples = build_training_queries(
            queries, qrels, searcher, depth=args.negative_depth, threads=args.threads, progress=bar.update
        )
    dev_file = Path(args.beir) / "qrels" / f"{args.dev_split}.tsv"
    if dev_file.is_file():
        dev_qrels = load_qrels(dev_file)
        dev_queries = first_queries(
            load_queries(args.beir, args.dev_split), args.max_dev_queries, minimum=0, name="--max-dev-queries"
        )
        dev = build_training_queries(dev_queries, dev_qrels, searcher, depth=args.negative_depth, threads=args.threads)
        qrels = {**qrels, **dev_qrels}
        train = examples
    else:
        train, dev = split_dev(examples, args.dev_fraction, args.seed, args.max_dev_queries)
    if args.max_train_queries is not None:
        if args.max_train_queries < 1:
            raise InputError(f"--max-train-queries must be at least 1, got {args.max_train_queries}")
        if args.max_train_queries > len(train):
            raise InputError(
                f"--max-train-queries {args.max_train_queries}: only {len(train)} training queries are left "
                "after the dev split; lower it or raise --max-queries"
            )
        train = train[: args.max_train_queries]
    logger.info("%d training queries, %d dev queries", len(train), len(dev))
    return train, dev, qrels
